#pragma once
// Inside the store only: which cells each run recorded (run_cells ->
// cell_sets), decoded on demand and kept for the reader's lifetime. Answers
// "did run R record cell C" and "the newest run in [lo, hi] that recorded C",
// which turn a span (cell, first..last, outcome) back into per-run results.
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "matrix/sqlite.hpp"

namespace xcompat {

class RunMembership {
 public:
  explicit RunMembership(sql::Db& db);

  bool has(int64_t run, int64_t cell);
  // Cells the run recorded (0 for a run that recorded none, or is gone).
  int64_t size(int64_t run);
  // The newest run in [lo, hi] that recorded the cell; 0 when none did (or
  // those runs were dropped by `xcompat gc`).
  int64_t latest(int64_t cell, int64_t lo, int64_t hi);
  // The runs in [lo, hi] that recorded the cell, ascending.
  std::vector<int64_t> members(int64_t cell, int64_t lo, int64_t hi);
  // Runs that recorded at least one cell, ascending.
  const std::vector<int64_t>& recording_runs() const { return recording_; }
  // When a run started ("" for a run that is gone).
  std::string started_at(int64_t run) const;

 private:
  const std::vector<int64_t>& set(int64_t set_id);

  sql::Db& db_;
  std::vector<int64_t> recording_;
  std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> chunks_;  // run -> (set id, size)
  std::unordered_map<int64_t, std::vector<int64_t>> sets_;              // set id -> sorted cell ids
  std::map<int64_t, std::string> started_;
};

}  // namespace xcompat
