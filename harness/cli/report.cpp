// `xcompat report`: the matrix database as a static site or a Markdown page.
#include "harness/cli/report.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "reports/html_report.hpp"
#include "reports/markdown_report.hpp"
#include "reports/markdown_sections.hpp"

namespace xcompat::cli {

int report(const Common& c, const std::string& out_dir, const std::string& format, const std::string& section) {
  const bool markdown = format == "markdown" || format == "md";
  if (!markdown && format != "html") throw Error("unknown report format '" + format + "'; use html or markdown");
  if (!fs::exists(c.db_path)) throw Error("no matrix at " + c.db_path + "; run `xcompat sweep` first (or pass --db)");
  if (!section.empty()) {
    Store store(c.db_path, false);
    std::cout << report::markdown_section(report::load_report_data(store), section);
    return 0;
  }
  if (out_dir.empty()) throw Error("give --out DIR (or --section NAME)");
  const auto t0 = std::chrono::steady_clock::now();
  Store store(c.db_path, false);
  const auto data = report::load_report_data(store);
  const auto t1 = std::chrono::steady_clock::now();
  const auto stats = markdown ? report::write_markdown_report(data, out_dir) : report::write_html_report(data, out_dir);
  const auto t2 = std::chrono::steady_clock::now();
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double total_s = std::chrono::duration<double>(t2 - t0).count();
  if (c.json) {
    std::cout << nlohmann::json{{"path", stats.main_path}, {"format", markdown ? "markdown" : "html"},
                                {"seconds", total_s}, {"load_seconds", load_s}, {"files", stats.files},
                                {"bytes", stats.bytes}, {"cells", stats.cells}, {"results", stats.results},
                                {"runs", stats.runs}}
                     .dump(2)
              << "\n";
    return 0;
  }
  fmt::print("{}\n", stats.main_path);
  fmt::print("rendered {} cells ({} results, {} runs) into {} files, {:.1f} MiB, in {:.2f} s (reading {:.2f} s)\n",
             stats.cells, stats.results, stats.runs, stats.files, stats.bytes / 1048576.0, total_s, load_s);
  return 0;
}

}  // namespace xcompat::cli
