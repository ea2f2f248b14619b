// Approval tests of the reports: every page of the HTML site and the Markdown
// overview, rendered from the hand-made store of report_fixture.hpp, must
// equal tests/golden/report/ byte for byte once the volatile parts (times,
// the version) are normalised. A change to a page is a change to its golden
// file, reviewed in the diff: XCOMPAT_UPDATE_GOLDEN=1 rewrites them.
#include <cstdlib>
#include <fstream>
#include <regex>

#include "catch.hpp"
#include "report_fixture.hpp"
#include "reports/html_report.hpp"
#include "reports/markdown_report.hpp"
#include "reports/markdown_sections.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace xcompat;

using test::slurp;

namespace {

// Times come from the clock at record and render time, the version from the
// build: neither belongs in a golden file.
std::string normalised(const std::string& page) {
  static const std::regex time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  static const std::regex version(R"(xcompat \d+\.\d+\.\d+)");
  return std::regex_replace(std::regex_replace(page, time, "<time>"), version, "xcompat <version>");
}

}  // namespace

TEST_CASE("every report page equals its golden file", "[unit]") {
  test::TempDir dir;
  const fs::path db = dir / "golden.db";
  {
    Store s(db.string());
    test::fill(s);
  }
  Store store(db.string(), false);
  const auto data = report::load_report_data(store);
  report::write_html_report(data, (dir / "site").string());
  report::write_markdown_report(data, (dir / "site").string());
  fs::create_directories(dir / "site" / "sections");
  // coverage and history list matrix/history.toml's entries: their golden
  // files would follow every edit of the history (test_conversion.cpp covers them).
  for (auto& name : report::markdown_section_names())
    if (name != "coverage" && name != "history")
      std::ofstream(dir / "site" / "sections" / (name + ".md")) << report::markdown_section(data, name);

  const fs::path golden = fs::path(XCOMPAT_TEST_DATA).parent_path() / "golden" / "report";
  const bool update = std::getenv("XCOMPAT_UPDATE_GOLDEN") != nullptr;
  std::vector<fs::path> pages;
  for (auto& e : fs::recursive_directory_iterator(dir / "site"))
    // The assets are the embedded files themselves (reports/assets/), tested by
    // the browser tests; the pages are what a golden file guards.
    if (e.is_regular_file() && e.path().extension() != "" && e.path().filename() != ".xcompat-report" &&
        fs::relative(e.path(), dir / "site").begin()->string() != "assets")
      pages.push_back(fs::relative(e.path(), dir / "site"));
  std::sort(pages.begin(), pages.end());
  REQUIRE(pages.size() >= 10);  // index, two spec pages, upgrade index and five pages, history, markdown
  for (auto& rel : pages) {
    const std::string actual = normalised(slurp(dir / "site" / rel));
    if (update) {
      fs::create_directories((golden / rel).parent_path());
      std::ofstream(golden / rel, std::ios::binary) << actual;
      continue;
    }
    INFO("tests/golden/report/" << rel.string() << " differs; if the change is meant, rerun with "
                                                   "XCOMPAT_UPDATE_GOLDEN=1 and review the diff");
    REQUIRE(fs::exists(golden / rel));
    CHECK(actual == slurp(golden / rel));
  }
  // No golden page may be left without a rendered one.
  for (auto& e : fs::recursive_directory_iterator(golden))
    if (e.is_regular_file()) CHECK(fs::exists(dir / "site" / fs::relative(e.path(), golden)));
}

TEST_CASE("every generated block in docs/ names a known section and ends", "[unit]") {
  const fs::path docs = fs::path(XCOMPAT_TEST_DATA).parent_path().parent_path() / "docs";
  const std::regex open(R"(<!-- generated: xcompat report --format markdown --section (\w+) -->)");
  int blocks = 0;
  for (auto& e : fs::directory_iterator(docs)) {
    if (e.path().extension() != ".md") continue;
    const std::string text = slurp(e.path());
    for (std::sregex_iterator it(text.begin(), text.end(), open), end; it != end; ++it, ++blocks) {
      INFO(e.path().filename().string() << ": section " << (*it)[1]);
      const auto& names = report::markdown_section_names();
      CHECK(std::find(names.begin(), names.end(), (*it)[1].str()) != names.end());
      CHECK(text.find("<!-- end generated -->", static_cast<size_t>(it->position())) != std::string::npos);
    }
  }
  CHECK(blocks >= 3);  // RELEASES.md (pairs, eras) and NATIVE_PORT.md (native)
}
