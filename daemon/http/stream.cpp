#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/stream.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "http/server.hpp"
#include "incidentd/codec.hpp"

namespace incidentd::http {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

std::string sse_event(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(name.size() + data.size() + 16);
  out.append("event: ").append(name).append("\ndata: ").append(data).append("\n\n");
  return out;
}

std::string source_status_json(const SourceStatus& status, std::chrono::minutes utc_offset) {
  nlohmann::json j = {{"source_silent", status.silent}, {"since", nullptr}};
  if (status.since) j["since"] = format_rfc3339(*status.since, utc_offset);
  return j.dump();
}

struct EventHub::Impl : std::enable_shared_from_this<EventHub::Impl> {
  struct Subscriber {
    std::shared_ptr<StreamSink> sink;
    std::string unit;
    bool dirty = false;
  };

  Impl(net::io_context& context, std::function<std::string(const std::string&)> render,
       Options opts)
      : io(context),
        incidents(std::move(render)),
        options(opts),
        push_timer(context),
        keepalive_timer(context) {}

  net::io_context& io;
  std::function<std::string(const std::string&)> incidents;
  Options options;
  net::steady_timer push_timer;
  net::steady_timer keepalive_timer;
  bool push_armed = false;
  bool keepalive_armed = false;
  bool stopped = false;
  Clock::time_point last_push{};
  std::vector<Subscriber> subscribers;

  void drop_closed() {
    std::erase_if(subscribers, [](const Subscriber& s) { return !s.sink->open(); });
  }

  // One rendering per scope: subscribers of one unit share it.
  void push_dirty() {
    std::map<std::string, std::string> rendered;
    for (Subscriber& s : subscribers) {
      if (!s.dirty) continue;
      s.dirty = false;
      auto found = rendered.find(s.unit);
      if (found == rendered.end()) {
        found = rendered.emplace(s.unit, sse_event("incidents", incidents(s.unit))).first;
      }
      s.sink->send(found->second);
    }
    last_push = Clock::now();
    drop_closed();
  }

  // Always from the timer, never inside the caller: a commit calls in the middle of its own
  // bookkeeping, and the list must be read after it.
  void schedule_push() {
    if (push_armed || stopped) return;
    push_armed = true;
    push_timer.expires_at(std::max(last_push + options.min_interval, Clock::now()));
    push_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->push_armed = false;
      if (ec || self->stopped) return;
      self->push_dirty();
    });
  }

  void arm_keepalive() {
    if (keepalive_armed || stopped || subscribers.empty()) return;
    keepalive_armed = true;
    keepalive_timer.expires_after(options.keepalive);
    keepalive_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->keepalive_armed = false;
      if (ec || self->stopped) return;
      for (Subscriber& s : self->subscribers) s.sink->send(": keepalive\n\n");
      self->drop_closed();
      self->arm_keepalive();
    });
  }
};

EventHub::EventHub(net::io_context& io, std::function<std::string(const std::string&)> incidents,
                   Options options)
    : impl_(std::make_shared<Impl>(io, std::move(incidents), options)) {}

EventHub::~EventHub() {
  stop();
}

void EventHub::add(std::shared_ptr<StreamSink> sink, std::string unit) {
  if (impl_->stopped) return;
  sink->send(sse_event("incidents", impl_->incidents(unit)));
  if (status_.silent || status_.since) {
    sink->send(sse_event("status", source_status_json(status_, impl_->options.utc_offset)));
  }
  if (!sink->open()) return;
  impl_->subscribers.push_back({std::move(sink), std::move(unit), false});
  impl_->arm_keepalive();
}

void EventHub::changed(const std::vector<std::vector<std::string>>& units_of_changed) {
  if (impl_->subscribers.empty() || units_of_changed.empty()) return;
  bool any = false;
  for (auto& s : impl_->subscribers) {
    if (s.dirty) continue;
    const bool in_scope =
        s.unit.empty() ||
        std::any_of(units_of_changed.begin(), units_of_changed.end(),
                    [&](const std::vector<std::string>& units) {
                      return std::find(units.begin(), units.end(), s.unit) != units.end();
                    });
    if (in_scope) {
      s.dirty = true;
      any = true;
    }
  }
  if (any) impl_->schedule_push();
}

void EventHub::status(SourceStatus now) {
  status_ = now;
  const std::string event =
      sse_event("status", source_status_json(status_, impl_->options.utc_offset));
  for (auto& s : impl_->subscribers) s.sink->send(event);
  impl_->drop_closed();
}

std::size_t EventHub::subscribers() const {
  impl_->drop_closed();
  return impl_->subscribers.size();
}

void EventHub::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->push_timer.cancel();
  impl_->keepalive_timer.cancel();
  impl_->subscribers.clear();
}

}  // namespace incidentd::http
