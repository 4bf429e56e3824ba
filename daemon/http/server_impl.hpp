// The HTTP server's insides, shared by its files and internal to daemon/http: the routes, the
// server's state (Server::Impl), and the connection that serves one client.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.hpp"

namespace incidentd::http {

namespace server_detail {

struct Route {
  std::string method;
  std::vector<std::string> segments;
  Handler handler;
};

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void run() = 0;
  virtual void close() = 0;
};

std::vector<std::string> split_path(std::string_view path);
// Matches and fills `params`; false when a segment differs.
bool match(const Route& route, const std::vector<std::string>& segments,
           std::map<std::string, std::string>& params);
// Two of these and the handler would see one of them (the map keeps the last): refuse rather
// than guess which the client meant.
std::optional<Response> duplicate_header(
    const boost::beast::http::request<boost::beast::http::string_body>& message);
Request request_from(boost::beast::http::request<boost::beast::http::string_body>&& message,
                     const std::string& remote);

}  // namespace server_detail

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(boost::asio::io_context& context, ServerOptions opts)
      : io(context), options(std::move(opts)) {}

  boost::asio::io_context& io;
  ServerOptions options;
  std::vector<server_detail::Route> routes;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;
  std::optional<boost::asio::ssl::context> ssl;
  struct Open {
    std::weak_ptr<server_detail::ConnectionBase> connection;
    std::string remote;
  };
  std::map<std::uint64_t, Open> connections;
  std::map<std::string, std::size_t> per_address;  // open connections by client address
  std::uint64_t next_id = 0;
  std::size_t served = 0;
  std::size_t refused = 0;
  std::size_t streams = 0;
  bool stopped = false;
  unsigned short bound_port = 0;

  void accept();
  void forget(std::uint64_t id) {
    const auto it = connections.find(id);
    if (it == connections.end()) return;
    const auto count = per_address.find(it->second.remote);
    if (count != per_address.end() && --count->second == 0) per_address.erase(count);
    connections.erase(it);
  }

  // Parses the query, matches the routes and runs the handler (server_routing.cpp).
  Response handle(Request& request);
};

namespace server_detail {

// A connection to serve `socket`, over TLS when the server has a context; run() starts it.
std::shared_ptr<ConnectionBase> make_connection(const std::shared_ptr<Server::Impl>& server,
                                                std::uint64_t id, const std::string& remote,
                                                boost::asio::ip::tcp::socket socket);

}  // namespace server_detail

}  // namespace incidentd::http
