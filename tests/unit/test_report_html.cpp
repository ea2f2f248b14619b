// reports/: the HTML and Markdown reports rendered from a small hand-made
// store (a renderer test: the rows are invented, nothing is checked against
// x-transformers). Escaping of every database string, counts, transitions-only
// history, upgrade scores and support windows.
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "report_fixture.hpp"
#include "support.hpp"
#include "matrix/store.hpp"
#include "reports/html_report.hpp"
#include "reports/html_writer.hpp"
#include "reports/markdown_report.hpp"
#include "reports/report_data.hpp"

namespace fs = std::filesystem;
using namespace xcompat;

namespace {

using test::TempDir;
using test::cell;
using test::fill;
using test::kEvil;
using test::kEvilError;
using test::kEvilSpec;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

std::string article(const std::string& page, int p, int c) {
  const std::string open = "id=\"c" + std::to_string(p) + "-" + std::to_string(c) + "\"";
  const auto at = page.find(open);
  REQUIRE(at != std::string::npos);
  const auto end = page.find("</article>", at);
  REQUIRE(end != std::string::npos);
  return page.substr(at, end - at);
}

int index_of(const std::vector<std::string>& v, const std::string& x) {
  auto it = std::find(v.begin(), v.end(), x);
  REQUIRE(it != v.end());
  return static_cast<int>(it - v.begin());
}

}  // namespace

TEST_CASE("report text helpers escape and order", "[unit]") {
  using namespace xcompat::report;
  CHECK(html("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  CHECK(html(std::string("a\0b", 3)) == "a\xEF\xBF\xBD" "b");
  CHECK(md("a|b <c> *d* _e_ [f](g)\nh") == "a\\|b &lt;c&gt; \\*d\\* \\_e\\_ \\[f\\](g) h");
  CHECK(slug("../../etc/passwd") == "_._.._etc_passwd");
  CHECK(slug(kEvil).find_first_of("<>/\"") == std::string::npos);
  CHECK(slug("") == "_");
  CHECK(version_less("2.3.27", "2.11.24"));
  CHECK_FALSE(version_less("2.11.24", "2.3.27"));
  CHECK(version_less("0.28.4", "1.0.4"));
  CHECK(version_less("2.31.10", "cpp-native"));
  CHECK_FALSE(version_less("cpp-native", "2.31.10"));
}

TEST_CASE("report data: current matrix, transitions-only history, run changes", "[unit]") {
  TempDir tmp;
  Store store((tmp.path / "m.db").string());
  fill(store);
  const auto d = report::load_report_data(store);

  CHECK(d.producers == std::vector<std::string>{"0.28.4", "1.0.4", "2.3.27", "2.11.24", kEvil});
  REQUIRE(d.consumers.size() == 6);
  CHECK(d.consumers.back().name == "cpp-native");
  CHECK(d.consumers.back().rank == -1);
  CHECK(d.consumers[3].name == "2.11.24");
  CHECK(d.current.size() == 2 * 5 * 6);
  CHECK(d.history_rows == 4 * 2 * 5 * 6);
  CHECK(d.grids.size() == 2);

  int64_t total = 0;
  for (auto c : d.counts) total += c;
  CHECK(total == 60);

  // The cell that was IDENTICAL three runs, then LOAD_FAIL (flaky): two steps.
  int cell = -1;
  for (size_t i = 0; i < d.current.size(); ++i) {
    const auto& k = d.current[i].cell.key;
    if (k.spec == "decoder-absolute" && k.producer == "0.28.4" && k.consumer == "1.0.4") cell = static_cast<int>(i);
  }
  REQUIRE(cell >= 0);
  const auto& h = d.history[cell];
  REQUIRE(h.size() == 2);
  CHECK(h[0].verdict == Verdict::Identical);
  CHECK(h[0].run_id == 1);
  CHECK(h[0].last_run_id == 3);
  CHECK(h[0].results == 3);
  CHECK_FALSE(h[0].before.has_value());
  CHECK(h[1].verdict == Verdict::LoadFail);
  CHECK(h[1].before == Verdict::Identical);
  CHECK(h[1].flaky);

  // Changes: run 4 regressed one cell (flaky) and fixed two (one by
  // conversion, one with an adapter), run 2 fixed one; newest run first,
  // regressions before fixes.
  REQUIRE(d.changes.size() == 4);
  CHECK(d.changes[0].run_id == 4);
  CHECK(d.changes[0].kind == ChangeKind::Regressed);
  CHECK(d.changes[0].before_run == 3);
  CHECK(d.changes[0].flaky);
  std::set<Verdict> fixed_to;
  for (int i : {1, 2}) {
    CHECK(d.changes[i].run_id == 4);
    CHECK(d.changes[i].kind == ChangeKind::Fixed);
    fixed_to.insert(d.changes[i].after);
  }
  CHECK(fixed_to == std::set<Verdict>{Verdict::Converted, Verdict::Adapted});
  CHECK(d.changes[3].run_id == 2);
  CHECK(d.changes[3].kind == ChangeKind::Fixed);
  CHECK(d.run_summary.at(1).new_cells == 60);
  CHECK(d.run_summary.at(4).regressed == 1);
}

TEST_CASE("HTML report: every database string escaped, counts, history, upgrades", "[unit]") {
  TempDir tmp;
  Store store((tmp.path / "m.db").string());
  fill(store);
  const auto d = report::load_report_data(store);
  const fs::path site = tmp.path / "site";
  const auto stats = report::write_html_report(d, site.string());
  CHECK(stats.main_path == (site / "index.html").string());
  CHECK(stats.cells == 60);
  CHECK(stats.results == 240);

  // Every file: no raw hostile markup anywhere, no file outside the site.
  int pages = 0;
  for (auto& e : fs::recursive_directory_iterator(site)) {
    if (!e.is_regular_file()) continue;
    CHECK(fs::canonical(e.path()).string().rfind(fs::canonical(site).string(), 0) == 0);
    if (e.path().extension() != ".html") continue;
    ++pages;
    const std::string text = slurp(e.path());
    INFO(e.path().string());
    CHECK(text.find("<script>alert") == std::string::npos);
    CHECK(text.find("<img") == std::string::npos);
    CHECK(text.find("<svg") == std::string::npos);
    CHECK(text.find("<b>k</b>") == std::string::npos);
    CHECK(text.find("<u>in float64") == std::string::npos);
    CHECK(text.find("pin most <i>") == std::string::npos);
    CHECK(text.find(" style=") == std::string::npos);  // the CSP would block inline styles
    // The only scripts are the report's own.
    CHECK(count_of(text, "<script") == 1);
  }
  // index, history, upgrade/index, 2 spec pages, 5 upgrade pages
  CHECK(pages == 10);

  const std::string index = slurp(site / "index.html");
  CHECK(index.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(index.find("&quot;&gt;&lt;svg onload=alert(3)&gt;") != std::string::npos);

  // Grid counts equal the database's, per verdict.
  std::map<char, int64_t> grid_counts;
  std::regex td(R"(<td class="([ICVADLEU])[ "])");
  for (auto it = std::sregex_iterator(index.begin(), index.end(), td); it != std::sregex_iterator(); ++it)
    ++grid_counts[(*it)[1].str()[0]];
  std::map<char, int64_t> db_counts;
  for (auto& r : store.matrix_as_of()) ++db_counts[verdict_letter(r.cell.verdict)];
  CHECK(grid_counts == db_counts);
  CHECK(db_counts['L'] > 0);
  CHECK(db_counts['U'] == 5);
  // The overview aggregates: no per-cell details inlined.
  CHECK(index.find("<article") == std::string::npos);
  CHECK(index.find("Error(s) in loading") == std::string::npos);

  // The cell detail: escaped error, load report keys, transitions only, flaky.
  const int p = index_of(d.producers, "0.28.4");
  std::vector<std::string> cons;
  for (auto& c : d.consumers) cons.push_back(c.name);
  const std::string spec_page = slurp(site / "spec" / "decoder-absolute.html");
  {
    const std::string a = article(spec_page, p, index_of(cons, "1.0.4"));
    CHECK(a.find("boom &lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;") != std::string::npos);
    CHECK(count_of(a, "<li>run #") == 2);
    CHECK(a.find("unchanged through run #3 (3 results)") != std::string::npos);
    CHECK(a.find("flaky") != std::string::npos);
    CHECK(a.find("(was IDENTICAL)") != std::string::npos);
  }
  {
    const std::string a = article(spec_page, index_of(d.producers, "1.0.4"), index_of(cons, "0.28.4"));
    CHECK(count_of(a, "<li>run #") == 2);  // LOAD_FAIL (run 1), CLOSE (runs 2-4)
    CHECK(a.find("unchanged through run #4 (3 results)") != std::string::npos);
    CHECK(a.find("nmse") != std::string::npos);
    CHECK(a.find("nmse <b>3e-08</b> (&lt;1e-6)") != std::string::npos);
  }
  {
    // Converted in run 4: both paths, why the direct one fails, the command.
    const std::string a = article(spec_page, p, index_of(cons, "2.11.24"));
    CHECK(a.find("&lt;b&gt;k&lt;/b&gt;") != std::string::npos);
    CHECK(a.find("1 missing, 2 unexpected, 0 mis-shaped") != std::string::npos);
    CHECK(count_of(a, "<li>run #") == 2);  // LOAD_FAIL (runs 1-3), CONVERTED (run 4)
    CHECK(a.find("<span class=\"badge V\">L→V</span>") != std::string::npos);
    CHECK(a.find("CONVERTED (direct LOAD_FAIL)") != std::string::npos);
    CHECK(a.find("net &lt;b&gt;renamed&lt;/b&gt; ff") != std::string::npos);
    CHECK(a.find("<code>xcompat convert model.pt --from 0.28.4 --to 2.11.24") != std::string::npos);
  }
  {
    const std::string a = article(spec_page, p, index_of(cons, "cpp-native"));
    CHECK(a.find("Tolerance override applied: ALiBi slopes &lt;u&gt;in float64&lt;/u&gt;") != std::string::npos);
  }

  // History: the regression of run 4 listed before the fix of run 2; flaky marked.
  const std::string hist = slurp(site / "history.html");
  const auto reg = hist.find("class=\"kind-regressed\"");
  const auto fix = hist.find("class=\"kind-fixed\"");
  REQUIRE(reg != std::string::npos);
  REQUIRE(fix != std::string::npos);
  CHECK(reg < fix);
  CHECK(hist.find("<span class=\"flaky\">flaky</span>") != std::string::npos);
  CHECK(hist.find("{&quot;note&quot;:&quot;&lt;script&gt;") != std::string::npos);

  // Upgrade page from 0.28.4: 1.0.4 now fails decoder-absolute; cpp-native passes all comparable specs.
  const std::string up = slurp(site / "upgrade" / "0.28.4.html");
  CHECK(up.find("Coming from 0.28.4") != std::string::npos);
  CHECK(up.find("pin most &lt;i&gt;") != std::string::npos);
  CHECK(up.find("0% (0 of 2)") != std::string::npos);    // 0.28.4 -> 2.3.27: DRIFT and LOAD_FAIL
  CHECK(up.find("100% (1 of 1)") != std::string::npos);  // cpp-native: CLOSE, other spec UNSUPPORTED
  // 1.0.4 reads 0.28.4's decoder-absolute (CLOSE) but not the other spec: window of 1.0.4 stops at itself.
  const std::string up104 = slurp(site / "upgrade" / "1.0.4.html");
  CHECK(up104.find("Reads checkpoints saved as far back as <b>1.0.4</b>") != std::string::npos);
  CHECK(up104.find("read by every release up to <b>1.0.4</b>") != std::string::npos);
  // The hostile release's page has a safe file name and escaped content.
  bool evil_page = false;
  for (auto& e : fs::directory_iterator(site / "upgrade")) {
    const std::string text = slurp(e.path());
    if (text.find("Coming from &lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos) evil_page = true;
  }
  CHECK(evil_page);
  CHECK(slurp(site / "upgrade" / "index.html").find("&lt;script&gt;alert(1)") != std::string::npos);

  // Re-rendering into the same directory works and replaces the pages.
  const auto again = report::write_html_report(d, site.string());
  CHECK(again.files == stats.files);
}

TEST_CASE("Markdown report: one table per spec, counts, escaped names", "[unit]") {
  TempDir tmp;
  Store store((tmp.path / "m.db").string());
  fill(store);
  const auto stats = report::write_markdown_report(store, (tmp.path / "md").string());
  CHECK(stats.main_path == (tmp.path / "md" / "COMPATIBILITY.md").string());
  const std::string text = slurp(tmp.path / "md" / "COMPATIBILITY.md");
  CHECK(text.find("<script>") == std::string::npos);
  CHECK(text.find("<svg") == std::string::npos);
  CHECK(text.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(count_of(text, "\n## ") == 3);  // the upgrade guide, then one per spec
  CHECK(text.find("## Upgrade guide") < text.find("## ", text.find("## Upgrade guide") + 3));
  CHECK(text.find("| L LOAD_FAIL | ") != std::string::npos);
  // Every table row has as many cells as the header: 6 consumers + the row header.
  std::istringstream in(text);
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind("| ", 0) != 0 || line.find("verdict") != std::string::npos || line.find(" cells |") != std::string::npos)
      continue;
    if (line.find("| L LOAD") == 0 || line.size() < 3) continue;
    size_t bars = 0;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++bars;
    if (bars == 8) ++rows;
  }
  CHECK(rows == 2 * (1 + 5));  // header + 5 producers per spec
  CHECK(text.find("L\\*") != std::string::npos);  // the flaky cell
}
