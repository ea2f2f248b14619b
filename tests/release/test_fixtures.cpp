// Fixtures made by real releases: determinism, caching, UNSUPPORTED.
#include <fstream>

#include "catch.hpp"
#include "harness/checkpoint/safetensors.hpp"
#include "harness/core/hash.hpp"
#include "support.hpp"
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

using namespace xcompat;
using json = nlohmann::json;

namespace {
json fixtures_json(const fs::path& state, const std::string& args) {
  auto r = test::xcompat(state, "fixtures --json " + args);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}
const json& row(const json& j, const std::string& release, const std::string& spec) {
  for (auto& r : j["fixtures"])
    if (r["release"] == release && r["spec"] == spec) return r;
  FAIL("no row for " << release << " " << spec);
  throw;
}
}  // namespace

TEST_CASE("releases from three eras build fixtures with full metadata", "[release]") {
  test::TempDir state;
  auto j = fixtures_json(state.path, "--release 0.28.4 --release 1.27.0 --release 2.31.10 --spec decoder-absolute "
                                     "--spec xtransformer-cross --spec decoder-value-residual -j 2");
  for (auto rel : {"0.28.4", "1.27.0", "2.31.10"}) {
    const json& r = row(j, rel, "decoder-absolute");
    REQUIRE(r["state"] == "fixture");
    const fs::path dir = r["dir"].get<std::string>();
    json meta = json::parse(std::ifstream(dir / "meta.json"));
    CHECK(meta["release"] == rel);
    CHECK(meta["versions"]["torch"].get<std::string>().rfind("2.13.0", 0) == 0);
    CHECK(meta["spec"]["name"] == "decoder-absolute");
    CHECK(meta["seed"] == 1);
    CHECK_FALSE(meta["parameters"].empty());
    for (auto& [file, sha] : meta["files"].items()) CHECK(sha256_file(dir / file) == sha.get<std::string>());
    auto state_dict = read_safetensors(dir / "model.safetensors");
    CHECK(state_dict.size() == meta["parameters"].size());
    auto outputs = read_safetensors(dir / "outputs.safetensors");
    CHECK(outputs.at("logits").shape == std::vector<int64_t>{2, 16, 256});
    CHECK(row(j, rel, "xtransformer-cross")["state"] == "fixture");
  }
  // The newer-era feature: old releases say so instead of building a plain model.
  CHECK(row(j, "0.28.4", "decoder-value-residual")["state"] == "UNSUPPORTED");
  CHECK_THAT(row(j, "0.28.4", "decoder-value-residual")["reason"].get<std::string>(),
             Catch::Contains("add_value_residual"));
  CHECK(row(j, "2.31.10", "decoder-value-residual")["state"] == "fixture");
}

TEST_CASE("the same release and spec give byte-identical tensors", "[release]") {
  test::TempDir a, b;
  auto ja = fixtures_json(a.path, "--release 1.31.4 --spec decoder-rotary --spec encoder-padmask");
  auto jb = fixtures_json(b.path, "--release 1.31.4 --spec decoder-rotary --spec encoder-padmask");
  for (auto spec : {"decoder-rotary", "encoder-padmask"}) {
    const fs::path da = row(ja, "1.31.4", spec)["dir"].get<std::string>();
    const fs::path db = row(jb, "1.31.4", spec)["dir"].get<std::string>();
    CHECK(da.filename() == db.filename());  // same content address
    for (auto f : {"model.safetensors", "inputs.safetensors", "outputs.safetensors"})
      CHECK(sha256_file(da / f) == sha256_file(db / f));
  }
}

TEST_CASE("a second fixtures run re-uses the cache and starts no worker", "[release]") {
  test::TempDir state;
  auto first = fixtures_json(state.path, "--release 1.0.4 --spec decoder-tied --spec decoder-glu");
  CHECK(first["workers_started"] == 1);
  // tie_embedding is broken from 0.24.0 to 1.16.7: the release has the
  // feature and fails on it (its cells are ERROR, not UNSUPPORTED).
  CHECK(row(first, "1.0.4", "decoder-tied")["state"] == "BROKEN");
  auto second = fixtures_json(state.path, "--release 1.0.4 --spec decoder-tied --spec decoder-glu");
  CHECK(second["workers_started"] == 0);
  for (auto& r : second["fixtures"]) CHECK(r["cached"] == true);
}

TEST_CASE("an unknown release or spec is a clear error", "[release]") {
  test::TempDir state;
  auto r = test::xcompat(state.path, "fixtures --release 9.9.9", true);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("unknown release '9.9.9'"));
  r = test::xcompat(state.path, "fixtures --spec nope", true);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("unknown spec 'nope'"));
}
