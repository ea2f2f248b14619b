#pragma once
// The plan of a sweep: which cells, in which order, on which shard.
#include <deque>
#include <string>
#include <vector>

#include "harness/core/cell.hpp"
#include "harness/core/pins.hpp"
#include "harness/core/spec.hpp"
#include "harness/core/consumers.hpp"

namespace xcompat {

struct Shard {
  int index = 1, count = 1;  // K/N, 1-based
  // Parses "K/N"; throws Error on anything else.
  static Shard parse(const std::string& text);
  bool owns(const CellKey& key) const;
};

struct PlannedCell {
  CellKey key;
  const Spec* spec;  // the spec's variant in the cell's dtype (Spec::variant)
  const Release* producer;
  const Consumer* consumer;
};

struct Plan {
  std::vector<Spec> specs;  // the catalogue's, as selected
  std::vector<Release> producers;
  std::vector<Consumer> consumers;
  std::vector<std::string> dtypes = {"float32"};   // each spec narrows them with its own `dtypes`
  std::vector<std::string> checkpoints = {"pt"};   // "pt", "safetensors"
  std::deque<Spec> variants;       // every (spec, dtype) variant the cells point at
  std::vector<PlannedCell> cells;  // ordered by spec, dtype, checkpoint, producer, consumer
};

// Every (spec, dtype, checkpoint, producer, consumer) on this shard. Pointers
// point into the plan, so keep it alive (and do not copy it).
void build_plan(Plan& plan, const Shard& shard);

// The cell's cache key names every input of its verdict: the cell itself
// (spec, producer, consumer, device, dtype, checkpoint format), the spec
// variant's definition, the producer fixture's content, the consumer's
// identity (a release's pin, driver source and venv; the port's source),
// the tolerance policy, and the judging code (harness/core/identity.hpp).
// A recorded result with this key is reused instead of re-running the cell.
// `conversion`: the identity of the chain of history changes its converted
// path would cross (harness/sweep/converted_path.hpp), "" when it has none.
std::string cell_cache_key(const CellKey& key, const Spec& variant, const std::string& fixture_content,
                           const Consumer& consumer, const Tolerance& tol, const std::string& conversion = "");

}  // namespace xcompat
