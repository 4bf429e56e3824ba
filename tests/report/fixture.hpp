// The report fixture: six incidents (on time, late within the deadline, breached, upgraded with
// a late event, drill, multi-unit with one unit late and a daemon outage) run through the real
// engine into a SQLite file. tests/report/fixture.md derives every expected figure by hand.
#pragma once

#include <string>

#include "incidentd/config.hpp"
#include "incidentd/time.hpp"

namespace incidentd::testing {

// tests/report/fixture.toml: the example roster and the default policy.
Config report_fixture_config();
std::string report_fixture_config_path();

// The instant the fixture's reports say they were generated.
TimePoint report_fixture_generated_at();

// Builds the fixture database at `path` (replacing any file there). The engine is stopped at
// the outage's start and a new one started on the same file at its end, as a restarted daemon.
void build_report_fixture(const std::string& path);

// The fixture built once per test process in a fresh temporary directory (removed at exit).
// Tests that change the database work on a copy_report_fixture().
const std::string& shared_report_fixture();
// A copy of the shared fixture at `path` (its WAL checkpointed into the copy).
void copy_report_fixture(const std::string& path);

}  // namespace incidentd::testing
