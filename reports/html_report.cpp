#include "reports/html_report.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <set>

#include "harness/core/error.hpp"
#include "harness/core/fault_points.hpp"
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

namespace {

// The site is rendered beside its place and swapped in whole: a reader (or
// a kill) never meets half a report. A directory that holds anything but an
// earlier report is not ours to replace.
// What a killed render left beside `out` (<out>.partial-<pid>, <out>.old-<pid>
// of a process that is gone) is removed; a live render's is left alone.
void remove_leftovers(const fs::path& out) {
  std::error_code ec;
  const std::string base = out.filename().string();
  for (auto& e : fs::directory_iterator(out.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    for (const char* kind : {".partial-", ".old-"}) {
      const std::string prefix = base + kind;
      if (name.rfind(prefix, 0) != 0) continue;
      const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
    }
  }
}

void publish(const fs::path& rendered, const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out) && !fs::is_empty(out, ec) && !fs::exists(out / ".xcompat-report")) {
    fs::remove_all(rendered, ec);
    throw Error(out.string() + " holds files that are not an xcompat report; render into an empty or new directory");
  }
  fault_point("report.before-publish");
  const fs::path old = out.string() + ".old-" + std::to_string(getpid());
  if (fs::exists(out)) fs::rename(out, old);
  fs::rename(rendered, out);
  fs::remove_all(old, ec);
  fault_point("report.after-publish");
}

}  // namespace

RenderStats write_html_report(const ReportData& data, const std::string& out_dir) {
  const fs::path out = fs::absolute(fs::path(out_dir)).lexically_normal();
  const fs::path rendered = out.string() + ".partial-" + std::to_string(getpid());
  SiteState s{data, rendered, now_utc(), all_upgrade_answers(data), {}, {}};
  std::error_code ec;
  fs::create_directories(out.parent_path(), ec);
  remove_leftovers(out);
  fs::remove_all(rendered, ec);
  fs::create_directories(s.dir, ec);
  if (ec) throw Error("cannot create " + rendered.string() + ": " + ec.message());
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
  fault_point("report.mid-pages");
  for (size_t g = 0; g < data.grids.size(); ++g) write_spec_page(s, g);
  for (size_t p = 0; p < data.producers.size(); ++p) write_upgrade_page(s, p);
  write_upgrade_index(s);
  write_history_page(s);

  publish(rendered, out);
  s.stats.main_path = (out / "index.html").string();
  s.stats.cells = static_cast<int64_t>(data.current.size());
  s.stats.results = data.history_rows;
  s.stats.runs = static_cast<int64_t>(data.runs.size());
  return s.stats;
}

RenderStats write_html_report(Store& store, const std::string& out_dir) {
  return write_html_report(load_report_data(store), out_dir);
}

}  // namespace xcompat::report
