// One client's connection: reading a request within the server's limits, answering it (now,
// later, or as a stream of events), and closing it cleanly, over plain TCP or TLS.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/server_impl.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <cstdint>
#include <deque>

namespace incidentd::http::server_detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  template <class... StreamArgs>
  Connection(std::shared_ptr<Server::Impl> server, std::uint64_t id, std::string remote,
             StreamArgs&&... args)
      : server_(std::move(server)),
        id_(id),
        remote_(std::move(remote)),
        stream_(std::forward<StreamArgs>(args)...) {}

  void run() override {
    if constexpr (kTls) {
      lowest().expires_after(server_->options.header_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->finish();
                                self->read_header();
                              });
    } else {
      read_header();
    }
  }

  void close() override {
    end_stream();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    lowest().expires_after(server_->options.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& header = parser_->get();
    if (const auto length = parser_->content_length();
        length && *length > server_->options.max_body_bytes) {
      return reject_and_close(Response::error(413, "body_too_large",
                                              "the body has " + std::to_string(*length) +
                                                  " bytes; the limit is " +
                                                  std::to_string(server_->options.max_body_bytes)));
    }
    (void)header;
    if (parser_->is_done()) return dispatch();
    lowest().expires_after(server_->options.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code e, std::size_t) {
                        if (e) return self->on_read_error(e);
                        self->dispatch();
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated) {
      return finish();  // the peer left, or was too slow: nobody to answer
    }
    if (ec == bhttp::error::body_limit) {
      return reject_and_close(Response::error(
          413, "body_too_large",
          "the body exceeds " + std::to_string(server_->options.max_body_bytes) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      return reject_and_close(Response::error(
          431, "headers_too_large",
          "the headers exceed " + std::to_string(server_->options.max_header_bytes) + " bytes"));
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
      return reject_and_close(
          Response::error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    finish();
  }

  void dispatch() {
    auto message = parser_->release();
    if (auto refused = duplicate_header(message)) return reject_and_close(std::move(*refused));
    const bool keep_alive = message.keep_alive();
    head_ = message.method() == bhttp::verb::head;
    Request request = request_from(std::move(message), remote_);
    Response response = server_->handle(request);
    if (response.on_stream && response.status == 200) {
      if (server_->streams >= server_->options.max_streams) {
        return write(Response::error(503, "too_many_streams",
                                     "the server has " + std::to_string(server_->streams) +
                                         " streams open, its limit; try again later"),
                     keep_alive);
      }
      return start_stream(response);
    }
    if (response.on_later) {
      // Nothing is read from the client until the answer is written, as for any request; the
      // connection lives as long as the handler holds the function that answers.
      auto answer = [self = this->shared_from_this(), keep_alive,
                     done = false](Response r) mutable {
        if (done) return;
        done = true;
        self->write(std::move(r), keep_alive);
      };
      return response.on_later(std::move(answer));
    }
    write(std::move(response), keep_alive);
  }

  // ---- streaming responses ----------------------------------------------------------------

  class Sink final : public StreamSink {
   public:
    explicit Sink(std::weak_ptr<Connection> connection) : connection_(std::move(connection)) {}
    bool send(std::string bytes) override {
      auto c = connection_.lock();
      return c && c->stream_send(std::move(bytes));
    }
    bool open() const override {
      auto c = connection_.lock();
      return c && c->streaming_;
    }

   private:
    std::weak_ptr<Connection> connection_;
  };

  void start_stream(const Response& r) {
    ++server_->streams;
    streaming_ = true;
    // No timeouts from here on: the stream is meant to stay open, and a peer that stops reading
    // is cut off by the backlog bound instead (the keepalive comments keep data flowing).
    lowest().expires_never();
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " + r.content_type +
                       "\r\nCache-Control: no-cache\r\nConnection: close\r\n";
    for (const auto& [name, value] : r.headers)
      head.append(name).append(": ").append(value).append("\r\n");
    head += "\r\n";
    stream_send(std::move(head));
    r.on_stream(std::make_shared<Sink>(this->weak_from_this()));
    watch_stream_peer();
  }

  bool stream_send(std::string bytes) {
    if (!streaming_) return false;
    backlog_ += bytes.size();
    if (backlog_ > server_->options.max_stream_backlog) {
      end_stream();
      close();
      return false;
    }
    outbox_.push_back(std::move(bytes));
    if (!writing_) write_next();
    return true;
  }

  void write_next() {
    if (outbox_.empty() || !streaming_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    net::async_write(stream_, net::buffer(outbox_.front()),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                       (void)n;
                       self->backlog_ -= self->outbox_.front().size();
                       self->outbox_.pop_front();
                       if (ec) return self->stream_failed();
                       self->write_next();
                     });
  }

  // A client of a stream sends nothing more; a read completes only when it leaves.
  void watch_stream_peer() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->stream_failed();
                              self->watch_stream_peer();
                            });
  }

  // Once per stream, whichever of its reads and writes fails first.
  void stream_failed() {
    if (stream_finished_) return;
    stream_finished_ = true;
    end_stream();
    finish();
  }

  void end_stream() {
    if (!streaming_) return;
    streaming_ = false;
    --server_->streams;
  }

  void reject_and_close(Response response) {
    ++server_->served;
    linger_ = true;
    write(std::move(response), false);
  }

  void write(Response r, bool keep_alive) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(r.status));
    response_.set(bhttp::field::content_type, r.content_type);
    response_.set(bhttp::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) response_.set(name, value);
    response_.keep_alive(keep_alive && !server_->stopped);
    if (head_) {
      // The length the GET would have, and no body (RFC 9110, 9.3.2).
      response_.content_length(r.body.size());
      head_ = false;
    } else {
      response_.body() = std::move(r.body);
      response_.prepare_payload();
    }
    lowest().expires_after(server_->options.body_timeout);
    bhttp::async_write(stream_, response_,
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec || !self->response_.keep_alive()) return self->finish();
                         self->read_header();
                       });
  }

  void finish() {
    server_->forget(id_);
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else if (linger_) {
      // The client may still be sending what we refused; closing with unread data would reset
      // the connection and could destroy our answer before it is read. Read and drop a bounded
      // amount first, as web servers do with a "lingering close".
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest().expires_after(std::chrono::seconds(2));
      drain();
    } else {
      close();
    }
  }

  void drain() {
    lowest().async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](
                                                        beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxDrainBytes) return self->close();
      self->drain();
    });
  }

  std::shared_ptr<Server::Impl> server_;
  std::uint64_t id_;
  std::string remote_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  bool linger_ = false;
  bool head_ = false;  // the request being answered is a HEAD
  static constexpr std::size_t kMaxDrainBytes = std::size_t{1} << 20;
  std::array<char, 4096> scratch_{};
  std::size_t drained_ = 0;
  bool streaming_ = false;
  bool stream_finished_ = false;
  bool writing_ = false;
  std::deque<std::string> outbox_;  // stream bytes not yet written, front = being written
  std::size_t backlog_ = 0;         // bytes in outbox_
};

}  // namespace

std::shared_ptr<ConnectionBase> make_connection(const std::shared_ptr<Server::Impl>& server,
                                                std::uint64_t id, const std::string& remote,
                                                tcp::socket socket) {
  if (server->ssl) {
    auto c = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
        server, id, remote, std::move(socket), *server->ssl);
    return c;
  }
  auto c = std::make_shared<Connection<beast::tcp_stream>>(server, id, remote, std::move(socket));
  return c;
}

}  // namespace incidentd::http::server_detail
