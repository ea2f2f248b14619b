// `xcompat inspect` on real fixtures and hostile files, through the binary.
#include <fstream>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "support.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("inspect lists a release-made checkpoint with its version metadata", "[release]") {
  xcompat::test::TempDir state;
  auto made = xcompat::test::xcompat(state.path, "fixtures --json --release 1.42.17 --spec decoder-alibi");
  REQUIRE(made.exit_code == 0);
  const fs::path dir = json::parse(made.out)["fixtures"][0]["dir"].get<std::string>();
  for (auto file : {"model.pt", "model.safetensors"}) {
    auto r = xcompat::test::xcompat(state.path, "inspect --json " + (dir / file).string());
    REQUIRE(r.exit_code == 0);
    auto j = json::parse(r.out);
    json meta = json::parse(std::ifstream(dir / "meta.json"));
    CHECK(j["tensors"].size() == meta["parameters"].size());
    int64_t total = 0;
    for (auto& p : meta["parameters"]) {
      int64_t n = 1;
      for (auto d : p["shape"]) n *= d.get<int64_t>();
      total += n;
    }
    CHECK(j["total_parameters"] == total);
    CHECK(j["metadata"].dump().find("1.42.17") != std::string::npos);
  }
}

TEST_CASE("inspect refuses a hostile pickle without running it", "[release]") {
  xcompat::test::TempDir state;
  auto r = xcompat::test::xcompat(state.path, "inspect " XCOMPAT_TEST_DATA "/checkpoints/hostile_os_system.pt", true);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("refused global 'os.system'"));
}
