#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/client.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <optional>
#include <stdexcept>

#include "incidentd/url.hpp"

namespace incidentd::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

Url api_url(const std::string& text) {
  std::optional<Url> url = parse_url(text);
  if (!url) {
    throw std::runtime_error("the API URL must be an http:// or https:// URL with a host, got \"" +
                             text + "\"");
  }
  return *std::move(url);
}

// Beast's expires_after() bounds asynchronous operations only; this client is blocking, so the
// socket itself gets the timeout.
void set_socket_timeout(tcp::socket& socket, Duration timeout) {
  const auto ms = timeout.count();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

template <class Stream>
ClientReply exchange(Stream& stream, const ClientRequest& r, const Url& url) {
  bhttp::request<bhttp::string_body> request(bhttp::string_to_verb(r.method), r.target, 11);
  request.set(bhttp::field::host, url.authority());
  request.set(bhttp::field::user_agent, "incidentctl");
  if (!r.bearer_token.empty()) {
    request.set(bhttp::field::authorization, "Bearer " + r.bearer_token);
  }
  if (!r.body.empty()) {
    request.set(bhttp::field::content_type, "application/json");
    request.body() = r.body;
  }
  request.prepare_payload();
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), response.body()};
}

template <class Stream>
StreamEnd read_stream(Stream& stream, const ClientRequest& r, const Url& url,
                      const std::function<bool(std::string_view)>& on_bytes,
                      const std::function<bool()>& keep_going) {
  bhttp::request<bhttp::empty_body> request(bhttp::verb::get, r.target, 11);
  request.set(bhttp::field::host, url.authority());
  request.set(bhttp::field::user_agent, "incidentctl");
  request.set(bhttp::field::accept, "text/event-stream");
  if (!r.bearer_token.empty()) {
    request.set(bhttp::field::authorization, "Bearer " + r.bearer_token);
  }
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  beast::error_code ec;
  // A signal may interrupt any read; the parser keeps its place, so the read resumes.
  const auto interrupted = [&] { return ec == net::error::interrupted; };
  for (;;) {
    bhttp::read_header(stream, buffer, parser, ec);
    if (!interrupted()) break;
    if (!keep_going()) return {0, {}, true};
  }
  if (ec) throw beast::system_error(ec);
  StreamEnd end;
  end.status = static_cast<int>(parser.get().result_int());
  std::array<char, 8192> chunk{};
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    bhttp::read(stream, buffer, parser, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    const std::string_view got(chunk.data(), chunk.size() - parser.get().body().size);
    if (end.status != 200) {
      end.body.append(got);
    } else if (!got.empty() && !on_bytes(got)) {
      end.stopped = true;
      return end;
    }
    if (interrupted()) {
      if (!keep_going()) {
        end.stopped = true;
        return end;
      }
      ec = {};
      continue;
    }
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated) {
      return end;  // the daemon went away: the caller decides whether to come back
    }
    if (ec) throw beast::system_error(ec);
  }
  return end;
}

}  // namespace

StreamEnd stream_request(const ClientRequest& r,
                         const std::function<bool(std::string_view)>& on_bytes,
                         const std::function<bool()>& keep_going) {
  const Url url = api_url(r.base_url);
  net::io_context io;
  tcp::resolver resolver(io);
  try {
    const auto endpoints = resolver.resolve(url.host, url.port);
    if (!url.tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(r.timeout);
      stream.connect(endpoints);
      return read_stream(stream, r, url, on_bytes, keep_going);
    }
    net::ssl::context ssl(net::ssl::context::tls_client);
    if (r.ca_file.empty()) {
      ssl.set_default_verify_paths();
    } else {
      ssl.load_verify_file(r.ca_file);
    }
    ssl.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ssl);
    if (SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) != 1) {
      throw std::runtime_error("cannot set the TLS server name");
    }
    stream.set_verify_callback(net::ssl::host_name_verification(url.host));
    beast::get_lowest_layer(stream).expires_after(r.timeout);
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(net::ssl::stream_base::client);
    return read_stream(stream, r, url, on_bytes, keep_going);
  } catch (const beast::system_error& e) {
    throw std::runtime_error("GET " + r.base_url + r.target + ": " + e.code().message());
  }
}

ClientReply send_request(const ClientRequest& r) {
  const Url url = api_url(r.base_url);
  net::io_context io;
  tcp::resolver resolver(io);
  try {
    const auto endpoints = resolver.resolve(url.host, url.port);
    if (!url.tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(r.timeout);
      stream.connect(endpoints);
      set_socket_timeout(stream.socket(), r.timeout);
      return exchange(stream, r, url);
    }
    net::ssl::context ssl(net::ssl::context::tls_client);
    if (r.ca_file.empty()) {
      ssl.set_default_verify_paths();
    } else {
      ssl.load_verify_file(r.ca_file);
    }
    ssl.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ssl);
    if (SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) != 1) {
      throw std::runtime_error("cannot set the TLS server name");
    }
    stream.set_verify_callback(net::ssl::host_name_verification(url.host));
    beast::get_lowest_layer(stream).expires_after(r.timeout);
    beast::get_lowest_layer(stream).connect(endpoints);
    set_socket_timeout(beast::get_lowest_layer(stream).socket(), r.timeout);
    stream.handshake(net::ssl::stream_base::client);
    return exchange(stream, r, url);
  } catch (const beast::system_error& e) {
    throw std::runtime_error(r.method + " " + r.base_url + r.target + ": " + e.code().message());
  }
}

}  // namespace incidentd::http
