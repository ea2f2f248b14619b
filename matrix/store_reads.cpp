// The store's reads: the matrix as of a run, one pair, one cell's history,
// runs, and the named queries the report and the command line use.
#include <sqlite3.h>

#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "harness/core/error.hpp"
#include "matrix/store.hpp"
#include "matrix/store_columns.hpp"

namespace xcompat {

using json = nlohmann::json;
using namespace store_columns;

namespace store_columns {

StoredResult row_to_result(const sql::Stmt& st) {
  StoredResult s;
  s.run_id = st.int_at(col("run_id"));
  s.recorded_at = st.text_at(col("recorded_at"));
  CellResult& c = s.cell;
  c.key = {st.text_at(col("spec_id")), st.text_at(col("producer_id")), st.text_at(col("consumer_id")),
           st.text_at(col("device")), st.text_at(col("dtype")), st.text_at(col("checkpoint"))};
  c.verdict = verdict_from_name(st.text_at(col("verdict")));
  if (!st.is_null(col("nmse"))) {
    Metrics m;
    auto figure_at = [&](std::string_view name) {
      const int i = col(name);
      return st.is_text(i) ? figure_from_json(st.text_at(i), NAN) : st.real_at(i);
    };
    m.max_abs = figure_at("max_abs");
    m.max_rel = figure_at("max_rel");
    m.mean_abs = figure_at("mean_abs");
    m.nmse = figure_at("nmse");
    m.cosine = figure_at("cosine");
    m.top1 = figure_at("top1");
    m.bitwise = st.int_at(col("bitwise")) != 0;
    c.metrics = m;
  }
  c.latency_ms = st.real_at(col("latency_ms"));
  try {
    c.load_report = LoadReport::from_json(json::parse(st.text_at(col("load_report"))));
  } catch (const json::exception&) {
  }
  c.error = st.text_at(col("error"));
  c.cache_key = st.text_at(col("cache_key"));
  c.flaky = st.int_at(col("flaky")) != 0;
  c.tolerance_override = st.text_at(col("tolerance_override"));
  c.reused = st.int_at(col("reused")) != 0;
  if (!st.is_null(col("direct_verdict"))) c.direct_verdict = verdict_from_name(st.text_at(col("direct_verdict")));
  for (auto [name, field] : {std::pair{"conversion", &c.conversion}, {"causes", &c.causes}})
    if (!st.is_null(col(name))) {
      try {
        *field = json::parse(st.text_at(col(name)));
      } catch (const json::exception&) {
      }
    }
  return s;
}

}  // namespace store_columns

std::optional<CellResult> Store::find_cached(const std::string& cache_key) {
  auto st = db_.prepare(kSelectResults +
                        "WHERE r.cache_key = ? ORDER BY r.run_id DESC, r.id DESC LIMIT 1");
  st.bind(1, cache_key);
  if (!st.step()) return std::nullopt;
  return row_to_result(st).cell;
}

std::vector<StoredResult> Store::matrix_as_of(int64_t run_id) {
  auto st = db_.prepare(kSelectResults +
                        "WHERE r.id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY spec_id, "
                        "producer_id, consumer_id, device, dtype, checkpoint ORDER BY run_id DESC, id DESC) AS k "
                        "FROM results WHERE run_id <= ?) WHERE k = 1) "
                        "ORDER BY s.name, p.id, c.id, r.device, r.dtype, r.checkpoint");
  st.bind(1, run_id > 0 ? run_id : INT64_MAX);
  std::vector<StoredResult> out;
  while (st.step()) out.push_back(row_to_result(st));
  return out;
}

std::vector<StoredResult> Store::latest_for_pair(const std::string& producer, const std::string& consumer,
                                                 const std::string& spec) {
  // SQLite takes the bare columns of a MAX() aggregate from the row holding
  // the maximum: one row per cell, its latest run, through results_by_pair.
  auto st = db_.prepare(kSelectResults.substr(0, kSelectResults.find(" FROM")) + ", MAX(r.run_id)" +
                        kSelectResults.substr(kSelectResults.find(" FROM")) + "WHERE p.version = ? AND c.name = ? AND (? = '' OR s.name = ?) "
                        "GROUP BY r.spec_id, r.device, r.dtype, r.checkpoint "
                        "ORDER BY s.name, r.device, r.dtype, r.checkpoint");
  st.bind(1, producer).bind(2, consumer).bind(3, spec).bind(4, spec);
  std::vector<StoredResult> out;
  while (st.step()) out.push_back(row_to_result(st));
  return out;
}

bool Store::has_producer(const std::string& version) {
  auto st = db_.prepare("SELECT 1 FROM results r JOIN releases p ON p.id = r.producer_id WHERE p.version = ? LIMIT 1");
  st.bind(1, version);
  return st.step();
}

bool Store::has_consumer(const std::string& name) {
  auto st = db_.prepare("SELECT 1 FROM results r JOIN consumers c ON c.id = r.consumer_id WHERE c.name = ? LIMIT 1");
  st.bind(1, name);
  return st.step();
}

std::vector<StoredResult> Store::history(const CellKey& key) {
  auto st = db_.prepare(kSelectResults +
                        "WHERE s.name = ? AND p.version = ? AND c.name = ? AND r.device = ? AND r.dtype = ? "
                        "AND r.checkpoint = ? "
                        "ORDER BY r.run_id, r.id");
  st.bind(1, key.spec).bind(2, key.producer).bind(3, key.consumer).bind(4, key.device).bind(5, key.dtype)
      .bind(6, key.checkpoint);
  std::vector<StoredResult> out;
  while (st.step()) out.push_back(row_to_result(st));
  return out;
}

std::vector<RunInfo> Store::runs() {
  auto st = db_.prepare(
      "SELECT r.id, r.uuid, r.started_at, COALESCE(r.finished_at, ''), r.status, r.harness_version, r.args, "
      "(SELECT COUNT(*) FROM results x WHERE x.run_id = r.id) FROM runs r ORDER BY r.id");
  std::vector<RunInfo> out;
  while (st.step())
    out.push_back({st.int_at(0), st.text_at(1), st.text_at(2), st.text_at(3), st.text_at(4), st.text_at(5),
                   st.text_at(6), st.int_at(7)});
  return out;
}

std::optional<RunInfo> Store::run(int64_t id) {
  for (auto& r : runs())
    if (r.id == id) return r;
  return std::nullopt;
}

int64_t Store::latest_run_id() {
  auto st = db_.prepare("SELECT COALESCE(MAX(id), 0) FROM runs");
  st.step();
  return st.int_at(0);
}

std::map<std::string, std::string> Store::spec_definitions() {
  std::map<std::string, std::string> out;
  auto st = db_.prepare("SELECT name, definition FROM specs");
  while (st.step()) out[st.text_at(0)] = st.text_at(1);
  return out;
}

std::map<std::string, std::string> Store::release_reasons() {
  std::map<std::string, std::string> out;
  auto st = db_.prepare("SELECT version, reason FROM releases");
  while (st.step()) out[st.text_at(0)] = st.text_at(1);
  return out;
}

std::vector<Consumer> Store::consumers() {
  std::vector<Consumer> out;
  auto st = db_.prepare("SELECT name, kind, version FROM consumers ORDER BY id");
  while (st.step()) out.push_back({st.text_at(0), st.text_at(1), st.text_at(2)});
  return out;
}

std::vector<int64_t> Store::recording_runs() {
  std::vector<int64_t> out;
  auto st = db_.prepare("SELECT DISTINCT run_id FROM results ORDER BY run_id");
  while (st.step()) out.push_back(st.int_at(0));
  return out;
}

void Store::for_each_result_in_cell_order(const std::function<void(const TimelineRow&)>& fn) {
  // Names resolved once, not joined per row: this walks every result.
  auto names = [&](const char* sql) {
    std::unordered_map<int64_t, std::string> m;
    auto st = db_.prepare(sql);
    while (st.step()) m[st.int_at(0)] = st.text_at(1);
    return m;
  };
  auto specs = names("SELECT id, name FROM specs");
  auto releases = names("SELECT id, version FROM releases");
  auto consumers = names("SELECT id, name FROM consumers");
  auto st = db_.prepare(
      "SELECT spec_id, producer_id, consumer_id, device, dtype, checkpoint, run_id, verdict, flaky FROM results "
      "ORDER BY spec_id, producer_id, consumer_id, device, dtype, checkpoint, run_id, id");
  TimelineRow row;
  int64_t ids[3] = {-1, -1, -1};
  while (st.step()) {
    const int64_t s = st.int_at(0), p = st.int_at(1), c = st.int_at(2);
    if (s != ids[0] || p != ids[1] || c != ids[2] || st.text_at(3) != row.key.device ||
        st.text_at(4) != row.key.dtype || st.text_at(5) != row.key.checkpoint) {
      ids[0] = s, ids[1] = p, ids[2] = c;
      row.key = {specs[s], releases[p], consumers[c], st.text_at(3), st.text_at(4), st.text_at(5)};
    }
    row.run_id = st.int_at(6);
    row.verdict = verdict_from_name(st.text_at(7));
    row.flaky = st.int_at(8) != 0;
    fn(row);
  }
}

void Store::checkpoint() { db_.exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

}  // namespace xcompat
