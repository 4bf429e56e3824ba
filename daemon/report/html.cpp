// The html report: one self-contained file (inline CSS and SVG, no script, nothing fetched),
// laid out for A4 paper.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "report/format.hpp"
#include "report/render.hpp"

namespace incidentd::report {
namespace {

constexpr const char* kStyle = R"css(
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei",
       "PingFang SC", sans-serif; font-size: 9.5pt; color: #111; margin: 0 auto; max-width: 186mm;
       line-height: 1.35; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
h2 { font-size: 11.5pt; margin: 5mm 0 1.5mm; border-bottom: 0.4mm solid #333; padding-bottom: 0.5mm;
     break-after: avoid; }
p { margin: 1mm 0; }
.notice { border: 0.4mm solid #333; padding: 1.5mm 2.5mm; margin: 1.5mm 0; }
.full { border-color: #b00020; color: #b00020; font-weight: bold; }
.drill { border-color: #8a5a00; color: #8a5a00; font-weight: bold; }
.muted { color: #555; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { border: 0.2mm solid #999; padding: 0.5mm 1mm; text-align: left; vertical-align: top;
         font-size: 8.5pt; }
td.t { white-space: nowrap; }
th { background: #eee; }
tr { break-inside: avoid; }
table.fields th { width: 32mm; }
.late { color: #b00020; font-weight: bold; }
.ontime { color: #1b6e20; font-weight: bold; }
.chart { width: 100%; height: auto; border: 0.2mm solid #999; margin: 1mm 0; }
.legend { display: flex; flex-wrap: wrap; gap: 0.5mm 4mm; font-size: 8.5pt; }
.legend span { white-space: nowrap; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all; }
ul { margin: 1mm 0; padding-left: 5mm; }
)css";

std::string fmt(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1f", v);
  return out;
}

std::string cell_class(const std::string& status) {
  if (status.find("after") != std::string::npos || status.find("not met") != std::string::npos) {
    return " class=\"late\"";
  }
  if (status == "met on time") return " class=\"ontime\"";
  return "";
}

// "2026-11-25 11:00": kept on one line, so a printed table reads down a column of times.
bool is_instant(const std::string& cell) {
  return cell.size() == 16 && cell[4] == '-' && cell[7] == '-' && cell[10] == ' ' &&
         cell[13] == ':';
}

// `statuses`: the model's English status of each row, coloured in `status_column`.
std::string table_html(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows, int status_column = -1,
                       const std::vector<std::string>& statuses = {}) {
  std::string out = "<table><thead><tr>";
  for (const auto& h : header) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (std::size_t n = 0; n < rows.size(); ++n) {
    const auto& row = rows[n];
    out += "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string cls = static_cast<int>(i) == status_column && n < statuses.size()
                            ? cell_class(statuses[n])
                            : std::string();
      if (cls.empty() && is_instant(row[i])) cls = " class=\"t\"";
      out += "<td" + cls + ">" + html_escape(row[i]) + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

// ---- the timeline chart -------------------------------------------------------------------

struct Lane {
  std::string label;
  const MilestoneReport* milestone = nullptr;
};

class Chart {
 public:
  explicit Chart(const IncidentReport& r) : r_(r) {
    std::vector<TimePoint> points{r.detected_at};
    const auto add = [&points](const std::optional<TimePoint>& t) {
      if (t) points.push_back(*t);
    };
    add(r.clock_start);
    add(r.first_recorded_at);
    add(r.closed_at);
    for (const auto& m : r.milestones) {
      if (m.milestone != Milestone::follow_up || m.met_at) add(m.deadline);
      add(m.met_at);
      add(m.met_recorded_at);
    }
    for (const auto& e : r.ladder) points.push_back(e.at);
    for (const auto& d : r.deliveries) {
      points.push_back(d.first_sent);
      add(d.acknowledged_at);
    }
    for (const auto& l : r.levels) points.push_back(l.at);
    t0_ = *std::min_element(points.begin(), points.end());
    t1_ = *std::max_element(points.begin(), points.end());
    if (t1_ - t0_ < std::chrono::hours(1)) t1_ = t0_ + std::chrono::hours(1);
    // A little room on the right for the last marker's label.
    t1_ += (t1_ - t0_) / 40;

    lanes_.push_back({std::string(msg(r.lang, "report.incident")), nullptr});
    for (const auto& m : r.milestones)
      lanes_.push_back({milestone_label(m.milestone, m.round, r.lang), &m});
    lanes_.push_back({std::string(msg(r.lang, "report.notifications")), nullptr});
  }

  std::string svg() const {
    const double height = kTop + kLane * static_cast<double>(lanes_.size()) + kBottom;
    std::string out = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                      fmt(kWidth) + " " + fmt(height) + "\" role=\"img\" aria-label=\"" +
                      std::string(msg(r_.lang, "chart.aria")) +
                      "\" "
                      "font-family=\"DejaVu Sans, sans-serif\" font-size=\"12\">\n";
    out += "<rect x=\"0\" y=\"0\" width=\"" + fmt(kWidth) + "\" height=\"" + fmt(height) +
           "\" fill=\"#ffffff\"/>\n";
    out += gaps(height);
    out += axis(height);
    for (std::size_t i = 0; i < lanes_.size(); ++i) out += lane(i);
    return out + "</svg>\n";
  }

 private:
  static constexpr double kWidth = 1000;
  static constexpr double kLeft = 150;
  static constexpr double kRight = 985;
  static constexpr double kTop = 28;
  static constexpr double kLane = 42;
  static constexpr double kBottom = 10;

  double x(TimePoint t) const {
    const double span = std::chrono::duration<double>(t1_ - t0_).count();
    const double at = std::chrono::duration<double>(t - t0_).count();
    return kLeft + (kRight - kLeft) * std::clamp(at / span, 0.0, 1.0);
  }
  double lane_y(std::size_t i) const { return kTop + kLane * static_cast<double>(i); }

  std::string axis(double height) const {
    using namespace std::chrono;
    static constexpr hours kSteps[] = {hours(1),  hours(2),  hours(3),  hours(6),  hours(12),
                                       hours(24), hours(48), hours(96), hours(168)};
    const auto span = t1_ - t0_;
    hours step = kSteps[std::size(kSteps) - 1];
    for (auto s : kSteps) {
      if (span / s <= 12) {
        step = s;
        break;
      }
    }
    std::string out;
    // Ticks on whole local hours that are multiples of the step.
    const auto local0 = floor<hours>(t0_ + r_.utc_offset);
    TimePoint tick = std::chrono::time_point_cast<Duration>(
        local0 - (local0.time_since_epoch() % step) - r_.utc_offset);
    std::string last_day;
    for (; tick <= t1_; tick += step) {
      if (tick < t0_) continue;
      const double tx = x(tick);
      const std::string label = local_time(tick, r_.utc_offset);
      const std::string day = label.substr(5, 5);
      const std::string text =
          day != last_day ? day + " " + label.substr(11, 5) : label.substr(11, 5);
      last_day = day;
      out += "<line x1=\"" + fmt(tx) + "\" y1=\"" + fmt(kTop - 6) + "\" x2=\"" + fmt(tx) +
             "\" y2=\"" + fmt(height - kBottom) + "\" stroke=\"#dddddd\" stroke-width=\"1\"/>\n";
      out += "<text x=\"" + fmt(tx) + "\" y=\"" + fmt(kTop - 10) +
             "\" text-anchor=\"middle\" fill=\"#444\">" + html_escape(text) + "</text>\n";
    }
    return out;
  }

  std::string gaps(double height) const {
    std::string out;
    for (const auto& g : r_.gaps) {
      if (!g.since) continue;
      const double gx = x(*g.since);
      const double w = std::max(2.0, x(g.at) - gx);
      const char* title = g.kind == "late_event"      ? "chart.late_event"
                          : g.kind == "daemon_outage" ? "chart.daemon_outage"
                                                      : "chart.outage";
      out += "<rect x=\"" + fmt(gx) + "\" y=\"" + fmt(kTop - 4) + "\" width=\"" + fmt(w) +
             "\" height=\"" + fmt(height - kTop - kBottom + 4) +
             "\" fill=\"#9e9e9e\" fill-opacity=\"0.25\" stroke=\"#757575\" "
             "stroke-dasharray=\"3 2\"><title>" +
             html_escape(msg(r_.lang, title)) + "</title></rect>\n";
    }
    return out;
  }

  static std::string marker(const std::string& shape, double cx, double cy, const char* fill,
                            const std::string& title) {
    std::string out;
    if (shape == "triangle") {
      out = "<path d=\"M" + fmt(cx) + " " + fmt(cy - 7) + " L" + fmt(cx + 6) + " " + fmt(cy + 5) +
            " L" + fmt(cx - 6) + " " + fmt(cy + 5) + " Z\" fill=\"" + fill +
            "\" stroke=\"#333\" stroke-width=\"0.6\">";
    } else if (shape == "square") {
      out = "<rect x=\"" + fmt(cx - 5.5) + "\" y=\"" + fmt(cy - 5.5) +
            "\" width=\"11\" height=\"11\" fill=\"" + fill +
            "\" stroke=\"#333\" stroke-width=\"0.6\">";
    } else if (shape == "diamond") {
      out = "<path d=\"M" + fmt(cx) + " " + fmt(cy - 8) + " L" + fmt(cx + 8) + " " + fmt(cy) +
            " L" + fmt(cx) + " " + fmt(cy + 8) + " L" + fmt(cx - 8) + " " + fmt(cy) +
            " Z\" fill=\"" + fill + "\" stroke=\"#333\" stroke-width=\"0.6\">";
    } else {
      out = "<circle cx=\"" + fmt(cx) + "\" cy=\"" + fmt(cy) + "\" r=\"4.5\" fill=\"" + fill +
            "\" stroke=\"#333\" stroke-width=\"0.6\">";
    }
    const std::string close = shape == "square"   ? "</rect>"
                              : shape == "circle" ? "</circle>"
                                                  : "</path>";
    return out + "<title>" + html_escape(title) + "</title>" + close + "\n";
  }

  std::string lane(std::size_t i) const {
    const double y = lane_y(i);
    const double mid = y + kLane / 2;
    std::string out = "<text x=\"6\" y=\"" + fmt(mid + 4) + "\" fill=\"#111\">" +
                      html_escape(lanes_[i].label) + "</text>\n";
    out += "<line x1=\"" + fmt(kLeft) + "\" y1=\"" + fmt(y + kLane) + "\" x2=\"" + fmt(kRight) +
           "\" y2=\"" + fmt(y + kLane) + "\" stroke=\"#eeeeee\"/>\n";
    if (i == 0) return out + level_lane(mid);
    if (lanes_[i].milestone != nullptr) return out + milestone_lane(*lanes_[i].milestone, y, mid);
    return out + notification_lane(mid);
  }

  // The first lane: the levels recorded, the clock's start across every lane, the close.
  std::string level_lane(double mid) const {
    const auto off = r_.utc_offset;
    std::string out;
    for (const auto& l : r_.levels) {
      out += marker("circle", x(l.at), mid, "#5c6bc0",
                    msgf(r_.lang, "chart.level_recorded", l.level, local_time(l.at, off)));
      out += "<text x=\"" + fmt(x(l.at) + 7) + "\" y=\"" + fmt(mid - 7) + "\" fill=\"#283593\">" +
             html_escape(l.level) + "</text>\n";
    }
    if (r_.clock_start) {
      const double cx = x(*r_.clock_start);
      out += "<line x1=\"" + fmt(cx) + "\" y1=\"" + fmt(kTop - 4) + "\" x2=\"" + fmt(cx) +
             "\" y2=\"" + fmt(kTop + kLane * static_cast<double>(lanes_.size())) +
             "\" stroke=\"#283593\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n";
    }
    if (r_.closed_at) {
      out += marker("square", x(*r_.closed_at), mid, "#616161",
                    msgf(r_.lang, "chart.closed", local_time(*r_.closed_at, off)));
    }
    return out;
  }

  // One milestone's lane: the running clock up to its deadline, the target, the ladder's steps
  // and the instant it was met.
  std::string milestone_lane(const MilestoneReport& m, double y, double mid) const {
    const auto off = r_.utc_offset;
    std::string out;
    if (m.deadline) out += running_clock(m, y, mid);
    if (m.target) {
      out += "<line x1=\"" + fmt(x(*m.target)) + "\" y1=\"" + fmt(y + 6) + "\" x2=\"" +
             fmt(x(*m.target)) + "\" y2=\"" + fmt(y + kLane - 6) +
             "\" stroke=\"#ef6c00\" stroke-width=\"2\" stroke-dasharray=\"3 2\"><title>" +
             html_escape(msgf(r_.lang, "chart.target", local_time(*m.target, off))) +
             "</title></line>\n";
    }
    for (const auto& e : r_.ladder) {
      if (e.milestone != m.milestone || e.round != m.round) continue;
      if (e.kind == ActionKind::escalated) continue;
      const char* fill = e.kind == ActionKind::warning         ? "#fdd835"
                         : e.kind == ActionKind::target_missed ? "#fb8c00"
                                                               : "#e53935";
      out += marker(e.kind == ActionKind::deadline_breached ? "square" : "triangle", x(e.at), mid,
                    fill,
                    msgf(r_.lang, "chart.ladder", action_label(e.kind, r_.lang), e.level,
                         local_time(e.at, off)) +
                        (e.catch_up ? std::string(msg(r_.lang, "chart.catch_up")) : ""));
    }
    if (m.met_at) {
      const bool late = m.late && *m.late != Lateness::on_time;
      out += marker(
          "diamond", x(*m.met_at), mid, late ? "#8e24aa" : "#43a047",
          msgf(r_.lang, "chart.met", local_time(*m.met_at, off), status_label(m.status, r_.lang)));
    }
    return out;
  }

  // The bar from the clock's start (a follow-up round: 24 hours before its due) to the deadline.
  std::string running_clock(const MilestoneReport& m, double y, double mid) const {
    const auto off = r_.utc_offset;
    TimePoint start = r_.clock_start.value_or(r_.detected_at);
    if (m.milestone == Milestone::follow_up) start = std::max(start, *m.deadline - hours24());
    const double bx = x(start);
    const double bw = std::max(1.0, x(*m.deadline) - bx);
    std::string out =
        "<rect x=\"" + fmt(bx) + "\" y=\"" + fmt(mid - 5) + "\" width=\"" + fmt(bw) +
        "\" height=\"10\" fill=\"#e3f2fd\" stroke=\"#90caf9\"><title>" +
        html_escape(msgf(r_.lang, "chart.running_until", local_time(*m.deadline, off))) +
        "</title></rect>\n";
    out += "<line x1=\"" + fmt(x(*m.deadline)) + "\" y1=\"" + fmt(y + 3) + "\" x2=\"" +
           fmt(x(*m.deadline)) + "\" y2=\"" + fmt(y + kLane - 3) +
           "\" stroke=\"#c62828\" stroke-width=\"2.5\"><title>" +
           html_escape(msgf(r_.lang, "chart.deadline", local_time(*m.deadline, off))) +
           "</title></line>\n";
    return out;
  }

  // Notifications: a tick per first send, a dot per acknowledgement.
  std::string notification_lane(double mid) const {
    const auto off = r_.utc_offset;
    std::string out;
    for (const auto& d : r_.deliveries) {
      const double nx = x(d.first_sent);
      out +=
          "<rect x=\"" + fmt(nx - 1) + "\" y=\"" + fmt(mid - 9) +
          "\" width=\"2\" height=\"12\" fill=\"#1e88e5\"><title>" +
          html_escape(msgf(r_.lang, "chart.notified", d.recipient, local_time(d.first_sent, off))) +
          "</title></rect>\n";
      if (d.acknowledged_at) {
        out += marker("circle", x(*d.acknowledged_at), mid + 8, "#43a047",
                      msgf(r_.lang, "chart.acknowledged", local_time(*d.acknowledged_at, off)));
      }
    }
    return out;
  }

  static Duration hours24() { return std::chrono::hours(24); }

  const IncidentReport& r_;
  TimePoint t0_{};
  TimePoint t1_{};
  std::vector<Lane> lanes_;
};

}  // namespace

namespace {

std::string say(Lang lang, std::string_view id) {
  return std::string(msg(lang, id));
}

std::string heading(Lang lang, std::string_view id) {
  return "<h2>" + html_escape(say(lang, id)) + "</h2>\n";
}

std::string para(Lang lang, std::string_view id) {
  return "<p>" + html_escape(say(lang, id)) + "</p>\n";
}

// The document's head and the notices above the first section.
std::string front_matter(const IncidentReport& r) {
  const Lang lang = r.lang;
  std::string out = "<!DOCTYPE html>\n<html lang=\"" + say(lang, "html.lang") +
                    "\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>" +
                    html_escape(msgf(lang, "report.title_short", r.key)) + "</title>\n<style>" +
                    kStyle + "</style>\n</head>\n<body>\n";
  out += "<h1>" + html_escape(msgf(lang, "report.title", r.key)) + "</h1>\n";
  if (r.drill) out += "<p class=\"notice drill\">" + html_escape(drill_notice(lang)) + "</p>\n";
  out += "<p class=\"notice" + std::string(r.full ? " full" : "") + "\" id=\"privacy\">" +
         html_escape(privacy_notice(r)) + "</p>\n";
  out += "<p class=\"muted\">" + html_escape(times_notice(r)) + "</p>\n";
  return out;
}

std::string incident_section(const IncidentReport& r) {
  std::string out = heading(r.lang, "report.incident") + "<table class=\"fields\"><tbody>\n";
  for (const auto& f : incident_fields(r)) {
    const auto tab = f.find('\t');
    out += "<tr><th>" + html_escape(f.substr(0, tab)) + "</th><td>" +
           html_escape(f.substr(tab + 1)) + "</td></tr>\n";
  }
  return out + "</tbody></table>\n";
}

std::string chart_section(const IncidentReport& r) {
  std::string out = heading(r.lang, "report.chart") + Chart(r).svg();
  out += "<p class=\"legend muted\">";
  for (const char* id : {"legend.warning", "legend.target_missed", "legend.breached",
                         "legend.met_on_time", "legend.met_late", "legend.target",
                         "legend.deadline", "legend.notifications", "legend.gap"}) {
    out += "<span>" + html_escape(say(r.lang, id)) + "</span>";
  }
  return out + "</p>\n";
}

std::string level_section(const IncidentReport& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : r.levels) rows.push_back(level_cells(r, l));
  return heading(r.lang, "report.level_history") + table_html(level_header(r.lang), rows);
}

std::string clock_section(const IncidentReport& r) {
  const Lang lang = r.lang;
  std::string out = heading(lang, "report.legal_clock");
  if (r.milestones.empty()) return out + para(lang, "report.no_clock");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> statuses;  // each row's status colours its status cell
  for (const auto& m : r.milestones) {
    rows.push_back(milestone_cells(r, m));
    statuses.push_back(m.status);
  }
  out += table_html(milestone_header(lang), rows, 6, statuses);
  for (const auto& m : r.milestones) {
    out += "<p><b>" + html_escape(milestone_label(m.milestone, m.round, lang)) + "</b></p><ul>\n";
    for (const auto& line : release_lines(r, m)) out += "<li>" + html_escape(line) + "</li>\n";
    out += "</ul>\n";
  }
  return out;
}

std::string ladder_section(const IncidentReport& r) {
  std::string out = heading(r.lang, "report.ladder");
  if (r.ladder.empty()) return out + para(r.lang, "report.no_ladder");
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : r.ladder) rows.push_back(ladder_cells(r, e));
  return out + table_html(ladder_header(r.lang), rows);
}

std::string notification_section(const IncidentReport& r) {
  std::string out = heading(r.lang, "report.notifications");
  if (r.deliveries.empty()) return out + para(r.lang, "report.nobody_notified");
  out += "<p class=\"muted\">" + html_escape(delivery_notice(r.lang)) + "</p>\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r.deliveries) rows.push_back(delivery_cells(r, d));
  return out + table_html(delivery_header(r.lang), rows);
}

std::string gap_section(const IncidentReport& r) {
  std::string out = heading(r.lang, "report.gaps");
  if (r.gaps.empty()) return out + para(r.lang, "report.no_gaps");
  out += "<ul>\n";
  for (const auto& g : r.gaps) out += "<li>" + html_escape(gap_line(r, g)) + "</li>\n";
  return out + "</ul>\n";
}

std::string chain_section(const IncidentReport& r) {
  std::string out = heading(r.lang, "report.tamper");
  for (const auto& line : chain_lines(r)) {
    out += "<p class=\"hash\">" + html_escape(line) + "</p>\n";
  }
  return out;
}

}  // namespace

std::string render_html(const IncidentReport& r) {
  return front_matter(r) + incident_section(r) + chart_section(r) + level_section(r) +
         clock_section(r) + ladder_section(r) + notification_section(r) + gap_section(r) +
         chain_section(r) + "</body>\n</html>\n";
}

}  // namespace incidentd::report
