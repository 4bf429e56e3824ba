// How people appear on an incident's report, for build_incident_report. Internal to
// incidentd_report.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "incidentd/config.hpp"
#include "report/messages.hpp"

namespace incidentd::report::detail {

// De-identified: role and unit, numbered only when the unit has several people of that role;
// without a roster, "person N in <unit>" in order of first appearance. Full: name and id as well.
class People {
 public:
  People(const Config* config, bool full, Lang lang) : config_(config), full_(full), lang_(lang) {}

  // Not const: the first call for a person outside the roster gives them their number.
  std::string display(const std::string& person_id, const std::string& unit_id);
  // The phone number (masked unless full) or "webhook"; empty when the roster does not say.
  std::string contact(const std::string& person_id, const std::string& channel) const;

 private:
  const Config* config_;
  bool full_;
  Lang lang_;
  std::map<std::string, std::map<std::string, std::size_t>> anonymous_;
};

}  // namespace incidentd::report::detail
