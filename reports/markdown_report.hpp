#pragma once
// The overview as GitHub-flavoured Markdown: DIR/COMPATIBILITY.md, one table
// per spec (producer rows x consumer columns of verdict letters) plus the
// verdict counts. Every name from the database is escaped for Markdown.
#include <string>

#include "matrix/store.hpp"
#include "reports/render_stats.hpp"
#include "reports/report_data.hpp"

namespace xcompat::report {

std::string markdown_overview(const ReportData& data);
RenderStats write_markdown_report(const ReportData& data, const std::string& out_dir);
RenderStats write_markdown_report(Store& store, const std::string& out_dir);

}  // namespace xcompat::report
