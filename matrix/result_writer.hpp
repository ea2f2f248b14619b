#pragma once
// Inside the store only: how one cell result becomes rows. A result is kept
// by change, not by copy (docs/DATABASE.md, "History by change"):
//   texts     every long text once, by content (load reports, errors,
//             conversions, causes);
//   outcomes  a cell's result (verdict, figures, text references, cache key)
//             once, by content: every run where the cell came out the same
//             shares it;
//   spans     per cell, the runs first..last over which it came out as one
//             outcome (`runs` of them recorded it);
//   cell_sets which cells each run recorded (run_cells), one row per
//             distinct set.
// Store::record(), the v9 migration and merge_from() all write through here.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "harness/core/cell.hpp"
#include "matrix/sqlite.hpp"

namespace xcompat {

class ResultWriter {
 public:
  explicit ResultWriter(sql::Db& db) : db_(db) {}

  // The id of the cell (inserted on first sight).
  int64_t cell(int64_t spec_id, int64_t producer_id, int64_t consumer_id, const CellKey& key);
  // The id of this outcome of cell `cell_id`, inserted (first seen in `run`
  // at `recorded_at`) unless an identical one is stored.
  int64_t outcome(int64_t cell_id, const CellResult& c, int64_t run, const std::string& recorded_at);
  // Whether outcome `outcome_id` is stored, and is one of cell `cell_id`'s.
  bool outcome_of_cell(int64_t outcome_id, int64_t cell_id);
  // Run `run` recorded outcome `outcome_id` for cell `cell_id`: extends the
  // cell's span or starts a new one. Exact for any order of runs (two sweeps
  // on one file record interleaved); a cell recorded twice in one run keeps
  // its last outcome.
  void observe(int64_t run, int64_t cell_id, int64_t outcome_id);
  // Adds cells to the set `run` recorded (one chunk per call).
  void add_cells(int64_t run, const std::vector<int64_t>& cell_ids);
  // Folds a run's chunks into one shared set (finish, interruption, merge).
  void consolidate(int64_t run);
  // Deletes cell sets no run refers to.
  void drop_orphan_sets();

  // The id of a text (0 for an empty one, stored as NULL).
  int64_t text(std::string_view body);

 private:
  sql::Stmt& stmt(const char* sql);
  std::vector<int64_t> run_cells(int64_t run);  // the cells a run recorded so far, sorted
  // The runs in [lo, hi] that recorded `cell_id`, ascending.
  std::vector<int64_t> members(int64_t cell_id, int64_t lo, int64_t hi);
  int64_t insert_set(const std::vector<int64_t>& ids);

  sql::Db& db_;
  std::map<const char*, sql::Stmt> stmts_;
  std::unordered_map<std::string, int64_t> cell_ids_;    // identity -> id
  std::unordered_map<std::string, int64_t> text_ids_;    // digest -> id
};

}  // namespace xcompat
