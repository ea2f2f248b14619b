// A cell's cache key names every input of its verdict: change any one and
// the key changes (the cell is evaluated again); change none and it stays.
#include "catch.hpp"
#include <map>

#include "harness/core/paths.hpp"
#include "harness/sweep/plan.hpp"

using namespace xcompat;

namespace {
Spec spec(int dim = 32) {
  return Spec{"decoder-absolute", {{"name", "decoder-absolute"}, {"layers", {{"dim", dim}}}}}.variant("float32");
}
}  // namespace

TEST_CASE("every input of a verdict is in the cell's cache key", "[unit]") {
  const CellKey cell{"decoder-absolute", "0.28.4", "2.31.10"};
  const Consumer consumer{"2.31.10", "python", "x-transformers==2.31.10/driver-a/venv-b"};
  const Tolerance tol;
  const std::string content = "fixture-content";
  const std::string base = cell_cache_key(cell, spec(), content, consumer, tol);
  CHECK(base == cell_cache_key(cell, spec(), content, consumer, tol));  // deterministic

  std::vector<std::pair<const char*, std::string>> changed;
  auto with = [&](const char* what, const std::string& key) { changed.push_back({what, key}); };
  CellKey other = cell;
  other.producer = "0.32.3";
  with("producer", cell_cache_key(other, spec(), content, consumer, tol));
  other = cell;
  other.checkpoint = "safetensors";
  with("checkpoint format", cell_cache_key(other, spec(), content, consumer, tol));
  other = cell;
  other.dtype = "bfloat16";
  with("dtype", cell_cache_key(other, spec(), content, consumer, tol));
  with("spec definition", cell_cache_key(cell, spec(64), content, consumer, tol));
  with("fixture content", cell_cache_key(cell, spec(), "other-content", consumer, tol));
  Consumer edited = consumer;
  edited.version = "x-transformers==2.31.10/driver-c/venv-b";
  with("consumer identity", cell_cache_key(cell, spec(), content, edited, tol));
  Tolerance wider = tol;
  wider.rtol *= 10;
  with("tolerance", cell_cache_key(cell, spec(), content, consumer, wider));
  for (auto& [what, key] : changed) {
    INFO(what);
    CHECK(key != base);
  }
}

TEST_CASE("cells with the same fixture content still get their own cache keys", "[unit]") {
  Consumer c{"2.31.10", "python", "x-transformers==2.31.10"};
  Tolerance t;
  const std::string same_content = "state:release does not know layers argument 'add_value_residual'";
  auto a = cell_cache_key({"decoder-value-residual", "0.28.4", "2.31.10"}, spec(), same_content, c, t);
  auto b = cell_cache_key({"decoder-value-residual", "0.32.3", "2.31.10"}, spec(), same_content, c, t);
  CHECK(a != b);
}

TEST_CASE("the checks of a producer's own model: .pt only, decoders for cached decoding, a default subset", "[unit]") {
  Plan plan;
  plan.specs = {Spec{"decoder-rotary", {{"name", "decoder-rotary"}, {"model", "decoder"}}},
                Spec{"encoder-padmask", {{"name", "encoder-padmask"}, {"model", "encoder"}}}};
  plan.producers = {Release{"2.31.10", {}, ""}};
  plan.dtypes = {"float32", "bfloat16"};
  plan.checkpoints = {"pt", "safetensors"};
  Consumer exported{"cpp-export", "deploy", "x"};
  exported.only_specs = {"decoder-rotary"};
  exported.only_dtypes = {"float32"};
  plan.consumers = {Consumer{"2.31.10", "python", "x"}, Consumer{"decode-cache", "decode", "x"},
                    Consumer{"cpp-native-decode", "cpp-decode", "x"}, Consumer{"cpp-torchscript", "deploy", "x"},
                    exported};
  build_plan(plan, Shard{});
  std::map<std::string, std::vector<std::string>> by_consumer;
  for (auto& c : plan.cells)
    by_consumer[c.key.consumer].push_back(c.key.spec + " " + c.key.dtype + " " + c.key.checkpoint);
  CHECK(by_consumer["2.31.10"].size() == 8);  // a reader: every spec, dtype and format
  CHECK(by_consumer["decode-cache"] == std::vector<std::string>{"decoder-rotary float32 pt", "decoder-rotary bfloat16 pt"});
  CHECK(by_consumer["cpp-native-decode"] == by_consumer["decode-cache"]);
  CHECK(by_consumer["cpp-torchscript"].size() == 4);  // every spec and dtype, .pt only
  CHECK(by_consumer["cpp-export"] == std::vector<std::string>{"decoder-rotary float32 pt"});  // the stated subset

  // Named on the command line, a deployment consumer sweeps everything.
  const Pins pins = load_pins(project_root() / "matrix" / "pins.toml");
  const auto named = select_consumers(pins, {"cpp-export"});
  REQUIRE(named.size() == 1);
  CHECK(named[0].only_specs.empty());
  bool subset = false;
  for (auto& c : default_consumers(pins))
    if (c.name == "cpp-export") subset = !c.only_specs.empty() && c.only_dtypes == std::vector<std::string>{"float32"};
  CHECK(subset);
}
