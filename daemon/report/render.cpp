#include "report/render.hpp"

#include "report/format.hpp"
#include "report/table.hpp"

namespace incidentd::report {
namespace {

std::string or_dash(const std::string& s) {
  return s.empty() ? "—" : s;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// The same, leaving out the empty parts.
std::string join_present(const std::vector<std::string>& parts, const std::string& sep) {
  std::vector<std::string> present;
  for (const auto& p : parts) {
    if (!p.empty()) present.push_back(p);
  }
  return join(present, sep);
}

std::string ladder_note(const LadderEntry& e, Lang lang) {
  std::vector<std::string> notes;
  if (e.kind == ActionKind::escalated && e.previous_level) {
    notes.push_back(msgf(lang, "ladder.escalated_note", *e.previous_level, e.level));
  }
  if (e.reminder > 0) notes.push_back(msgf(lang, "ladder.reminder", e.reminder));
  if (e.catch_up) notes.push_back(std::string(msg(lang, "ladder.catch_up")));
  return join(notes, std::string(msg(lang, "list.separator")));
}

// ---- text and markdown --------------------------------------------------------------------

// Text and markdown differ only in how a heading, a table, a paragraph and a list item look.
class TextWriter {
 public:
  TextWriter(const IncidentReport& r, bool markdown) : r_(r), lang_(r.lang), markdown_(markdown) {}

  std::string render() {
    front_matter();
    incident_section();
    clock_section();
    ladder_section();
    notification_section();
    gap_section();
    heading(say("report.tamper"));
    for (const auto& line : chain_lines(r_)) para(line);
    return std::move(out_);
  }

 private:
  std::string say(std::string_view id) const { return std::string(msg(lang_, id)); }
  void heading(const std::string& title) {
    out_ += markdown_ ? "\n## " + title + "\n\n" : "\n" + title + "\n";
  }
  void table(const Table& t) { out_ += markdown_ ? t.markdown() : t.text(); }
  void para(const std::string& line) { out_ += markdown_ ? line + "\n\n" : "  " + line + "\n"; }

  void front_matter() {
    out_ += markdown_ ? "# " + msgf(lang_, "report.title", r_.key) + "\n\n"
                      : msgf(lang_, "report.title_upper", r_.key) + "\n";
    if (r_.drill) {
      out_ += markdown_ ? "**" + drill_notice(lang_) + "**\n\n" : drill_notice(lang_) + "\n";
    }
    out_ += markdown_ ? "**" + privacy_notice(r_) + "**\n\n" : privacy_notice(r_) + "\n";
    out_ += times_notice(r_) + "\n";
  }

  void incident_section() {
    heading(say("report.incident"));
    Table fields({say("report.field"), say("report.value")});
    for (const auto& f : incident_fields(r_)) {
      const auto tab = f.find('\t');
      fields.add({f.substr(0, tab), f.substr(tab + 1)});
    }
    table(fields);

    heading(say("report.level_history"));
    Table levels(level_header(lang_));
    for (const auto& l : r_.levels) levels.add(level_cells(r_, l));
    table(levels);
  }

  void clock_section() {
    heading(say("report.legal_clock"));
    if (r_.milestones.empty()) {
      para(say("report.no_clock"));
      return;
    }
    Table ms(milestone_header(lang_));
    for (const auto& m : r_.milestones) ms.add(milestone_cells(r_, m));
    table(ms);
    out_ += '\n';
    for (const auto& m : r_.milestones) releases(m);
  }

  void releases(const MilestoneReport& m) {
    const std::string label = milestone_label(m.milestone, m.round, lang_);
    out_ += markdown_ ? "**" + label + "**\n\n"
                      : "  " + msgf(lang_, "report.milestone_colon", label) + "\n";
    for (const auto& line : release_lines(r_, m)) {
      out_ += markdown_ ? "- " + line + "\n" : "    - " + line + "\n";
    }
    if (markdown_) out_ += '\n';
  }

  void ladder_section() {
    heading(say("report.ladder"));
    if (r_.ladder.empty()) {
      para(say("report.no_ladder"));
      return;
    }
    Table ladder(ladder_header(lang_));
    for (const auto& e : r_.ladder) ladder.add(ladder_cells(r_, e));
    table(ladder);
  }

  void notification_section() {
    heading(say("report.notifications"));
    if (r_.deliveries.empty()) {
      para(say("report.nobody_notified"));
      return;
    }
    para(delivery_notice(lang_));
    Table deliveries(delivery_header(lang_));
    for (const auto& d : r_.deliveries) deliveries.add(delivery_cells(r_, d));
    table(deliveries);
  }

  void gap_section() {
    heading(say("report.gaps"));
    if (r_.gaps.empty()) {
      para(say("report.no_gaps"));
      return;
    }
    for (const auto& g : r_.gaps) out_ += (markdown_ ? "- " : "  - ") + gap_line(r_, g) + "\n";
  }

  const IncidentReport& r_;
  const Lang lang_;
  const bool markdown_;
  std::string out_;
};

std::string render_text_like(const IncidentReport& r, bool markdown) {
  return TextWriter(r, markdown).render();
}

// ---- csv ----------------------------------------------------------------------------------

std::string render_csv(const IncidentReport& r) {
  const auto off = r.utc_offset;
  const Lang lang = r.lang;
  std::string out = std::string(msg(lang, "csv.report_header")) + "\r\n";
  const auto row = [&](std::vector<std::string> cells) {
    cells.resize(18);
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += (i ? "," : "") + csv_field(cells[i]);
    }
    out += "\r\n";
  };
  const auto t = [&](const std::optional<TimePoint>& p) {
    return p ? format_rfc3339(*p, off) : std::string();
  };
  const auto mins = [](const std::optional<Duration>& d) {
    return d ? std::to_string(minutes_of(*d)) : std::string();
  };
  row({"notice", "", "", "", r.full ? "full" : "de-identified", "", "", "", "", "", "", "", "", "",
       "", "", "", privacy_notice(r)});
  for (const auto& f : incident_fields(r)) {
    const auto tab = f.find('\t');
    row({"incident", "", "", "", f.substr(0, tab), "", "", "", "", "", "", "", "", "", "", "", "",
         f.substr(tab + 1)});
  }
  for (const auto& l : r.levels) {
    row({"level", std::to_string(l.seq), t(l.at), "", l.previous.empty() ? "opened" : "changed",
         l.level, "", "", "", "", "", "", "", "", "", "", "",
         join_present({l.previous.empty() ? "" : msgf(lang, "csv.from_level", l.previous),
                       l.clock_started ? std::string(msg(lang, "csv.clock_started")) : "",
                       l.by.empty() ? "" : msgf(lang, "csv.by_hand", l.by)},
                      " ")});
  }
  for (const auto& m : r.milestones) {
    row({"milestone", "", t(m.met_recorded_at), milestone_label(m.milestone, m.round, lang),
         status_label(m.status, lang), "", "", t(m.target), t(m.deadline), t(m.met_at), "", "", "",
         "", "", "", mins(m.vs_deadline),
         m.vs_target ? msgf(lang, "csv.against_target", early_or_late(*m.vs_target, lang)) : ""});
    for (const auto& rel : m.releases) {
      row({"release", std::to_string(rel.seq), t(rel.recorded_at),
           milestone_label(m.milestone, m.round, lang), "release_confirmed", "", "", "", "",
           t(rel.released_at), rel.unit, rel.speaker, rel.channel, "", "", "", "", rel.url});
    }
  }
  for (const auto& e : r.ladder) {
    row({"ladder", std::to_string(e.seq), t(e.at), milestone_label(e.milestone, e.round, lang),
         std::string(to_string(e.kind)), std::to_string(e.level), t(e.due), "", "", "", "", "", "",
         std::to_string(e.notified), "", "", "", ladder_note(e, lang)});
  }
  for (const auto& d : r.deliveries) {
    row({"notification", std::to_string(d.first_seq), t(d.first_sent),
         milestone_label(d.milestone, d.round, lang), std::string(to_string(d.cause)),
         std::to_string(d.level), "", "", "", "", d.unit, d.recipient,
         d.contact.empty() ? d.channel : d.channel + " " + d.contact, std::to_string(d.sends),
         delivery_label(d.delivery, lang), t(d.acknowledged_at), mins(d.time_to_ack),
         join({d.deputy_of.empty() ? "" : msgf(lang, "delivery.deputy_of", d.deputy_of),
               d.delivery_note.empty() ? "" : delivery_note_text(r, d)},
              " ")});
  }
  for (const auto& g : r.gaps) {
    row({"gap", std::to_string(g.seq), t(g.at), "", g.kind, "", "", "", "", "", "", "", "", "", "",
         "", mins(g.delay), g.what});
  }
  if (!r.heads_digest.empty()) {
    row({"chain", "", "", "", "heads_digest", "", "", "", "", "", "", "", "", "", "", "", "",
         r.heads_digest});
  }
  if (r.incident_head) {
    row({"chain", std::to_string(r.incident_head->seq), "", "", "incident_last_entry", "", "", "",
         "", "", "", "", "", "", "", "", "", r.incident_head->hash});
  }
  return out;
}

}  // namespace

// ---- shared wording -----------------------------------------------------------------------

std::string status_label(const std::string& status, Lang lang) {
  return std::string(msg(lang, "status." + status));
}

std::string delivery_label(const std::string& delivery, Lang lang) {
  return std::string(msg(lang, "delivery." + delivery));
}

std::string delivery_note_label(const std::string& note, Lang lang) {
  // The two notes the model writes itself are translated; a gateway's error text is shown as is.
  if (note == "no delivery recorded yet" || note == "not in the outbox") {
    return std::string(msg(lang, "delivery_note." + note));
  }
  return note;
}

std::string delivery_note_text(const IncidentReport& r, const DeliveryReport& d) {
  if (!d.gave_up) return delivery_note_label(d.delivery_note, r.lang);
  const DeliveryReport::GiveUp& g = *d.gave_up;
  const Lang lang = r.lang;
  std::string out;
  if (g.reason == "not_delivered_since" && g.since) {
    out = msgf(lang, "gave_up.not_delivered_since", local_time(*g.since, r.utc_offset),
               g.after ? human_duration(*g.after, lang) : std::string("?"));
  } else if (g.reason == "channel_failed") {
    out = msgf(lang, "gave_up.channel_failed", g.channel);
  } else if (g.reason == "not_delivered_since") {
    return delivery_note_label(d.delivery_note, lang);  // fields cut short: the sentence
  } else {
    out = std::string(msg(lang, "gave_up." + g.reason));
  }
  const std::string_view separator = msg(lang, "list.separator");
  if (!g.error.empty() && g.reason != "superseded") {
    out += std::string(separator) + msgf(lang, "gave_up.error", g.error);
  }
  if (!g.told.empty()) {
    std::string told;
    for (const std::string& who : g.told) {
      if (!told.empty()) told += std::string(msg(lang, "list.separator"));
      told += who;
    }
    out += std::string(separator) + msgf(lang, "gave_up.told", told);
  }
  return out;
}

std::string privacy_notice(const IncidentReport& r) {
  if (r.full) return std::string(msg(r.lang, "notice.full"));
  return std::string(msg(r.lang, "notice.deidentified")) +
         std::string(r.roster_known ? "" : msg(r.lang, "notice.no_roster"));
}

std::string delivery_notice(Lang lang) {
  return std::string(msg(lang, "notice.delivery"));
}

std::string drill_notice(Lang lang) {
  return std::string(msg(lang, "notice.drill"));
}

std::string times_notice(const IncidentReport& r) {
  return msgf(r.lang, "notice.times", r.timezone, offset_label(r.utc_offset),
              local_time(r.generated_at, r.utc_offset));
}

std::vector<std::string> incident_fields(const IncidentReport& r) {
  std::vector<std::string> f;
  const auto off = r.utc_offset;
  const Lang lang = r.lang;
  const auto field = [&f, lang](std::string_view id, const std::string& value) {
    f.push_back(std::string(msg(lang, id)) + "\t" + value);
  };
  field("field.key", r.key);
  field("field.title", or_dash(r.title));
  field("field.level", level_label(r.level, lang) +
                           (r.levels.size() > 1 ? std::string(msg(lang, "field.see_levels")) : ""));
  field("field.category", or_dash(r.category));
  field("field.region", or_dash(r.region));
  field("field.lead_unit", r.lead_unit);
  field("field.units", join(r.units, std::string(msg(lang, "list.comma"))));
  field("field.drill", std::string(msg(lang, r.drill ? "word.yes" : "word.no")));
  field("field.detected", local_time(r.detected_at, off));
  field("field.first_recorded", local_time(r.first_recorded_at, off));
  field("field.clock", r.clock_start
                           ? msgf(lang, "field.clock_started", local_time(*r.clock_start, off))
                           : std::string(msg(lang, "field.no_clock")));
  field("field.status",
        r.closed ? msgf(lang, "field.closed", local_time(r.closed_at, off)) +
                       (r.closed_by.empty() ? "" : msgf(lang, "level.by_hand", r.closed_by))
                 : std::string(msg(lang, "field.open")));
  field("field.timeline_entries", std::to_string(r.timeline_entries));
  return f;
}

namespace {
std::vector<std::string> header_of(Lang lang, std::initializer_list<std::string_view> ids) {
  std::vector<std::string> out;
  for (auto id : ids) out.emplace_back(msg(lang, id));
  return out;
}
}  // namespace

std::vector<std::string> level_header(Lang lang) {
  return header_of(lang, {"col.recorded", "col.detected", "col.level", "col.change"});
}

std::vector<std::string> level_cells(const IncidentReport& r, const LevelChange& l) {
  std::string change =
      l.previous.empty() ? std::string(msg(r.lang, "level.opened")) : l.previous + " → " + l.level;
  if (!l.by.empty()) change += msgf(r.lang, "level.by_hand", l.by);
  if (l.clock_started) change += msg(r.lang, "level.clock_started");
  return {local_time(l.at, r.utc_offset), local_time(l.detected_at, r.utc_offset),
          level_label(l.level, r.lang), change};
}

std::vector<std::string> milestone_header(Lang lang) {
  return header_of(lang, {"col.milestone", "col.target", "col.deadline", "col.met",
                          "col.against_target", "col.against_deadline", "col.status"});
}

std::vector<std::string> milestone_cells(const IncidentReport& r, const MilestoneReport& m) {
  const auto off = r.utc_offset;
  return {milestone_label(m.milestone, m.round, r.lang),
          local_time(m.target, off),
          local_time(m.deadline, off),
          local_time(m.met_at, off),
          m.vs_target ? early_or_late(*m.vs_target, r.lang) : "—",
          m.vs_deadline ? early_or_late(*m.vs_deadline, r.lang) : "—",
          status_label(m.status, r.lang)};
}

std::vector<std::string> release_lines(const IncidentReport& r, const MilestoneReport& m) {
  std::vector<std::string> lines;
  const auto off = r.utc_offset;
  const Lang lang = r.lang;
  for (const auto& rel : m.releases) {
    std::string line = msgf(lang, "release.released", rel.unit, local_time(rel.released_at, off));
    if (!rel.channel.empty()) line += msgf(lang, "release.on", rel.channel);
    if (!rel.url.empty()) line += std::string(msg(lang, "list.comma")) + rel.url;
    if (!rel.speaker.empty()) {
      const bool known =
          rel.speaker == "principal" || rel.speaker == "deputy" || rel.speaker == "spokesperson";
      line += msgf(lang, "release.speaker",
                   known ? std::string(msg(lang, "speaker." + rel.speaker)) : rel.speaker);
    }
    line += msgf(lang, rel.via.empty() ? "release.confirmed" : "release.confirmed_via",
                 local_time(rel.recorded_at, off), rel.via);
    lines.push_back(line);
  }
  if (lines.empty()) lines.emplace_back(msg(lang, "release.none"));
  if (m.milestone == Milestone::press_conference && !m.releases.empty()) {
    lines.emplace_back(
        msg(lang, m.principal_spoke ? "release.principal_spoke" : "release.principal_silent"));
  }
  return lines;
}

std::vector<std::string> ladder_header(Lang lang) {
  return header_of(lang, {"col.time", "col.milestone", "col.action", "col.level", "col.due",
                          "col.notified", "col.note"});
}

std::vector<std::string> ladder_cells(const IncidentReport& r, const LadderEntry& e) {
  return {local_time(e.at, r.utc_offset),
          milestone_label(e.milestone, e.round, r.lang),
          action_label(e.kind, r.lang),
          std::to_string(e.level),
          local_time(e.due, r.utc_offset),
          e.kind == ActionKind::escalated ? "" : std::to_string(e.notified),
          ladder_note(e, r.lang)};
}

std::vector<std::string> delivery_header(Lang lang) {
  return header_of(lang, {"col.first_sent", "col.recipient", "col.channel", "col.alert",
                          "col.sends", "col.delivery", "col.acknowledged", "col.time_to_ack"});
}

std::vector<std::string> delivery_cells(const IncidentReport& r, const DeliveryReport& d) {
  const auto off = r.utc_offset;
  const Lang lang = r.lang;
  std::string who = d.recipient;
  if (!d.deputy_of.empty()) who += msgf(lang, "delivery.deputy_of_paren", d.deputy_of);
  std::string channel = d.channel + (d.contact.empty() ? "" : " " + d.contact);
  std::string alert = milestone_label(d.milestone, d.round, lang) + " " +
                      action_label(d.cause, lang) + " L" + std::to_string(d.level) +
                      (d.reminder > 0 ? " r" + std::to_string(d.reminder) : "");
  std::string delivery = delivery_label(d.delivery, lang);
  if (d.delivered_at) delivery += " " + local_time(*d.delivered_at, off);
  // "pending" is explained once above the table; a failure's reason is shown where it happened.
  if (!d.delivery_note.empty() && d.delivery != "pending") {
    delivery += " (" + delivery_note_text(r, d) + ")";
  }
  if (d.delivery_note == "not in the outbox") {
    delivery += " (" + delivery_note_label(d.delivery_note, lang) + ")";
  }
  return {local_time(d.first_sent, off),
          who,
          channel,
          alert,
          std::to_string(d.sends),
          delivery,
          local_time(d.acknowledged_at, off),
          d.time_to_ack ? human_duration(*d.time_to_ack, lang) : "—"};
}

std::string gap_line(const IncidentReport& r, const Gap& g) {
  const auto off = r.utc_offset;
  const Lang lang = r.lang;
  if (g.kind == "daemon_outage" && g.since && g.delay) {
    return msgf(lang, "gap.daemon_outage", local_time(*g.since, off), local_time(g.at, off),
                human_duration(*g.delay, lang), g.what);
  }
  std::string line = msgf(lang, g.kind == "late_event" ? "gap.late_event_at" : "gap.outage_at",
                          local_time(g.at, off));
  if (g.since && g.delay) {
    line += msgf(lang, "gap.after", human_duration(*g.delay, lang), local_time(*g.since, off));
  }
  return line + msgf(lang, "gap.what", g.what);
}

std::vector<std::string> chain_lines(const IncidentReport& r) {
  std::vector<std::string> lines;
  const Lang lang = r.lang;
  if (!r.heads_digest.empty()) lines.push_back(msgf(lang, "chain.heads_digest", r.heads_digest));
  if (r.incident_head) {
    lines.push_back(
        msgf(lang, "chain.incident_head", r.incident_head->seq, or_dash(r.incident_head->hash)));
  }
  lines.push_back(
      msgf(lang, "chain.verify", r.database.empty() ? std::string("PATH") : r.database));
  return lines;
}

std::string render_report(const IncidentReport& report, Format format) {
  switch (format) {
    case Format::text:
      return render_text_like(report, false);
    case Format::markdown:
      return render_text_like(report, true);
    case Format::json:
      return render_json(report);
    case Format::csv:
      return render_csv(report);
    case Format::html:
      return render_html(report);
  }
  return {};
}

}  // namespace incidentd::report
