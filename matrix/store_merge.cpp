// Folding a shard's database into this one (xcompat merge): every run of the
// other file that this one lacks (by uuid) is replayed, cell by cell, through
// the same writer a sweep records with, so outcomes and texts already here
// are shared, not copied.
#include <fmt/format.h>

#include "harness/core/error.hpp"
#include "harness/core/fault_points.hpp"
#include "matrix/result_writer.hpp"
#include "matrix/run_membership.hpp"
#include "matrix/store.hpp"
#include "matrix/store_columns.hpp"

namespace xcompat {

using namespace store_columns;

int64_t Store::merge_from(const std::string& other_path) {
  Store other(other_path, false);  // validates and migrates the input first
  RunMembership members(other.db_);
  int64_t added = 0;
  sql::Transaction tx(db_);
  {
    auto st = other.db_.prepare("SELECT version, reason FROM releases");
    while (st.step())
      db_.prepare("INSERT OR IGNORE INTO releases (version, reason) VALUES (?, ?)")
          .bind(1, st.text_at(0)).bind(2, st.text_at(1)).run();
  }
  {
    auto st = other.db_.prepare("SELECT name, definition, hash FROM specs");
    while (st.step())
      db_.prepare("INSERT OR IGNORE INTO specs (name, definition, hash) VALUES (?, ?, ?)")
          .bind(1, st.text_at(0)).bind(2, st.text_at(1)).bind(3, st.text_at(2)).run();
  }
  {
    auto st = other.db_.prepare("SELECT name, kind, version FROM consumers");
    while (st.step())
      db_.prepare("INSERT OR IGNORE INTO consumers (name, kind, version) VALUES (?, ?, ?)")
          .bind(1, st.text_at(0)).bind(2, st.text_at(1)).bind(3, st.text_at(2)).run();
  }
  std::vector<std::pair<int64_t, int64_t>> new_runs;  // (other's id, this file's id)
  {
    auto st = other.db_.prepare(
        "SELECT id, uuid, started_at, finished_at, status, harness_version, args, owner FROM runs ORDER BY id");
    while (st.step()) {
      auto known = db_.prepare("SELECT 1 FROM runs WHERE uuid = ?");
      known.bind(1, st.text_at(1));
      if (known.step()) continue;
      db_.prepare("INSERT INTO runs (uuid, started_at, finished_at, status, harness_version, args, owner) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)")
          .bind(1, st.text_at(1)).bind(2, st.text_at(2))
          .bind(3, st.is_null(3) ? std::optional<std::string>() : std::optional<std::string>(st.text_at(3)))
          .bind(4, st.text_at(4)).bind(5, st.text_at(5)).bind(6, st.text_at(6)).bind(7, st.text_at(7)).run();
      new_runs.push_back({st.int_at(0), db_.last_insert_id()});
    }
  }
  fault_point("merge.mid-transaction");  // runs copied, their results not yet
  ResultWriter& w = writer();
  TextCache texts(other.db_);
  for (auto [theirs, ours] : new_runs) {
    auto st = other.db_.prepare(select_from("spans") + "WHERE sp.first_run <= ?1 AND sp.last_run >= ?1");
    st.bind(1, theirs);
    std::vector<int64_t> cells;
    while (st.step()) {
      Read r = row_to_read(st, texts);
      if (!members.has(theirs, r.cell_id)) continue;  // the span holds across this run, which did not plan the cell
      const CellResult& c = r.result.cell;
      const int64_t cell = w.cell(id_of("specs", "name", c.key.spec), id_of("releases", "version", c.key.producer),
                                  id_of("consumers", "name", c.key.consumer), c.key);
      const std::string when = theirs == r.outcome_first ? r.outcome_recorded_at : members.started_at(theirs);
      w.observe(ours, cell, w.outcome(cell, c, ours, when));
      cells.push_back(cell);
    }
    w.add_cells(ours, cells);
    added += static_cast<int64_t>(cells.size());
  }
  tx.commit();
  return added;
}

}  // namespace xcompat
