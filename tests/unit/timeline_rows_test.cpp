// The timeline's rows (incidentd/timeline_rows.hpp): a step's notifications share one row, and
// the row gives back each notification's own JSON. The store's side (the outbox naming a step's
// row, the dispatcher sending each recipient its own) is in store_test and dispatcher_test.
#include "incidentd/timeline_rows.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "notify/payload.hpp"

namespace incidentd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TimePoint at(int hour) {
  return TimePoint{std::chrono::hours{24 * 20'000 + hour}};
}

Action warning(const std::string& key, int hour) {
  Action a;
  a.at = at(hour);
  a.incident_key = key;
  a.kind = ActionKind::warning;
  a.milestone = Milestone::first_release;
  a.level = 0;
  a.due = at(hour + 1);
  return a;
}

Action notification(const std::string& key, int hour, const std::string& recipient,
                    const std::string& unit = "zhaotong-gov") {
  Action a;
  a.at = at(hour);
  a.incident_key = key;
  a.kind = ActionKind::notification;
  a.milestone = Milestone::first_release;
  a.level = 0;
  a.cause = ActionKind::warning;
  a.due = at(hour + 1);
  a.deadline = at(hour + 3);
  a.recipient = recipient;
  a.unit = unit;
  a.channel = "sms";
  a.send = 1;
  a.notification_id = key + "/1/" + recipient + "/1";
  return a;
}

json json_of(const Action& a) {
  return to_json(a, std::chrono::minutes{0});
}

// An action's JSON as a row of it alone keeps it: without what the row's columns say.
json lean(json j) {
  for (const char* column : {"action", "at", "incident_key", "milestone"}) j.erase(column);
  return j;
}

TimelineColumns columns_of(const std::vector<Action>& actions) {
  return timeline_columns(actions.front());
}

// The entries each draft holds, in order, read back through its stored body.
std::vector<Action> read_back(const std::vector<TimelineRowDraft>& rows) {
  std::vector<Action> out;
  for (const TimelineRowDraft& row : rows) {
    auto actions =
        timeline_actions(json::parse(row.body.dump()), timeline_columns(*row.actions.front()));
    REQUIRE(actions);
    REQUIRE(actions.value->size() == row.actions.size());
    for (std::size_t i = 0; i < row.actions.size(); ++i) {
      CHECK(actions.value->at(i) == *row.actions[i]);
      out.push_back(actions.value->at(i));
    }
  }
  return out;
}

TEST_CASE("a step's notifications share one row that gives back each one's own JSON",
          "[timeline_rows]") {
  const std::vector<Action> actions = {warning("k", 2), notification("k", 2, "zt-duty-1"),
                                       notification("k", 2, "zt-duty-2"),
                                       notification("k", 2, "em-duty-1", "prov-emergency")};
  const auto rows = timeline_rows(actions);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].body == lean(json_of(actions[0])));
  REQUIRE(rows[1].actions.size() == 3);
  const json& step = rows[1].body;
  // What the step shares is said once, the channel and the send that all three have alike too;
  // what each recipient alone has is under "recipients". What the row's columns say (the action,
  // the instant, the incident, the milestone) is not in the body, and the notification ids are
  // the alert's id said once.
  for (const char* column : {"action", "at", "incident_key", "milestone"}) {
    CHECK_FALSE(step.contains(column));
  }
  CHECK(step.at("alert_id") == "k/1");
  CHECK(step.at("cause") == "warning");
  CHECK(step.at("channel") == "sms");
  CHECK(step.at("send") == 1);
  CHECK_FALSE(step.contains("recipient"));
  CHECK_FALSE(step.contains("unit"));
  REQUIRE(step.at("recipients").size() == 3);
  CHECK(step.at("recipients")[0] == json{{"recipient", "zt-duty-1"}, {"unit", "zhaotong-gov"}});
  CHECK(step.at("recipients")[2] == json{{"recipient", "em-duty-1"}, {"unit", "prov-emergency"}});
  const auto entries = timeline_entries(step, timeline_columns(actions[1]));
  REQUIRE(entries);
  REQUIRE(entries.value->size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(entries.value->at(i) == json_of(actions[i + 1]));
  CHECK(read_back(rows) == actions);
  // Smaller than the three rows it replaces, which repeated the step in each.
  const std::size_t apart = json_of(actions[1]).dump().size() + json_of(actions[2]).dump().size() +
                            json_of(actions[3]).dump().size();
  CHECK(step.dump().size() < apart * 2 / 3);
}

TEST_CASE("a field that only some of a step's recipients have alike stays with each of them",
          "[timeline_rows]") {
  Action by_webhook = notification("k", 2, "zt-duty-2");
  by_webhook.channel = "webhook";
  Action deputy = notification("k", 2, "zt-deputy");
  deputy.deputy_of = "zt-duty-1";
  const std::vector<Action> actions = {notification("k", 2, "zt-duty-1"), by_webhook, deputy};
  const auto rows = timeline_rows(actions);
  REQUIRE(rows.size() == 1);
  const json& step = rows[0].body;
  CHECK(step.at("unit") == "zhaotong-gov");
  CHECK_FALSE(step.contains("channel"));
  CHECK_FALSE(step.contains("deputy_of"));
  CHECK(step.at("recipients")[1].at("channel") == "webhook");
  CHECK(step.at("recipients")[2].at("deputy_of") == "zt-duty-1");
  CHECK_FALSE(step.at("recipients")[0].contains("deputy_of"));
  CHECK(read_back(rows) == actions);
}

TEST_CASE("a lone notification's row is its own JSON, as every row was before", "[timeline_rows]") {
  const std::vector<Action> actions = {notification("k", 2, "zt-duty-1")};
  const auto rows = timeline_rows(actions);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].body == lean(json_of(actions[0])));
  CHECK_FALSE(rows[0].body.contains("recipients"));
  CHECK(read_back(rows) == actions);
}

TEST_CASE("a row stored before schema 17, with what its columns say, reads as it did",
          "[timeline_rows]") {
  const std::vector<Action> actions = {notification("k", 2, "zt-duty-1"),
                                       notification("k", 2, "zt-duty-2")};
  const TimelineColumns columns = columns_of(actions);
  // A row of one action then was its whole JSON: nothing is added twice.
  const auto whole = timeline_actions(json_of(actions[0]), columns);
  REQUIRE(whole);
  REQUIRE(whole.value->size() == 1);
  CHECK(whole.value->front() == actions[0]);
  // A step's row of schema 16: the shared part whole, each notification's id with it.
  json step = json_of(actions[0]);
  for (const char* own : {"notification_id", "recipient"}) step.erase(own);
  step["recipients"] =
      json::array({{{"notification_id", "k/1/zt-duty-1/1"}, {"recipient", "zt-duty-1"}},
                   {{"notification_id", "k/1/zt-duty-2/1"}, {"recipient", "zt-duty-2"}}});
  const auto entries = timeline_entries(step, columns);
  REQUIRE(entries);
  REQUIRE(entries.value->size() == 2);
  CHECK(entries.value->at(0) == json_of(actions[0]));
  CHECK(entries.value->at(1) == json_of(actions[1]));
}

TEST_CASE("notification ids the engine's rule does not make stay with each recipient",
          "[timeline_rows]") {
  Action other_alert = notification("k", 2, "zt-duty-2");
  other_alert.notification_id = "k/2/zt-duty-2/1";  // another alert's
  Action made_elsewhere = notification("k", 2, "zt-duty-3");
  made_elsewhere.notification_id = "operator-7";
  for (const Action& odd : {other_alert, made_elsewhere}) {
    const std::vector<Action> actions = {notification("k", 2, "zt-duty-1"), odd};
    const auto rows = timeline_rows(actions);
    REQUIRE(rows.size() == 1);
    CHECK_FALSE(rows[0].body.contains("alert_id"));
    CHECK(rows[0].body.at("recipients")[1].at("notification_id") == odd.notification_id);
    CHECK(read_back(rows) == actions);
  }
}

TEST_CASE("notifications of different steps, or with an action between them, have rows apart",
          "[timeline_rows]") {
  Action escalated = notification("k", 2, "zt-leader");
  escalated.level = 1;
  Action later = notification("k", 3, "zt-duty-2");
  const std::vector<Action> actions = {notification("k", 2, "zt-duty-1"), escalated, later,
                                       warning("k", 3), notification("k", 3, "zt-duty-3")};
  const auto rows = timeline_rows(actions);
  REQUIRE(rows.size() == 5);
  for (const auto& row : rows) CHECK(row.actions.size() == 1);
  CHECK(read_back(rows) == actions);
}

TEST_CASE("notifications that differ only in their instant, which a column holds, have rows apart",
          "[timeline_rows]") {
  // A catch-up commit holds the same alert at several instants; a step's row has one.
  Action later = notification("k", 2, "zt-duty-2");
  later.at = at(3);
  const std::vector<Action> actions = {notification("k", 2, "zt-duty-1"), later};
  const auto rows = timeline_rows(actions);
  REQUIRE(rows.size() == 2);
  CHECK(read_back(rows) == actions);
}

TEST_CASE("an incident's rows depend on its own actions alone, not on other incidents' between",
          "[timeline_rows]") {
  // The owner of a cluster commits its incidents' actions interleaved; a replica applies one
  // incident's record at a time (docs/cluster.md). Both must write the same rows for it, or
  // their hash chains would differ.
  const std::vector<Action> interleaved = {
      notification("a", 2, "zt-duty-1"), notification("b", 2, "zt-duty-1"),
      notification("a", 2, "zt-duty-2"), warning("b", 2), notification("a", 2, "zt-duty-3")};
  const std::vector<Action> a_alone = {interleaved[0], interleaved[2], interleaved[4]};
  const auto rows_of = [](const std::vector<TimelineRowDraft>& rows, const std::string& key) {
    std::vector<json> out;
    for (const auto& row : rows) {
      if (row.actions.front()->incident_key == key) out.push_back(row.body);
    }
    return out;
  };
  const auto together = timeline_rows(interleaved);
  const auto alone = timeline_rows(a_alone);
  CHECK(rows_of(together, "a") == rows_of(alone, "a"));
  REQUIRE(rows_of(alone, "a").size() == 1);
  CHECK(rows_of(alone, "a")[0].at("recipients").size() == 3);
  CHECK(read_back(together).size() == interleaved.size());
}

TEST_CASE("a step's row that does not read as one is refused with the reason", "[timeline_rows]") {
  const std::vector<Action> actions = {notification("k", 2, "p1"), notification("k", 2, "p2")};
  json step = timeline_rows(actions)[0].body;
  const TimelineColumns columns = columns_of(actions);
  const auto read = [&columns](const json& body) { return timeline_entries(body, columns); };
  REQUIRE(read(step));
  SECTION("recipients not a list") {
    step["recipients"] = "p1";
    CHECK(read(step).error == "\"recipients\" must be a list of recipients");
  }
  SECTION("no recipients at all") {
    step["recipients"] = json::array();
    CHECK_FALSE(read(step));
  }
  SECTION("a recipient that is not an object") {
    step["recipients"][1] = 7;
    CHECK(read(step).error == "a recipient must be a JSON object");
  }
  SECTION("a recipient that would change what the step says") {
    step["recipients"][1]["level"] = 3;
    CHECK(read(step).error == "a recipient may not carry \"level\"");
  }
  SECTION("a recipient field said for the whole step too") {
    step["recipient"] = "p3";
    CHECK(read(step).error == "a recipient may not carry \"recipient\"");
  }
  SECTION("an alert id that is not a string") {
    step["alert_id"] = 1;
    CHECK(read(step).error == "\"alert_id\" must be a string");
  }
  SECTION("a recipient whose id cannot be made: no send") {
    step.erase("send");
    CHECK(read(step).error ==
          "a recipient of a step with an alert id needs its \"recipient\" and \"send\"");
  }
  CHECK_FALSE(read(json::array()));
}

TEST_CASE("the dispatcher is handed, from a step's row, the notification of the row it sends",
          "[timeline_rows][notify]") {
  const std::vector<Action> actions = {notification("k", 2, "zt-duty-1"),
                                       notification("k", 2, "zt-duty-2")};
  const std::string body = timeline_rows(actions)[0].body.dump();
  const TimelineColumns columns = columns_of(actions);
  const auto second =
      decode_notification_body(NotificationPurpose::alert, body, "k/1/zt-duty-2/1", columns);
  REQUIRE(second);
  REQUIRE(second.value->action() != nullptr);
  CHECK(*second.value->action() == actions[1]);
  // The generic webhook passes the stored JSON on whole: the notification's own, not the step's.
  CHECK(second.value->stored == json_of(actions[1]));
  const auto unknown =
      decode_notification_body(NotificationPurpose::alert, body, "k/1/other/1", columns);
  CHECK(unknown.error == "outbox body: its step has no notification k/1/other/1");
  // A lone notification's row too is handed whole, with what its columns say.
  const std::vector<Action> lone = {notification("k", 3, "zt-duty-3")};
  const auto only =
      decode_notification_body(NotificationPurpose::alert, timeline_rows(lone)[0].body.dump(),
                               "k/1/zt-duty-3/1", columns_of(lone));
  REQUIRE(only);
  CHECK(only.value->stored == json_of(lone[0]));
}

}  // namespace
}  // namespace incidentd
