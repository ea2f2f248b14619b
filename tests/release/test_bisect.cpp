// `xcompat bisect` through the binary, on real releases installed on demand
// from the package index: the exact boundaries of three known changes of
// x-transformers (the biases removed at 1.27.0, the padding mask at 1.4.0,
// norms storing their scale minus one at 1.31.3, with the broken 1.31.2
// skipped), one with the consumer held; every probe recorded as a run; bad
// input refused with a clear message.
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "matrix/store.hpp"
#include "support.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace xcompat;

namespace {

json bisect(const test::TempDir& state, const std::string& args) {
  auto r = test::xcompat(state.path, "bisect --json --db " + (state / "bisect.db").string() + " " + args);
  INFO("bisect " << args << "\n" << r.out);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

bool changed(const json& b, const std::string& file) {
  for (auto& f : b["changed"])
    if (f["file"] == file && f["added"].get<int>() + f["removed"].get<int>() > 0) return true;
  return false;
}

}  // namespace

TEST_CASE("bisect: the exact release of three known changes, each probe recorded", "[release]") {
  test::TempDir state;
  {
    // A 1.19.1 checkpoint stops loading where logits and norms lose their biases.
    const json b = bisect(state, "--spec decoder-absolute --good 1.19.1 --bad 1.30.23");
    CHECK(b["mode"] == "producer 1.19.1");
    CHECK(b["last_good"] == "1.26.6");
    CHECK(b["first_bad"] == "1.27.0");
    CHECK(b["bad_class"] == "LOAD_FAIL");
    CHECK(changed(b, "x_transformers.py"));
    CHECK(b["probes"].size() < 12);  // a binary search over 118 releases, not a walk
    // Every probe that was evaluated is a run of its own, one cell each.
    Store store((state / "bisect.db").string());
    int64_t evaluated = 0;
    for (auto& p : b["probes"]) evaluated += p["class"] != "skip";
    CHECK(static_cast<int64_t>(store.runs().size()) == evaluated);
  }
  {
    // An encoder with padding: the same checkpoint computes otherwise from 1.4.0.
    const json b = bisect(state, "--spec encoder-padmask --good 1.0.4 --bad 1.14.0");
    CHECK(b["first_bad"] == "1.4.0");
    CHECK(b["bad_class"] == "DRIFT");
    CHECK(b["skipped_between"].empty());
  }
  {
    // Norms store scale - 1 from 1.31.3; 1.31.2 cannot build the spec at all (its own
    // bug), so it tells nothing and is said to be untestable.
    const json b = bisect(state, "--spec decoder-absolute --good 1.31.1 --bad 1.31.4");
    CHECK(b["first_bad"] == "1.31.3");
    CHECK(b["bad_class"] == "DRIFT");
    REQUIRE(b["skipped_between"].size() == 1);
    CHECK(b["skipped_between"][0].get<std::string>().rfind("1.31.2 (ERROR", 0) == 0);
  }
  {
    // The consumer held: from which release on does 1.14.0 fail to load an RMSNorm model's checkpoint?
    const json b = bisect(state, "--spec decoder-rmsnorm --good 1.14.0 --bad 1.19.1 --consumer 1.14.0");
    CHECK(b["mode"] == "consumer 1.14.0");
    CHECK(b["first_bad"] == "1.15.0");
  }
  // The releases it installed are listed, not pinned.
  auto rel = test::xcompat(state.path, "releases --json --no-import-check");
  const json releases = json::parse(rel.out)["releases"];
  bool listed = false;
  for (auto& r : releases) listed |= r["version"] == "1.31.3" && r["pinned"] == false;
  CHECK(listed);
}

TEST_CASE("bisect: bad input is refused clearly", "[release]") {
  test::TempDir state;
  const std::string db = " --db " + (state / "b.db").string();
  for (auto [args, says] : std::vector<std::pair<std::string, std::string>>{
           {"--spec decoder-absolute --good 2.11.24 --bad 2.3.27", "is not before"},
           {"--spec decoder-absolute --good 2.3.99 --bad 2.11.24", "no release 2.3.99"},
           {"--spec nope --good 2.3.27 --bad 2.11.24", "unknown spec 'nope'"},
           {"--spec decoder-absolute --good 2.3.27 --bad 2.11.24", "no change found"},
           {"--spec decoder-absolute --good 2.3.27 --bad 2.11.24 --producer 2.3.27 --consumer 2.11.24", "not both"}}) {
    INFO(args);
    auto r = test::xcompat(state.path, "bisect " + args + db, true);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find(says) != std::string::npos);
  }
}
