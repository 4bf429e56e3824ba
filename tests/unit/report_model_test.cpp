// After-action reports of the fixture incidents (tests/report/fixture.md): every figure below is
// derived by hand from the scenario and the default policy, not copied from output.
#include "report/render.hpp"
#include "report/report.hpp"
#include "report/verify.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "ctl/simulate.hpp"
#include "incidentd/codec.hpp"
#include "report/fixture.hpp"
#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace {

using incidentd::testing::TempDir;

using namespace incidentd;
using namespace incidentd::report;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TimePoint at(const char* local) {
  return *parse_rfc3339(std::string(local) + "+08:00");
}

const Config& fixture_config() {
  static const Config config = testing::report_fixture_config();
  return config;
}

IncidentReport report_of(const std::string& key, bool full = false,
                         const std::string& path = testing::shared_report_fixture()) {
  SqliteStore store(path, SqliteStore::Mode::read_only);
  ReportOptions options;
  options.full = full;
  options.config = &fixture_config();
  options.generated_at = testing::report_fixture_generated_at();
  options.database = "fixture.db";
  options.lang = Lang::en;  // the wording checked here; report_golden_test has both languages
  return build_incident_report(store, key, options);
}

const MilestoneReport& milestone(const IncidentReport& r, Milestone m, int round = 0) {
  auto it = std::find_if(r.milestones.begin(), r.milestones.end(),
                         [&](const auto& x) { return x.milestone == m && x.round == round; });
  REQUIRE(it != r.milestones.end());
  return *it;
}

std::vector<const LadderEntry*> ladder_of(const IncidentReport& r, ActionKind kind) {
  std::vector<const LadderEntry*> out;
  for (const auto& e : r.ladder) {
    if (e.kind == kind) out.push_back(&e);
  }
  return out;
}

const DeliveryReport& first_delivery_to(const IncidentReport& r, const std::string& recipient) {
  auto it = std::find_if(r.deliveries.begin(), r.deliveries.end(),
                         [&](const auto& d) { return d.recipient == recipient; });
  REQUIRE(it != r.deliveries.end());
  return *it;
}

TEST_CASE("an incident met on time shows both milestones early and no ladder", "[report]") {
  // rpt-ontime: S = 11-02 06:00; both units released by 07:30 (target 09:00, deadline 11:00);
  // press conference 18:00 (deadline 11-03 06:00), the principal spoke.
  const auto r = report_of("rpt-ontime");
  CHECK(r.level == "I");
  CHECK(r.clock_start == at("2026-11-02T06:00:00"));
  const auto& fr = milestone(r, Milestone::first_release);
  CHECK(fr.target == at("2026-11-02T09:00:00"));
  CHECK(fr.deadline == at("2026-11-02T11:00:00"));
  CHECK(fr.met_at == at("2026-11-02T07:30:00"));
  CHECK(fr.vs_target == -90min);
  CHECK(fr.vs_deadline == -210min);
  CHECK(fr.status == "met on time");
  CHECK(fr.releases.size() == 2);
  const auto& pc = milestone(r, Milestone::press_conference);
  CHECK(pc.deadline == at("2026-11-03T06:00:00"));
  CHECK(pc.vs_deadline == -12h);
  CHECK(pc.principal_spoke);
  CHECK(r.ladder.empty());
  CHECK(r.deliveries.empty());
  CHECK(r.gaps.empty());
  CHECK(r.closed);
}

TEST_CASE("a release after the target but before the deadline is late against the target only",
          "[report]") {
  // rpt-late: S = 11-05 08:00, released 12:00: 1 h after the 11:00 target, 1 h before 13:00.
  const auto r = report_of("rpt-late");
  const auto& fr = milestone(r, Milestone::first_release);
  CHECK(fr.late == Lateness::target);
  CHECK(fr.vs_target == 1h);
  CHECK(fr.vs_deadline == -1h);
  CHECK(fr.status == "met after the target");
  CHECK_FALSE(milestone(r, Milestone::press_conference).principal_spoke);

  // The ladder up to the release: warnings at 10:00 and 10:30 (duty officers: 2 people), the
  // missed target at 11:00 (duty officers and the leader: 3) escalating 0 -> 1.
  const auto warnings = ladder_of(r, ActionKind::warning);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0]->at == at("2026-11-05T10:00:00"));
  CHECK(warnings[0]->notified == 2);
  CHECK(warnings[1]->at == at("2026-11-05T10:30:00"));
  const auto missed = ladder_of(r, ActionKind::target_missed);
  REQUIRE(missed.size() == 1);
  CHECK(missed[0]->at == at("2026-11-05T11:00:00"));
  CHECK(missed[0]->level == 1);
  CHECK(missed[0]->notified == 3);
  const auto escalated = ladder_of(r, ActionKind::escalated);
  REQUIRE(escalated.size() == 1);
  CHECK(escalated[0]->previous_level == 0);
  CHECK(ladder_of(r, ActionKind::deadline_breached).empty());

  // zt-duty1 acknowledged the 10:00 warning at 10:05; zt-leader the 11:00 alert at 11:20.
  const auto& duty1 = first_delivery_to(r, "duty officer 1, zhaotong-gov");
  CHECK(duty1.first_sent == at("2026-11-05T10:00:00"));
  CHECK(duty1.acknowledged_at == at("2026-11-05T10:05:00"));
  CHECK(duty1.time_to_ack == 5min);
  CHECK(duty1.sends == 1);  // acknowledged before the 10:15 re-send
  const auto& leader = first_delivery_to(r, "unit leader, zhaotong-gov");
  CHECK(leader.first_sent == at("2026-11-05T11:00:00"));
  CHECK(leader.time_to_ack == 20min);
  CHECK(leader.sends == 2);  // 11:00 and the 11:15 re-send
  const auto& duty2 = first_delivery_to(r, "duty officer 2, zhaotong-gov");
  CHECK_FALSE(duty2.acknowledged_at);
  CHECK(duty2.sends == 2);  // 10:00, 10:15; the 10:30 warning took over
  // Nothing has dispatched these yet: shown as pending, not as delivered.
  CHECK(duty1.delivery == "pending");
  CHECK(duty1.delivery_note == "no delivery recorded yet");
}

TEST_CASE("a breached first release shows the breach, its level and the reminder", "[report]") {
  // rpt-breach: prov-cac released at 14:00, 3 h after the 11:00 target and 1 h after the 13:00
  // deadline. At 13:00 the breach (level 2) reached prov-cac's two duty officers, leader and
  // principal and the supervision desk's two duty officers: 6 people. 14:00: reminder 1.
  const auto r = report_of("rpt-breach");
  const auto& fr = milestone(r, Milestone::first_release);
  CHECK(fr.late == Lateness::deadline);
  CHECK(fr.vs_target == 3h);
  CHECK(fr.vs_deadline == 1h);
  CHECK(fr.status == "met after the deadline");
  const auto breaches = ladder_of(r, ActionKind::deadline_breached);
  REQUIRE(breaches.size() == 2);
  CHECK(breaches[0]->at == at("2026-11-10T13:00:00"));
  CHECK(breaches[0]->level == 2);
  CHECK(breaches[0]->reminder == 0);
  CHECK(breaches[0]->notified == 6);
  CHECK(breaches[1]->at == at("2026-11-10T14:00:00"));
  CHECK(breaches[1]->reminder == 1);
  for (const auto& d : r.deliveries) CHECK(d.unit != "zhaotong-gov");  // it had confirmed at 09:00
}

TEST_CASE("an upgraded incident shows its level history and the late event", "[report]") {
  // rpt-upgrade: III at 08:00 (no clock); the upgrade to II detected 10:00 arrived 12:30, so
  // the clock started at 10:00; at 12:30 the 12:00 and 12:30 warnings were due: only the
  // latest acted, as a catch-up. Released 12:40: 20 min before the 13:00 target.
  const auto r = report_of("rpt-upgrade");
  REQUIRE(r.levels.size() == 2);
  CHECK(r.levels[0].level == "III");
  CHECK_FALSE(r.levels[0].clock_started);
  CHECK(r.levels[1].level == "II");
  CHECK(r.levels[1].previous == "III");
  CHECK(r.levels[1].clock_started);
  CHECK(r.levels[1].at == at("2026-11-15T12:30:00"));
  CHECK(r.clock_start == at("2026-11-15T10:00:00"));
  CHECK(milestone(r, Milestone::first_release).vs_target == -20min);
  REQUIRE(r.ladder.size() == 1);
  CHECK(r.ladder[0].catch_up);

  REQUIRE(r.gaps.size() == 2);
  CHECK(r.gaps[0].kind == "late_event");
  CHECK(r.gaps[0].since == at("2026-11-15T10:00:00"));
  CHECK(r.gaps[0].delay == 150min);
  CHECK(r.gaps[1].kind == "late_event");  // acted on at the late arrival, not an outage
  CHECK(r.gaps[1].since == at("2026-11-15T12:00:00"));
  CHECK(r.gaps[1].delay == 30min);
}

TEST_CASE("a drill is marked as one", "[report]") {
  const auto r = report_of("rpt-drill");
  CHECK(r.drill);
  CHECK_THAT(render_report(r, Format::text), Contains("DRILL"));
  CHECK_THAT(render_report(r, Format::html), Contains("DRILL"));
}

TEST_CASE("a multi-unit incident waits for its last unit and shows the daemon's outage",
          "[report]") {
  // rpt-multi: the last unit confirmed 13:30, 30 min after the 13:00 deadline. The daemon was
  // down 10:20-11:10: the 10:30 warning and the 11:00 missed target fell due then; at 11:10
  // only the missed target acted, 10 min after its instant.
  const auto r = report_of("rpt-multi");
  const auto& fr = milestone(r, Milestone::first_release);
  CHECK(fr.met_at == at("2026-11-25T13:30:00"));
  CHECK(fr.vs_deadline == 30min);
  CHECK(fr.releases.size() == 4);
  const auto missed = ladder_of(r, ActionKind::target_missed);
  REQUIRE(missed.size() == 1);
  CHECK(missed[0]->at == at("2026-11-25T11:10:00"));
  CHECK(missed[0]->catch_up);
  const auto warnings = ladder_of(r, ActionKind::warning);
  CHECK(std::none_of(warnings.begin(), warnings.end(),
                     [](const auto* w) { return w->at == at("2026-11-25T10:30:00"); }));
  REQUIRE(r.gaps.size() == 1);
  CHECK(r.gaps[0].kind == "outage");
  CHECK(r.gaps[0].at == at("2026-11-25T11:10:00"));
  CHECK(r.gaps[0].since == at("2026-11-25T11:00:00"));
  CHECK(r.gaps[0].delay == 10min);

  // The 10:00 warning reached the duty officers of the two units still owing (prov-cac and
  // prov-publicsecurity): 4 people. ps-duty1 acknowledged at 10:10.
  REQUIRE_FALSE(warnings.empty());
  CHECK(warnings[0]->notified == 4);
  CHECK(first_delivery_to(r, "duty officer 1, prov-publicsecurity").time_to_ack == 10min);

  // Press conference: met 09:00 on 11-26, 1 h after its deadline; the principal spoke.
  const auto& pc = milestone(r, Milestone::press_conference);
  CHECK(pc.vs_deadline == 1h);
  CHECK(pc.principal_spoke);
}

TEST_CASE("a de-identified report carries no names or phone numbers, --full does and says so",
          "[report][privacy]") {
  const auto plain = report_of("rpt-late");
  const auto full = report_of("rpt-late", true);
  for (Format f : {Format::text, Format::markdown, Format::json, Format::csv, Format::html}) {
    const std::string p = render_report(plain, f);
    CHECK_THAT(p, !Contains("李明远"));          // zt-duty1's name
    CHECK_THAT(p, !Contains("+8613800000101"));  // zt-duty1's phone
    CHECK_THAT(p, !Contains("zt-duty1"));        // nor the roster id
    CHECK_THAT(p, Contains("+86138****0101"));
    CHECK_THAT(p, Contains("de-identified"));
    const std::string q = render_report(full, f);
    CHECK_THAT(q, Contains("李明远"));
    CHECK_THAT(q, Contains("+8613800000101"));
    CHECK_THAT(q, Contains("CONTAINS PERSONAL DATA"));
  }
}

TEST_CASE("an incident entered by hand says who opened, changed and closed it, in every format",
          "[report]") {
  const TempDir dir("report-manual");
  const std::string path = dir.file("manual.db");
  const Config& config = fixture_config();
  const char* lines[] = {
      R"({"schema":1,"event_id":"m1","incident_key":"tel-1","kind":"detected","level":"II",)"
      R"("title":"电话报告","lead_unit":"zhaotong-gov","units":["zhaotong-gov"],)"
      R"("detected_at":"2026-11-26T08:00:00+08:00","source":{"platform":"manual","by":"张伟"}})",
      R"({"schema":1,"event_id":"m2","incident_key":"tel-1","kind":"updated","level":"I",)"
      R"("lead_unit":"zhaotong-gov","units":["zhaotong-gov"],)"
      R"("detected_at":"2026-11-26T09:00:00+08:00","source":{"platform":"manual","by":"李娜"}})",
      R"({"schema":1,"event_id":"m3","incident_key":"tel-1","kind":"closed","level":"I",)"
      R"("lead_unit":"zhaotong-gov","units":["zhaotong-gov"],)"
      R"("detected_at":"2026-11-26T10:00:00+08:00","source":{"platform":"manual","by":"王强"}})",
  };
  {
    SqliteStore store(path);
    Simulation sim(config, store, at("2026-11-26T08:00:00"));
    for (const char* line : lines) {
      auto parsed = parse_scenario_line(line, config);
      REQUIRE(parsed);
      REQUIRE(sim.feed(*parsed.value).status == Outcome::Status::accepted);
    }
    sim.advance_to(at("2026-11-26T10:00:00"));
  }
  const IncidentReport r = report_of("tel-1", false, path);
  REQUIRE(r.levels.size() == 2);
  CHECK(r.levels[0].by == "张伟");
  CHECK(r.levels[1].by == "李娜");
  CHECK(r.closed_by == "王强");
  const std::string text = render_report(r, Format::text);
  CHECK_THAT(text, Contains("opened by hand by 张伟"));
  CHECK_THAT(text, Contains("II → I by hand by 李娜"));
  CHECK_THAT(text, Contains("by hand by 王强"));
  for (Format f : {Format::markdown, Format::json, Format::csv, Format::html}) {
    const std::string out = render_report(r, f);
    CHECK_THAT(out, Contains("张伟") && Contains("李娜") && Contains("王强"));
  }
  SqliteStore store(path, SqliteStore::Mode::read_only);
  ReportOptions zh;
  zh.config = &config;
  zh.generated_at = testing::report_fixture_generated_at();
  const std::string chinese =
      render_report(build_incident_report(store, "tel-1", zh), Format::text);
  CHECK_THAT(chinese, Contains("首次记录（张伟人工录入）"));
  CHECK_THAT(chinese, Contains("（王强人工录入）"));
}

TEST_CASE("phone numbers are masked in free text", "[report][privacy]") {
  CHECK(mask_phone("+8613800000101") == "+86138****0101");
  CHECK(mask_phone("13800000101") == "138000****0101");
  CHECK(mask_phone("0101") == "****");
  CHECK(mask_phones_in("SMSC rejected +8613800000102: busy; retry 3") ==
        "SMSC rejected +86138****0102: busy; retry 3");
}

TEST_CASE("delivery and failure recorded in the outbox are shown, errors de-identified",
          "[report]") {
  TempDir dir{"incidentd-report-model"};
  const std::string path = dir.file("outbox.db");
  testing::copy_report_fixture(path);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    // zt-duty1's first send of the first alert was delivered; zt-duty2's two sends failed.
    const auto alert = db.execAndGet(
                             "SELECT notification_id FROM outbox WHERE incident_key = "
                             "'rpt-late' AND recipient = 'zt-duty1' ORDER BY created_at "
                             "LIMIT 1")
                           .getString();
    REQUIRE(alert.ends_with("/zt-duty1/1"));
    const std::string prefix = alert.substr(0, alert.size() - std::string("zt-duty1/1").size());
    SQLite::Statement delivered(db,
                                "UPDATE outbox SET state = 'delivered', attempts = 1, "
                                "delivered_at = ? WHERE notification_id = ?");
    delivered.bind(1,
                   static_cast<std::int64_t>(at("2026-11-05T10:00:07").time_since_epoch().count()));
    delivered.bind(2, alert);
    CHECK(delivered.exec() == 1);
    SQLite::Statement failed(db,
                             "UPDATE outbox SET state = 'failed', attempts = 3, last_error = "
                             "'SMSC rejected +8613800000102' WHERE notification_id IN (?, ?)");
    failed.bind(1, prefix + "zt-duty2/1");
    failed.bind(2, prefix + "zt-duty2/2");
    CHECK(failed.exec() == 2);
  }
  const auto r = report_of("rpt-late", false, path);
  const auto& duty1 = first_delivery_to(r, "duty officer 1, zhaotong-gov");
  CHECK(duty1.delivery == "delivered");
  CHECK(duty1.delivered_at == at("2026-11-05T10:00:07"));
  const auto& duty2 = first_delivery_to(r, "duty officer 2, zhaotong-gov");
  CHECK(duty2.delivery == "failed");
  CHECK(duty2.delivery_note == "SMSC rejected +86138****0102");
  CHECK(first_delivery_to(report_of("rpt-late", true, path),
                          "王晓燕 (zt-duty2), duty officer 2, "
                          "zhaotong-gov")
            .delivery_note == "SMSC rejected +8613800000102");
}

TEST_CASE("a report shows who nobody reached and that the operator desk was told", "[report]") {
  TempDir dir{"incidentd-report-unreached"};
  const std::string path = dir.file("unreached.db");
  testing::copy_report_fixture(path);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    const auto alert = db.execAndGet(
                             "SELECT notification_id FROM outbox WHERE incident_key = "
                             "'rpt-late' AND recipient = 'zt-duty2' ORDER BY created_at "
                             "LIMIT 1")
                           .getString();
    const std::string prefix = alert.substr(0, alert.size() - std::string("/1").size());
    // What the dispatcher records when it gives up (docs/notifications.md), and a later send of
    // the same alert superseded before it got through.
    SQLite::Statement gave_up(db,
                              "UPDATE outbox SET state = 'failed', attempts = 9, last_error = "
                              "'connect: Connection refused; not delivered since "
                              "2026-11-05T02:00:00Z, 1h or longer; operator desk told: "
                              "prov-office-duty1' WHERE notification_id = ?");
    gave_up.bind(1, prefix + "/1");
    CHECK(gave_up.exec() == 1);
    SQLite::Statement superseded(db,
                                 "UPDATE outbox SET state = 'superseded', last_error = "
                                 "'superseded by n9' WHERE notification_id = ?");
    superseded.bind(1, prefix + "/2");
    CHECK(superseded.exec() == 1);
  }
  const auto r = report_of("rpt-late", false, path);
  const auto& duty2 = first_delivery_to(r, "duty officer 2, zhaotong-gov");
  CHECK(duty2.delivery == "failed");
  CHECK_THAT(duty2.delivery_note,
             Catch::Matchers::Contains("operator desk told: prov-office-duty1"));
}

TEST_CASE("a give-up recorded in fields is said in the report's language, an older one as it was",
          "[report]") {
  TempDir dir{"incidentd-report-gave-up"};
  const std::string path = dir.file("gave_up.db");
  testing::copy_report_fixture(path);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    const auto alert = db.execAndGet(
                             "SELECT notification_id FROM outbox WHERE incident_key = "
                             "'rpt-late' AND recipient = 'zt-duty2' ORDER BY created_at "
                             "LIMIT 1")
                           .getString();
    // What the dispatcher records when it gives up (schema 10): the English sentence for the
    // log, and the same as fields.
    SQLite::Statement gave_up(
        db,
        "UPDATE outbox SET state = 'failed', attempts = 9, last_error = "
        "'connect: Connection refused; not delivered since 2026-11-05T02:00:00Z, 1h or longer; "
        "operator desk told: prov-office-duty1', gave_up = "
        "'{\"reason\":\"not_delivered_since\",\"channel\":\"sms\",\"error\":\"connect: "
        "Connection refused\",\"since\":\"2026-11-05T02:00:00Z\",\"after\":\"1h\","
        "\"told\":[\"office-duty1\"]}' WHERE notification_id = ?");
    gave_up.bind(1, alert);
    CHECK(gave_up.exec() == 1);
  }
  SqliteStore store(path, SqliteStore::Mode::read_only);
  ReportOptions options;
  options.config = &fixture_config();
  options.generated_at = testing::report_fixture_generated_at();
  options.database = "fixture.db";
  options.lang = Lang::zh;
  const auto zh = build_incident_report(store, "rpt-late", options);
  const auto& zh_duty2 = first_delivery_to(zh, "值班人员 2，zhaotong-gov");
  CHECK(delivery_note_text(zh, zh_duty2) ==
        "自2026-11-05 10:00起未能送达，已达1小时；最后答复：connect: Connection refused；"
        "已告知值班台：值班人员 1，prov-office");
  CHECK_THAT(render_report(zh, Format::text), Contains("已告知值班台") &&
                                                  !Contains("operator desk told") &&
                                                  !Contains("not delivered since"));
  options.lang = Lang::en;
  const auto en = build_incident_report(store, "rpt-late", options);
  CHECK(delivery_note_text(en, first_delivery_to(en, "duty officer 2, zhaotong-gov")) ==
        "not delivered since 2026-11-05 10:00, 1 h or longer; last answer: connect: Connection "
        "refused; operator desk told: duty officer 1, prov-office");
  // The roster id stays out of a de-identified report.
  CHECK_THAT(render_report(en, Format::text), !Contains("office-duty1"));
  // A row from before the fields (its sentence only) is shown as it was.
  CHECK(delivery_note_text(
            en, first_delivery_to(report_of("rpt-late"), "duty officer 1, zhaotong-gov")) ==
        first_delivery_to(report_of("rpt-late"), "duty officer 1, zhaotong-gov").delivery_note);
}

TEST_CASE("a report prints the heads digest verify prints and its incident's last entry",
          "[report]") {
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  const auto verified = verify_chain(store);
  REQUIRE(verified.intact);
  REQUIRE_FALSE(verified.heads_digest.empty());
  TimelineRow last;
  store.scan_timeline("rpt-breach", [&last](const TimelineRow& row) {
    last = row;
    return true;
  });
  REQUIRE(last.incident_seq > 0);
  const auto r = report_of("rpt-breach");
  CHECK(r.heads_digest == verified.heads_digest);
  REQUIRE(r.incident_head);
  // Its place in its own chain, not in the file: the same on every replica of a cluster.
  CHECK(r.incident_head->seq == last.incident_seq);
  CHECK(r.incident_head->seq < last.seq);
  CHECK(r.incident_head->hash == last.hash);
  for (Format f : {Format::text, Format::markdown, Format::json, Format::csv, Format::html}) {
    CHECK_THAT(render_report(r, f), Contains(verified.heads_digest) && Contains(last.hash));
  }
}

TEST_CASE("without a roster people are numbered within their unit", "[report][privacy]") {
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  ReportOptions options;
  options.config = &fixture_config();
  options.roster = false;
  options.lang = Lang::en;
  const auto r = build_incident_report(store, "rpt-late", options);
  CHECK(first_delivery_to(r, "person 1 in zhaotong-gov").time_to_ack == 5min);
  CHECK(first_delivery_to(r, "person 2 in zhaotong-gov").sends == 2);
  CHECK(first_delivery_to(r, "person 1 in zhaotong-gov").contact.empty());
}

TEST_CASE("an unknown incident is a clear error", "[report]") {
  CHECK_THROWS_WITH(report_of("no-such-incident"),
                    Contains("no incident \"no-such-incident\" in fixture.db"));
}

}  // namespace
