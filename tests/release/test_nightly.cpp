// scripts/nightly: shards as parallel processes, merged, diffed against the
// previous night, reported. The sharded night must make the matrix a single
// sweep makes; the second night compares with the first.
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("scripts/nightly --shards 3 makes the matrix one sweep makes, then compares night with night",
          "[release]") {
  test::TempDir t;
  const std::string plan = "--spec decoder-rmsnorm --release 1.19.1,2.31.10 --dtype float32 "
                           "--consumer 1.19.1,2.31.10,cpp-native --checkpoint pt,safetensors";
  auto single = test::xcompat(t.path, "sweep --no-progress " + plan + " --db '" + (t / "single.db").string() + "'");
  REQUIRE((single.exit_code == 0 || single.exit_code == 3));
  const fs::path night = t / "night";
  const std::string nightly = "XCOMPAT_STATE='" + t.path.string() + "' XCOMPAT_BUILD='" +
                              fs::path(XCOMPAT_BIN).parent_path().string() + "' '" +
                              (fs::path(XCOMPAT_SOURCE_DIR) / "scripts" / "nightly").string() +
                              "' --shards 3 --no-track --no-setup --out '" + night.string() + "' -- " + plan + " 2>&1";
  auto first = test::run_command(nightly);
  INFO(first.out);
  REQUIRE(first.exit_code == 0);
  CHECK(test::matrix_of(night / "matrix.db") == test::matrix_of(t / "single.db"));
  {
    Store s((night / "matrix.db").string(), false);
    CHECK(s.runs().size() == 3);  // one run per shard
    int64_t cells = 0;
    for (auto& r : s.runs()) cells += r.results;
    CHECK(cells == 12);
  }
  for (int k = 1; k <= 3; ++k) CHECK(fs::exists(night / "shards" / ("junit-" + std::to_string(k) + ".xml")));
  CHECK(fs::exists(night / "report" / "index.html"));
  CHECK(test::slurp(night / "COMPATIBILITY.md").find("## Upgrade guide") != std::string::npos);
  CHECK(json::parse(test::slurp(night / "diff.json")).value("first_night", false));
  const json stats = json::parse(test::slurp(night / "nightly.json"));
  std::vector<std::string> stages;
  for (auto& s : stats["stages"]) stages.push_back(s["stage"]);
  CHECK(stages == std::vector<std::string>{"set-up", "sweep (3 shards)", "merge", "diff against the previous night",
                                           "retention", "report"});

  // The second night: every cell reused from the history, compared with the first.
  auto second = test::run_command(nightly);
  INFO(second.out);
  REQUIRE(second.exit_code == 0);
  const json diff = json::parse(test::slurp(night / "diff.json"));
  CHECK(diff["before"] == 3);
  CHECK(diff["after"] == 6);
  CHECK(diff["regressed"].empty());
  CHECK(test::matrix_of(night / "matrix.db") == test::matrix_of(t / "single.db"));
  Store s((night / "matrix.db").string(), false);
  CHECK(s.runs().size() == 6);
}
