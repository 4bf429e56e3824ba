#include "report/report_people.hpp"

#include <string_view>

#include "report/format.hpp"
#include "report/report.hpp"

namespace incidentd::report::detail {

std::string People::display(const std::string& person_id, const std::string& unit_id) {
  const Person* person = config_ ? config_->find_person(person_id) : nullptr;
  const Unit* unit = config_ ? config_->unit_of_person(person_id) : nullptr;
  const std::string unit_name = unit ? unit->id : unit_id;
  if (person == nullptr || unit == nullptr) {
    if (full_) return person_id + " (" + unit_name + ")";
    auto& numbers = anonymous_[unit_name];
    auto [it, inserted] = numbers.try_emplace(person_id, numbers.size() + 1);
    return msgf(lang_, "person.anonymous", it->second, unit_name);
  }
  std::string role = role_label(person->role, lang_);
  int same_role = 0;
  int rank = 0;
  for (const auto& p : unit->people) {
    if (p.role != person->role) continue;
    ++same_role;
    if (p.id == person->id) rank = same_role;
  }
  if (same_role > 1) role += " " + std::to_string(rank);
  const std::string_view comma = msg(lang_, "list.comma");
  if (!full_) return role + std::string(comma) + unit_name;
  return person->name + " (" + person->id + ")" + std::string(comma) + role + std::string(comma) +
         unit_name;
}

std::string People::contact(const std::string& person_id, const std::string& channel) const {
  const Person* person = config_ ? config_->find_person(person_id) : nullptr;
  if (person == nullptr) return "";
  if (channel == "sms" && !person->phone.empty()) {
    return full_ ? person->phone : mask_phone(person->phone);
  }
  if (channel == "webhook") return full_ ? person->webhook : "webhook";
  return "";
}

}  // namespace incidentd::report::detail
