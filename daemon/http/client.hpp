// A blocking HTTP/1.1 client for incidentctl: one request to the daemon's API, plain or TLS
// (the peer's certificate is verified against the system's CAs, or a given CA file).
#pragma once

#include <string>

#include "incidentd/time.hpp"

namespace incidentd::http {

struct ClientReply {
  int status = 0;
  std::string body;
};

struct ClientRequest {
  std::string base_url;  // "http://127.0.0.1:8480" or "https://host:port"
  std::string method = "GET";
  std::string target;  // "/v1/incidents"
  std::string bearer_token;
  std::string body;     // sent as application/json when not empty
  std::string ca_file;  // https: trust this CA instead of the system's
  Duration timeout = std::chrono::seconds(10);
};

// Throws std::runtime_error saying what failed (bad URL, connect, TLS, timeout).
ClientReply send_request(const ClientRequest& request);

}  // namespace incidentd::http
