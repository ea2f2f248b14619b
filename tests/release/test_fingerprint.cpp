// `xcompat fingerprint` on every fixture the pinned releases make, through
// the binary: the range it gives holds the release that saved the file, each
// argument of the spec is either inferred with its value or named as one the
// tensors do not tell, and the spec it infers, built by the release that
// saved the file, loads the file strictly (and computes what the release did
// unless an ambiguity changes the computation).
#include <fstream>
#include <map>

#include "catch.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/version.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Whether the fingerprint names `arg` among what the tensors do not tell.
bool said_ambiguous(const json& fp, const std::string& arg) {
  for (auto& a : fp["ambiguous"])
    if (a.get<std::string>().find(arg) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("fingerprint: every pinned release's fixtures, range and arguments, rebuilt and loaded strictly",
          "[release]") {
  test::TempDir state;
  auto made = test::xcompat(state.path, "fixtures --json --dtype float32 -j 2");
  INFO(made.out.substr(0, 4000));
  REQUIRE(made.exit_code == 0);
  const Pins pins = load_pins(default_pins_path());
  std::map<std::string, std::vector<json>> by_release;  // fixture entries with their fingerprint
  int fixtures = 0, exact_args = 0;
  const json listing = json::parse(made.out);
  for (auto& f : listing["fixtures"]) {
    if (f["state"] != "fixture") continue;  // UNSUPPORTED: the release cannot build the spec
    const fs::path dir = f["dir"].get<std::string>();
    const json meta = json::parse(std::ifstream(dir / "meta.json"));
    const std::string release = meta["release"];
    auto r = test::xcompat(state.path, "fingerprint --json " + (dir / "model.pt").string());
    INFO(dir.string() << "\n" << r.out);
    REQUIRE(r.exit_code == 0);
    const json fp = json::parse(r.out);
    CHECK(test::in_ranges(fp, release));
    // Each argument the spec gives: inferred with its value, or said to be untold.
    bool exact = true;
    const json& spec = meta["spec"];
    for (const char* section : {"wrapper", "layers", "xtransformer"}) {
      if (!spec.contains(section)) continue;
      for (auto& [k, v] : spec[section].items()) {
        if (fp["spec"].contains(section) && fp["spec"][section].value(k, json()) == v) continue;
        exact = false;
        INFO(section << "." << k << " = " << v.dump());
        CHECK(said_ambiguous(fp, k));
      }
    }
    if (spec["model"] == "encoder") exact = false;  // Decoder assumed: said first among the ambiguities
    // A ViTransformerWrapper's layers are an Encoder: nothing to assume.
    if (spec["model"] != "xtransformer" && spec["model"] != "vit") CHECK(said_ambiguous(fp, "Decoder or Encoder"));
    exact_args += exact;
    ++fixtures;
    json entry = {{"dir", dir.string()}, {"fp", fp}, {"spec", spec}, {"exact", exact}};
    by_release[release].push_back(entry);
  }
  CHECK(fixtures >= 17 * 12);
  CHECK(exact_args > fixtures / 2);

  int loaded = 0, reproduced = 0;
  for (auto& [release, entries] : by_release) {
    WorkerProcess w(worker_command(Consumer{release, "python", ""}), "release " + release);
    for (auto& e : entries) {
      auto reply = w.request({{"op", "evaluate"},
                              {"spec", e["fp"]["spec"]},
                              {"fixture_dir", e["dir"]},
                              {"checkpoint", "model.pt"},
                              {"args", json::object()},
                              {"tolerance", pins.tolerance_for(e["spec"]["name"], release, "float32").to_json()}},
                             120s);
      INFO(release << " " << e["spec"]["name"] << "\n" << e["fp"]["spec"].dump() << "\n" << reply.error);
      REQUIRE(reply.ok());
      const CellReply cell = CellReply::from_json(reply.body);
      INFO(verdict_name(cell.verdict) << " " << cell.error);
      CHECK(cell.verdict != Verdict::LoadFail);
      CHECK(cell.verdict != Verdict::Error);
      loaded += cell.verdict != Verdict::LoadFail && cell.verdict != Verdict::Error;
      // Where every argument was inferred, the rebuilt model computes what the release's own did.
      if (e["exact"].get<bool>()) CHECK(verdict_passes(cell.verdict));
      reproduced += verdict_passes(cell.verdict);
    }
  }
  WARN("fingerprint over " << fixtures << " fixtures: " << exact_args << " with every argument inferred, " << loaded
                           << " loaded strictly by the inferred spec, " << reproduced << " reproduce the outputs");
}

TEST_CASE("fingerprint: a stamp wins and is checked against the layout; hostile files are refused clearly",
          "[release]") {
  test::TempDir state;
  auto made = test::xcompat(state.path, "fixtures --json --dtype float32 --release 1.31.4 --spec decoder-glu");
  REQUIRE(made.exit_code == 0);
  const fs::path dir = json::parse(made.out)["fixtures"][0]["dir"].get<std::string>();
  // The fixture's safetensors carries the producing release in its xcompat record.
  auto r = test::xcompat(state.path, "fingerprint --json " + (dir / "model.safetensors").string());
  REQUIRE(r.exit_code == 0);
  const json fp = json::parse(r.out);
  CHECK(fp["stamped"] == "1.31.4");
  CHECK(test::in_ranges(fp, "1.31.4"));
  CHECK_FALSE(test::in_ranges(fp, "1.26.6"));  // norms named gamma, no biases: not a 1.26 layout
  // Not a checkpoint, and a truncated one: a clear error, exit 2.
  {
    std::ofstream(state / "junk.pt") << "not a zip";
    auto bad = test::xcompat(state.path, "fingerprint " + (state / "junk.pt").string(), true);
    CHECK(bad.exit_code == 2);
    CHECK(bad.out.find("junk.pt") != std::string::npos);
  }
  {
    const std::string bytes = test::slurp(dir / "model.safetensors");
    std::ofstream(state / "cut.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    auto bad = test::xcompat(state.path, "fingerprint " + (state / "cut.safetensors").string(), true);
    CHECK(bad.exit_code == 2);
    CHECK(bad.out.find("cut.safetensors") != std::string::npos);
  }
}

TEST_CASE("every command on a user's file refuses hostile, broken and foreign files clearly, writing nothing",
          "[release]") {
  test::TempDir state;
  const fs::path data = XCOMPAT_TEST_DATA "/checkpoints";
  for (const char* name : {"hostile_os_system.pt", "hostile_subprocess.pt", "hostile_builtins_eval.pt",
                           "hostile_builtin_exec.pt", "compressed.pt", "legacy.pt", "nested.pt", "state_dict.pt",
                           "state_dict.safetensors"}) {
    const fs::path file = data / name;
    for (const std::string& cmd : std::vector<std::string>{"fingerprint", "stamp --release 1.0.4 --out " + (state / "out.pt").string(),
                                  "check --to 2.31.10 --db " + (state / "c.db").string(),
                                  "convert --from 1.0.4 --to 2.31.10 --out " + (state / "out.pt").string()}) {
      INFO(cmd << " " << name);
      auto r = test::xcompat(state.path, cmd + " " + file.string(), true);
      INFO(r.out);
      CHECK(r.exit_code == 2);
      CHECK(r.out.find(name) != std::string::npos);  // the error names the file
      CHECK_FALSE(fs::exists(state / "out.pt"));
    }
  }
}
