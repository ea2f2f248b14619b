#pragma once
// The static HTML report of a matrix store (docs/REPORT.md):
//   index.html           per spec a producer x consumer grid of verdicts, counts
//   spec/<spec>.html     the spec's grid again and every cell's detail + history
//   upgrade/index.html   scores of every (from, to) pair; support windows
//   upgrade/<rel>.html   "coming from <rel>": each consumer's score and verdicts
//   history.html         the runs, and the verdict changes between them
//   assets/              the stylesheet and the (optional) filter script
// One file per page kind in reports/html/, over the shared frame of
// reports/html/site.hpp.
// Self-contained: works from file://, nothing fetched from the network.
#include <cstdint>
#include <string>

#include "matrix/store.hpp"
#include "reports/render_stats.hpp"
#include "reports/report_data.hpp"

namespace xcompat::report {

// Writes the site into out_dir (created if needed). A directory that holds an
// earlier report (marked by .xcompat-report) has its spec/ and upgrade/
// pages replaced; nothing else in out_dir is removed.
RenderStats write_html_report(const ReportData& data, const std::string& out_dir);
RenderStats write_html_report(Store& store, const std::string& out_dir);

}  // namespace xcompat::report
