# SMS (daemon/notify): message templates, UCS-2 segmentation and reply codes (pure, plus the
# reply-code table in SQLite), and the gateways (Kannel's sendsms, a generic cloud SMS API) with
# the dispatcher's SmsChannel on Boost.Beast. Beast stays in sms.cpp.
add_library(incidentd_sms STATIC daemon/notify/sms_segments.cpp daemon/notify/message.cpp
  daemon/notify/payload.cpp
  daemon/notify/reply_codes.cpp daemon/notify/sms.cpp)
target_include_directories(incidentd_sms PUBLIC daemon)
target_link_libraries(incidentd_sms PUBLIC incidentd_core
  PRIVATE SQLiteCpp Boost::headers incidentd_net)

if(INCIDENTD_BUILD_TESTS)
  foreach(sms_test sms_segments_test sms_message_test reply_codes_test sms_gateway_test
      timeline_rows_test)
    target_link_libraries(${sms_test} PRIVATE incidentd_sms)
  endforeach()
  target_link_libraries(sms_gateway_test PRIVATE Boost::headers)
  # Sends one message through SmsChannel and the Kannel adapter: the integration test drives it
  # against a real Kannel (scripts/kannel.sh).
  add_executable(kannel_send tests/integration/kannel_send.cpp)
  target_link_libraries(kannel_send PRIVATE incidentd_sms incidentd_store SQLiteCpp Boost::headers)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  add_test(NAME kannel.sms_roundtrip
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/integration/kannel_test.py
            --kannel-send $<TARGET_FILE:kannel_send> --source-dir ${PROJECT_SOURCE_DIR})
  set_tests_properties(kannel.sms_roundtrip PROPERTIES LABELS integration TIMEOUT 300)
  # The whole path with the real daemon: a drill incident through a real Kafka broker, its
  # warning through a real Kannel to fakesmsc, replies back through Kannel's get-url.
  if(EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/kannel_daemon_test.py)
    add_test(NAME kannel.daemon_e2e
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/integration/kannel_daemon_test.py
              --incidentd $<TARGET_FILE:incidentd> --incidentctl $<TARGET_FILE:incidentctl>
              --source-dir ${PROJECT_SOURCE_DIR})
    set_tests_properties(kannel.daemon_e2e PROPERTIES LABELS integration TIMEOUT 600
      FIXTURES_REQUIRED kafka_jars)
  endif()
endif()
