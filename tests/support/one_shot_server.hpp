// A one-connection HTTP server on 127.0.0.1 in its own thread, for the tests of the HTTP client
// and the channels built on it: it reads one request (header and Content-Length body), then
// writes each of `parts` in order, `gap` apart, and closes; with no parts it holds the connection
// open until it is destroyed. Only the server's thread touches its sockets (ThreadSanitizer
// holds the tests to that); the destructor wakes a pending accept by connecting to it.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace incidentd::testing {

class OneShotServer {
 public:
  explicit OneShotServer(std::vector<std::string> parts,
                         std::chrono::milliseconds gap = std::chrono::milliseconds(0))
      : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
        port_(acceptor_.local_endpoint().port()),
        parts_(std::move(parts)),
        gap_(gap) {
    thread_ = std::thread([this] { serve(); });
  }
  // One answer, or (empty) none: the request is read and the connection held.
  explicit OneShotServer(const std::string& reply)
      : OneShotServer(reply.empty() ? std::vector<std::string>{} : std::vector{reply}) {}

  ~OneShotServer() {
    stop_ = true;
    if (!accepted_) {  // wake the accept with a connection of our own, then let it go
      boost::asio::io_context io;
      tcp::socket poke(io);
      boost::system::error_code ignored;
      poke.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ignored);
    }
    thread_.join();
  }
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // The request as it arrived (blocks until it has).
  std::string request() { return request_future_.get(); }
  bool has_request() const {
    return request_future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  // Whether a request arrives within `timeout` (for a test that must not hang when none comes).
  bool request_arrives_within(std::chrono::milliseconds timeout) const {
    return request_future_.wait_for(timeout) == std::future_status::ready;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  void serve() {
    boost::system::error_code ec;
    tcp::socket socket(io_);
    acceptor_.accept(socket, ec);
    accepted_ = true;
    if (ec || stop_) return request_.set_value("");
    std::string data;
    char buffer[4096];
    for (;;) {
      const std::size_t header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const std::size_t at = data.find("Content-Length: ");
        const std::size_t length = at == std::string::npos ? 0 : std::stoul(data.substr(at + 16));
        if (data.size() >= header_end + 4 + length) break;
      }
      const std::size_t n = socket.read_some(boost::asio::buffer(buffer), ec);
      if (ec) break;
      data.append(buffer, n);
    }
    request_.set_value(data);
    for (const std::string& part : parts_) {
      boost::asio::write(socket, boost::asio::buffer(part), ec);
      std::this_thread::sleep_for(gap_);  // the server's pace, not the test's synchronisation
    }
    if (parts_.empty()) {
      while (!stop_) std::this_thread::yield();
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_;
  std::vector<std::string> parts_;
  std::chrono::milliseconds gap_;
  std::promise<std::string> request_;
  std::shared_future<std::string> request_future_ = request_.get_future().share();
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepted_{false};
};

// An HTTP/1.1 answer with a Content-Length.
inline std::string http_answer(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

}  // namespace incidentd::testing
