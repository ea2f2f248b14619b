// Names from a spec or pins file (which can come from a pull request in CI)
// reach file paths: a hostile one is refused, through the binary, before any
// worker starts, and nothing is written outside the state directory.
#include <algorithm>
#include <fstream>

#include "catch.hpp"
#include "support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

TEST_CASE("a spec named to escape the fixture cache is refused before anything is written", "[release]") {
  test::TempDir outer;
  const fs::path state = outer / "a" / "b" / "c" / "state";
  fs::create_directories(state);
  // Four levels up from <state>/fixtures/<release>/ is `outer`: the escape the issue saw.
  std::ofstream(outer / "evil.toml") << "[[spec]]\nname = \"../../../../evil-escape\"\nmodel = \"decoder\"\nseed = 1\n"
                                        "batch = 1\nseq_len = 4\nwrapper = { num_tokens = 8, max_seq_len = 8 }\n"
                                        "layers = { dim = 8, depth = 1, heads = 1 }\n";
  const std::string db = " --db " + (state / "m.db").string();
  for (const std::string& cmd : std::vector<std::string>{"sweep --no-progress --release 2.31.10 --consumer 2.31.10" + db,
                                                         "fixtures --release 2.31.10"}) {
    INFO(cmd);
    auto r = test::xcompat(state, cmd + " --specs-file " + (outer / "evil.toml").string(), true);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("spec name '../../../../evil-escape' is not one") != std::string::npos);
  }
  // Nothing anywhere under `outer` but what the test made (and no database: refused before opening it).
  std::vector<std::string> found;
  for (auto& e : fs::recursive_directory_iterator(outer.path)) found.push_back(fs::relative(e.path(), outer.path).string());
  std::sort(found.begin(), found.end());
  CHECK(found == std::vector<std::string>{"a", "a/b", "a/b/c", "a/b/c/state", "evil.toml"});
}
