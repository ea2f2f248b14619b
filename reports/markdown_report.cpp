#include "reports/markdown_report.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "harness/core/error.hpp"
#include "reports/grid_view.hpp"
#include "reports/html_writer.hpp"
#include "reports/upgrade_guide.hpp"

namespace xcompat::report {

namespace fs = std::filesystem;

namespace {

template <class... Args>
void put(std::string& o, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(o), f, std::forward<Args>(args)...);
}

void counts_line(std::string& o, const VerdictCounts& c) {
  bool first = true;
  for (int v = 0; v < kVerdictCount; ++v) {
    if (!c[v]) continue;
    put(o, "{}**{}** {} {}", first ? "" : " · ", kVerdicts[v].letter, verdict_name(static_cast<Verdict>(v)), c[v]);
    first = false;
  }
  o += first ? "no cells\n" : "\n";
}

}  // namespace

std::string markdown_overview(const ReportData& d) {
  std::string o;
  o.reserve(1024 + d.current.size() * 4);
  o += "# x-transformers checkpoint compatibility\n\n";
  if (!d.runs.empty()) {
    const RunInfo& r = d.runs.back();
    put(o, "Matrix as of run #{} (started {}, {}). ", r.id, md(r.started_at), md(r.status));
  }
  put(o, "{} cells in {} specs; {} results over {} runs.\n\n", d.current.size(), d.grids.size(), d.history_rows,
      d.runs.size());
  o += "Rows: the release that saved the checkpoint. Columns: the consumer that loads it. ";
  for (auto& v : kVerdicts) put(o, "`{}` {} · ", v.letter, v.name);
  o += "`·` no result · `*` flaky.\n\n";
  o += "| verdict | cells |\n|---|--:|\n";
  for (int v = 0; v < kVerdictCount; ++v)
    put(o, "| {} {} | {} |\n", kVerdicts[v].letter, verdict_name(static_cast<Verdict>(v)), d.counts[v]);
  o += "\n";
  o += upgrade_guide_markdown(d);
  for (const Grid& g : d.grids) {
    put(o, "## {}\n\n", md(g.label));
    counts_line(o, g.counts);
    if (g.min_run == g.max_run) put(o, "\nFrom run #{} ({}).\n\n", g.max_run, md(d.run_time(g.max_run)));
    else put(o, "\nFrom runs #{}–#{} (latest {}).\n\n", g.min_run, g.max_run, md(d.run_time(g.max_run)));
    const GridView view(d, g);
    o += "| saved by \\\\ loaded by |";
    for (size_t c : view.cols) put(o, " {} |", md(d.consumers[c].name));
    o += "\n|---|";
    for (size_t i = 0; i < view.cols.size(); ++i) o += ":-:|";
    o += "\n";
    for (size_t p : view.rows) {
      put(o, "| {} |", md(d.producers[p]));
      for (size_t c : view.cols) {
        const int32_t i = view.cell(p, c);
        if (i < 0) {
          o += " · |";
          continue;
        }
        const CellResult& cell = d.current[i].cell;
        put(o, " {}{} |", cell.path_letters(), cell.flaky ? "\\*" : "");
      }
      o += "\n";
    }
    o += "\n";
  }
  return o;
}

RenderStats write_markdown_report(const ReportData& data, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error("cannot create " + out_dir + ": " + ec.message());
  const fs::path path = fs::path(out_dir) / "COMPATIBILITY.md";
  const std::string text = markdown_overview(data);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) throw Error("cannot write " + path.string());
  RenderStats s;
  s.main_path = path.string();
  s.files = 1;
  s.bytes = static_cast<int64_t>(text.size());
  s.cells = static_cast<int64_t>(data.current.size());
  s.results = data.history_rows;
  s.runs = static_cast<int64_t>(data.runs.size());
  return s;
}

RenderStats write_markdown_report(Store& store, const std::string& out_dir) {
  return write_markdown_report(load_report_data(store), out_dir);
}

}  // namespace xcompat::report
