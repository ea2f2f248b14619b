// The policy files: pins and spec catalogue, as shipped and when broken.
#include <set>
#include <fstream>

#include "catch.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "harness/core/error.hpp"
#include "harness/core/names.hpp"
#include "harness/core/paths.hpp"
#include "support.hpp"

using namespace xcompat;
namespace fs = std::filesystem;

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
  std::set<std::string> kinds;
  for (auto& s : specs) {
    kinds.insert(s.definition["model"].get<std::string>());
    CHECK(s.definition.contains("seed"));
    if (s.definition["model"] == "vit") {  // images: at least 16 patches
      const auto& w = s.definition["wrapper"];
      const int side = w["image_size"].get<int>() / w["patch_size"].get<int>();
      CHECK(side * side >= 16);
    } else {
      CHECK(s.definition["seq_len"].get<int>() >= 16);
    }
    CHECK_FALSE(s.features().empty());
    CHECK(s.content_hash().size() == 64);
  }
  // Every model kind users save (issue 23) has a spec.
  CHECK(kinds == std::set<std::string>{"decoder", "encoder", "xtransformer", "continuous", "vit", "layers"});
}

TEST_CASE("an override without a reason, or an unknown name, is refused clearly", "[unit]") {
  test::TempDir dir;
  {
    std::ofstream f(dir / "pins.toml");
    f << "torch = \"2.13.0\"\n[[release]]\nversion = \"1.0.0\"\n[[override]]\nspec = \"a\"\nconsumer = \"cpp-native\"\nrtol = 1.0\n";
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

TEST_CASE("an override for every spec of a consumer, narrowed to a dtype, yields to a spec's own", "[unit]") {
  test::TempDir dir;
  {
    std::ofstream f(dir / "pins.toml");
    f << "torch = \"2.13.0\"\n[tolerance.float32]\nrtol = 1e-6\natol = 1e-5\nnmse = 1e-9\n"
         "[tolerance.bfloat16]\nrtol = 1.6e-2\natol = 1e-5\nnmse = 1e-4\n[[release]]\nversion = \"1.0.0\"\n"
         "[[override]]\nspec = \"*\"\nconsumer = \"cpp-export\"\ndtype = \"float32\"\nrtol = 1e-4\natol = 1e-4\n"
         "nmse = 1e-9\nreason = \"compiled kernels\"\n"
         "[[override]]\nspec = \"s\"\nconsumer = \"cpp-export\"\nrtol = 1e-3\natol = 1e-3\nnmse = 1e-9\n"
         "reason = \"this one spec\"\n";
  }
  Pins pins = load_pins(dir / "pins.toml");
  CHECK(pins.tolerance_for("t", "cpp-export", "float32").reason == "compiled kernels");
  CHECK(pins.tolerance_for("t", "cpp-export", "bfloat16").rtol == Approx(1.6e-2));  // the dtype's own: not narrowed to
  CHECK(pins.tolerance_for("s", "cpp-export", "float32").reason == "this one spec");
  CHECK(pins.tolerance_for("t", "cpp-torchscript", "float32").reason.empty());
  // The shipped pins: AOTInductor's float32 cells carry their reason.
  const Pins shipped = load_pins(project_root() / "matrix" / "pins.toml");
  CHECK(shipped.tolerance_for("decoder-rotary", "cpp-export", "float32").reason.find("AOTInductor") == 0);
  CHECK(shipped.tolerance_for("decoder-rotary", "cpp-native", "float32").reason.empty());
}

namespace {
// A one-spec catalogue with `line` added to the spec's table (or replacing its name).
std::string spec_file(const std::string& name, const std::string& extra, const std::string& layers = "dim = 32, depth = 2, heads = 4") {
  return "[[spec]]\nname = \"" + name + "\"\nmodel = \"decoder\"\nseed = 1\nbatch = 2\nseq_len = 16\n" + extra +
         "wrapper = { num_tokens = 256, max_seq_len = 32 }\nlayers = { " + layers + " }\n";
}
}  // namespace

TEST_CASE("a spec file is refused before any worker starts: hostile names, unknown or mistyped fields, huge models",
          "[unit]") {
  test::TempDir dir;
  const fs::path f = dir / "specs.toml";
  auto refused = [&](const std::string& text, const std::string& says) {
    std::ofstream(f) << text;
    INFO(text);
    CHECK_THROWS_WITH(load_specs(f), Catch::Contains(f.string()) && Catch::Contains(says));
  };
  // Names reach fixture directories, database rows and report pages.
  refused(spec_file("../../../../tmp/evil-escape", ""), "spec name '../../../../tmp/evil-escape' is not one");
  refused(spec_file("a/b", ""), "is not one");
  refused(spec_file("..", ""), "is not one");
  refused(spec_file("-flag", ""), "is not one");
  refused(spec_file(std::string(65, 'a'), ""), "is not one");
  refused(spec_file("ok\\u0000x", ""), "is not one");
  // Fields: unknown, mistyped, out of range.
  refused(spec_file("s", "sed = 3\n"), "unknown field 'sed'");
  refused(spec_file("s", "mask = \"causal\"\n"), "mask must be");
  refused(spec_file("s", "dtypes = [\"float16\"]\n"), "float32 or bfloat16");
  refused(spec_file("s", "", "dim = 32, depth = 100000, heads = 4"), "'depth' = 100000 is outside 0 .. 256");
  refused(spec_file("s", "", "dim = 65536, depth = 256, heads = 4"), "parameters");
  refused(spec_file("s", "", "dim = 32, depth = 2, heads = -1"), "'heads' = -1 is outside");
  refused(spec_file("s", "", "dim = 32, depth = 2, heads = 4, dropout = nan"), "not a finite number");
  refused("[[spec]]\nname = \"s\"\nmodel = \"decoder\"\nseed = 1\nbatch = 2\nseq_len = 1000000000\n"
          "wrapper = {num_tokens = 8, max_seq_len = 8}\nlayers = {dim = 8, depth = 1}\n",
          "'seq_len' = 1000000000 is outside 1 .. 65536");
  // Extra forward inputs: shapes after the batch, bounded; a mask needs its context.
  refused(spec_file("s", "inputs = { context = [7] }\n"), "context is a list of 2 positive integers");
  refused(spec_file("s", "inputs = { condition = [0] }\n"), "each size is 1 ..");
  refused(spec_file("s", "inputs = { context_mask = true }\n"), "true needs a context");
  refused(spec_file("s", "inputs = { labels = [3] }\n"), "unknown field 'labels'");
  refused(spec_file("s", "inputs = { context = [65536, 65536] }\n"), "too large");
  // The other model kinds (issue 23): the layers class said once, a ViT's
  // images instead of a sequence, bare layers without a wrapper table.
  const std::string head = "[[spec]]\nname = \"s\"\nseed = 1\nbatch = 2\n";
  const std::string layers = "layers = { dim = 32, depth = 2, heads = 4 }\n";
  refused(head + "model = \"continuous\"\nseq_len = 16\nwrapper = { dim_in = 8, max_seq_len = 32 }\n" + layers,
          "names its layers_class");
  refused(head + "model = \"continuous\"\nlayers_class = \"crossattender\"\nseq_len = 16\nwrapper = { max_seq_len = 32 }\n" + layers,
          "layers_class must be");
  refused(spec_file("s", "layers_class = \"decoder\"\n"), "layers_class is for continuous, vit and layers specs");
  refused(head + "model = \"layers\"\nlayers_class = \"decoder\"\nseq_len = 16\nwrapper = { max_seq_len = 32 }\n" + layers,
          "bare attention layers take no wrapper arguments");
  refused(head + "model = \"layers\"\nlayers_class = \"decoder\"\nseq_len = 16\n", "missing constructor arguments");
  refused(head + "model = \"vit\"\nseq_len = 16\nwrapper = { image_size = 16, patch_size = 4 }\n" + layers, "has no seq_len");
  refused(head + "model = \"vit\"\nlayers_class = \"decoder\"\nwrapper = { image_size = 16, patch_size = 4 }\n" + layers,
          "layers_class is \"encoder\"");
  refused(head + "model = \"vit\"\nwrapper = { image_size = 18, patch_size = 4 }\n" + layers, "not a multiple of patch_size");
  refused(head + "model = \"vit\"\nmask = \"padding\"\nwrapper = { image_size = 16, patch_size = 4 }\n" + layers, "takes no mask");
  refused(head + "model = \"vit\"\nwrapper = { patch_size = 4 }\n" + layers, "image_size");
  refused(head + "model = \"vit\"\ninputs = { condition = [8] }\nwrapper = { image_size = 16, patch_size = 4 }\n" + layers,
          "takes the images only");
  refused(spec_file("s", "") + spec_file("s", ""), "defined twice");
  refused("format = 1\n", "no [[spec]] entries");
  refused("specs = 1\n", "unknown field 'specs'");
  // The shipped catalogue and the tests' own pass.
  for (const char* shipped : {"fixtures/specs.toml", "scripts/bench_specs.toml", "tests/data/verdict_specs.toml",
                              "tests/data/native_extra_specs.toml"})
    CHECK_NOTHROW(load_specs(project_root() / shipped));
}

TEST_CASE("a pins file is refused clearly: release names, extras for pip, tolerances, unknown fields", "[unit]") {
  test::TempDir dir;
  const fs::path f = dir / "pins.toml";
  auto refused = [&](const std::string& text, const std::string& says) {
    std::ofstream(f) << "torch = \"2.13.0\"\n" << text;
    INFO(text);
    CHECK_THROWS_WITH(load_pins(f), Catch::Contains(f.string()) && Catch::Contains(says));
  };
  refused("[[release]]\nversion = \"../../etc\"\n", "release '../../etc' is not one");
  refused("[[release]]\nversion = \"1.0.0\"\nextras = [\"einx; rm -rf /\"]\n", "is not \"package==version\"");
  refused("[[release]]\nversion = \"1.0.0\"\nextra = []\n", "unknown field 'extra'");
  refused("[[release]]\nversion = \"1.0.0\"\n[[release]]\nversion = \"1.0.0\"\n", "pinned twice");
  refused("[[release]]\nversion = \"1.0.0\"\n[tolerance.float32]\nrtol = -1\n", "finite number >= 0");
  refused("[[release]]\nversion = \"1.0.0\"\n[tolerance.float64]\nrtol = 1\n", "per dtype");
  refused("[[release]]\nversion = \"1.0.0\"\n[[override]]\nspec = \"../x\"\nconsumer = \"cpp-native\"\nreason = \"r\"\n",
          "spec name '../x' is not one");
  refused("[[release]]\nversion = \"1.0.0\"\n[[era_extras]]\nfrom = \"1.0\"\n", "release '1.0' is not one");
  refused("[[release]]\nversion = \"1.0.0\"\nreleases = 1\n", "unknown field 'releases'");
  // scripts/fuzz (fuzz_policy), 2026-11-30: a table where a string belongs escaped as json's type_error.
  refused("[[release]]\nversion = \"1.0.0\"\n[[era_extras]]\nfrom = \"1.0.0\"\nuntil = { x = 1 }\n",
          "a field of the wrong type");
  refused("[[release]]\nversion = \"1.0.0\"\nreason = [1]\n", "a field of the wrong type");
  refused("[[release]]\nversion = \"1.0.0\"\n[deploy.cpp-onnx]\nspecs = []\n", "the deployment consumers are");
  refused("[[release]]\nversion = \"1.0.0\"\n[deploy.cpp-export]\ndtypes = [\"float64\"]\n", "is not float32 or bfloat16");
  refused("[[release]]\nversion = \"1.0.0\"\n[deploy.cpp-export]\nspecs = [\"../x\"]\n", "spec name '../x' is not one");
  CHECK_NOTHROW(load_pins(project_root() / "matrix" / "pins.toml"));
}

TEST_CASE("a name becomes a path only as one plain component under its root", "[unit]") {
  CHECK(child_path("/state/fixtures", "1.31.4") == fs::path("/state/fixtures/1.31.4"));
  for (const char* bad : {"..", ".", "", "a/b", "../x", "/etc"})
    CHECK_THROWS_WITH(child_path("/state/fixtures", bad), Catch::Contains("not one plain file name"));
  CHECK_THROWS_WITH(release_sandbox("../../bin"), Catch::Contains("is not one"));
  CHECK(is_spec_name("decoder-absolute"));
  CHECK_FALSE(is_spec_name("../decoder"));
}
