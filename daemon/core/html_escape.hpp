// HTML text escaping for the pages the daemon serves (ack links, the duty board's server side)
// and the html report: the five characters that can end a text or an attribute value.
#pragma once

#include <string>
#include <string_view>

namespace incidentd {

// & < > " ' as entities; every other byte as it is (UTF-8 passes through).
std::string html_escape(std::string_view text);

}  // namespace incidentd
