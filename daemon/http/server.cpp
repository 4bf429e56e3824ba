// The server itself: listening (plain or TLS), accepting within the connection limits, stopping,
// and its counters. Routing is in server_routing.cpp, one client's connection in
// server_connection.cpp.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>

#include "http/server_impl.hpp"

namespace incidentd::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using server_detail::duplicate_header;
using server_detail::request_from;
using server_detail::split_path;

void Server::Impl::accept() {
  acceptor->async_accept(io, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped) return;
    if (!ec) {
      beast::error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      const std::string remote = peer_ec ? std::string("?") : peer.address().to_string();
      std::size_t& from_here = self->per_address[remote];
      if (self->connections.size() >= self->options.max_connections ||
          from_here >= self->options.max_connections_per_address) {
        // Over a limit: refuse at once rather than queue, so the client learns it now.
        if (from_here == 0) self->per_address.erase(remote);
        ++self->refused;
        socket.close(peer_ec);
      } else {
        ++from_here;
        const std::uint64_t id = self->next_id++;
        auto c = server_detail::make_connection(self, id, remote, std::move(socket));
        self->connections[id] = {c, remote};
        c->run();
      }
    }
    self->accept();
  });
}

Server::Server(net::io_context& io, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::route(std::string method, const std::string& pattern, Handler handler) {
  impl_->routes.push_back({std::move(method), split_path(pattern), std::move(handler)});
}

void Server::start() {
  const ServerOptions& o = impl_->options;
  const std::string where = o.address + ":" + std::to_string(o.port);
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    try {
      impl_->ssl.emplace(net::ssl::context::tls_server);
      impl_->ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                              net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                              net::ssl::context::no_tlsv1_1);
      impl_->ssl->use_certificate_chain_file(o.tls_cert);
      impl_->ssl->use_private_key_file(o.tls_key, net::ssl::context::pem);
    } catch (const std::exception& e) {
      throw std::runtime_error("http: cannot load TLS certificate \"" + o.tls_cert + "\" / key \"" +
                               o.tls_key + "\": " + e.what());
    }
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(o.address, ec);
  if (ec) throw std::runtime_error("http: bad listen address \"" + o.address + "\"");
  const tcp::endpoint endpoint(address, o.port);
  impl_->acceptor.emplace(impl_->io);
  impl_->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(endpoint, ec);
  if (!ec) impl_->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("http: cannot listen on " + where + ": " + ec.message());
  impl_->bound_port = impl_->acceptor->local_endpoint().port();
  impl_->stopped = false;
  impl_->accept();
}

void Server::stop() {
  if (impl_->stopped || !impl_->acceptor) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
  auto connections = std::move(impl_->connections);
  impl_->per_address.clear();
  for (auto& [id, open] : connections) {
    if (auto c = open.connection.lock()) c->close();
  }
}

unsigned short Server::port() const {
  return impl_->bound_port;
}

bool Server::tls() const {
  return impl_->ssl.has_value();
}

std::optional<Response> Server::handle_bytes_for_test(std::string_view raw,
                                                      const std::string& remote) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(impl_->options.max_header_bytes));
  parser.body_limit(impl_->options.max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  net::const_buffer rest(raw.data(), raw.size());
  while (rest.size() > 0 && !parser.is_done()) {
    const std::size_t used = parser.put(rest, ec);
    if (ec == bhttp::error::need_more) return std::nullopt;  // the connection would wait
    if (ec == bhttp::error::body_limit) return Response::error(413, "body_too_large", "");
    if (ec == bhttp::error::header_limit) return Response::error(431, "headers_too_large", "");
    if (ec) return Response::error(400, "bad_request", "malformed HTTP request: " + ec.message());
    if (used == 0) return std::nullopt;
    rest += used;
  }
  if (!parser.is_done()) return std::nullopt;
  if (auto refused = duplicate_header(parser.get())) return refused;
  Request request = request_from(parser.release(), remote);
  return impl_->handle(request);
}

std::size_t Server::requests_served() const {
  return impl_->served;
}

std::size_t Server::connections_refused() const {
  return impl_->refused;
}

std::size_t Server::open_streams() const {
  return impl_->streams;
}

net::io_context& Server::io() const {
  return impl_->io;
}

}  // namespace incidentd::http
