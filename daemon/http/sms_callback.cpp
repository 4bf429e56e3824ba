#include "http/sms_callback.hpp"

#include <stdexcept>
#include <utility>

#include "crypto/crypto.hpp"
#include "http/api.hpp"

namespace incidentd::http {

void install_sms_callback(Server& server, const std::string& secret, SmsReplySink on_reply) {
  // Digests have one length, so the comparison says nothing about the secret's length either.
  server.route(
      "GET", "/sms/kannel",
      [expected = token_sha256(secret), on_reply = std::move(on_reply)](const Request& r) {
        const auto secret_in = r.query.find("secret");
        const std::string presented =
            token_sha256(secret_in == r.query.end() ? "" : secret_in->second);
        if (secret_in == r.query.end() || !crypto::equal_in_constant_time(presented, expected)) {
          return Response::error(403, "forbidden",
                                 "the SMS callback needs the secret of [sms] callback_secret_file");
        }
        const auto from = r.query.find("from");
        const auto text = r.query.find("text");
        if (from == r.query.end() || text == r.query.end()) {
          return Response::error(400, "missing_parameter", "from and text are required");
        }
        const auto to = r.query.find("to");
        on_reply(from->second, to == r.query.end() ? "" : to->second, text->second);
        return Response::text(200, "");
      });
}

bool serve_sms_replies(Server& server, const SmsSettings& sms, SmsReplySink on_reply) {
  if (sms.callback_secret_file.empty()) return false;
  const SecretFile secret = read_sms_callback_secret(sms.callback_secret_file);
  if (!secret.error.empty()) {
    throw std::runtime_error("sms.callback_secret_file: " + secret.error);
  }
  install_sms_callback(server, secret.secret, std::move(on_reply));
  return true;
}

ServerOptions sms_callback_listener(const SmsSettings& sms) {
  ServerOptions options;
  options.address = sms.callback_address;
  options.port = static_cast<unsigned short>(sms.callback_port);
  // One gateway calls it, a few requests at a time; a request is a query string, no body.
  options.max_connections = 32;
  options.max_connections_per_address = 32;
  options.max_body_bytes = 4096;
  return options;
}

}  // namespace incidentd::http
