// The inputs topic's message (incidentd/forwarded_input.hpp): an acknowledgement's four fields,
// or a confirmation as the releases topic's message, under a version and a kind.
#include "incidentd/forwarded_input.hpp"

#include <chrono>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/json_reader.hpp"

namespace incidentd {
namespace {

using codec_detail::fail;
using codec_detail::Fields;
using codec_detail::json;
using codec_detail::ok;
using codec_detail::parse_json;
using codec_detail::quote;
using codec_detail::type_of;

constexpr std::string_view kAcknowledgement = "acknowledgement";
constexpr std::string_view kConfirmation = "confirmation";

// What format_rfc3339 writes and parse_rfc3339 reads back: four-digit years, in UTC.
const TimePoint kEarliest = std::chrono::sys_days{std::chrono::year{1} / 1 / 1};
const TimePoint kLatest = std::chrono::sys_days{std::chrono::year{10000} / 1 / 1};

std::string utc(TimePoint t) {
  return format_rfc3339(t, std::chrono::minutes{0});
}

bool in_range(Fields& f, std::string_view name, TimePoint t) {
  if (t >= kEarliest && t < kLatest) return true;
  return f.reject("field \"" + std::string(name) + "\" lies outside the years 0001 to 9999 (UTC)");
}

Parsed<ForwardedInput> acknowledgement_of(Fields& f, ForwardedInput out) {
  Acknowledgement a;
  const bool good = f.required_string("incident_key", a.incident_key, true) &&
                    f.required_string("recipient", a.recipient, true) &&
                    f.required_time("at", a.at) && in_range(f, "at", a.at) &&
                    f.required_string("via", a.via, true);
  if (!good) return fail<ForwardedInput>(f.error());
  out.input = std::move(a);
  return ok(std::move(out));
}

Parsed<ForwardedInput> confirmation_of(Fields& f, const Config& config, ForwardedInput out) {
  std::string key;
  std::string via;
  const json* inner = nullptr;
  const bool good = f.required_string("incident_key", key, true) &&
                    f.required_string("via", via, true) &&
                    (inner = f.require("confirmation")) != nullptr;
  if (!good) return fail<ForwardedInput>(f.error());
  if (!inner->is_object()) {
    return fail<ForwardedInput>("field \"confirmation\" must be an object (got " + type_of(*inner) +
                                ")");
  }
  Parsed<Confirmation> c = parse_confirmation(dump_line(*inner), config);
  if (!c) return fail<ForwardedInput>("field \"confirmation\": " + c.error);
  if (c.value->incident_key != key) {
    return fail<ForwardedInput>("field \"confirmation\" names incident " +
                                quote(c.value->incident_key) + ", not " + quote(key));
  }
  if (!in_range(f, "released_at", c.value->released_at)) return fail<ForwardedInput>(f.error());
  c.value->via = std::move(via);
  out.input = std::move(*c.value);
  return ok(std::move(out));
}

}  // namespace

const std::string& ForwardedInput::incident_key() const {
  return std::visit([](const auto& i) -> const std::string& { return i.incident_key; }, input);
}

std::string_view ForwardedInput::kind() const {
  return std::holds_alternative<Acknowledgement>(input) ? kAcknowledgement : kConfirmation;
}

std::string encode_confirmation(const Confirmation& c) {
  json j = json::object();
  j["schema"] = kMessageSchemaVersion;
  j["confirmation_id"] = c.confirmation_id;
  j["incident_key"] = c.incident_key;
  j["milestone"] = std::string(to_string(c.milestone));
  j["unit"] = c.unit;
  j["released_at"] = utc(c.released_at);
  if (!c.channel.empty()) j["channel"] = c.channel;
  if (!c.url.empty()) j["url"] = c.url;
  if (!c.speaker.empty()) j["speaker"] = c.speaker;
  return dump_line(j);
}

std::string encode_forwarded_input(const ForwardedInput& f) {
  json j = json::object();
  j["v"] = kForwardedInputVersion;
  j["kind"] = std::string(f.kind());
  j["incident_key"] = f.incident_key();
  if (!f.from.empty()) j["from"] = f.from;
  if (const auto* a = std::get_if<Acknowledgement>(&f.input)) {
    j["recipient"] = a->recipient;
    j["at"] = utc(a->at);
    j["via"] = a->via;
  } else {
    const auto& c = std::get<Confirmation>(f.input);
    j["via"] = c.via;
    j["confirmation"] = json::parse(encode_confirmation(c));
  }
  return dump_line(j);
}

Parsed<ForwardedInput> decode_forwarded_input(std::string_view text, const Config& config) {
  std::string error;
  auto j = parse_json(text, error);
  if (!j) return fail<ForwardedInput>(std::move(error));
  if (!j->is_object()) {
    return fail<ForwardedInput>("a forwarded input must be a JSON object (got " + type_of(*j) +
                                ")");
  }
  Fields f(*j);
  const json* v = f.require("v");
  if (v == nullptr) return fail<ForwardedInput>(f.error());
  const auto version = codec_detail::as_int64(*v);
  if (!version || *version != kForwardedInputVersion) {
    return fail<ForwardedInput>(
        "unknown forwarded input version " +
        codec_detail::one_line(dump_line(*v), codec_detail::kMaxQuotedBytes) +
        " (this incidentd reads " + std::to_string(kForwardedInputVersion) + ")");
  }
  ForwardedInput out;
  std::string kind;
  if (!f.required_string("kind", kind, true) || !f.optional_string("from", out.from)) {
    return fail<ForwardedInput>(f.error());
  }
  if (kind == kAcknowledgement) return acknowledgement_of(f, std::move(out));
  if (kind == kConfirmation) return confirmation_of(f, config, std::move(out));
  return fail<ForwardedInput>("field \"kind\" must be one of acknowledgement, confirmation (got " +
                              quote(kind) + ")");
}

}  // namespace incidentd
