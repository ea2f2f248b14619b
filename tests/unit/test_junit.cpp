// JUnit fails on news only: a failing cell the previous run or a known break
// (not yet expired) expects is skipped with its cause; a regression, a new
// failure and an expired known break fail; a flaky cell says so.
#include <fstream>

#include "catch.hpp"
#include "report_fixture.hpp"
#include "harness/core/paths.hpp"
#include "reports/junit.hpp"
#include "support.hpp"

using namespace xcompat;

namespace {

struct Junit {
  std::string xml;
  bool has(const std::string& s) const { return xml.find(s) != std::string::npos; }
};

Junit junit_of(const std::vector<CellResult>& cells, const JunitBaseline& baseline) {
  test::TempDir t;
  const std::string path = (t / "junit.xml").string();
  write_junit(path, cells, "test", baseline);
  return {test::slurp(path)};
}

}  // namespace

TEST_CASE("JUnit: failing as before or as a known break is skipped; news fails", "[unit]") {
  const CellResult still = test::cell("s", "1.0.4", "2.31.10", Verdict::LoadFail);
  const CellResult regressed = test::cell("s", "2.3.27", "2.31.10", Verdict::Drift);
  const CellResult fresh = test::cell("t", "2.3.27", "2.31.10", Verdict::Drift);
  const CellResult listed = test::cell("u", "0.28.4", "2.31.10", Verdict::LoadFail);
  const CellResult lapsed = test::cell("u", "0.28.4", "2.11.24", Verdict::LoadFail);
  const CellResult passing = test::cell("s", "2.31.10", "2.31.10", Verdict::Identical);

  JunitBaseline b;
  b.before_run = 7;
  b.before[still.key] = Verdict::LoadFail;
  b.before[regressed.key] = Verdict::Close;
  b.today = "2026-12-07";
  KnownBreak until;
  until.spec = "u";
  until.consumer = "2.31.10";
  until.reason = "no place for the biases";
  until.expires = "2027-03-01";
  KnownBreak over = until;
  over.consumer = "2.11.24";
  over.expires = "2026-12-07";  // expires today: a failure again
  b.known = {until, over};

  const Junit j = junit_of({still, regressed, fresh, listed, lapsed, passing}, b);
  INFO(j.xml);
  CHECK(j.has("tests=\"6\" failures=\"3\" skipped=\"2\""));
  CHECK(j.has("<skipped message=\"failing as in run 7 (LOAD_FAIL)"));
  CHECK(j.has("<skipped message=\"known break until 2027-03-01: no place for the biases"));
  CHECK(j.has("message=\"a regression: CLOSE in run 7"));
  CHECK(j.has("message=\"a new failure (no result in the previous run)"));
  CHECK(j.has("message=\"a known break expired on 2026-12-07: no place for the biases"));

  // Without a baseline every failing cell is news.
  const Junit none = junit_of({still, regressed, fresh, listed, lapsed, passing}, {});
  CHECK(none.has("tests=\"6\" failures=\"5\" skipped=\"0\""));
}

TEST_CASE("JUnit marks a flaky cell, passing or failing", "[unit]") {
  CellResult ok = test::cell("s", "2.31.10", "2.31.10", Verdict::Identical);
  ok.flaky = true;
  const Junit j = junit_of({ok}, {});
  CHECK(j.has("<property name=\"flaky\" value=\"true\"/>"));
  ok.flaky = false;
  CHECK_FALSE(junit_of({ok}, {}).has("flaky"));
}

TEST_CASE("known breaks: read with their reasons and dates; a malformed entry is an error naming it", "[unit]") {
  test::TempDir t;
  const auto path = t / "known.toml";
  std::ofstream(path) << "[[break]]\nproducer = \"0.28.4\"\nreason = \"r\"\nexpires = \"2027-01-31\"\n";
  const auto known = load_known_breaks(path);
  REQUIRE(known.size() == 1);
  CHECK(known[0].matches(CellKey{"any", "0.28.4", "2.31.10"}));
  CHECK_FALSE(known[0].matches(CellKey{"any", "1.0.4", "2.31.10"}));
  CHECK(load_known_breaks(t / "absent.toml").empty());
  std::ofstream(path) << "[[break]]\nproducer = \"0.28.4\"\nreason = \"r\"\nexpires = \"31.1.2027\"\n";
  CHECK_THROWS_WITH(load_known_breaks(path), Catch::Contains("break #1: expires is YYYY-MM-DD"));
  std::ofstream(path) << "[[break]]\nreason = \"r\"\nexpires = \"2027-01-31\"\n";
  CHECK_THROWS_WITH(load_known_breaks(path), Catch::Contains("names at least one of spec, producer, consumer"));
  std::ofstream(path) << "[[break]]\nproducer = \"0.28.4\"\nexpires = \"2027-01-31\"\n";
  CHECK_THROWS(load_known_breaks(path));  // no reason
  // The checked-in list parses.
  CHECK_NOTHROW(load_known_breaks(default_known_breaks_path()));
}
