// [http] of incidentd.toml: the API listener, TLS, one-click ack links and the API tokens.
#include "core/config_parser.hpp"

#include <algorithm>

namespace incidentd::config_detail {

namespace {

// 64 hex digits in lowercase, as the API compares them, or nothing when `text` is not a SHA-256.
std::optional<std::string> lowercase_sha256(std::string_view text) {
  const bool hex =
      text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      });
  if (!hex) return std::nullopt;
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'F' ? c + 32 : c); });
  return out;
}

}  // namespace

void ConfigParser::parse_http(const toml::table& http, HttpSettings& out) {
  check_keys(http,
             {"enabled", "address", "port", "tls_cert", "tls_key", "link_secret_file", "public_url",
              "link_ttl", "max_body_bytes", "header_timeout", "body_timeout",
              "max_connections_per_address", "tokens"},
             "http");
  parse_http_listener(http, out);
  parse_http_links(http, out);
  parse_http_limits(http, out);
  const toml::array* tokens = get_table_array(http, "tokens", "http");
  if (tokens == nullptr) return;
  std::size_t index = 0;
  for (const toml::node& element : *tokens) {
    ++index;
    const toml::table& t = *element.as_table();
    const std::string path = "http.tokens[" + std::to_string(index) + "]";
    if (auto token = parse_http_token(t, path)) {
      out.tokens.push_back(std::move(*token));
      token_nodes_.push_back(t.get("sha256"));
    }
  }
}

// Where the API listens, and with which certificate when it speaks HTTPS.
void ConfigParser::parse_http_listener(const toml::table& http, HttpSettings& out) {
  read_bool(http, "enabled", "http", out.enabled);
  if (auto v = get_string(http, "address", "http", false, "an IP address to listen on")) {
    out.address = *v;
  }
  // 0: a free port the kernel picks at each start, named in the log ("HTTP API on ..."). For
  // tests and scripts that run several daemons at once: a port picked by the test beforehand may
  // be taken by another program before the daemon binds it.
  if (auto v = get_integer_in(http, "port", "http", "a TCP port, 1 to 65535 (0: any free port)", 0,
                              65535)) {
    out.port = static_cast<int>(*v);
  }
  if (auto v = get_string(http, "tls_cert", "http", false, "a PEM certificate file")) {
    out.tls_cert = *v;
    read_files_.push_back({http.get("tls_cert"), "http.tls_cert", *v, false});
  }
  if (auto v = get_string(http, "tls_key", "http", false, "a PEM private key file")) {
    out.tls_key = *v;
    read_files_.push_back({http.get("tls_key"), "http.tls_key", *v, false});
  }
  if (out.tls_cert.empty() != out.tls_key.empty()) {
    error(http, "http: tls_cert and tls_key go together (set both for HTTPS, neither for HTTP)");
  }
}

// The one-click ack links: their key, the base URL they are built on, and how long they live.
void ConfigParser::parse_http_links(const toml::table& http, HttpSettings& out) {
  if (auto v = get_string(http, "link_secret_file", "http", false,
                          "a file holding the key of the one-click ack links")) {
    out.link_secret_file = *v;
    link_secret_node_ = http.get("link_secret_file");
  }
  if (auto v = get_string(http, "public_url", "http", false, "the base URL of ack links")) {
    if (valid_url(*v)) {
      out.public_url = *v;
    } else {
      error(*http.get("public_url"),
            "http.public_url: expected an http:// or https:// URL, got " + quote(*v));
    }
  }
  read_duration(http, "link_ttl", "http", out.link_ttl, std::chrono::minutes(1));
}

void ConfigParser::parse_http_limits(const toml::table& http, HttpSettings& out) {
  read_duration(http, "header_timeout", "http", out.header_timeout, kMinSendTimeout);
  read_duration(http, "body_timeout", "http", out.body_timeout, kMinSendTimeout);
  if (auto v = get_integer_in(http, "max_body_bytes", "http", "bytes, 1024 to 16777216", 1024,
                              std::int64_t{16} * 1024 * 1024)) {
    out.max_body_bytes = static_cast<std::size_t>(*v);
  }
  if (auto v = get_integer_in(http, "max_connections_per_address", "http", "connections, 1 to 256",
                              1, 256)) {
    out.max_connections_per_address = static_cast<std::size_t>(*v);
  }
}

// One [[http.tokens]] entry, or nothing when its name or hash is missing or wrong (both reported).
std::optional<HttpToken> ConfigParser::parse_http_token(const toml::table& t,
                                                        const std::string& path) {
  check_keys(t, {"name", "unit", "sha256"}, path);
  HttpToken token;
  bool ok = true;
  if (auto v = get_string(t, "name", path, true, "who holds the token")) {
    token.name = *v;
  } else {
    ok = false;
  }
  // Checked against the roster in check_http_tokens(), once the units are known.
  if (auto v = get_string(t, "unit", path, false, "the unit the token acts for")) {
    token.unit = *v;
    pending_token_units_.push_back({*v, t.get("unit")});
  }
  if (auto v = get_string(t, "sha256", path, true,
                          "the SHA-256 of the token in hex: sha256sum of the token")) {
    if (auto hash = lowercase_sha256(*v)) {
      token.sha256 = std::move(*hash);
    } else {
      error(*t.get("sha256"), path +
                                  ".sha256: expected 64 hex digits (the SHA-256 of the "
                                  "token, never the token itself)");
      ok = false;
    }
  } else {
    ok = false;
  }
  if (!ok) return std::nullopt;
  return token;
}

void ConfigParser::check_http_tokens(const Config& config) {
  for (const auto& [unit, node] : pending_token_units_) {
    if (config.find_unit(unit) == nullptr) {
      error(*node, "http.tokens: unknown unit " + quote(unit) +
                       " (leave unit out for an operator token that acts for any unit)");
    }
  }
  // A token is known by its hash: two entries with one hash would make one token act as
  // whichever entry was found first.
  std::map<std::string, std::string, std::less<>> names;
  for (std::size_t i = 0; i < config.http.tokens.size() && i < token_nodes_.size(); ++i) {
    const HttpToken& token = config.http.tokens[i];
    if (auto [it, inserted] = names.emplace(token.sha256, token.name); !inserted) {
      error(*token_nodes_[i], "http.tokens: token " + quote(token.name) +
                                  " has the same sha256 as token " + quote(it->second) +
                                  " (each holder needs a token of their own)");
    }
  }
}

}  // namespace incidentd::config_detail
