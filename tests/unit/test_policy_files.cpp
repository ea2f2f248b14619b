// The policy files: pins and spec catalogue, as shipped and when broken.
#include <fstream>

#include "catch.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "harness/core/error.hpp"
#include "harness/core/paths.hpp"
#include "support.hpp"

using namespace xcompat;

TEST_CASE("the shipped pins cover 0.28.4 to the newest release, each with a reason", "[unit]") {
  Pins pins = load_pins(project_root() / "matrix" / "pins.toml");
  REQUIRE(pins.releases.size() >= 14);
  CHECK(pins.releases.front().version == "0.28.4");
  for (auto& r : pins.releases) CHECK_FALSE(r.reason.empty());
  CHECK(pins.torch == "2.13.0");
  auto t = pins.tolerance_for("any", "any", "float32");
  CHECK(t.rtol == Approx(1.3e-6));
  CHECK(t.atol == Approx(1e-5));
  CHECK(pins.tolerance_for("any", "any", "bfloat16").rtol == Approx(1.6e-2));
}

TEST_CASE("the shipped catalogue has at least 12 specs with seeds and shapes", "[unit]") {
  auto specs = load_specs(project_root() / "fixtures" / "specs.toml");
  REQUIRE(specs.size() >= 12);
  for (auto& s : specs) {
    CHECK(s.definition.contains("seed"));
    CHECK(s.definition["seq_len"].get<int>() >= 16);
    CHECK_FALSE(s.features().empty());
    CHECK(s.content_hash().size() == 64);
  }
}

TEST_CASE("an override without a reason, or an unknown name, is refused clearly", "[unit]") {
  test::TempDir dir;
  {
    std::ofstream f(dir / "pins.toml");
    f << "torch = \"2.13.0\"\n[[release]]\nversion = \"1.0.0\"\n[[override]]\nspec = \"a\"\nconsumer = \"b\"\nrtol = 1.0\n";
  }
  CHECK_THROWS_WITH(load_pins(dir / "pins.toml"), Catch::Contains("needs a written reason"));
  {
    std::ofstream f(dir / "pins.toml");
    f << "torch = \"2.13.0\"\n[[release]]\nversion = \"1.0.0\"\n";
  }
  Pins pins = load_pins(dir / "pins.toml");
  CHECK_THROWS_WITH(select_releases(pins, {"9.9.9"}), Catch::Contains("unknown release '9.9.9'"));
  {
    std::ofstream f(dir / "broken.toml");
    f << "[[release]\nversion = ";
  }
  CHECK_THROWS_AS(load_pins(dir / "broken.toml"), Error);
}

TEST_CASE("an override applies to its (spec, consumer) only and carries its reason", "[unit]") {
  test::TempDir dir;
  {
    std::ofstream f(dir / "pins.toml");
    f << "torch = \"2.13.0\"\n[tolerance.float32]\nrtol = 1e-6\natol = 1e-5\nnmse = 1e-9\n"
         "[[release]]\nversion = \"1.0.0\"\n"
         "[[override]]\nspec = \"s\"\nconsumer = \"cpp-native\"\nrtol = 1e-4\natol = 1e-4\nnmse = 1e-6\n"
         "reason = \"fused kernels\"\n";
  }
  Pins pins = load_pins(dir / "pins.toml");
  CHECK(pins.tolerance_for("s", "cpp-native", "float32").reason == "fused kernels");
  CHECK(pins.tolerance_for("s", "cpp-native", "float32").rtol == Approx(1e-4));
  CHECK(pins.tolerance_for("s", "1.0.0", "float32").reason.empty());
  CHECK(pins.tolerance_for("t", "cpp-native", "float32").rtol == Approx(1e-6));
}
