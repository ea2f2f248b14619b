// The `deploy` section (docs/DEPLOYMENT.md's figures): per own-model consumer,
// verdict counts over its releases, and every cell that does not pass grouped
// by what it says, with the releases it covers as ranges in release order.
#include "catch.hpp"
#include "report_fixture.hpp"
#include "reports/markdown_sections.hpp"
#include "support.hpp"

using namespace xcompat;

TEST_CASE("the deploy section groups the failing cells of own-model consumers with their release ranges", "[unit]") {
  test::TempDir dir;
  const std::string db = (dir / "m.db").string();
  {
    Store s(db);
    const std::vector<std::string> releases = {"0.28.4", "1.0.4", "1.19.1", "1.31.4", "2.31.10"};
    for (auto& v : releases) s.register_release({v, {}, ""});
    for (auto* c : {"decode-cache", "cpp-export", "2.31.10"}) s.register_consumer({c, "decode", "x"});
    s.register_spec({"decoder-rotary", nlohmann::json{{"name", "decoder-rotary"}}});
    std::vector<CellResult> cells;
    for (auto& v : releases) {
      const bool cache = v >= std::string("1.31");
      CellResult d = test::cell("decoder-rotary", v, "decode-cache", cache ? Verdict::Close : Verdict::Unsupported);
      if (!cache) d.error = "x-transformers " + v + " has no key-value cache";
      cells.push_back(d);
      // 1.0.4 does not export; the others do, and 1.19.1's artifact drifts.
      CellResult e = test::cell("decoder-rotary", v, "cpp-export",
                                v == "1.0.4" ? Verdict::Error : v == "1.19.1" ? Verdict::Drift : Verdict::Identical);
      if (v == "1.0.4") e.error = "torch.export: " + v + " does not export decoder-rotary: GuardOnDataDependentSymNode";
      cells.push_back(e);
      cells.push_back(test::cell("decoder-rotary", v, "2.31.10", Verdict::LoadFail));  // a reader: not in this section
    }
    const int64_t run = s.begin_run({});
    s.record(run, cells);
    s.finish_run(run, "complete");
  }
  Store s(db, false);
  const std::string md = report::markdown_section(report::load_report_data(s), "deploy");
  INFO(md);
  CHECK(md.find("| decode-cache | 5 | 0 | 2 | 0 | 0 | 0 | 0 | 0 | 3 |") != std::string::npos);
  CHECK(md.find("| cpp-export | 5 | 3 | 0 | 0 | 0 | 1 | 0 | 1 | 0 |") != std::string::npos);
  // One row for the three releases without a cache (the version is R), as a range.
  CHECK(md.find("| decode-cache | UNSUPPORTED | x-transformers R has no key-value cache | 0.28.4 – 1.19.1 | "
                "decoder-rotary (float32) |") != std::string::npos);
  CHECK(md.find("| cpp-export | ERROR | torch.export: R does not export S: GuardOnDataDependentSymNode | "
                "1.0.4 |") != std::string::npos);
  CHECK(md.find("| cpp-export | DRIFT | nmse 0.4 | 1.19.1 |") != std::string::npos);
  CHECK(md.find("2.31.10 |") == std::string::npos);  // the reader's LOAD_FAIL cells are not own-model checks
}
