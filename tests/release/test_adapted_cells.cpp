// The matrix's ADAPTED outcome through the real releases: a cell whose plain
// conversion is lossy (0.28.4's LayerNorm biases, which 2.31.10's classes
// have no place for; its rotated values; its final LayerNorm where 2.31.10
// builds a ScaleNorm; its single patch Linear, where 2.31.10 adds two norms;
// its uniform attention at padded queries) is evaluated again with the
// history's adapters (each kind: output_bias, rotate_values, layer_norm,
// identity, uniform_padded_queries) applied to 2.31.10's model,
// and passes; without the adapters in the
// history the same cell stays LOAD_FAIL, lossy. Query, Markdown and the
// upgrade guide say which path it took.
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "harness/core/paths.hpp"
#include "support.hpp"

using namespace xcompat;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json sweep(const fs::path& state, const std::string& args, const std::string& env = "") {
  auto r = test::run_command(env + " XCOMPAT_STATE='" + state.string() + "' '" XCOMPAT_BIN "' sweep --json " + args);
  INFO(r.out);
  REQUIRE((r.exit_code == 0 || r.exit_code == 3));
  return json::parse(r.out);
}

// The history with every `adapters = [...]` block removed: what the matrix
// says when nothing adapts B's model.
fs::path history_without_adapters(const fs::path& dir) {
  std::string text = test::slurp(project_root() / "matrix" / "history.toml");
  int removed = 0;
  for (std::size_t at; (at = text.find("\nadapters = [\n")) != std::string::npos; ++removed) {
    const std::size_t end = text.find("\n]\n", at);
    REQUIRE(end != std::string::npos);
    text.erase(at, end + 2 - at);
  }
  REQUIRE(removed >= 3);
  const fs::path path = dir / "history-without-adapters.toml";
  std::ofstream(path) << text;
  return path;
}

json the_cell(const fs::path& state, const std::string& db, const std::string& spec = "decoder-absolute") {
  auto q = test::xcompat(state, "query --json --from 0.28.4 --to 2.31.10 --spec " + spec + db);
  INFO(q.out);
  REQUIRE(q.exit_code == 0);
  const json j = json::parse(q.out);
  REQUIRE(j["specs"].size() == 1);
  return j;
}

}  // namespace

TEST_CASE("a lossy conversion that the history's adapters carry is an ADAPTED cell; without them, LOAD_FAIL",
          "[release]") {
  test::TempDir state;
  const std::string db = " --db '" + (state / "m.db").string() + "'";
  const std::string plan =
      "--release 0.28.4 --consumer 2.31.10 --spec decoder-absolute,decoder-rotary,decoder-scalenorm,vit-encoder,"
      "encoder-padmask --dtype float32 --no-progress";

  const json s = sweep(state.path, plan + db);
  CHECK(s["verdicts"]["ADAPTED"] == 5);
  const json q = the_cell(state.path, db);
  const json& cell = q["specs"][0];
  CHECK(cell["verdict"] == "ADAPTED");
  CHECK(cell["direct_verdict"] == "LOAD_FAIL");
  CHECK(q["overall"] == "safe with an adapter");
  const json conv = cell["conversion"];
  CHECK(conv["outcome"] == "lossy");  // the plain conversion loses the biases...
  const json& adapted = conv["adapted"];
  CHECK(adapted["outcome"] == "lossless with an adapter");  // ...which the adapters keep
  CHECK(adapted["verdict"] == "ADAPTED");
  REQUIRE(adapted["adapters"].size() >= 2);
  std::set<std::string> modules;
  for (auto& a : adapted["adapters"]) {
    CHECK(a[1] == "output_bias");
    modules.insert(a[0].get<std::string>());
  }
  // The attention pre-norms' biases, kept by adapters of B's bias-less
  // LayerNorms. The feed-forward pre-norms' and the final norm's fold into
  // the next linear layer's bias (B builds to_logits with one, by argument):
  // no adapter for those.
  CHECK(modules == std::set<std::string>{"attn_layers.layers.0.0.0", "attn_layers.layers.2.0.0"});
  CHECK(conv["folded"].dump().find("norm.bias -> to_logits.bias") != std::string::npos);
  CHECK(adapted["metrics"]["nmse"].get<double>() < 1e-6);
  CHECK(adapted["command"].get<std::string>().find("--adapter") != std::string::npos);

  // Rotary: 0.28.4 rotates values too, which 2.x cannot; an adapter of
  // each attention rotates them (a behaviour, no tensor), besides the biases.
  const json rotary = the_cell(state.path, db, "decoder-rotary")["specs"][0];
  CHECK(rotary["verdict"] == "ADAPTED");
  int rotating = 0;
  for (auto& a : rotary["conversion"]["adapted"]["adapters"]) rotating += a[1] == "rotate_values";
  CHECK(rotating == 2);  // both attention layers
  CHECK(rotary["conversion"]["adapted"]["metrics"]["nmse"].get<double>() < 1e-6);

  // ScaleNorm: 0.28.4's final norm was a LayerNorm whatever the layers'
  // norm; an adapter makes 2.31.10's final ScaleNorm compute it, with
  // 0.28.4's weight and bias.
  const json scalenorm = the_cell(state.path, db, "decoder-scalenorm")["specs"][0];
  CHECK(scalenorm["verdict"] == "ADAPTED");
  std::set<std::string> norm_rows;
  for (auto& a : scalenorm["conversion"]["adapted"]["adapters"])
    if (a[1] == "layer_norm") norm_rows.insert(a[0].get<std::string>() + " " + a[3].get<std::string>());
  CHECK(norm_rows == std::set<std::string>{"attn_layers.final_norm final-norm-follows-scalenorm"});

  // ViT: 2.31.10 normalises patches and their embeddings, 0.28.4 did not;
  // adapters make both norms return their input.
  const json vit = the_cell(state.path, db, "vit-encoder")["specs"][0];
  CHECK(vit["verdict"] == "ADAPTED");
  std::set<std::string> identities;
  for (auto& a : vit["conversion"]["adapted"]["adapters"])
    if (a[1] == "identity") identities.insert(a[0].get<std::string>());
  CHECK(identities == std::set<std::string>{"patch_to_embedding.0", "patch_to_embedding.2"});

  // Padding: 0.28.4's padded queries attended uniformly over every key;
  // 2.31.10 writes zeros there. Each attention writes the uniform output back.
  const json padmask = the_cell(state.path, db, "encoder-padmask")["specs"][0];
  CHECK(padmask["verdict"] == "ADAPTED");
  int uniform = 0;
  for (auto& a : padmask["conversion"]["adapted"]["adapters"]) uniform += a[1] == "uniform_padded_queries";
  CHECK(uniform == 2);

  // The Markdown report's conversion table counts them in the ADAPTED column.
  auto md = test::xcompat(state.path, "report --format markdown --section conversion" + db);
  REQUIRE(md.exit_code == 0);
  CHECK(md.out.find("| ADAPTED |") != std::string::npos);
  CHECK(md.out.find("| float32 | **upgrades** | all | all | 5 | 0 | 5 | 100.0% |") != std::string::npos);

  SECTION("without the history's adapters the cell stays LOAD_FAIL, its conversion lossy") {
    const fs::path history = history_without_adapters(state.path);
    const json again = sweep(state.path, plan + db, "XCOMPAT_HISTORY='" + history.string() + "'");
    CHECK(again["verdicts"].value("ADAPTED", 0) == 0);
    const json q2 = the_cell(state.path, db);
    CHECK(q2["specs"][0]["verdict"] == "LOAD_FAIL");
    CHECK(q2["specs"][0]["conversion"]["outcome"] == "lossy");
    CHECK(q2["overall"] == "breaks");
    CHECK(the_cell(state.path, db, "decoder-rotary")["specs"][0]["verdict"] == "LOAD_FAIL");
    CHECK(the_cell(state.path, db, "decoder-scalenorm")["specs"][0]["verdict"] == "LOAD_FAIL");
    CHECK(the_cell(state.path, db, "vit-encoder")["specs"][0]["verdict"] == "LOAD_FAIL");
    CHECK(the_cell(state.path, db, "encoder-padmask")["specs"][0]["verdict"] == "LOAD_FAIL");
  }
}
