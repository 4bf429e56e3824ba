# The HTTP API in (daemon/http): a Boost.Beast server on the daemon's loop, optional TLS, the API
# routes over the engine, bearer tokens and signed one-click ack links. Its tests drive a real
# server on 127.0.0.1 (tests/unit/http_api_test.cpp, ack_link_test.cpp).
find_package(OpenSSL REQUIRED)
# The duty board's page (daemon/http/board/) is compiled in: embed_board.cmake turns it into raw
# strings at build time, so the daemon serves it without any file on disk.
set(board_dir ${PROJECT_SOURCE_DIR}/daemon/http/board)
set(board_assets ${CMAKE_CURRENT_BINARY_DIR}/generated/board_assets.cpp)
add_custom_command(OUTPUT ${board_assets}
  COMMAND ${CMAKE_COMMAND} -DSRC=${board_dir} -DOUT=${board_assets}
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_board.cmake
  DEPENDS ${board_dir}/board.html ${board_dir}/board.css ${board_dir}/board.js
          ${PROJECT_SOURCE_DIR}/cmake/embed_board.cmake
  COMMENT "Embedding the duty board")
add_library(incidentd_http STATIC daemon/http/server.cpp daemon/http/server_routing.cpp
  daemon/http/server_connection.cpp daemon/http/api.cpp
  daemon/http/api_read.cpp daemon/http/api_write.cpp daemon/http/api_manual.cpp
  daemon/http/api_ack_link.cpp
  daemon/http/ack_link.cpp daemon/http/sms_callback.cpp daemon/http/stream.cpp
  daemon/http/board.cpp ${board_assets})
target_include_directories(incidentd_http PUBLIC daemon)
target_link_libraries(incidentd_http PUBLIC incidentd_core
  PRIVATE Boost::headers OpenSSL::SSL incidentd_crypto nlohmann_json::nlohmann_json)

# incidentctl ack / confirm / list / show / watch: blocking requests to the API over the one
# HTTP client (daemon/net), kept apart so the daemon does not link them.
add_library(incidentd_http_client STATIC daemon/http/client.cpp daemon/http/ctl_commands.cpp)
target_include_directories(incidentd_http_client PUBLIC daemon)
target_link_libraries(incidentd_http_client PUBLIC incidentd_core
  PRIVATE incidentd_net CLI11::CLI11 nlohmann_json::nlohmann_json)
target_link_libraries(incidentctl PRIVATE incidentd_http_client)
# check-config reads the ack link key as the daemon does (AckLinkSigner::from_file).
target_link_libraries(incidentctl PRIVATE incidentd_http)

# incidentctl list / show / watch (daemon/ctl/state_*): the API's view of the incidents, for
# people. Its text is tested on its own (tests/unit/state_text_test.cpp).
add_library(incidentd_ctl_state STATIC daemon/ctl/state_text.cpp daemon/ctl/state_commands.cpp)
target_include_directories(incidentd_ctl_state PUBLIC daemon)
# Its words are the reports' catalogue's (daemon/report/messages.cpp).
target_link_libraries(incidentd_ctl_state PUBLIC incidentd_core incidentd_report
  PRIVATE incidentd_http_client incidentd_store CLI11::CLI11 nlohmann_json::nlohmann_json)
target_link_libraries(incidentctl PRIVATE incidentd_ctl_state)

if(INCIDENTD_BUILD_TESTS)
  target_link_libraries(http_api_test PRIVATE incidentd_http incidentd_http_client OpenSSL::SSL
    OpenSSL::Crypto)
  target_link_libraries(ack_link_test PRIVATE incidentd_http)
  target_link_libraries(http_stream_test PRIVATE incidentd_http)
  target_link_libraries(state_text_test PRIVATE incidentd_ctl_state)
endif()

# The daemon serves the API on its loop (daemon/incidentd/main.cpp).
target_link_libraries(incidentd PRIVATE incidentd_http)
