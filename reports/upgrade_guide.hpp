#pragma once
// The upgrade guide: for checkpoints saved by each release of the matrix, the
// newest release that reads them as they are, the newest after `xcompat
// convert`, what cpp-native makes of them, and the torch it was measured
// under. Generated from the matrix (the report's answers per pair, the same
// as `xcompat query`); `xcompat report --format markdown` puts it at the top
// of COMPATIBILITY.md, `--section upgrade-guide` prints it alone.
#include <string>

#include "reports/report_data.hpp"

namespace xcompat::report {

std::string upgrade_guide_markdown(const ReportData& d);
// The torch axis: per release, what its checkpoints do when the same release
// loads them under another torch (each pair R -> R-torchT and back), verdict
// counts over every spec and dtype swept.
std::string torch_axis_markdown(const ReportData& d);

}  // namespace xcompat::report
