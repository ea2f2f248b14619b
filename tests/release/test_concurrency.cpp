// Two sweeps on one database at once, with readers going meanwhile: both
// complete with every one of their cells recorded once, neither marks the
// other's run interrupted, the readers never fail, the file stays whole, and
// a fixture both need is made once (one wins, the other reuses it).
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("two sweeps on one database at once, read meanwhile, lose and duplicate nothing", "[release]") {
  test::TempDir state;
  const std::string db = (state / "m.db").string();
  // Overlapping plans: both need 2.31.10's decoder-glu fixture and its cell.
  const std::string a = "sweep --json --no-progress --dtype float32 --release 1.31.4,2.31.10 --spec decoder-absolute,decoder-glu --db " + db;
  const std::string b = "sweep --json --no-progress --dtype float32 --release 2.31.10,1.27.0 --spec decoder-glu,decoder-rmsnorm --db " + db;
  test::CommandResult ra, rb;
  std::thread ta([&] { ra = test::xcompat(state.path, a); });
  std::thread tb([&] { rb = test::xcompat(state.path, b); });
  // Readers meanwhile: `runs` and `report` must never fail (query may find no results yet).
  int reads = 0;
  std::string reader_errors;
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    if (!fs::exists(db)) continue;
    for (const std::string& cmd : std::vector<std::string>{"runs --json --db " + db,
                                                           "report --db " + db + " --out " + (state / "site").string()}) {
      auto r = test::xcompat(state.path, cmd, true);
      if (r.exit_code != 0) reader_errors += cmd + ": " + r.out + "\n";
      // Neither sweep may take the other's going run for an interrupted one.
      if (cmd.rfind("runs", 0) == 0 && r.out.find("\"interrupted\"") != std::string::npos)
        reader_errors += "a run of a live sweep was marked interrupted: " + r.out + "\n";
      ++reads;
    }
  }
  ta.join();
  tb.join();
  INFO(ra.out << "\n" << rb.out);
  REQUIRE((ra.exit_code == 0 || ra.exit_code == 3));
  REQUIRE((rb.exit_code == 0 || rb.exit_code == 3));
  CHECK(reader_errors == "");
  CHECK(reads > 0);
  const json ja = json::parse(ra.out), jb = json::parse(rb.out);
  Store store(db);
  CHECK(store.integrity_check() == "ok");
  const auto runs = store.runs();
  REQUIRE(runs.size() == 2);
  for (auto& r : runs) {
    CHECK(r.status == "complete");
    CHECK(r.results == ja["planned"].get<int64_t>());  // both plans have 24 cells; each recorded every one once
  }
  // 2 producers x 2 specs x 3 readers, and each producer's own-model checks of
  // both specs (decode-cache, cpp-native-decode, cpp-torchscript: cpp-export's
  // default subset has neither spec): 12 + 12.
  CHECK(ja["planned"] == 24);
  CHECK(jb["planned"] == 24);
  // The shared fixture exists once.
  int glu = 0;
  for (auto& e : fs::directory_iterator(state / "fixtures" / "2.31.10"))
    glu += e.path().filename().string().rfind("decoder-glu-float32-", 0) == 0;
  CHECK(glu == 1);
}
