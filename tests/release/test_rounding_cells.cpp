// Half-precision conversions whose arithmetic rounds the weights: 1.27.0's
// bfloat16 ScaleNorm decoder carried to 1.31.4 scales each g by dim^-1/2 and
// stores g - 1, both in bfloat16. The releases then compute one function
// from weights that differ by that rounding, which neither release's own
// rounding holds: the consumer's wide reference is computed on the
// conversion's unrounded results (the ".wide.safetensors" file beside the
// converted one), and the cell's DRIFT is named rounding. A consumer that
// computes something else beyond that is still unexplained.
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "support.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json rounding_cell(const fs::path& state, const std::string& env) {
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  auto s = xcompat::test::run_command(env + " XCOMPAT_STATE='" + state.string() + "' '" XCOMPAT_BIN "' sweep --json " +
                                      "--release 1.27.0 --consumer 1.31.4 --spec decoder-scalenorm --dtype bfloat16 "
                                      "--no-progress" + db);
  INFO(s.out);
  REQUIRE((s.exit_code == 0 || s.exit_code == 3));
  auto q = xcompat::test::xcompat(state, "query --json --from 1.27.0 --to 1.31.4 --spec decoder-scalenorm" + db);
  INFO(q.out);
  REQUIRE(q.exit_code == 0);
  const json j = json::parse(q.out);
  REQUIRE(j["specs"].size() == 1);
  return j["specs"][0];
}

bool has_cause(const json& cell, const std::string& kind) {
  for (auto& c : cell.value("causes", json::array()))
    if (c.value("kind", "") == kind) return true;
  return false;
}

}  // namespace

TEST_CASE("a bfloat16 conversion that rounds the weights: the consumer's bound counts it, and the DRIFT is rounding",
          "[release]") {
  xcompat::test::TempDir state;
  const json cell = rounding_cell(state.path, "");
  INFO(cell.dump(2));
  CHECK(cell["dtype"] == "bfloat16");
  CHECK(cell["direct_verdict"] == "DRIFT");
  const json& conv = cell["conversion"];
  CHECK(conv["outcome"] == "lossless");
  REQUIRE(conv.contains("rounding_both_sides"));
  CHECK(conv["metrics"]["nmse"].get<double>() <= 4 * conv["rounding_both_sides"].get<double>());
  CHECK(has_cause(cell, "rounding"));
  CHECK_FALSE(has_cause(cell, "unexplained"));
  // The unrounded conversion the consumer's wide reference read.
  bool wide = false;
  for (auto& e : fs::recursive_directory_iterator(state.path / "converted"))
    wide |= e.path().string().ends_with(".wide.safetensors");
  CHECK(wide);
}

TEST_CASE("a bfloat16 conversion whose consumer computes something else is not called rounding", "[release]") {
  // The break injected: 1.31.4's outputs off by 10% (after it measured its
  // rounding, as a reader that computes otherwise would be in both dtypes).
  xcompat::test::TempDir state;
  const json cell = rounding_cell(state.path, "XCOMPAT_TEST_HOOKS=1 XCOMPAT_TEST_OUTPUT_SKEW=0.1");
  INFO(cell.dump(2));
  CHECK(cell["verdict"] == "DRIFT");
  CHECK_FALSE(has_cause(cell, "rounding"));
  CHECK(has_cause(cell, "unexplained"));
}
