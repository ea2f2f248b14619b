// `xcompat convert` through the binary, on checkpoints real releases made:
// the converted file loads strictly in B (through B's own worker, with the
// arguments the conversion names) and reproduces A's outputs; torch.load
// with weights_only reads the .pt it writes; what is lost is said, and
// --strict refuses it; bad input gets a clear error and no file.
#include <fstream>
#include <set>

#include "catch.hpp"
#include "harness/core/consumers.hpp"
#include "harness/core/paths.hpp"
#include "harness/core/pins.hpp"
#include "harness/worker/cell_reply.hpp"
#include "harness/worker/launch.hpp"
#include "harness/worker/worker_process.hpp"
#include "release_support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// B's worker loads `checkpoint` strictly into its build of the spec (plus
// `args`) and compares the forward pass on A's inputs with A's outputs.
CellReply evaluate_in(const std::string& release, const fs::path& fixture_dir, const fs::path& checkpoint,
                      const json& args) {
  const json meta = json::parse(std::ifstream(fixture_dir / "meta.json"));
  const Pins pins = load_pins(default_pins_path());
  WorkerProcess w(worker_command(Consumer{release, "python", ""}), "release " + release);
  auto reply = w.request({{"op", "evaluate"},
                          {"spec", meta["spec"]},
                          {"fixture_dir", fixture_dir.string()},
                          {"checkpoint", checkpoint.string()},
                          {"args", args},
                          {"tolerance", pins.tolerance_for(meta["spec"]["name"], release, "float32").to_json()}},
                         120s);
  INFO(reply.error);
  REQUIRE(reply.ok());
  return CellReply::from_json(reply.body);
}

}  // namespace

TEST_CASE("a 1.19.1 checkpoint converted to 2.31.10 loads strictly there and computes what 1.19.1 did", "[release]") {
  test::TempDir state;
  // RMSNorm (no biases), a logits bias, ff.3, norms without a unit offset.
  const fs::path dir = test::made_fixture(state, "1.19.1", "decoder-rmsnorm");
  for (const char* format : {"pt", "safetensors"}) {
    INFO(format);
    const fs::path out = state / (std::string("converted.") + format);
    auto r = test::xcompat(state.path, "convert --json " + (dir / "model.pt").string() + " --to 2.31.10 --out " + out.string());
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out);
    CHECK(j["from"] == "1.19.1");
    CHECK(j["from_source"] == "meta.json");
    CHECK(j["outcome"] == "lossless with arguments");  // the logits bias needs a to_logits module with a bias
    CHECK(j["args"]["wrapper"]["to_logits"]["bias"] == true);
    CHECK(j["written"] == true);
    const CellReply v = evaluate_in("2.31.10", dir, out, j["args"]);
    INFO(v.error);
    CHECK(verdict_passes(v.verdict));
    // Without the argument, 2.31.10 has no place for the bias: the strict load says so.
    CHECK(evaluate_in("2.31.10", dir, out, json::object()).verdict == Verdict::LoadFail);
    // Provenance rides in the file: inspect shows it, and the converted file
    // names its release, so converting it again needs no --from.
    auto shown = test::xcompat(state.path, "inspect --json " + out.string());
    REQUIRE(shown.exit_code == 0);
    const json record = json::parse(json::parse(shown.out)["metadata"]["xcompat"].get<std::string>());
    CHECK(record["converted_from"] == "1.19.1");
    CHECK(record["x_transformers"] == "2.31.10");
    CHECK(record["source_sha256"].get<std::string>().size() == 64);
    CHECK(record["spec"]["wrapper"]["to_logits"]["bias"] == true);  // the model the file is meant for
    auto again = test::xcompat(state.path, "convert --json " + out.string() + " --to 2.31.10 --dry-run");
    REQUIRE(again.exit_code == 0);
    CHECK(json::parse(again.out)["outcome"] == "unchanged");
  }
  // torch.load(weights_only=True) reads the .pt: the names 2.31.10 saves, nothing else.
  const fs::path made_by_b = test::made_fixture(state, "2.31.10", "decoder-rmsnorm");
  const std::string py = (default_venv() / "bin" / "python").string();
  auto keys = test::run_command("'" + py + "' -c \"import torch,sys; "
                                "a=torch.load(sys.argv[1], weights_only=True); b=torch.load(sys.argv[2], weights_only=True); "
                                "print('to_logits.bias' in a and set(a) ^ set(b) == {'to_logits.bias'}, sorted(set(a) ^ set(b)))\" '" +
                                (state / "converted.pt").string() + "' '" + (made_by_b / "model.pt").string() + "'");
  INFO(keys.out);
  CHECK(keys.exit_code == 0);
  CHECK(keys.out.rfind("True", 0) == 0);
}

TEST_CASE("x-transformers#221: a trained 0.28.4 LayerNorm checkpoint loses its attention norms' biases in 2.31.10, "
          "each named; the feed-forward's and the final norm's are folded",
          "[release]") {
  test::TempDir state;
  const fs::path dir = test::made_fixture(state, "0.28.4", "decoder-absolute");
  auto r = test::xcompat(state.path, "convert --json " + (dir / "model.pt").string() + " --to 2.31.10 --out " +
                                         (state / "new.pt").string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["outcome"] == "lossy");
  std::set<std::string> lost;
  for (auto& t : j["lossy_tensors"]) {
    lost.insert(t["tensor"].get<std::string>());
    CHECK(t["max_abs"].get<double>() > 0);
  }
  // The attention layers' norm biases (layers 0 and 2): queries have no bias to take them.
  CHECK(lost == std::set<std::string>{"attn_layers.layers.0.0.0.bias", "attn_layers.layers.2.0.0.bias"});
  // The feed-forwards' (1 and 3) pass through their first linear layer, the final norm's through to_logits.
  const std::vector<std::string> folded = j["folded"];
  CHECK(folded == std::vector<std::string>{
                      "attn_layers.layers.1.0.0.bias -> attn_layers.layers.1.1.ff.0.0.bias (layernorm-torch-biasless)",
                      "attn_layers.layers.3.0.0.bias -> attn_layers.layers.3.1.ff.0.0.bias (layernorm-torch-biasless)",
                      "norm.bias -> to_logits.bias (layernorm-torch-biasless)"});
  CHECK(j["args"]["wrapper"]["to_logits"]["bias"] == true);
}

TEST_CASE("an adapter carries what 2.31.10's classes cannot hold: adapter.py in a plain 2.31.10 environment, and "
          "xcompat.load_state_dict, reproduce a trained 0.28.4 checkpoint",
          "[release]") {
  test::TempDir state;
  const fs::path dir = test::made_fixture(state, "0.28.4", "decoder-absolute");
  const fs::path out = state / "new.pt", adapter = state / "adapter.py";
  auto r = test::xcompat(state.path, "convert --json " + (dir / "model.pt").string() + " --to 2.31.10 --out " +
                                         out.string() + " --adapter " + adapter.string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["outcome"] == "lossless with an adapter");
  CHECK(j["lossy_tensors"].empty());
  std::set<std::string> modules;
  for (auto& a : j["adapters"]) modules.insert(a["module"].get<std::string>());
  // The attention layers' norms: the biases no fold reaches.
  CHECK(modules == std::set<std::string>{"attn_layers.layers.0.0.0", "attn_layers.layers.2.0.0"});
  REQUIRE(fs::exists(adapter));

  // 2.31.10 as a user has it (its sandbox over the venv's torch), without
  // xcompat: the model built as the conversion says, adapted, loaded
  // strictly, run on 0.28.4's inputs. Then the same through xcompat's own
  // load_state_dict, and once without the adapter, which must not match.
  const char* venv_env = std::getenv("XCOMPAT_VENV");
  const fs::path python = fs::path(venv_env ? venv_env : (project_root() / ".venv").string()) / "bin" / "python";
  const fs::path script = state / "reproduce.py";
  std::ofstream(script) << R"(import importlib.util, json, sys
import torch
from safetensors.torch import load_file
state, fixture, sandbox, package = sys.argv[1:5]
sys.path[:0] = [state, sandbox]
assert importlib.util.find_spec("xcompat") is None, "xcompat is importable in the plain environment"
from x_transformers import TransformerWrapper, Decoder
import adapter

def model():
    return TransformerWrapper(num_tokens=256, max_seq_len=32, attn_layers=Decoder(dim=32, depth=2, heads=4),
                              to_logits=torch.nn.Linear(32, 256, bias=True))

inputs = load_file(fixture + "/inputs.safetensors")
want = load_file(fixture + "/outputs.safetensors")["logits"]
def diff(m):
    m.eval()
    with torch.no_grad():
        return (m(inputs["x"]) - want).abs().max().item()

converted = torch.load(state + "/new.pt", weights_only=True)
adapted = adapter.adapt(model())
adapted.load_state_dict(converted, strict=True)
plain = model()
plain.load_state_dict({k: v for k, v in converted.items() if not k.endswith("xcompat_output_bias")}, strict=True)
sys.path.insert(0, package)
import xcompat
through = model()
report = xcompat.load_state_dict(through, fixture + "/model.pt", from_="0.28.4", to="2.31.10")
print("RESULT " + json.dumps({"adapted": diff(adapted), "plain": diff(plain), "xcompat": diff(through), "outcome": report.outcome}))
)";
  const fs::path package = fs::path(XCOMPAT_BIN).parent_path() / "python";
  auto run = test::run_command("'" + python.string() + "' '" + script.string() + "' '" + state.path.string() + "' '" +
                               dir.string() + "' '" + release_sandbox("2.31.10").string() + "' '" + package.string() +
                               "' 2>&1");
  INFO(run.out);
  REQUIRE(run.exit_code == 0);
  const auto at = run.out.find("RESULT ");
  REQUIRE(at != std::string::npos);
  const json m = json::parse(run.out.substr(at + 7));
  CHECK(m["adapted"].get<double>() < 1e-4);
  CHECK(m["xcompat"].get<double>() < 1e-4);
  CHECK(m["outcome"] == "lossless with an adapter");
  CHECK(m["plain"].get<double>() > 1e-2);  // the adapter is what carries it

  // --strict refuses anything but a pure conversion: not with an adapter.
  auto strict = test::xcompat(state.path, "convert " + (dir / "model.pt").string() + " --to 2.31.10 --strict --out " +
                                              (state / "s.pt").string() + " --adapter " + (state / "s.py").string(),
                              true);
  CHECK(strict.exit_code == 2);
  CHECK_THAT(strict.out, Catch::Contains("--strict refuses anything but a pure conversion"));
  CHECK_FALSE(fs::exists(state / "s.pt"));
}

TEST_CASE("what a conversion loses is said, and --strict refuses it without writing", "[release]") {
  test::TempDir state;
  // 1.26.6 -> 1.31.4: no to_logits module to hold the logits bias, and no
  // LayerNorm bias either (trained-like fixtures hold non-zero ones).
  const fs::path dir = test::made_fixture(state, "1.26.6", "decoder-absolute");
  const fs::path out = state / "lossy.pt";
  auto lossy = test::xcompat(state.path, "convert " + (dir / "model.pt").string() + " --to 1.31.4 --out " + out.string());
  INFO(lossy.out);
  REQUIRE(lossy.exit_code == 0);
  CHECK_THAT(lossy.out, Catch::Contains("outcome: lossy"));
  CHECK_THAT(lossy.out, Catch::Contains("lost: to_logits.bias (largest |x|"));
  CHECK_THAT(lossy.out, Catch::Contains("lost: attn_layers.final_norm.bias"));
  CHECK(fs::exists(out));
  // The loss is real: 1.31.4 loads the file and computes something else.
  CHECK(evaluate_in("1.31.4", dir, out, json::object()).verdict == Verdict::Drift);

  const fs::path strict_out = state / "strict.pt";
  auto strict = test::xcompat(state.path,
                              "convert " + (dir / "model.pt").string() + " --to 1.31.4 --strict --out " + strict_out.string(),
                              true);
  CHECK(strict.exit_code == 2);
  CHECK_THAT(strict.out, Catch::Contains("(--strict)"));
  CHECK_FALSE(fs::exists(strict_out));
  for (auto& e : fs::directory_iterator(state.path)) CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("a downgrade goes where the layouts allow, and says what the older release computes otherwise", "[release]") {
  test::TempDir state;
  const fs::path dir = test::made_fixture(state, "2.31.10", "decoder-rotary");
  auto r = test::xcompat(state.path, "convert --json " + (dir / "model.pt").string() + " --to 1.19.1 --out " +
                                         (state / "old.pt").string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["downgrade"] == true);
  CHECK(j["outcome"] == "lossy");
  CHECK(j["lost"].dump().find("rotary-values-unrotated") != std::string::npos);
}

TEST_CASE("bad input: a clear error, exit 2, and no output file", "[release]") {
  test::TempDir state;
  const fs::path dir = test::made_fixture(state, "1.31.4", "decoder-absolute");
  const std::string in = (dir / "model.pt").string();
  const fs::path out = state / "out.pt";
  struct Case {
    std::string args, says;
  };
  const std::vector<Case> cases = {
      {in + " --to 9.9.9", "x-transformers has no such release"},
      {in + " --to 0.20.0", "the release history covers 0.28.4 to 2.31.10"},
      {in + " --from 0.28.4 --to 2.31.10", "does not have the layout release 0.28.4 saves"},
      {in + " --to 2.31.10 --spec decoder-wide", "the spec does not fit the checkpoint: dim 64 in the spec"},
      {std::string(XCOMPAT_TEST_DATA) + "/checkpoints/hostile_os_system.pt --from 1.31.4 --to 2.31.10",
       "refused global 'os.system'"},
      {(state / "missing.pt").string() + " --from 1.31.4 --to 2.31.10", "missing.pt"},
      {std::string(XCOMPAT_TEST_DATA) + "/checkpoints/state_dict.pt --to 2.31.10", "pass --from"},
      {in + " --to 2.31.10 --out " + in, "would replace the checkpoint being converted"},
  };
  for (auto& c : cases) {
    INFO(c.args);
    fs::remove(out);
    auto r = test::xcompat(state.path, "convert " + c.args + (c.args.find("--out") == std::string::npos ? " --out " + out.string() : ""),
                           true);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains(c.says));
    CHECK_FALSE(fs::exists(out));
  }
  // A truncated checkpoint: refused, nothing written.
  {
    const std::string bytes = test::slurp(dir / "model.pt");
    std::ofstream(state / "cut.pt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    auto r = test::xcompat(state.path, "convert " + (state / "cut.pt").string() + " --from 1.31.4 --to 2.31.10 --out " +
                                           out.string(), true);
    CHECK(r.exit_code == 2);
    CHECK_FALSE(fs::exists(out));
  }
  CHECK(test::slurp(dir / "model.pt").size() > 0);  // the input is untouched
}
