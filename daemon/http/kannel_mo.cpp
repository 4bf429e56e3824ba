#include "http/kannel_mo.hpp"

namespace incidentd::http {

Response handle_kannel_mo(const Request& request, const SmsReplySink& on_reply) {
  if (request.remote != "127.0.0.1" && request.remote != "::1") {
    return Response::error(403, "forbidden", "SMS replies are accepted from 127.0.0.1 only");
  }
  const auto from = request.query.find("from");
  const auto text = request.query.find("text");
  if (from == request.query.end() || text == request.query.end()) {
    return Response::error(400, "missing_parameter", "from and text are required");
  }
  const auto to = request.query.find("to");
  on_reply(from->second, to == request.query.end() ? std::string() : to->second, text->second);
  return Response::text(200, "");
}

}  // namespace incidentd::http
