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

}  // namespace xcompat::report
