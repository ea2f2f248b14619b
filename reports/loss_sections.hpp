#pragma once
// What no conversion and no adapter carries, as generated Markdown: the
// upgrades that do not pass as they are and end neither CONVERTED nor
// ADAPTED, counted by the history entry that names their loss (or, where
// none does, by what the cell shows: refused, unexplained, rounding, an
// error of B). docs/CONVERSION.md, `xcompat report --section losses`.
#include <string>

#include "harness/convert/history.hpp"
#include "reports/report_data.hpp"

namespace xcompat::report {

std::string losses_markdown(const ReportData& d, const ReleaseHistory& history);

}  // namespace xcompat::report
