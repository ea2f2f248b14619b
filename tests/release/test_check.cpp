// `xcompat check` on unlabeled checkpoints, through the binary: files saved
// by releases that are not pinned (installed on demand) get a fingerprint
// range holding their release and the verdict a sweep of that release gives
// for the same cell, direct and converted; the answers are recorded in the
// database apart from the matrix; what cannot be told says why (exit 2).
#include <fstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/version.hpp"
#include "matrix/store.hpp"
#include "release_support.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace xcompat;

namespace {

// The file alone, as a user has it: no meta.json beside it, no stamp.
fs::path unlabeled(const test::TempDir& state, const fs::path& fixture_dir, const std::string& name) {
  fs::create_directories(state / "user");
  const fs::path out = state / "user" / name;
  fs::copy_file(fixture_dir / "model.pt", out, fs::copy_options::overwrite_existing);
  return out;
}

json check(const test::TempDir& state, const std::string& args, int expect_exit) {
  auto r = test::xcompat(state.path, "check --json --db " + (state / "checks.db").string() + " " + args);
  INFO("check " << args << "\n" << r.out);
  REQUIRE(r.exit_code == expect_exit);
  return json::parse(r.out);
}

}  // namespace

TEST_CASE("check: unlabeled checkpoints of two releases that are not pinned, against a sweep of those releases",
          "[release]") {
  test::TempDir state;
  // Neither is pinned; both lie inside layouts that pinned releases share
  // (1.20.0 with 1.19.1 - 1.26.6; 1.27.1, under torch >= 2.1, with 1.30.23).
  auto inst = test::xcompat(state.path, "install 1.20.0 1.27.1");
  INFO(inst.out);
  REQUIRE(inst.exit_code == 0);
  for (const std::string release : {"1.20.0", "1.27.1"}) {
    for (const std::string spec : {"decoder-glu", "decoder-rotary"}) {
      INFO(release << " " << spec);
      const fs::path file = unlabeled(state, test::made_fixture(state, release, spec), release + "-" + spec + ".pt");
      const json c = check(state, file.string() + " --to 2.31.10", 3);  // every one breaks as it is
      CHECK(test::in_ranges(c["fingerprint"], release));
      CHECK(c["from_source"] == "fingerprint");
      CHECK(c["conditional"] == true);
      CHECK(c["cannot_tell"] == "");
      // The stretch of releases holding the one that saved it was measured by a release of that stretch.
      const json* st = nullptr;
      for (auto& s : c["stretches"])
        if (*Version::parse(s["first"].get<std::string>()) <= *Version::parse(release) &&
            *Version::parse(release) <= *Version::parse(s["last"].get<std::string>()))
          st = &s;
      REQUIRE(st != nullptr);
      INFO((*st).dump(1));
      REQUIRE((*st)["release"].is_object());
      CHECK((*st)["from"] != "2.31.10");  // never B against itself
      // What a sweep of that very release says of the same cell.
      auto sw = test::xcompat(state.path, "sweep --no-progress --dtype float32 --release " + release +
                                              " --consumer 2.31.10 --spec " + spec + " --db " + (state / "sweep.db").string());
      INFO(sw.out);
      REQUIRE((sw.exit_code == 0 || sw.exit_code == 3));
      Store store((state / "sweep.db").string());
      const auto rows = store.latest_for_pair(release, "2.31.10", spec);
      REQUIRE(rows.size() == 1);
      const CellResult& swept = rows.front().cell;
      CHECK((*st)["release"]["verdict"] == verdict_name(swept.verdict));
      REQUIRE(swept.direct_verdict.has_value());
      CHECK((*st)["release"]["direct_verdict"] == verdict_name(*swept.direct_verdict));
      // 1.27.1 converts (its layout differs by names only); 1.20.0 loses its norm biases.
      CHECK(((*st)["release"]["verdict"] == "CONVERTED") == (release == "1.27.1"));
      if (release == "1.27.1") CHECK((*st)["convert_command"].get<std::string>().find("--to 2.31.10") != std::string::npos);
      // The port reads the file as its release's checkpoint.
      CHECK((*st)["native"]["verdict"] == "IDENTICAL");
      // Recorded apart from the matrix, by the file's content.
      Store checks((state / "checks.db").string());
      const auto recorded = checks.checks_of(sha256_file(file));
      REQUIRE(recorded.size() >= 2);
      CHECK(recorded[recorded.size() - 2].path == "release");
      CHECK(recorded.back().path == "cpp-native");
      CHECK(checks.matrix_as_of().empty());
    }
  }
}

TEST_CASE("check: safe as it is, a stamp wins, and what it cannot tell it says (exit 2)", "[release]") {
  test::TempDir state;
  const fs::path newest = unlabeled(state, test::made_fixture(state, "2.16.1", "decoder-absolute"), "newest.pt");
  const json safe = check(state, newest.string() + " --from 2.16.1 --to 2.31.10", 0);
  CHECK(safe["release"]["verdict"] == "IDENTICAL");
  CHECK(safe["from"] == "2.16.1");

  const fs::path old = unlabeled(state, test::made_fixture(state, "1.26.6", "decoder-absolute"), "old.pt");
  // The stamp names the release; the break of 1.27.0 (biases removed) shows as it is.
  REQUIRE(test::xcompat(state.path, "stamp " + old.string() + " --release 1.26.6 --sidecar").exit_code == 0);
  const json broken = check(state, old.string() + " --to 1.27.0 --no-native", 3);
  CHECK(broken["from_source"] == "stamp");
  CHECK(broken["release"]["direct_verdict"] == "LOAD_FAIL");
  CHECK(broken["release"]["causes"].dump().find("logits-without-bias") != std::string::npos);

  // --from that the tensors contradict; a spec that does not fit; a release not installed.
  CHECK(check(state, old.string() + " --to 2.31.10 --from 2.31.10", 2)["cannot_tell"].get<std::string>().find(
            "not as 2.31.10") != std::string::npos);
  std::ofstream(state / "wide.json") << R"({"model": "decoder", "wrapper": {"num_tokens": 256, "max_seq_len": 32},
                                           "layers": {"dim": 64, "depth": 2, "heads": 8}})";
  CHECK(check(state, old.string() + " --to 2.31.10 --spec-args " + (state / "wide.json").string(), 2)["cannot_tell"]
            .get<std::string>()
            .find("does not fit") != std::string::npos);
  CHECK(check(state, old.string() + " --to 1.26.5", 2)["cannot_tell"].get<std::string>().find("xcompat install 1.26.5") !=
        std::string::npos);
  // A hostile or broken file: a clear error, never a crash.
  std::ofstream(state / "junk.pt") << "PK not really a zip";
  auto junk = test::xcompat(state.path, "check " + (state / "junk.pt").string() + " --to 2.31.10", true);
  CHECK(junk.exit_code == 2);
  CHECK(junk.out.find("junk.pt") != std::string::npos);
}

TEST_CASE("check: without --from or a stamp, never a false safe: the answer per stretch of the layout's releases",
          "[release]") {
  test::TempDir state;
  // Saved by 1.31.1, whose norms compute otherwise than 2.31.10's (norm-unit-offset, 1.31.3): its layout is that
  // of 1.31.0 - 2.31.10, so taking the newest pin with the layout as the saver would compare 2.31.10 with itself.
  const fs::path file = unlabeled(state, test::made_fixture(state, "1.31.1", "decoder-absolute"), "old-gamma.pt");
  const json c = check(state, file.string() + " --to 2.31.10 --no-native", 3);
  CHECK(c["conditional"] == true);
  REQUIRE(c["stretches"].size() > 1);
  bool broke_1_31_1 = false, b_said = false;
  for (auto& s : c["stretches"]) {
    INFO(s.dump(1));
    CHECK(s["from"] != "2.31.10");  // no release is compared with itself
    const auto first = *Version::parse(s["first"].get<std::string>()), last = *Version::parse(s["last"].get<std::string>());
    if (first <= *Version::parse("1.31.1") && *Version::parse("1.31.1") <= last) {
      broke_1_31_1 = s["exit_code"] == 3;
      REQUIRE(s["release"].is_object());
      CHECK(s["release"]["direct_verdict"] == "DRIFT");
    }
    if (first <= *Version::parse("2.31.10") && *Version::parse("2.31.10") <= last) b_said = s["exit_code"] == 0;
  }
  CHECK(broke_1_31_1);
  CHECK(b_said);  // saved where 2.31.10 computes alike: safe there
  // Narrowed with --from, the same file gets the one answer.
  const json narrowed = check(state, file.string() + " --from 1.31.1 --to 2.31.10 --no-native", 3);
  CHECK(narrowed["stretches"].size() == 1);
  CHECK(narrowed["release"]["direct_verdict"] == "DRIFT");
  // Two files of one architecture (the same tensors, other bytes: a stamped copy) never share a reference.
  const fs::path copy = state / "user" / "stamped-copy.pt";
  REQUIRE(test::xcompat(state.path, "stamp " + file.string() + " --release 1.31.1 --out " + copy.string()).exit_code == 0);
  const json o = check(state, copy.string() + " --to 2.31.10 --no-native", 3);
  CHECK(o["from_source"] == "stamp");
  CHECK(o["release"]["direct_verdict"] == "DRIFT");
  CHECK(o["reference_dir"] != narrowed["reference_dir"]);
}
