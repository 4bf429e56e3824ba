// The SMS gateway's reply callback: Kannel's sms-service get-url calls
// GET /sms/kannel?secret=<secret>&from=%p&to=%P&text=%a for every SMS a phone sends back
// (docs/notifications.md). A reply acknowledges alerts and confirms releases, so the caller must
// prove it is the gateway: the secret from [sms] callback_secret_file, compared in constant time.
// A request without it or with another gets 403 and reaches nothing; the address it comes from
// proves nothing (behind a local proxy every request comes from 127.0.0.1).
#pragma once

#include <functional>
#include <string>

#include "http/server.hpp"
#include "incidentd/config.hpp"

namespace incidentd::http {

// Hands a reply on (SmsService::handle_reply); runs on the server's loop. An exception from it
// is answered 500.
using SmsReplySink =
    std::function<void(const std::string& from, const std::string& to, const std::string& text)>;

// Registers GET /sms/kannel on `server`. `secret` is the file's text (read_sms_callback_secret);
// only its digest is kept.
void install_sms_callback(Server& server, const std::string& secret, SmsReplySink on_reply);

// The gateway's route as the daemon serves it: GET /sms/kannel with the secret read from
// [sms] callback_secret_file. Returns false and registers nothing when no file is set (replies
// are then off); throws std::runtime_error naming the key when the file cannot be used.
bool serve_sms_replies(Server& server, const SmsSettings& sms, SmsReplySink on_reply);

// The listener of its own ([sms] callback_address and callback_port): plain HTTP, for the
// gateway alone, with slots of its own so that API clients cannot starve it.
ServerOptions sms_callback_listener(const SmsSettings& sms);

}  // namespace incidentd::http
