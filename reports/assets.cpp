#include "reports/assets.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "harness/core/verdict.hpp"

namespace xcompat::report {

extern const char* const kReportCssSource;  // generated: report_assets.cpp
extern const char* const kReportJsSource;

namespace {

// Replaces the one occurrence of `marker` (a whole line when `line` is set).
std::string fill(std::string text, const std::string& marker, const std::string& with, bool line) {
  auto at = text.find(marker);
  if (at == std::string::npos) throw std::logic_error("report asset lost its marker " + marker);
  auto end = at + marker.size();
  if (line) {
    at = text.rfind('\n', at) + 1;
    end = text.find('\n', end);
  }
  return text.replace(at, end - at, with);
}

}  // namespace

std::string report_css() {
  std::string badges, borders;
  for (auto& v : kVerdicts)
    badges += fmt::format("{}.{} {{ background: {}; color: {}; }}", badges.empty() ? "" : "\n", v.letter, v.background,
                          v.foreground);
  for (size_t i = 0; i < kVerdicts.size(); ++i)
    borders += fmt::format("{}article.cell.b{} {{ border-left-color: {}; }}", i == 0 ? "" : i % 2 ? " " : "\n",
                           kVerdicts[i].letter, kVerdicts[i].background);
  std::string css = fill(kReportCssSource, "/* @verdict-badges", badges, true);
  return fill(css, "/* @verdict-borders", borders, true);
}

std::string report_js() {
  std::string names;
  for (auto& v : kVerdicts) names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", v.name);
  return fill(fill(kReportJsSource, "/* @verdict-letters */", verdict_letters(), false), "/* @verdict-names */",
              names, false);
}

}  // namespace xcompat::report
