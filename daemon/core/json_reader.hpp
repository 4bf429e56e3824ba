// Reading a JSON message for the codecs, internal to daemon/core: the message parsed with its
// limits, the fields of an object read one by one (the first problem found becomes the reason),
// and reasons kept to one bounded line of valid UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"

namespace incidentd::codec_detail {

using nlohmann::json;

// Rejection reasons travel in dead-letter headers and log lines: one line, bounded, valid UTF-8.
constexpr std::size_t kMaxQuotedBytes = 64;
constexpr std::size_t kMaxDetailBytes = 200;

template <typename T>
// Takes the message by value: callers hand over temporaries, which are moved, not copied.
Parsed<T> fail(std::string error) {  // NOLINT(performance-unnecessary-value-param)
  Parsed<T> p;
  p.error = std::move(error);
  return p;
}

template <typename T>
Parsed<T> ok(T value) {
  Parsed<T> p;
  p.value = std::move(value);
  return p;
}

// Cuts at a UTF-8 boundary so a truncated value is still valid UTF-8.
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);

// Makes arbitrary bytes safe for a one-line reason: invalid UTF-8 becomes U+FFFD, control
// characters become spaces.
std::string one_line(std::string_view s, std::size_t max_bytes);

// A value from the message, quoted as JSON so that quotes and control characters stay visible.
std::string quote(std::string_view value);

std::string field_name(std::string_view name);

std::string type_of(const json& j);

template <typename E, std::size_t N>
std::string list_of(const E (&values)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += ", ";
    out += to_string(values[i]);
  }
  return out;
}

std::optional<std::int64_t> as_int64(const json& j);

// Reads the fields of one JSON object, remembering the first problem found. Each reader returns
// false once there is an error, so a parse is a chain of `&&` that stops at the first reason.
class Fields {
 public:
  explicit Fields(const json& object) : object_(object) {}

  const std::string& error() const { return error_; }

  bool reject(std::string reason) {
    error_ = std::move(reason);
    return false;
  }

  // Present and not null: an optional field given as null counts as absent, since many
  // producers write null for "no value" and that must not send an incident to the dead letters.
  const json* find(std::string_view name) const {
    auto it = object_.find(std::string(name));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* require(std::string_view name) {
    auto it = object_.find(std::string(name));
    if (it == object_.end()) {
      reject("missing required field " + field_name(name));
      return nullptr;
    }
    return &*it;
  }

  bool schema(bool required) {
    const json* v = required ? require("schema") : find("schema");
    if (v == nullptr) return error_.empty();
    const auto version = as_int64(*v);
    if (!version) {
      return reject("field \"schema\" must be an integer (got " + type_of(*v) + ")");
    }
    if (*version != kMessageSchemaVersion) {
      return reject("unknown schema version " + std::to_string(*version) +
                    " (this incidentd understands " + std::to_string(kMessageSchemaVersion) + ")");
    }
    return true;
  }

  bool string_value(std::string_view name, const json& v, std::string& out) {
    if (!v.is_string()) {
      return reject("field " + field_name(name) + " must be a string (got " + type_of(v) + ")");
    }
    out = v.get<std::string>();
    return true;
  }

  bool required_string(std::string_view name, std::string& out, bool non_empty) {
    const json* v = require(name);
    if (v == nullptr || !string_value(name, *v, out)) return false;
    if (non_empty && out.empty()) return reject("field " + field_name(name) + " must not be empty");
    return true;
  }

  bool optional_string(std::string_view name, std::string& out) {
    const json* v = find(name);
    return v == nullptr || string_value(name, *v, out);
  }

  bool time_value(std::string_view name, const json& v, TimePoint& out) {
    std::string text;
    if (!string_value(name, v, text)) return false;
    auto t = parse_rfc3339(text);
    if (!t) {
      return reject("field " + field_name(name) +
                    " must be an RFC 3339 timestamp with an offset, like "
                    "\"2026-11-26T08:00:00+08:00\" (got " +
                    quote(text) + ")");
    }
    out = *t;
    return true;
  }

  bool required_time(std::string_view name, TimePoint& out) {
    const json* v = require(name);
    return v != nullptr && time_value(name, *v, out);
  }

  bool optional_time(std::string_view name, std::optional<TimePoint>& out) {
    const json* v = find(name);
    if (v == nullptr) return true;
    TimePoint t;
    if (!time_value(name, *v, t)) return false;
    out = t;
    return true;
  }

  bool optional_bool(std::string_view name, bool& out) {
    const json* v = find(name);
    if (v == nullptr) return true;
    if (!v->is_boolean()) {
      return reject("field " + field_name(name) + " must be a boolean (got " + type_of(*v) + ")");
    }
    out = v->get<bool>();
    return true;
  }

  bool int_value(std::string_view name, const json& v, int& out) {
    const auto i = as_int64(v);
    if (!i || *i < std::numeric_limits<int>::min() || *i > std::numeric_limits<int>::max()) {
      return reject("field " + field_name(name) + " must be an integer (got " + type_of(v) + ")");
    }
    out = static_cast<int>(*i);
    return true;
  }

  bool optional_int(std::string_view name, int& out) {
    const json* v = find(name);
    return v == nullptr || int_value(name, *v, out);
  }

  bool optional_int(std::string_view name, std::optional<int>& out) {
    const json* v = find(name);
    if (v == nullptr) return true;
    int i = 0;
    if (!int_value(name, *v, i)) return false;
    out = i;
    return true;
  }

  bool optional_object(std::string_view name) {
    const json* v = find(name);
    if (v == nullptr || v->is_object()) return true;
    return reject("field " + field_name(name) + " must be an object (got " + type_of(*v) + ")");
  }

  // A string naming one of an enum's values, parsed by `parse` and listed by `allowed`.
  template <typename E, typename ParseFn>
  bool enum_value(std::string_view name, const json& v, ParseFn parse, std::string_view allowed,
                  E& out) {
    std::string text;
    if (!string_value(name, v, text)) return false;
    auto parsed = parse(text);
    if (!parsed) {
      return reject("field " + field_name(name) + " must be one of " + std::string(allowed) +
                    " (got " + quote(text) + ")");
    }
    out = *parsed;
    return true;
  }

  template <typename E, typename ParseFn>
  bool required_enum(std::string_view name, ParseFn parse, std::string_view allowed, E& out) {
    const json* v = require(name);
    return v != nullptr && enum_value(name, *v, parse, allowed, out);
  }

  template <typename E, typename ParseFn>
  bool optional_enum(std::string_view name, ParseFn parse, std::string_view allowed,
                     std::optional<E>& out) {
    const json* v = find(name);
    if (v == nullptr) return true;
    E e{};
    if (!enum_value(name, *v, parse, allowed, e)) return false;
    out = e;
    return true;
  }

  // An array of non-empty strings, each listed once.
  bool string_array(std::string_view name, const json& v, std::vector<std::string>& out) {
    const std::string prefix = "field " + field_name(name) + " must be an array of strings";
    if (!v.is_array()) return reject(prefix + " (got " + type_of(v) + ")");
    std::set<std::string, std::less<>> seen;
    out.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      const json& element = v[i];
      if (!element.is_string()) {
        return reject(prefix + " (element " + std::to_string(i) + " is " + type_of(element) + ")");
      }
      auto s = element.get<std::string>();
      if (s.empty())
        return reject("field " + field_name(name) + " must not contain an empty string");
      if (!seen.insert(s).second) {
        return reject("field " + field_name(name) + " lists " + quote(s) + " more than once");
      }
      out.push_back(std::move(s));
    }
    return true;
  }

 private:
  const json& object_;
  std::string error_;
};

std::optional<json> parse_json(std::string_view text, std::string& error);

}  // namespace incidentd::codec_detail
