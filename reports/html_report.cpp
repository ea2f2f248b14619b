#include "reports/html_report.hpp"

#include <ctime>
#include <set>

#include "harness/core/error.hpp"
#include "reports/assets.hpp"
#include "reports/html/pages.hpp"

namespace xcompat::report {

namespace {
std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}
}  // namespace

RenderStats write_html_report(const ReportData& data, const std::string& out_dir) {
  SiteState s{data, fs::path(out_dir), now_utc(), all_upgrade_answers(data), {}, {}};
  std::error_code ec;
  fs::create_directories(s.dir, ec);
  if (ec) throw Error("cannot create " + out_dir + ": " + ec.message());
  if (fs::exists(s.dir / ".xcompat-report"))
    for (auto sub : {"spec", "upgrade"}) fs::remove_all(s.dir / sub);
  for (auto sub : {"spec", "upgrade", "assets"}) {
    fs::create_directories(s.dir / sub, ec);
    if (ec) throw Error("cannot create " + (s.dir / sub).string() + ": " + ec.message());
  }
  Frame frame(s);
  frame.write(".xcompat-report", "A report rendered by `xcompat report`; spec/ and upgrade/ are replaced on re-render.\n");
  frame.write(fs::path("assets") / "report.css", report_css());
  frame.write(fs::path("assets") / "report.js", report_js());

  std::set<std::string> used{"index"};
  for (auto& p : data.producers) {
    std::string base = slug(p), sl = base;
    for (int n = 2; used.count(sl); ++n) sl = base + "-" + std::to_string(n);
    used.insert(sl);
    s.upgrade_slug.push_back(sl);
  }

  write_index_page(s);
  for (size_t g = 0; g < data.grids.size(); ++g) write_spec_page(s, g);
  for (size_t p = 0; p < data.producers.size(); ++p) write_upgrade_page(s, p);
  write_upgrade_index(s);
  write_history_page(s);

  s.stats.cells = static_cast<int64_t>(data.current.size());
  s.stats.results = data.history_rows;
  s.stats.runs = static_cast<int64_t>(data.runs.size());
  return s.stats;
}

RenderStats write_html_report(Store& store, const std::string& out_dir) {
  return write_html_report(load_report_data(store), out_dir);
}

}  // namespace xcompat::report
