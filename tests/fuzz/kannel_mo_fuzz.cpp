// The Kannel MO request: GET /sms/kannel?<query> with any query bytes (those a request line
// cannot carry are percent-escaped, so the decoded text may hold any byte), through the server's
// query parsing, the route's checks (the gateway's secret first) and the reply handler over one
// stored code. A well-formed call with the secret always gets 200 and an answer for the sender;
// one without it 403; a malformed one 400.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "ctl/virtual_time.hpp"
#include "fuzz_support.hpp"
#include "http/server.hpp"
#include "http/sms_callback.hpp"
#include "notify/reply_codes.hpp"
#include "one_code.hpp"

namespace {

using namespace incidentd;

// The gateway's secret ([sms] callback_secret_file); inputs whose first byte is even carry it,
// so the fuzzer reaches the reply handler as well as the refusal.
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";

struct World {
  World() : time(TimePoint(std::chrono::hours(24 * 20600))), server(io, http::ServerOptions{}) {
    http::install_sms_callback(
        server, kSecret,
        [this](const std::string& from, const std::string& to, const std::string& text) {
          const SmsReplyOutcome outcome = handler.handle_sms_reply(from, to, text);
          if (outcome.answer.empty()) fuzz::broken("a reply without an answer for the sender");
          if (outcome.acknowledgement && outcome.confirmation) {
            fuzz::broken("one reply both acknowledges and confirms");
          }
        });
  }
  fuzz::OneCode codes;
  VirtualTime time;
  SmsReplyHandler handler{codes, time, 4, std::chrono::hours(72)};
  boost::asio::io_context io;
  http::Server server;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string raw = "GET /sms/kannel?";
  if (size > 0 && data[0] % 2 == 0) raw += std::string("secret=") + kSecret + "&";
  for (std::size_t i = 0; i < size; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (c <= 0x20 || c >= 0x7f || c == '#') {
      raw += '%';
      raw += kHex[c >> 4];
      raw += kHex[c & 15];
    } else {
      raw += static_cast<char>(c);
    }
  }
  raw += " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::optional<http::Response> response =
      world.server.handle_bytes_for_test(raw, "127.0.0.1");
  if (!response) fuzz::broken("a whole request left unanswered");
  if (response->status != 200 && response->status != 400 && response->status != 403) {
    fuzz::broken("an unexpected status");
  }
  return 0;
}
