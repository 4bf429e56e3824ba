#include "webhook_receiver.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace incidentd::bench {

using namespace std::chrono_literals;

WebhookReceiver::WebhookReceiver() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd_, 256) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd_);
    throw std::runtime_error("webhook receiver: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

WebhookReceiver::~WebhookReceiver() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

std::vector<Arrival> WebhookReceiver::arrivals() {
  const std::lock_guard lock(mutex_);
  return arrivals_;
}

std::map<std::string, Arrival> WebhookReceiver::first_by_incident() {
  const std::lock_guard lock(mutex_);
  return first_;
}

std::size_t WebhookReceiver::requests() {
  const std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t WebhookReceiver::bad() {
  const std::lock_guard lock(mutex_);
  return bad_;
}

void WebhookReceiver::run() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    serve(c);
    ::close(c);
  }
}

void WebhookReceiver::serve(int c) {
  std::string in;
  std::size_t header_end = std::string::npos;
  std::size_t length = 0;
  char buf[8192];
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    pollfd p{c, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      if (std::chrono::steady_clock::now() > give_up) return;
      continue;
    }
    const ssize_t n = ::read(c, buf, sizeof buf);
    if (n <= 0) return;
    in.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      std::string head = in.substr(0, header_end);
      std::transform(head.begin(), head.end(), head.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      const auto at = head.find("\r\ncontent-length:");
      if (at != std::string::npos) length = std::stoul(head.substr(at + 17));
    }
    if (in.size() >= header_end + 4 + length) break;
  }
  const auto arrived = std::chrono::steady_clock::now();
  const auto wall = std::chrono::system_clock::now();
  static const char reply[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
  (void)!::write(c, reply, sizeof reply - 1);
  auto body = nlohmann::json::parse(in.substr(header_end + 4, length), nullptr, false);
  const std::lock_guard lock(mutex_);
  ++requests_;
  if (!body.is_object() || !body.contains("incident_key") || !body["incident_key"].is_string()) {
    ++bad_;
    return;
  }
  Arrival a{arrived, wall, body["incident_key"].get<std::string>(),
            body.value("notification_id", ""), std::move(body)};
  first_.try_emplace(a.incident_key, a);
  arrivals_.push_back(std::move(a));
}

}  // namespace incidentd::bench
