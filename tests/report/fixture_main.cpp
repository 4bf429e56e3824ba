// Builds the report fixture database: report_fixture PATH (used by render_html_test.sh).
#include <exception>
#include <iostream>

#include "report/fixture.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: report_fixture PATH\n";
    return 2;
  }
  try {
    incidentd::testing::build_report_fixture(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "report_fixture: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
