# incidentctl open / close / level (daemon/ctl/manual_commands.cpp): incidents entered by hand,
# published to the events topic through librdkafka (incidentd_kafka's EventPublisher); close and
# level read the incident from the API (incidentd_http_client) or the database.
add_library(incidentd_ctl_manual STATIC daemon/ctl/manual_commands.cpp)
target_include_directories(incidentd_ctl_manual PUBLIC daemon)
target_link_libraries(incidentd_ctl_manual PUBLIC incidentd_core
  PRIVATE incidentd_kafka incidentd_http_client incidentd_store CLI11::CLI11
  nlohmann_json::nlohmann_json)
target_link_libraries(incidentctl PRIVATE incidentd_ctl_manual)
