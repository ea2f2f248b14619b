// The torch axis: a release run under another torch (its own venv, made by
// `scripts/setup --torch T`) is a producer and consumer of its own,
// "R-torchT"; cells cross torches; `query --torch-from/--torch-to` answers the
// torch-upgrade question per release; the warnings a release raises when
// imported are recorded with the cell.
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("a sweep over two torches: cells across torches, the torch-upgrade answer, import warnings", "[release]") {
  test::TempDir t;
  const std::string db = " --db '" + (t / "m.db").string() + "'";
  auto r = test::xcompat(t.path, "sweep --no-progress -j 2 --release 1.30.23,2.31.10 --spec decoder-rmsnorm "
                                 "--dtype float32 --torch 2.13.0,2.14.1" + db);
  INFO(r.out);
  REQUIRE((r.exit_code == 0 || r.exit_code == 3));
  Store s((t / "m.db").string(), false);
  std::map<std::string, CellResult> by;
  for (auto& x : s.matrix_as_of()) by[x.cell.key.producer + " -> " + x.cell.key.consumer] = x.cell;
  // 4 producers (2 releases x 2 torches) x (4 + cpp-native readers, and the
  // own-model checks decode-cache, cpp-native-decode, cpp-torchscript).
  CHECK(by.size() == 32);
  // The same release across torches: its checkpoint loads and computes the same.
  for (const char* rel : {"1.30.23", "2.31.10"}) {
    const std::string a = rel, b = std::string(rel) + "-torch2.14.1";
    INFO(rel);
    REQUIRE(by.count(a + " -> " + b));
    CHECK(by[a + " -> " + b].verdict == Verdict::Identical);
    CHECK(by[b + " -> " + a].verdict == Verdict::Identical);
    CHECK(by[b + " -> cpp-native"].verdict == Verdict::Identical);  // the port reads what torch 2.14.1 saved
  }
  // Across releases and torches, the release history still applies (a
  // conversion carries 1.30.23's checkpoint to 2.31.10 under 2.14.1).
  CHECK(by["1.30.23 -> 2.31.10-torch2.14.1"].verdict == by["1.30.23 -> 2.31.10"].verdict);
  // 2.31.10 applies torch.jit.script at import: deprecated under 2.13.0, a
  // FutureWarning (one step from an error) under 2.14.1.
  auto warned = [&](const std::string& cell, const std::string& what) {
    for (auto& w : by[cell].warnings)
      if (w.find(what) != std::string::npos) return true;
    return false;
  };
  CHECK(warned("2.31.10 -> 2.31.10", "DeprecationWarning: `torch.jit.script` is deprecated"));
  CHECK(warned("2.31.10 -> 2.31.10-torch2.14.1", "FutureWarning: `torch.jit.script` is deprecated"));
  // 1.30.23 scripts nothing; it uses torch.cuda.amp.autocast, deprecated too.
  CHECK_FALSE(warned("1.30.23 -> 1.30.23", "torch.jit.script"));
  CHECK(warned("1.30.23 -> 1.30.23", "torch.cuda.amp.autocast"));

  auto q = test::xcompat(t.path, "query --torch-from 2.13.0 --torch-to 2.14.1 --json" + db);
  INFO(q.out);
  REQUIRE(q.exit_code == 0);
  const json answers = json::parse(q.out);
  REQUIRE(answers.size() == 2);
  for (auto& a : answers) {
    CHECK(a["overall"] == "safe");
    CHECK(a["to"] == a["release"].get<std::string>() + "-torch2.14.1");
    CHECK(a["torch_upgrade"] == "keeps every spec");
    CHECK(a["changed"].empty());
  }
  // A torch the pins do not list is refused, naming the list.
  auto bad = test::xcompat(t.path, "sweep --release 2.31.10 --spec decoder-rmsnorm --torch 9.9.9" + db, true);
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.find("--torch 9.9.9 is not one of matrix/pins.toml's torches") != std::string::npos);
}
