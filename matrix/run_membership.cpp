#include "matrix/run_membership.hpp"

#include <algorithm>

#include "harness/core/error.hpp"
#include "matrix/cell_set.hpp"

namespace xcompat {

RunMembership::RunMembership(sql::Db& db) : db_(db) {
  auto st = db_.prepare("SELECT r.run_id, r.set_id, s.size FROM run_cells r JOIN cell_sets s ON s.id = r.set_id "
                        "ORDER BY r.run_id");
  while (st.step()) chunks_[st.int_at(0)].push_back({st.int_at(1), st.int_at(2)});
  for (auto& [run, _] : chunks_) recording_.push_back(run);
  auto runs = db_.prepare("SELECT id, started_at FROM runs");
  while (runs.step()) started_[runs.int_at(0)] = runs.text_at(1);
}

const std::vector<int64_t>& RunMembership::set(int64_t set_id) {
  auto it = sets_.find(set_id);
  if (it != sets_.end()) return it->second;
  auto st = db_.prepare("SELECT cells FROM cell_sets WHERE id = ?");
  st.bind(1, set_id);
  if (!st.step()) throw Error("database " + db_.path() + ": cell set " + std::to_string(set_id) + " is missing");
  return sets_[set_id] = decode_cell_set(st.blob_at(0));
}

bool RunMembership::has(int64_t run, int64_t cell) {
  auto it = chunks_.find(run);
  if (it == chunks_.end()) return false;
  for (auto& [set_id, _] : it->second) {
    const auto& ids = set(set_id);
    if (std::binary_search(ids.begin(), ids.end(), cell)) return true;
  }
  return false;
}

int64_t RunMembership::size(int64_t run) {
  auto it = chunks_.find(run);
  if (it == chunks_.end()) return 0;
  if (it->second.size() == 1) return it->second.front().second;
  // A run still going (or interrupted) holds one chunk per batch; a cell
  // recorded in two batches counts once.
  std::vector<int64_t> all;
  for (auto& [set_id, _] : it->second) all.insert(all.end(), set(set_id).begin(), set(set_id).end());
  std::sort(all.begin(), all.end());
  return std::unique(all.begin(), all.end()) - all.begin();
}

int64_t RunMembership::latest(int64_t cell, int64_t lo, int64_t hi) {
  auto end = std::upper_bound(recording_.begin(), recording_.end(), hi);
  auto begin = std::lower_bound(recording_.begin(), recording_.end(), lo);
  for (auto it = end; it != begin;) {
    --it;
    if (has(*it, cell)) return *it;
  }
  return 0;
}

std::vector<int64_t> RunMembership::members(int64_t cell, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  for (auto it = std::lower_bound(recording_.begin(), recording_.end(), lo); it != recording_.end() && *it <= hi; ++it)
    if (has(*it, cell)) out.push_back(*it);
  return out;
}

std::string RunMembership::started_at(int64_t run) const {
  auto it = started_.find(run);
  return it == started_.end() ? "" : it->second;
}

}  // namespace xcompat
