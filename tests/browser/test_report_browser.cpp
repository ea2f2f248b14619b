// The rendered report in headless Chromium: the DOM after the page's script
// ran. A real sweep (the built xcompat on a small plan, needing the release
// sandboxes) checks the grid against the database and the filters; a
// hand-made store with hostile names checks that nothing from the database
// runs as script. Saves the overview screenshot to tests/artifacts/.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "support.hpp"
#include "matrix/store.hpp"
#include "reports/report_data.hpp"

namespace fs = std::filesystem;
using namespace xcompat;

namespace {

using test::TempDir;

struct Run {
  int rc = -1;
  std::string out;
};

Run sh(const std::string& cmd) {
  Run r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The Chromium binary, or a failed test saying how to get one.
std::string chromium() {
  if (const char* env = std::getenv("XCOMPAT_CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    auto r = sh(std::string("command -v ") + name);
    if (r.rc == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
  }
  FAIL("headless Chromium not found (looked for chromium, chromium-browser, google-chrome, $XCOMPAT_CHROMIUM); "
       "run scripts/setup, which installs it");
  return "";
}

std::string chromium_flags(const fs::path& profile) {
  return "--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
         "--disable-component-update --disable-sync --user-data-dir=" +
         quote(profile.string());
}

// The DOM after load (deferred scripts included) of file://<page><suffix>.
std::string dump_dom(const fs::path& page, const std::string& suffix = "") {
  TempDir profile;
  const std::string url = "file://" + fs::absolute(page).string() + suffix;
  auto r = sh("timeout 90 " + quote(chromium()) + " " + chromium_flags(profile.path) + " --dump-dom " + quote(url) +
              " 2>/dev/null");
  INFO(url << "\n" << r.out.substr(0, 2000));
  REQUIRE(r.rc == 0);
  REQUIRE(r.out.find("</html>") != std::string::npos);
  // The page's own script ran (under its Content-Security-Policy).
  REQUIRE(r.out.find("data-js=\"ready\"") != std::string::npos);
  return r.out;
}

void screenshot(const fs::path& page, const fs::path& png) {
  TempDir profile;
  fs::create_directories(png.parent_path());
  fs::remove(png);
  auto r = sh("timeout 90 " + quote(chromium()) + " " + chromium_flags(profile.path) +
              " --hide-scrollbars --window-size=1400,1000 --screenshot=" + quote(png.string()) + " " +
              quote("file://" + fs::absolute(page).string()));
  INFO(r.out);
  REQUIRE(r.rc == 0);
  REQUIRE(fs::exists(png));
  CHECK(fs::file_size(png) > 10000);
}

Run run_xcompat(const std::string& args) { return sh(quote(XCOMPAT_BIN) + " " + args); }

std::map<char, int64_t> db_counts(const fs::path& db) {
  Store s(db.string(), false);
  std::map<char, int64_t> out;
  for (auto& r : s.matrix_as_of()) ++out[verdict_letter(r.cell.verdict)];
  return out;
}

// Walks the dumped DOM's grid cells with the visibility the script left:
// a cell is shown when its section, its row and itself are not hidden.
struct GridCell {
  char letter;  // I C V D L E U, or 'n' (no result)
  bool visible, dim;
  std::string spec;
};

std::vector<GridCell> grid_cells(const std::string& dom) {
  std::vector<GridCell> out;
  std::regex tag(R"(<(section|tr|td|/section|/tr)(\s[^>]*)?>)");
  std::regex cls(R"re(class="([^"]*)")re"), spec(R"re(data-spec="([^"]*)")re");
  bool sec_hidden = false, row_hidden = false, in_grid_section = false;
  std::string cur_spec;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), tag); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1], attrs = (*it)[2];
    const bool hidden = std::regex_search(attrs, std::regex(R"(\bhidden\b)"));
    std::smatch m;
    const std::string klass = std::regex_search(attrs, m, cls) ? m[1].str() : "";
    if (name == "section") {
      in_grid_section = klass.find("gs") != std::string::npos;
      sec_hidden = hidden;
      cur_spec = std::regex_search(attrs, m, spec) ? m[1].str() : "";
    } else if (name == "/section") {
      in_grid_section = false;
    } else if (name == "tr") {
      row_hidden = hidden;
    } else if (name == "td" && in_grid_section) {
      if (klass.empty()) continue;
      const char letter = klass[0];
      const bool dim = klass.find("dim") != std::string::npos;
      out.push_back({letter, !sec_hidden && !row_hidden && !hidden, dim, cur_spec});
    }
  }
  return out;
}

std::string title_of(const std::string& dom) {
  auto a = dom.find("<title>"), b = dom.find("</title>");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  return dom.substr(a + 7, b - a - 7);
}

const std::string kHostileRelease = "<script>document.title='PWNED';document.documentElement.setAttribute('data-pwned','1')</script>";
const std::string kHostileError = "<img src=x onerror=\"document.title='PWNED';document.documentElement.setAttribute('data-pwned','2')\">";

void hostile_store(const fs::path& db) {
  Store s(db.string());
  for (const std::string& v : {std::string("1.0.4"), kHostileRelease}) {
    s.register_release({v, {}, "reason <script>document.title='PWNED'</script>"});
    s.register_consumer({v, "python", v});
  }
  const std::string spec = "evil<script>document.title='PWNED'</script>";
  s.register_spec({spec, nlohmann::json{{"x", "<script>document.title='PWNED'</script>"}}});
  s.register_spec({"decoder-absolute", nlohmann::json::object()});
  for (int run = 1; run <= 2; ++run) {
    const int64_t id = s.begin_run({{"args", "<script>document.title='PWNED'</script>"}});
    std::vector<CellResult> cells;
    for (auto& sp : {spec, std::string("decoder-absolute")})
      for (auto& p : {std::string("1.0.4"), kHostileRelease})
        for (auto& c : {std::string("1.0.4"), kHostileRelease}) {
          CellResult r;
          r.key = {sp, p, c};
          r.cache_key = "k";
          r.verdict = p == c ? Verdict::Identical : run == 1 ? Verdict::Close : Verdict::LoadFail;
          if (r.verdict == Verdict::LoadFail) {
            r.error = kHostileError;
            r.load_report.missing = {kHostileError};
            r.tolerance_override = kHostileError;
            r.flaky = true;
          }
          cells.push_back(r);
        }
    s.record(id, cells);
    s.finish_run(id, "complete");
  }
}

void check_not_pwned(const std::string& dom, const std::string& expected_title) {
  CHECK(title_of(dom) == expected_title);
  CHECK(dom.find("data-pwned=\"") == std::string::npos);
  // The hostile markup is there as text (escaped in the serialized DOM), never as elements.
  CHECK(dom.find("<img") == std::string::npos);
  CHECK(dom.find("<script>document.title") == std::string::npos);
  CHECK(std::regex_search(dom, std::regex("&lt;(script|img)")));
}

}  // namespace

TEST_CASE("report of a real sweep in headless Chromium: grid counts, filters, screenshot", "[browser]") {
  chromium();  // fails clearly when missing
  TempDir tmp;
  const fs::path db = tmp.path / "sweep.db", site = tmp.path / "site";
  auto sw = run_xcompat("sweep --db " + quote(db.string()) +
                    " --releases 0.28.4,1.31.4,2.31.10 --specs decoder-absolute,decoder-rmsnorm "
                    "--consumers 0.28.4,1.31.4,2.31.10 --no-progress");
  INFO(sw.out);
  REQUIRE(sw.rc == 0);
  auto rp = run_xcompat("report --db " + quote(db.string()) + " --out " + quote(site.string()));
  INFO(rp.out);
  REQUIRE(rp.rc == 0);
  CHECK(rp.out.find((site / "index.html").string()) != std::string::npos);

  const auto expected = db_counts(db);
  int64_t expected_total = 0;
  for (auto& [_, n] : expected) expected_total += n;
  REQUIRE(expected_total == 2 * 3 * 3 * 2);  // specs x producers x consumers x the pins' two dtypes

  SECTION("unfiltered: the grid shows every cell, counted as in the database") {
    const std::string dom = dump_dom(site / "index.html");
    std::map<char, int64_t> shown;
    for (auto& c : grid_cells(dom)) {
      CHECK(c.visible);
      CHECK_FALSE(c.dim);
      if (c.letter != 'n') ++shown[c.letter];
    }
    CHECK(shown == expected);
    screenshot(site / "index.html", fs::path(XCOMPAT_TEST_DATA).parent_path() / "artifacts" / "report-overview.png");
  }

  SECTION("verdict filter from the URL: only LOAD_FAIL cells stay lit") {
    const std::string dom = dump_dom(site / "index.html", "#verdict=LOAD_FAIL");
    int64_t lit = 0;
    for (auto& c : grid_cells(dom)) {
      if (c.letter != 'L') CHECK((c.dim || !c.visible));
      if (c.visible && !c.dim) {
        CHECK(c.letter == 'L');
        ++lit;
      }
    }
    CHECK(lit == (expected.count('L') ? expected.at('L') : 0));
    CHECK(dom.find("id=\"f-count\"") != std::string::npos);
  }

  SECTION("spec filter and release range from the URL") {
    const std::string dom = dump_dom(site / "index.html", "#spec=decoder-rmsnorm&from=1.31.4&to=2.31.10");
    int64_t visible = 0;
    for (auto& c : grid_cells(dom)) {
      if (c.spec != "decoder-rmsnorm") CHECK_FALSE(c.visible);
      if (c.visible) ++visible;
    }
    CHECK(visible == 8);  // producers 1.31.4, 2.31.10 x consumers 1.31.4, 2.31.10 x two dtypes
    // The query string works too.
    const std::string dom2 = dump_dom(site / "index.html", "?verdict=IDENTICAL");
    for (auto& c : grid_cells(dom2))
      if (c.visible && !c.dim) CHECK(c.letter == 'I');
  }

  SECTION("the other pages load and run their script") {
    dump_dom(site / "history.html");
    dump_dom(site / "upgrade" / "index.html");
    const std::string up = dump_dom(site / "upgrade" / "0.28.4.html");
    CHECK(up.find("Coming from 0.28.4") != std::string::npos);
    const std::string spec = dump_dom(site / "spec" / "decoder-absolute--float32.html", "#verdict=IDENTICAL");
    CHECK(spec.find("<article") != std::string::npos);
  }
}

TEST_CASE("hostile names and error texts render as text and run nothing", "[browser]") {
  chromium();
  TempDir tmp;
  const fs::path db = tmp.path / "evil.db", site = tmp.path / "site";
  hostile_store(db);
  auto rp = run_xcompat("report --db " + quote(db.string()) + " --out " + quote(site.string()));
  INFO(rp.out);
  REQUIRE(rp.rc == 0);

  check_not_pwned(dump_dom(site / "index.html"), "xcompat: compatibility matrix");
  check_not_pwned(dump_dom(site / "history.html"), "xcompat: history");
  check_not_pwned(dump_dom(site / "upgrade" / "index.html"), "xcompat: upgrades");
  int spec_pages = 0, upgrade_pages = 0;
  for (auto& e : fs::directory_iterator(site / "spec")) {
    const std::string dom = dump_dom(e.path(), "#verdict=LOAD_FAIL");
    CHECK(title_of(dom).rfind("xcompat: ", 0) == 0);  // the script would have set it to "PWNED"
    CHECK(dom.find("data-pwned=\"") == std::string::npos);
    CHECK(dom.find("<img") == std::string::npos);
    ++spec_pages;
  }
  for (auto& e : fs::directory_iterator(site / "upgrade")) {
    if (e.path().filename() == "index.html") continue;
    const std::string dom = dump_dom(e.path());
    CHECK(title_of(dom).rfind("xcompat: coming from ", 0) == 0);
    CHECK(dom.find("data-pwned=\"") == std::string::npos);
    CHECK(dom.find("<img") == std::string::npos);
    ++upgrade_pages;
  }
  CHECK(spec_pages == 2);
  CHECK(upgrade_pages == 2);
  // The escaped grid still counts right.
  std::map<char, int64_t> shown;
  for (auto& c : grid_cells(dump_dom(site / "index.html")))
    if (c.letter != 'n') ++shown[c.letter];
  CHECK(shown == db_counts(db));
}
