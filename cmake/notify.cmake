# Notifications out (daemon/notify): the outbox dispatcher, and webhooks over Boost.Beast with
# the generic HMAC-signed format and the DingTalk, WeCom and Feishu robots. The retry, backoff and
# fallback decisions are pure domain logic in the core (daemon/core/delivery_policy.cpp).
find_package(OpenSSL REQUIRED)
target_sources(incidentd_core PRIVATE daemon/core/delivery_policy.cpp)

add_library(incidentd_notify STATIC daemon/notify/dispatcher.cpp daemon/notify/webhook.cpp
  daemon/notify/notify_service.cpp daemon/notify/source_heartbeat.cpp
  daemon/notify/webhook_signing.cpp)
target_include_directories(incidentd_notify PUBLIC daemon)
target_link_libraries(incidentd_notify PUBLIC incidentd_core incidentd_store spdlog::spdlog
  PRIVATE incidentd_net incidentd_crypto nlohmann_json::nlohmann_json)

# SMS for the daemon: the gateway, reply codes and templates (cmake/sms.cmake) behind one object.
target_sources(incidentd_notify PRIVATE daemon/notify/sms_service.cpp)
target_link_libraries(incidentd_notify PUBLIC incidentd_sms)

target_link_libraries(incidentd PRIVATE incidentd_notify)

if(INCIDENTD_BUILD_TESTS)
  target_link_libraries(dispatcher_test PRIVATE incidentd_notify)
  target_link_libraries(source_heartbeat_test PRIVATE incidentd_notify)
  target_link_libraries(webhook_signing_test PRIVATE incidentd_notify)
  target_link_libraries(webhook_channel_test PRIVATE incidentd_notify)
  target_link_libraries(sms_answer_test PRIVATE incidentd_notify)
  # SMS replies in a cluster: forwarded to the incident's owner (docs/cluster.md).
  target_link_libraries(sms_forward_test PRIVATE incidentd_notify Boost::headers)
  # One-click ack links in notification texts, verified with the API's signer.
  target_link_libraries(notify_ack_link_test PRIVATE incidentd_notify incidentd_http)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  if(EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/webhook_test.py)
    foreach(case receiver_outage sigkill roster_reload due_means_sent)
      add_test(NAME webhook.${case}
        COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/integration/webhook_test.py
                ${case} --incidentd $<TARGET_FILE:incidentd> --source-dir ${PROJECT_SOURCE_DIR})
      set_tests_properties(webhook.${case} PROPERTIES LABELS integration TIMEOUT 600
        FIXTURES_REQUIRED kafka_jars)
    endforeach()
  endif()
endif()

if(INCIDENTD_BUILD_BENCH AND EXISTS ${PROJECT_SOURCE_DIR}/bench/notify_bench.cpp)
  add_executable(notify_bench bench/notify_bench.cpp)
  target_link_libraries(notify_bench PRIVATE incidentd_notify incidentd_asio incidentd_store
    Boost::headers CLI11::CLI11)
endif()

# Timeline rows and bytes per notification during a receiver outage, on a virtual clock.
if(INCIDENTD_BUILD_BENCH AND EXISTS ${PROJECT_SOURCE_DIR}/bench/outage_bench.cpp)
  add_executable(outage_bench bench/outage_bench.cpp)
  target_link_libraries(outage_bench PRIVATE incidentd_notify incidentd_sim incidentd_store
    SQLiteCpp CLI11::CLI11)
  target_compile_definitions(outage_bench PRIVATE INCIDENTD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
