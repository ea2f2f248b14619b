// Version stamps (docs/STAMP.md): the lines a user adds to their own save
// call, run as written with a real release installed, are read by xcompat
// and leave the file loadable by torch.load(weights_only=True); `xcompat
// stamp` writes a copy or a sidecar that every command reads, and refuses a
// stamp the tensors contradict without writing anything.
#include <fstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/hash.hpp"
#include "harness/core/paths.hpp"
#include "release_support.hpp"

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace xcompat;

namespace {

// The snippet's code blocks from docs/STAMP.md, in order.
std::vector<std::string> doc_snippets() {
  std::ifstream in(project_root() / "docs" / "STAMP.md");
  std::vector<std::string> blocks;
  std::string line, block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "```python") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      blocks.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  return blocks;
}

}  // namespace

TEST_CASE("stamp: the documented save lines, run with a real release, are read by xcompat", "[release]") {
  test::TempDir state;
  const fs::path dir = test::made_fixture(state, "1.31.4", "decoder-glu");
  const auto snippets = doc_snippets();
  REQUIRE(snippets.size() == 2);
  const fs::path work = state / "user";
  fs::create_directories(work);
  // The user's model: 1.31.4's own build of the spec, with the fixture's weights.
  const std::string prelude =
      "import torch\n"
      "class Holder(torch.nn.Module):\n"
      "    def __init__(self, sd):\n"
      "        super().__init__()\n"
      "        for k, v in sd.items(): self.register_buffer(k.replace('.', '__'), v)\n"
      "    def state_dict(self): return {k.replace('__', '.'): v for k, v in self._buffers.items()}\n"
      "model = Holder(torch.load(" + json((dir / "model.pt").string()).dump() + ", weights_only=True))\n";
  for (auto& snippet : snippets) std::ofstream(work / ("save" + std::to_string(&snippet - &snippets[0]) + ".py")) << prelude + snippet;
  const std::string py = "cd '" + work.string() + "' && PYTHONPATH='" + release_sandbox("1.31.4").string() + "' '" +
                         (default_venv() / "bin" / "python").string() + "' ";
  for (const char* script : {"save0.py", "save1.py"}) {
    auto r = test::run_command(py + script + " 2>&1");
    INFO(script << "\n" << r.out);
    REQUIRE(r.exit_code == 0);
  }
  for (const char* file : {"model.safetensors", "model.pt"}) {
    INFO(file);
    auto fp = test::xcompat(state.path, "fingerprint --json " + (work / file).string());
    INFO(fp.out);
    REQUIRE(fp.exit_code == 0);
    CHECK(json::parse(fp.out)["stamped"] == "1.31.4");
    // convert needs no --from: the stamp says it (and the torch, for the 1.27 - 1.30 layouts).
    auto cv = test::xcompat(state.path, "convert --json --dry-run " + (work / file).string() + " --to 2.31.10");
    INFO(cv.out);
    REQUIRE(cv.exit_code == 0);
    CHECK(json::parse(cv.out)["from_source"] == "stamp");
  }
  // torch.load still reads the .pt with the extra zip entry, weights only.
  auto keys = test::run_command(py + "-c \"import torch; sd = torch.load('model.pt', weights_only=True); "
                                     "print(len(sd), sorted(sd)[0])\"");
  INFO(keys.out);
  CHECK(keys.exit_code == 0);
  CHECK(keys.out.find("attn_layers.") != std::string::npos);
}

TEST_CASE("stamp: a copy or a sidecar, read by every command; a contradicting stamp writes nothing", "[release]") {
  test::TempDir state;
  const fs::path dir = test::made_fixture(state, "1.19.1", "decoder-rmsnorm");
  const fs::path bare = state / "bare.pt";  // no meta.json beside it: nothing says who saved it
  fs::copy_file(dir / "model.pt", bare);
  auto unknown = test::xcompat(state.path, "convert --dry-run " + bare.string() + " --to 2.31.10", true);
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.out.find("pass --from") != std::string::npos);

  for (const char* name : {"stamped.pt", "stamped.safetensors"}) {
    INFO(name);
    auto r = test::xcompat(state.path, "stamp " + bare.string() + " --release 1.19.1 --torch 2.13.0 --spec decoder-rmsnorm --out " +
                                           (state / name).string());
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    auto shown = test::xcompat(state.path, "inspect --json " + (state / name).string());
    REQUIRE(shown.exit_code == 0);
    auto cv = test::xcompat(state.path, "convert --json --dry-run " + (state / name).string() + " --to 2.31.10");
    INFO(cv.out);
    REQUIRE(cv.exit_code == 0);
    CHECK(json::parse(cv.out)["from"] == "1.19.1");
    CHECK(json::parse(cv.out)["from_source"] == "stamp");
  }
  // The tensors of the copy are the original's, bit for bit.
  auto same = test::run_command("'" + (default_venv() / "bin" / "python").string() +
                                "' -c \"import torch,sys; from safetensors.torch import load_file; "
                                "a=torch.load(sys.argv[1], weights_only=True); b=load_file(sys.argv[2]); "
                                "print(sorted(a)==sorted(b) and all(torch.equal(a[k], b[k]) for k in a))\" '" +
                                bare.string() + "' '" + (state / "stamped.safetensors").string() + "'");
  INFO(same.out);
  CHECK(same.out.rfind("True", 0) == 0);

  // A sidecar leaves the file byte-identical and is read like a stamp inside it.
  const std::string before = sha256_file(bare);
  auto side = test::xcompat(state.path, "stamp " + bare.string() + " --release 1.19.1 --sidecar");
  REQUIRE(side.exit_code == 0);
  CHECK(sha256_file(bare) == before);
  CHECK(fs::exists(state / "bare.pt.xcompat.json"));
  auto fp = test::xcompat(state.path, "fingerprint --json " + bare.string());
  REQUIRE(fp.exit_code == 0);
  CHECK(json::parse(fp.out)["stamped"] == "1.19.1");
  CHECK(test::xcompat(state.path, "convert --dry-run " + bare.string() + " --to 2.31.10").exit_code == 0);

  // Contradictions: a release whose layout the tensors do not have, a spec
  // that does not fit, an unpublished release, the input as the output.
  const fs::path refused = state / "refused.pt";
  for (const std::string args : {"--release 2.31.10", "--release 1.19.1 --spec decoder-wide", "--release 9.9.9",
                                 "--release 1.0.4"}) {
    INFO(args);
    auto r = test::xcompat(state.path, "stamp " + bare.string() + " " + args + " --out " + refused.string(), true);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("xcompat: ") != std::string::npos);
    CHECK_FALSE(fs::exists(refused));
  }
  auto self = test::xcompat(state.path, "stamp " + bare.string() + " --release 1.19.1 --out " + bare.string(), true);
  CHECK(self.exit_code == 2);
  CHECK(sha256_file(bare) == before);
  // --force stamps what the layout does not say (a user who knows better).
  CHECK(test::xcompat(state.path, "stamp " + bare.string() + " --release 2.31.10 --force --out " + refused.string()).exit_code == 0);
}
