#pragma once
// The plan of a sweep: which cells, in which order, on which shard.
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
  const Spec* spec;
  const Release* producer;
  const Consumer* consumer;
};

struct Plan {
  std::vector<Spec> specs;
  std::vector<Release> producers;
  std::vector<Consumer> consumers;
  std::vector<PlannedCell> cells;  // ordered by spec, producer, consumer
};

// Every (spec, producer, consumer) on this shard. Pointers point into the
// returned plan, so keep it alive (and do not copy it).
void build_plan(Plan& plan, const Shard& shard);

// The cell's cache key: fixture content, consumer identity, tolerance
// policy, harness version, device and dtype. A recorded result with this
// key is reused instead of re-running the cell.
std::string cell_cache_key(const CellKey& key, const std::string& fixture_content, const Consumer& consumer,
                           const Tolerance& tol);

}  // namespace xcompat
