#include "service/logging.hpp"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>

namespace incidentd {
namespace {

TEST_CASE("phone numbers are masked to their leading digits and last four", "[logging]") {
  CHECK(mask_phone_numbers("+8613800000101") == "+86138****0101");
  CHECK(mask_phone_numbers("13800000101") == "138****0101");
  CHECK(mask_phone_numbers("+14155550123") == "+141****0123");
  CHECK(mask_phone_numbers("+12345678") == "+1***5678");  // shortest E.164 we mask: 8 digits
  CHECK(mask_phone_numbers("notify zt-duty1 (+8613900001111) by sms") ==
        "notify zt-duty1 (+86139****1111) by sms");
  CHECK(mask_phone_numbers("值班员甲 13912345678、+8618600000002") ==
        "值班员甲 139****5678、+86186****0002");
}

TEST_CASE("digit runs that are not phone numbers are left alone", "[logging]") {
  for (const char* text : {
           "yq-20261126-0001",
           "2026-11-26T08:00:00+08:00",  // an offset is "+" and two digits
           "offset 138000001011",        // 12 digits
           "1380000010",                 // 10 digits
           "12800000101",                // 11 digits, but no mainland mobile starts 12
           "+1234567",                   // 7 digits: too short for E.164
           "+1234567890123456",          // 16 digits: too long
           "epoch 1732600000000 ms",
       }) {
    CHECK(mask_phone_numbers(text) == text);
  }
}

TEST_CASE("log levels parse strictly", "[logging]") {
  CHECK(parse_log_level("debug") == spdlog::level::debug);
  CHECK(parse_log_level("error") == spdlog::level::err);
  CHECK_FALSE(parse_log_level("verbose"));
  CHECK_FALSE(parse_log_level("off"));
}

struct Captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
};

std::unique_ptr<Captured> capture(LogStyle style) {
  auto c = std::make_unique<Captured>();
  c->logger = make_logger("test", std::make_shared<spdlog::sinks::ostream_sink_st>(c->out), style);
  c->logger->set_level(spdlog::level::trace);
  return c;
}

TEST_CASE("journal style prefixes each line with its syslog priority", "[logging]") {
  auto c = capture(LogStyle::journal);
  c->logger->debug("d");
  c->logger->info("i");
  c->logger->warn("w");
  c->logger->error("e");
  c->logger->critical("c");
  CHECK(c->out.str() == "<7>d\n<6>i\n<4>w\n<3>e\n<2>c\n");
}

TEST_CASE("a message is one line whatever it holds: a newline is escaped", "[logging]") {
  auto c = capture(LogStyle::journal);
  c->logger->error("first\nsecond");
  CHECK(c->out.str() == "<3>first\\x0asecond\n");
  auto plain = capture(LogStyle::plain);
  plain->logger->info("event for {}", "k\n[2026-11-26 08:00:00.000] [error] forged");
  const std::string line = plain->out.str();
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(line.find("event for k\\x0a[2026-11-26 08:00:00.000] [error] forged\n") !=
        std::string::npos);
}

TEST_CASE("control and bidi characters are escaped, other text is kept", "[logging]") {
  // C0 (NUL, ESC, tab, CR), DEL
  CHECK(escape_log_text(std::string("a\0b\x1b[31mc\td\re\x7f", 14)) ==
        "a\\x00b\\x1b[31mc\\x09d\\x0de\\x7f");
  // C1 (U+0085 NEL, U+009B CSI) as UTF-8
  CHECK(escape_log_text("x\xc2\x85y\xc2\x9bz") == "x\\u0085y\\u009bz");
  // every bidi control: U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069
  CHECK(escape_log_text("\xd8\x9c\xe2\x80\x8e\xe2\x80\x8f") == "\\u061c\\u200e\\u200f");
  CHECK(escape_log_text("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae") ==
        "\\u202a\\u202b\\u202c\\u202d\\u202e");
  CHECK(escape_log_text("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9") ==
        "\\u2066\\u2067\\u2068\\u2069");
  // bytes that are not UTF-8: a lone continuation, a truncated sequence, an overlong, a surrogate
  CHECK(escape_log_text("\x80 \xe6\x98 \xc0\xaf \xed\xa0\x80") ==
        "\\x80 \\xe6\\x98 \\xc0\\xaf \\xed\\xa0\\x80");
  // Chinese, other non-ASCII, neighbours of the bidi range, backslashes and quotes stay
  const std::string kept = "昭通市山体滑坡 zt-landslide \"q\" a\\b é \xe2\x80\x8d \xe2\x80\xaf 😀";
  CHECK(escape_log_text(kept) == kept);
}

TEST_CASE("an incident key with a terminal escape and a bidi override reaches the log escaped",
          "[logging]") {
  auto c = capture(LogStyle::journal);
  c->logger->warn("incident \"{}\" rejected", "zt\x1b]0;pwned\x07\xe2\x80\xaegpj.exe");
  CHECK(c->out.str() == "<4>incident \"zt\\x1b]0;pwned\\x07\\u202egpj.exe\" rejected\n");
}

TEST_CASE("every message is masked, whichever style and pattern", "[logging]") {
  auto journal = capture(LogStyle::journal);
  journal->logger->info("sms to {} sent", "+8613800000101");
  CHECK(journal->out.str() == "<6>sms to +86138****0101 sent\n");

  auto plain = capture(LogStyle::plain);
  plain->logger->set_pattern("%v");  // ignored: the style owns the layout
  plain->logger->warn("sms to {} failed", "13800000101");
  const auto line = plain->out.str();
  CHECK(line.find("[warning] sms to 138****0101 failed\n") != std::string::npos);
  CHECK(line.front() == '[');  // the timestamp, not a priority prefix
  CHECK(line.find("13800000101") == std::string::npos);
}

// Points stderr at a pipe for the duration, as systemd points it at the journal's socket.
class StderrPipe {
 public:
  StderrPipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    read_fd_ = fds[0];
    saved_ = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    struct stat st {};
    fstat(STDERR_FILENO, &st);
    dev_ino_ = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }
  ~StderrPipe() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(read_fd_);
    unsetenv("JOURNAL_STREAM");
  }
  StderrPipe(const StderrPipe&) = delete;
  StderrPipe& operator=(const StderrPipe&) = delete;

  const std::string& dev_ino() const { return dev_ino_; }

  std::string read_available() const {
    std::string text;
    pollfd p{read_fd_, POLLIN, 0};
    while (poll(&p, 1, 0) == 1) {
      char buffer[1024];
      ssize_t n = read(read_fd_, buffer, sizeof(buffer));
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
  }

 private:
  int read_fd_ = -1;
  int saved_ = -1;
  std::string dev_ino_;
};

TEST_CASE("stderr is the journal only when JOURNAL_STREAM names it", "[logging]") {
  StderrPipe pipe;
  unsetenv("JOURNAL_STREAM");
  CHECK_FALSE(stderr_is_journal_stream());
  setenv("JOURNAL_STREAM", pipe.dev_ino().c_str(), 1);
  CHECK(stderr_is_journal_stream());
  CHECK(detect_log_style() == LogStyle::journal);
  // Inherited by a process whose stderr went elsewhere: same device, another inode.
  const auto colon = pipe.dev_ino().find(':');
  const auto other = pipe.dev_ino().substr(0, colon + 1) +
                     std::to_string(std::stoull(pipe.dev_ino().substr(colon + 1)) + 1);
  setenv("JOURNAL_STREAM", other.c_str(), 1);
  CHECK_FALSE(stderr_is_journal_stream());
  for (const char* bad : {"", "12", "12:", ":34", "12:34x", "a:b"}) {
    setenv("JOURNAL_STREAM", bad, 1);
    CHECK_FALSE(stderr_is_journal_stream());
  }
}

TEST_CASE("setup_logging writes prefixed, masked lines to a journal stderr", "[logging]") {
  auto previous = spdlog::default_logger();
  {
    StderrPipe pipe;
    setenv("JOURNAL_STREAM", pipe.dev_ino().c_str(), 1);
    setup_logging(spdlog::level::info);
    spdlog::debug("not shown at info");
    spdlog::info("paging {}", "+8613800000101");
    spdlog::error("failed");
    CHECK(pipe.read_available() == "<6>paging +86138****0101\n<3>failed\n");

    unsetenv("JOURNAL_STREAM");
    setup_logging(spdlog::level::info);
    spdlog::info("by hand");
    const auto line = pipe.read_available();
    CHECK(line.front() == '[');
    CHECK(line.find("[info] by hand\n") != std::string::npos);
  }
  spdlog::set_default_logger(previous);
}

}  // namespace
}  // namespace incidentd
