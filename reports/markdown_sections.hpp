#pragma once
// Figures that the project's docs state about the matrix, as Markdown
// sections generated from the store, never typed by hand:
//   eras    verdict counts by the producer's major version, every reader
//           (releases, cpp-native; not the own-model checks)
//   pairs   neighbouring releases (A -> B): what B makes of A's checkpoints,
//           the common verdict and every exception with its figure or key
//   native  cpp-native's verdicts by dtype and checkpoint format
//   conversion, coverage  the converted share and each history entry's
//           cells (conversion_sections.hpp)
//   history the release history's rule tables (matrix/history.toml; the
//           database is not read)
//   upgrade-guide, torch  (upgrade_guide.hpp)
//   deploy  the checks of a producer's own model (decode-cache,
//           cpp-native-decode, cpp-torchscript, cpp-export): counts, and every
//           cell that does not pass, grouped, with its release ranges
// `xcompat report --format markdown --section NAME` prints one;
// scripts/gen_docs splices them into docs/*.md between their markers.
#include <string>
#include <vector>

#include "reports/report_data.hpp"

namespace xcompat::report {

const std::vector<std::string>& markdown_section_names();
// Throws Error on an unknown name.
std::string markdown_section(const ReportData& d, const std::string& name);

}  // namespace xcompat::report
