#pragma once
// Inside the store only (matrix/store*.cpp): how a result is read back. A
// read joins a source of spans (cell_id, first_run, last_run, outcome_id) to
// the outcome, its cell's names and its texts, in the one column order of
// kRead; row_to_read() turns a row into a StoredResult whose run is the
// span's last run (callers narrow it, store_reads.cpp).
#include <array>
#include <string>
#include <string_view>
#include <unordered_map>

#include "matrix/run_membership.hpp"
#include "matrix/sqlite.hpp"
#include "matrix/store.hpp"

namespace xcompat::store_columns {

constexpr std::array<const char*, 30> kRead = {
    "sp.first_run", "sp.last_run", "o.first_run", "o.recorded_at", "s.name",     "p.version", "k.name",
    "c.device",     "c.dtype",     "c.checkpoint", "o.verdict",    "o.max_abs",  "o.max_rel", "o.mean_abs",
    "o.nmse",       "o.cosine",    "o.top1",       "o.bitwise",    "o.latency_ms", "o.load_report", "o.error",
    "o.cache_key",  "o.flaky",     "o.tolerance_override", "o.direct_verdict", "o.conversion", "o.causes", "c.id", "o.id", "o.warnings"};

constexpr int col(std::string_view name) {
  for (size_t i = 0; i < kRead.size(); ++i)
    if (name == kRead[i]) return static_cast<int>(i);
  throw "no such column";  // a compile-time error where col() is constant-evaluated
}

// "SELECT <kRead> FROM <spans> sp JOIN ...": `spans` is a table expression
// with the columns cell_id, first_run, last_run, outcome_id.
std::string select_from(const std::string& spans);

// Texts by id, each read and parsed once per reader: a matrix of 200,000
// cells shares a few thousand load reports, errors and conversions.
class TextCache {
 public:
  explicit TextCache(sql::Db& db) : db_(db) {}
  const std::string& body(int64_t id);
  const nlohmann::json& json(int64_t id);  // null when the text is not JSON
  const LoadReport& load_report(int64_t id);

 private:
  sql::Db& db_;
  std::optional<sql::Stmt> st_;
  std::unordered_map<int64_t, std::string> bodies_;
  std::unordered_map<int64_t, nlohmann::json> parsed_;
  std::unordered_map<int64_t, LoadReport> reports_;
};

struct Read {
  StoredResult result;  // run_id: the span's last run
  int64_t cell_id = 0, span_first = 0, span_last = 0, outcome_first = 0;
  std::string outcome_recorded_at;
};
Read row_to_read(const sql::Stmt& st, TextCache& texts);

// The result as run `run` recorded it: which run, whether that run reused an
// earlier run's outcome, and when it was recorded.
void place(Read& r, int64_t run, const RunMembership& m);

}  // namespace xcompat::store_columns
