// What the renderers of one incident's report share: the wording of the notices and the cells
// of each table, so text, markdown, csv and html say the same thing. Internal to incidentd_report.
#pragma once

#include <string>
#include <vector>

#include "report/messages.hpp"
#include "report/report.hpp"

namespace incidentd::report {

// The privacy notice printed at the top of every report.
std::string privacy_notice(const IncidentReport& r);
std::string drill_notice(Lang lang);
std::string delivery_notice(Lang lang);
// The model's stable English words ("met on time", "pending", ...) in the report's language.
std::string status_label(const std::string& status, Lang lang);
std::string delivery_label(const std::string& delivery, Lang lang);
std::string delivery_note_label(const std::string& note, Lang lang);
// The note of one delivery in the report's language: the dispatcher's give-up fields through the
// catalogue when it recorded them, else delivery_note_label of its English note.
std::string delivery_note_text(const IncidentReport& r, const DeliveryReport& d);
// "Times are in Asia/Shanghai (+08:00). Generated 2026-11-28 10:00."
std::string times_notice(const IncidentReport& r);

std::vector<std::string> incident_fields(const IncidentReport& r);  // "name\tvalue" pairs

std::vector<std::string> level_header(Lang lang);
std::vector<std::string> level_cells(const IncidentReport& r, const LevelChange& l);
std::vector<std::string> milestone_header(Lang lang);
std::vector<std::string> milestone_cells(const IncidentReport& r, const MilestoneReport& m);
// One line per release of the milestone, and whether the principal spoke (press conference).
std::vector<std::string> release_lines(const IncidentReport& r, const MilestoneReport& m);
std::vector<std::string> ladder_header(Lang lang);
std::vector<std::string> ladder_cells(const IncidentReport& r, const LadderEntry& e);
std::vector<std::string> delivery_header(Lang lang);
std::vector<std::string> delivery_cells(const IncidentReport& r, const DeliveryReport& d);
std::string gap_line(const IncidentReport& r, const Gap& g);
std::vector<std::string> chain_lines(const IncidentReport& r);

std::string render_json(const IncidentReport& r);  // render_json.cpp
std::string render_html(const IncidentReport& r);

}  // namespace incidentd::report
