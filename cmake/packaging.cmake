# Installation and the Debian package. An administrator installs the .deb, edits
# /etc/incidentd/incidentd.toml and runs `systemctl enable --now incidentd`.
#
#   cpack -G DEB --config <build>/CPackConfig.cmake     -> incidentd_<version>_<arch>.deb
#
# Runtime dependencies are Debian's own library packages, found by dpkg-shlibdeps from what the
# binaries link, plus systemd for the service account. Included last from CMakeLists.txt.

include(GNUInstallDirs)

# Debian 12 puts units in /lib/systemd/system; ask systemd.pc rather than guess.
pkg_get_variable(INCIDENTD_UNIT_DIR systemd systemdsystemunitdir)
pkg_get_variable(INCIDENTD_SYSUSERS_DIR systemd sysusersdir)
if(NOT INCIDENTD_UNIT_DIR)
  set(INCIDENTD_UNIT_DIR /lib/systemd/system)
endif()
if(NOT INCIDENTD_SYSUSERS_DIR)
  set(INCIDENTD_SYSUSERS_DIR /usr/lib/sysusers.d)
endif()

install(TARGETS incidentd incidentctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES systemd/incidentd.service DESTINATION ${INCIDENTD_UNIT_DIR})
install(FILES systemd/incidentd.sysusers DESTINATION ${INCIDENTD_SYSUSERS_DIR}
  RENAME incidentd.conf)
# The daemon's default --config; a conffile in the .deb, so upgrades keep the administrator's
# edits. A plain `cmake --install` never overwrites an existing one either. (file(INSTALL)
# prepends DESTDIR to the absolute destination itself; CPack stages through DESTDIR.)
install(CODE "
  set(config \"\$ENV{DESTDIR}/etc/incidentd/incidentd.toml\")
  if(EXISTS \"\${config}\")
    message(STATUS \"Keeping the existing \${config}\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/config/incidentd.toml\" DESTINATION /etc/incidentd)
  endif()")
install(FILES README.md docs/architecture.md docs/clock-rules.md docs/configuration.md
  docs/contract.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Man pages are hand-written roff, compressed as Debian policy asks (gzip -9n: no timestamp).
find_program(GZIP_PROGRAM gzip REQUIRED)
set(man_pages incidentd.8 incidentctl.1)
set(man_outputs)
foreach(page ${man_pages})
  set(source ${PROJECT_SOURCE_DIR}/docs/man/${page})
  set(output ${PROJECT_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${GZIP_PROGRAM} -9n -c ${source} > ${output}
    DEPENDS ${source} VERBATIM)
  list(APPEND man_outputs ${output})
  string(REGEX MATCH "[0-9]$" section ${page})
  install(FILES ${output} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man_pages ALL DEPENDS ${man_outputs})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME incidentd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "incidentd maintainers <incidentd@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "legal clock on government public-opinion incidents")
# CPack puts the summary first and indents these lines itself.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "incidentd reads monitoring events from Kafka, opens a clock for every major
incident, warns and escalates as each legal deadline nears or passes, and keeps
at it until the responsible units confirm each release. incidentctl checks the
configuration, simulates scenarios and reports on past incidents.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The postinst creates the service account with systemd-sysusers; the unit's ExecReload runs
# /bin/kill, which procps provides.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-sysusers, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/cmake/debian/conffiles
  ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
  ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
  ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# The package, installed and booted under real systemd (systemd-nspawn). Skips with exit
# status 77 and a reason when the machine cannot run it (not root, no namespaces).
if(INCIDENTD_BUILD_TESTS)
  add_test(NAME systemd.nspawn
    COMMAND ${PROJECT_SOURCE_DIR}/tests/systemd/nspawn_test.sh
            --build-dir ${PROJECT_BINARY_DIR}
            --sanitized $<IF:$<BOOL:${INCIDENTD_SANITIZE}>,1,0>)
  set_tests_properties(systemd.nspawn PROPERTIES LABELS systemd SKIP_RETURN_CODE 77
    TIMEOUT 1200)
endif()
