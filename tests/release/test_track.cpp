// `xcompat track` against a local package source (no network): wheels rebuilt
// from the sandboxes, plus a release that does not exist with a known break
// (tests/data/fake_release.py): the candidates are installed from the
// source, evaluated both ways, proposed as pins with reasons, and the break
// makes it exit 3.
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/paths.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
const fs::path kRoot = XCOMPAT_SOURCE_DIR;
std::string python() { return "'" + (kRoot / ".venv" / "bin" / "python").string() + "'"; }
}  // namespace

TEST_CASE("track installs new releases from a package source, proposes pins, and exits 3 on a break", "[release]") {
  test::TempDir t;
  const fs::path src = t / "src", releases = t / "releases";
  // The source: 2.31.10 as published, and 2.99.0, its output head renamed.
  auto made = test::run_command(python() + " '" + (kRoot / "scripts" / "wheels_from_sandboxes").string() + "' '" +
                                src.string() + "' 2.31.10 2>&1");
  INFO(made.out);
  REQUIRE(made.exit_code == 0);
  REQUIRE(test::run_command(python() + " '" + (kRoot / "tests" / "data" / "fake_release.py").string() + "' '" +
                            src.string() + "' 2.31.10 2.99.0").exit_code == 0);
  // Sandboxes: the pins up to 2.16.1 only; the candidates come from the source.
  fs::create_directories(releases);
  for (const char* v : {"0.28.4", "0.32.3", "1.0.4", "1.14.0", "1.19.1", "1.26.6", "1.27.0", "1.30.23", "1.31.1",
                        "1.31.4", "1.42.17", "1.44.8", "2.0.5", "2.3.27", "2.11.24", "2.16.1"})
    fs::create_directory_symlink(release_sandboxes() / v, releases / v);

  auto r = test::run_command("XCOMPAT_STATE='" + t.path.string() + "' XCOMPAT_RELEASES='" + releases.string() +
                             "' '" XCOMPAT_BIN "' track --since 2.16.1 --package-source '" + src.string() +
                             "' --spec decoder-rmsnorm --dtype float32 -j 2 --json --db '" + (t / "m.db").string() + "'");
  INFO(r.out);
  CHECK(r.exit_code == 3);
  const json j = json::parse(r.out);
  CHECK(j["baseline"] == "2.16.1");
  CHECK(j["published_after"] == json::array({"2.31.10", "2.99.0"}));
  REQUIRE(j["candidates"].size() == 2);
  const json& real = j["candidates"][0];
  const json& fake = j["candidates"][1];
  CHECK(real["version"] == "2.31.10");
  CHECK(real["breaks"].empty());
  CHECK(real["reads"]["2.16.1"] == "direct");
  CHECK(real["read_by"]["cpp-native"] == "direct");
  CHECK(fake["version"] == "2.99.0");
  REQUIRE(!fake["breaks"].empty());
  bool logits = false;
  for (auto& b : fake["breaks"]) {
    CHECK(b["now"]["verdict"] == "LOAD_FAIL");
    // The releases fail a strict load (the renamed logits, and for older
    // producers, read by 2.16.1 with adapters, the keys they moved too);
    // the port cannot build a model of a release past its range
    // (unbuildable: a failure of the pair).
    const bool port = b["now"]["cell"].get<std::string>().find("-> cpp-native") != std::string::npos;
    const std::string cause = b["cause"].get<std::string>();
    CHECK(cause.find(port ? "does not support release 2.99.0" : "strict load fails") != std::string::npos);
    logits |= cause.find("logits") != std::string::npos;
  }
  CHECK(logits);
  CHECK(fake["reads"]["2.16.1"] == "fails");
  CHECK(fake["propose"] == true);  // it behaves unlike 2.31.10: a boundary
  CHECK(fake["pins_entry"].get<std::string>().find("version = \"2.99.0\"") != std::string::npos);
  // Installed from the source, into the sandboxes, not pinned.
  for (const char* v : {"2.31.10", "2.99.0"}) CHECK(fs::exists(releases / v / "x_transformers"));
  // What it says is what the matrix holds.
  Store s((t / "m.db").string(), false);
  auto cells = s.latest_for_pair("2.16.1", "2.99.0");
  REQUIRE(cells.size() == 1);
  CHECK(cells[0].cell.verdict == Verdict::LoadFail);
}

TEST_CASE("track with no reachable package source says so and exits 2", "[release]") {
  test::TempDir t;
  auto r = test::xcompat(t.path, "track --package-source http://127.0.0.1:9/simple --db '" + (t / "m.db").string() + "'",
                         true);
  INFO(r.out);
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("cannot list x-transformers releases from http://127.0.0.1:9/simple") != std::string::npos);
  CHECK(r.out.find("--package-source DIR") != std::string::npos);
}
