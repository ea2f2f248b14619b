#pragma once
// The release history and the conversions, as generated Markdown (never
// typed): what the docs say about conversion comes from these.
//
//   history_rules_markdown   every entry of matrix/history.toml as tables, by
//                            kind: boundary, reason, what carries it (ops,
//                            arguments), what is lost (docs/CONVERSION.md)
//   coverage                 each entry with the matrix cells whose
//                            conversion crosses it; an entry that no
//                            CONVERTED cell exercises is flagged
//   conversion               the converted share of non-passing direct cells,
//                            by era pair and direction, and the causes of the rest
#include <string>
#include <vector>

#include "harness/convert/history.hpp"
#include "reports/report_data.hpp"

namespace xcompat::report {

std::string history_rules_markdown(const ReleaseHistory& history);

struct EntryCoverage {
  const HistoryChange* change = nullptr;
  int crossed = 0;    // cells whose conversion crosses the entry
  int converted = 0;  // of those, CONVERTED or ADAPTED
  int lossy = 0;      // of those, a lossy conversion (what is lost named)
  std::vector<std::string> specs;  // the specs of those cells, sorted
  bool flagged() const { return converted == 0; }
};
std::vector<EntryCoverage> history_coverage(const ReleaseHistory& history, const std::vector<StoredResult>& matrix);

std::string coverage_markdown(const ReportData& d, const ReleaseHistory& history);
std::string conversion_markdown(const ReportData& d);

}  // namespace xcompat::report
