#include "http/ctl_commands.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "http/client.hpp"

namespace incidentd::http {

struct ApiCommands::Options {
  CLI::App* ack = nullptr;
  CLI::App* confirm = nullptr;
  std::string url = "http://127.0.0.1:8480";
  std::string token_file;
  std::string ca_file;
  std::string incident_key;
  std::string recipient;
  std::string confirmation_id, milestone = "first_release", unit, released_at, channel, release_url,
                               speaker;
};

std::string read_token(const std::string& file) {
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot open the token file \"" + file + "\"");
    std::string token;
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.empty()) throw std::runtime_error("the token file \"" + file + "\" is empty");
    return token;
  }
  const char* env = std::getenv("INCIDENTD_TOKEN");
  if (env == nullptr || *env == '\0') {
    throw std::runtime_error("no token: give --token-file FILE or set INCIDENTD_TOKEN");
  }
  return env;
}

std::string path_segment(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

int report(const ClientReply& reply) {
  if (reply.status >= 200 && reply.status < 300) {
    std::cout << reply.body;
    if (!reply.body.empty() && reply.body.back() != '\n') std::cout << '\n';
    return 0;
  }
  std::cerr << "incidentctl: the API answered " << reply.status << ": " << reply.body;
  if (!reply.body.empty() && reply.body.back() != '\n') std::cerr << '\n';
  return 1;
}

}  // namespace

ApiCommands::ApiCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  const auto add_common = [&o](CLI::App* cmd) {
    cmd->add_option("--url", o.url, "the daemon's API")->capture_default_str();
    cmd->add_option("--token-file", o.token_file,
                    "file holding the bearer token (default: the INCIDENTD_TOKEN variable)");
    cmd->add_option("--ca-file", o.ca_file, "https: trust this CA certificate");
    cmd->add_option("incident_key", o.incident_key, "the incident's key")->required();
  };
  o.ack = app.add_subcommand("ack",
                             "Acknowledge an incident's alerts for a person, through the "
                             "daemon's HTTP API");
  add_common(o.ack);
  o.ack->add_option("--recipient", o.recipient, "the person's id from the roster")->required();

  o.confirm =
      app.add_subcommand("confirm", "Confirm a release for a unit, through the daemon's HTTP API");
  add_common(o.confirm);
  o.confirm->add_option("--unit", o.unit, "the unit that released")->required();
  o.confirm->add_option("--milestone", o.milestone, "first_release, press_conference, follow_up")
      ->check(CLI::IsMember({"first_release", "press_conference", "follow_up"}))
      ->capture_default_str();
  o.confirm->add_option("--released-at", o.released_at, "RFC 3339 instant of the release")
      ->required();
  o.confirm->add_option("--id", o.confirmation_id,
                        "confirmation id; the same id twice counts once (default: derived from "
                        "incident, milestone, unit and time)");
  o.confirm->add_option("--channel", o.channel, "where it was published (weibo, website, ...)");
  o.confirm->add_option("--release-url", o.release_url, "evidence: the release's URL");
  o.confirm->add_option("--speaker", o.speaker, "principal, deputy or spokesperson")
      ->check(CLI::IsMember({"principal", "deputy", "spokesperson"}));
}

ApiCommands::~ApiCommands() = default;

std::optional<int> ApiCommands::run() const {
  const Options& o = *options_;
  if (!*o.ack && !*o.confirm) return std::nullopt;
  ClientRequest request;
  request.base_url = o.url;
  request.method = "POST";
  request.ca_file = o.ca_file;
  try {
    request.bearer_token = read_token(o.token_file);
    if (*o.ack) {
      request.target = "/v1/incidents/" + path_segment(o.incident_key) + "/ack";
      request.body = nlohmann::json{{"recipient", o.recipient}}.dump();
    } else {
      nlohmann::json body = {{"milestone", o.milestone},
                             {"unit", o.unit},
                             {"released_at", o.released_at},
                             {"confirmation_id", o.confirmation_id.empty()
                                                     ? "cli:" + o.incident_key + ":" + o.milestone +
                                                           ":" + o.unit + ":" + o.released_at
                                                     : o.confirmation_id}};
      if (!o.channel.empty()) body["channel"] = o.channel;
      if (!o.release_url.empty()) body["url"] = o.release_url;
      if (!o.speaker.empty()) body["speaker"] = o.speaker;
      request.target = "/v1/incidents/" + path_segment(o.incident_key) + "/releases";
      request.body = body.dump();
    }
    return report(send_request(request));
  } catch (const std::exception& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace incidentd::http
