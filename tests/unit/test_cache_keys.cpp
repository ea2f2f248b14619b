// A cell's cache key names every input of its verdict: change any one and
// the key changes (the cell is evaluated again); change none and it stays.
#include "catch.hpp"
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
