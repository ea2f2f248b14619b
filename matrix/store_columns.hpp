#pragma once
// Inside the store only (matrix/store*.cpp): the results table's columns, in
// the one order every statement follows (record()'s INSERT, merge_from()'s
// copy, every read), and how a row becomes a StoredResult. Reads select the
// names of spec, producer and consumer in place of their ids.
#include <array>
#include <string>
#include <string_view>

#include "matrix/sqlite.hpp"
#include "matrix/store.hpp"

namespace xcompat::store_columns {

constexpr std::array<const char*, 26> kColumns = {
    "run_id",   "spec_id", "producer_id", "consumer_id", "device",     "dtype", "checkpoint", "verdict",
    "max_abs",  "max_rel", "mean_abs",    "nmse",        "cosine",     "top1",  "latency_ms",
    "load_report", "error", "cache_key",  "flaky",       "recorded_at", "tolerance_override", "bitwise", "reused",
    "direct_verdict", "conversion", "causes"};

// A cell's identity within a run: the UNIQUE key of the results table.
inline constexpr const char* kCellIdentity = "run_id, spec_id, producer_id, consumer_id, device, dtype, checkpoint";

constexpr int col(std::string_view name) {
  for (size_t i = 0; i < kColumns.size(); ++i)
    if (name == kColumns[i]) return static_cast<int>(i);
  throw "no such column";  // a compile-time error where col() is constant-evaluated
}

// "a, b, c" of the columns, each through `each(name)`.
template <class F>
inline std::string column_list(F each) {
  std::string out;
  for (auto c : kColumns) out += (out.empty() ? "" : ", ") + each(std::string(c));
  return out;
}

// What a read selects in column position: the ids as names.
inline std::string read_expr(const std::string& c) {
  if (c == "spec_id") return "s.name";
  if (c == "producer_id") return "p.version";
  if (c == "consumer_id") return "c.name";
  return "r." + c;
}

inline const std::string kSelectResults = "SELECT " + column_list(read_expr) +
                                   " FROM results r JOIN specs s ON s.id = r.spec_id "
                                   "JOIN releases p ON p.id = r.producer_id JOIN consumers c ON c.id = r.consumer_id ";

// One row of a kSelectResults query.
StoredResult row_to_result(const sql::Stmt& st);

}  // namespace xcompat::store_columns
