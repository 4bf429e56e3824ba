// Kannel's sms-service callback (docs/notifications.md): GET /sms/kannel?from=%p&to=%P&text=%a
// carries one mobile-originated SMS. Only the gateway on this machine may call it, since a reply
// acknowledges and confirms; `from` and `text` are required, `to` is optional. The reply itself
// goes to `on_reply`, which may throw StoreError (the caller decides what that means).
#pragma once

#include <functional>
#include <string>

#include "http/server.hpp"

namespace incidentd::http {

using SmsReplySink =
    std::function<void(const std::string& from, const std::string& to, const std::string& text)>;

Response handle_kannel_mo(const Request& request, const SmsReplySink& on_reply);

}  // namespace incidentd::http
