#include "report/table.hpp"

#include <algorithm>

namespace incidentd::report {
namespace {

bool wide(char32_t c) {
  return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF && c != 0x303F) ||
         (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
         (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
}

std::string pad(const std::string& cell, std::size_t width) {
  const std::size_t w = display_width(cell);
  return w >= width ? cell : cell + std::string(width - w, ' ');
}

std::string markdown_cell(const std::string& cell) {
  std::string out;
  for (char c : cell) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out.empty() ? " " : out;
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    char32_t c = byte;
    std::size_t len = 1;
    if (byte >= 0xF0) {
      len = 4;
      c = byte & 0x07U;
    } else if (byte >= 0xE0) {
      len = 3;
      c = byte & 0x0FU;
    } else if (byte >= 0xC0) {
      len = 2;
      c = byte & 0x1FU;
    }
    for (std::size_t k = 1; k < len && i + k < text.size(); ++k) {
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3FU);
    }
    // "—" and other punctuation are narrow; only East Asian wide ranges count double.
    width += wide(c) ? 2 : 1;
    i += len;
  }
  return width;
}

std::string Table::text() const {
  std::vector<std::size_t> widths(header_.size(), 0);
  for (std::size_t i = 0; i < header_.size(); ++i) widths[i] = display_width(header_[i]);
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out = "  ";
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      out += i + 1 == widths.size() ? cell : pad(cell, widths[i]) + "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + '\n';
  };
  std::string out = line(header_);
  std::string rule = "  ";
  for (std::size_t i = 0; i < widths.size(); ++i) {
    rule += std::string(widths[i], '-') + (i + 1 == widths.size() ? "" : "  ");
  }
  out += rule + '\n';
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string Table::markdown() const {
  std::string out = "|";
  for (const auto& h : header_) out += " " + markdown_cell(h) + " |";
  out += "\n|";
  for (std::size_t i = 0; i < header_.size(); ++i) out += " --- |";
  out += '\n';
  for (const auto& row : rows_) {
    out += "|";
    for (std::size_t i = 0; i < header_.size(); ++i) {
      out += " " + markdown_cell(i < row.size() ? row[i] : "") + " |";
    }
    out += '\n';
  }
  return out;
}

}  // namespace incidentd::report
