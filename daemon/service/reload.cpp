#include "service/reload.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <csignal>
#include <exception>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "service/notifier.hpp"

namespace incidentd {

namespace {

bool same_kafka(const KafkaSettings& a, const KafkaSettings& b) {
  return a.brokers == b.brokers && a.group == b.group && a.events_topic == b.events_topic &&
         a.releases_topic == b.releases_topic && a.dlq_topic == b.dlq_topic &&
         a.properties == b.properties;
}

std::size_t count_people(const Config& config) {
  std::size_t n = 0;
  for (const auto& unit : config.units) n += unit.people.size();
  return n;
}

}  // namespace

ConfigReloader::ConfigReloader(std::string path, Config running, Apply apply)
    : path_(std::move(path)), current_(std::move(running)), apply_(std::move(apply)) {}

ReloadResult ConfigReloader::reload() {
  ReloadResult result;
  auto loaded = load_config_file(path_);
  if (!loaded.config) {
    result.errors = std::move(loaded.errors);
    for (const auto& e : result.errors) spdlog::error("reload: {}: {}", e.where, e.message);
    spdlog::error("reload: refused {} ({} error{}); the running configuration stays", path_,
                  result.errors.size(), result.errors.size() == 1 ? "" : "s");
    return result;
  }
  Config next = std::move(*loaded.config);
  if (next.database != current_.database) {
    result.needs_restart.emplace_back("database");
    next.database = current_.database;
  }
  if (!same_kafka(next.kafka, current_.kafka)) {
    result.needs_restart.emplace_back("kafka");
    next.kafka = current_.kafka;
  }
  // The consumer joined its group under these: its membership, its transactional id and its
  // timeouts are fixed for the life of the process.
  if (!(next.cluster == current_.cluster)) {
    result.needs_restart.emplace_back("cluster");
    next.cluster = current_.cluster;
  }
  // The dispatcher, its channels and the HTTP server are built from these at start-up, and the
  // time zone is in every text and answer they format.
  if (next.timezone != current_.timezone) {
    result.needs_restart.emplace_back("timezone");
    next.timezone = current_.timezone;
    next.utc_offset = current_.utc_offset;
  }
  if (!(next.notify == current_.notify)) {
    result.needs_restart.emplace_back("notify");
    next.notify = current_.notify;
  }
  if (!(next.sms == current_.sms)) {
    result.needs_restart.emplace_back("sms");
    next.sms = current_.sms;
  }
  HttpSettings http = current_.http;
  http.tokens = next.http.tokens;  // the tokens do apply at once
  if (!(next.http == http)) {
    result.needs_restart.emplace_back("http");
    next.http = std::move(http);
  }
  try {
    apply_(next);
  } catch (const std::exception& e) {
    result.errors.push_back({path_, e.what()});
    spdlog::error("reload: applying {} failed: {}; the running configuration stays", path_,
                  e.what());
    return result;
  }
  current_ = std::move(next);
  result.applied = true;
  for (const auto& key : result.needs_restart) {
    spdlog::warn("reload: `{}` changed in {}; it takes effect at the next restart", key, path_);
  }
  spdlog::info("reload: applied {}: roster of {} units, {} people", path_, current_.units.size(),
               count_people(current_));
  return result;
}

struct SighupReload::Impl {
  Impl(boost::asio::io_context& io, ConfigReloader& r, Notifier& n)
      : signals(io, SIGHUP), reloader(r), notifier(n) {}

  void wait() {
    signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;  // the signal_set was cancelled: shutting down
      spdlog::info("reload: SIGHUP received, reading {}", reloader.path());
      notifier.reloading();
      reloader.reload();
      notifier.ready();
      wait();
    });
  }

  boost::asio::signal_set signals;
  ConfigReloader& reloader;
  Notifier& notifier;
};

SighupReload::SighupReload(boost::asio::io_context& io, ConfigReloader& reloader,
                           Notifier& notifier)
    : impl_(std::make_unique<Impl>(io, reloader, notifier)) {
  impl_->wait();
}

SighupReload::~SighupReload() = default;

}  // namespace incidentd
