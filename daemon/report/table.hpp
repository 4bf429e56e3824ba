// A plain table rendered as aligned text (CJK counted double-width) or as a markdown table.
// Internal to incidentd_report.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace incidentd::report {

// Columns a terminal gives this UTF-8 text: East Asian wide characters count two.
std::size_t display_width(std::string_view text);

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }

  // Indented by two spaces, columns separated by two spaces, a rule under the header.
  std::string text() const;
  std::string markdown() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace incidentd::report
