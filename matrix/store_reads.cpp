// The store's reads: the matrix as of a run, one pair, one cell's history,
// runs, and the named queries the report and the command line use. Each
// reads spans (history by change) and turns them back into per-run results.
#include <sqlite3.h>

#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "harness/core/error.hpp"
#include "matrix/run_membership.hpp"
#include "matrix/store.hpp"
#include "matrix/store_columns.hpp"

namespace xcompat {

using json = nlohmann::json;
using namespace store_columns;

namespace store_columns {

std::string select_from(const std::string& spans) {
  std::string cols;
  for (auto c : kRead) cols += (cols.empty() ? "" : ", ") + std::string(c);
  return "SELECT " + cols + " FROM " + spans +
         " sp JOIN outcomes o ON o.id = sp.outcome_id JOIN cells c ON c.id = sp.cell_id "
         "JOIN specs s ON s.id = c.spec_id JOIN releases p ON p.id = c.producer_id "
         "JOIN consumers k ON k.id = c.consumer_id ";
}

const std::string& TextCache::body(int64_t id) {
  static const std::string empty;
  if (id <= 0) return empty;
  if (auto it = bodies_.find(id); it != bodies_.end()) return it->second;
  if (!st_) st_.emplace(db_.prepare("SELECT body FROM texts WHERE id = ?"));
  st_->reset();
  st_->bind(1, id);
  std::string b = st_->step() ? st_->text_at(0) : "";
  st_->reset();
  return bodies_[id] = std::move(b);
}

const json& TextCache::json(int64_t id) {
  if (auto it = parsed_.find(id); it != parsed_.end()) return it->second;
  nlohmann::json j;
  const std::string& b = body(id);
  if (!b.empty()) {
    try {
      j = nlohmann::json::parse(b);
    } catch (const nlohmann::json::exception&) {
    }
  }
  return parsed_[id] = std::move(j);
}

const LoadReport& TextCache::load_report(int64_t id) {
  if (auto it = reports_.find(id); it != reports_.end()) return it->second;
  LoadReport r;
  const nlohmann::json& j = json(id);
  if (j.is_object()) {
    try {
      r = LoadReport::from_json(j);
    } catch (const nlohmann::json::exception&) {
    }
  }
  parsed_.erase(id);  // kept as the LoadReport only
  return reports_[id] = std::move(r);
}

Read row_to_read(const sql::Stmt& st, TextCache& texts) {
  Read r;
  r.span_first = st.int_at(col("sp.first_run"));
  r.span_last = st.int_at(col("sp.last_run"));
  r.outcome_first = st.int_at(col("o.first_run"));
  r.outcome_recorded_at = st.text_at(col("o.recorded_at"));
  r.cell_id = st.int_at(col("c.id"));
  StoredResult& s = r.result;
  s.run_id = r.span_last;
  s.recorded_at = r.outcome_recorded_at;
  CellResult& c = s.cell;
  c.key = {st.text_at(col("s.name")), st.text_at(col("p.version")), st.text_at(col("k.name")),
           st.text_at(col("c.device")), st.text_at(col("c.dtype")), st.text_at(col("c.checkpoint"))};
  c.verdict = verdict_from_name(st.text_at(col("o.verdict")));
  if (!st.is_null(col("o.nmse"))) {
    // NaN is stored as the text 'NaN' (SQLite would make a bound NaN NULL).
    auto figure_at = [&](std::string_view name) {
      const int i = col(name);
      return st.is_text(i) ? figure_from_json(st.text_at(i), NAN) : st.real_at(i);
    };
    Metrics m;
    m.max_abs = figure_at("o.max_abs");
    m.max_rel = figure_at("o.max_rel");
    m.mean_abs = figure_at("o.mean_abs");
    m.nmse = figure_at("o.nmse");
    m.cosine = figure_at("o.cosine");
    m.top1 = figure_at("o.top1");
    m.bitwise = st.int_at(col("o.bitwise")) != 0;
    c.metrics = m;
  }
  c.latency_ms = st.real_at(col("o.latency_ms"));
  auto text_id = [&](std::string_view name) { return st.is_null(col(name)) ? int64_t{0} : st.int_at(col(name)); };
  c.load_report = texts.load_report(text_id("o.load_report"));
  c.error = texts.body(text_id("o.error"));
  c.cache_key = st.text_at(col("o.cache_key"));
  c.flaky = st.int_at(col("o.flaky")) != 0;
  c.tolerance_override = st.text_at(col("o.tolerance_override"));
  if (!st.is_null(col("o.direct_verdict"))) c.direct_verdict = verdict_from_name(st.text_at(col("o.direct_verdict")));
  if (const int64_t id = text_id("o.conversion")) c.conversion = texts.json(id);
  if (const int64_t id = text_id("o.causes")) c.causes = texts.json(id);
  if (const int64_t id = text_id("o.warnings"))
    for (auto& w : texts.json(id))
      if (w.is_string()) c.warnings.push_back(w.get<std::string>());
  return r;
}

void place(Read& r, int64_t run, const RunMembership& m) {
  r.result.run_id = run;
  // An outcome first seen in an earlier run was answered from the store by
  // its cache key in this one.
  r.result.cell.reused = run != r.outcome_first;
  if (run != r.outcome_first) {
    const std::string t = m.started_at(run);
    if (!t.empty()) r.result.recorded_at = t;
  }
}

}  // namespace store_columns

namespace {

// id -> name of one of the small tables (specs, releases, consumers), read
// once by the readers that walk every cell instead of joining per row.
std::unordered_map<int64_t, std::string> names_by_id(sql::Db& db, const char* sql) {
  std::unordered_map<int64_t, std::string> m;
  auto st = db.prepare(sql);
  while (st.step()) m[st.int_at(0)] = st.text_at(1);
  return m;
}

// The run that last recorded a cell as of run `as_of`, given the span in
// effect then: its last run, or, when the span goes on past `as_of`, the
// newest run by then whose set holds the cell (its first run when those
// runs were dropped by gc).
int64_t run_as_of(int64_t cell, int64_t span_first, int64_t span_last, int64_t as_of,
                  std::optional<RunMembership>& m, sql::Db& db) {
  if (span_last <= as_of) return span_last;
  if (!m) m.emplace(db);
  const int64_t run = m->latest(cell, span_first, as_of);
  return run ? run : span_first;
}

}  // namespace

std::optional<CellResult> Store::find_cached(const std::string& cache_key) {
  static const std::string sql = select_from(
      "(SELECT cell_id, first_run, first_run AS last_run, id AS outcome_id FROM outcomes "
      "WHERE cache_key = ?1 ORDER BY id DESC LIMIT 1)");
  auto& st = cached(sql);
  if (!texts_) texts_ = std::make_unique<TextCache>(db_);
  TextCache& texts = *texts_;
  st.bind(1, cache_key);
  if (!st.step()) return std::nullopt;
  CellResult c = row_to_read(st, texts).result.cell;
  c.stored_outcome = st.int_at(col("o.id"));
  st.reset();
  return c;
}

std::vector<StoredResult> Store::matrix_as_of(int64_t run_id) {
  TextCache texts(db_);
  const int64_t as_of = run_id > 0 ? run_id : INT64_MAX;
  // Each cell's span in effect at the run: the latest that began by then
  // (SQLite takes a MAX() aggregate's bare columns from the maximum's row).
  auto st = db_.prepare(select_from("(SELECT cell_id, MAX(first_run) AS first_run, last_run, outcome_id FROM spans "
                                    "WHERE first_run <= ?1 GROUP BY cell_id)") +
                        "ORDER BY s.name, p.id, k.id, c.device, c.dtype, c.checkpoint");
  st.bind(1, as_of);
  std::vector<StoredResult> out;
  std::optional<RunMembership> m;
  while (st.step()) {
    Read r = row_to_read(st, texts);
    const int64_t run = run_as_of(r.cell_id, r.span_first, r.span_last, as_of, m, db_);
    if (!m) m.emplace(db_);
    place(r, run, *m);
    out.push_back(std::move(r.result));
  }
  return out;
}

std::vector<StoredResult> Store::verdicts_as_of(int64_t run_id) {
  const int64_t as_of = run_id > 0 ? run_id : INT64_MAX;
  auto specs = names_by_id(db_, "SELECT id, name FROM specs");
  auto releases = names_by_id(db_, "SELECT id, version FROM releases");
  auto consumers = names_by_id(db_, "SELECT id, name FROM consumers");
  auto st = db_.prepare(
      "SELECT sp.cell_id, sp.first_run, sp.last_run, o.first_run, o.verdict, o.flaky, c.spec_id, c.producer_id, "
      "c.consumer_id, c.device, c.dtype, c.checkpoint FROM (SELECT cell_id, MAX(first_run) AS first_run, last_run, "
      "outcome_id FROM spans WHERE first_run <= ?1 GROUP BY cell_id) sp JOIN outcomes o ON o.id = sp.outcome_id "
      "JOIN cells c ON c.id = sp.cell_id JOIN specs s ON s.id = c.spec_id "
      "ORDER BY s.name, c.producer_id, c.consumer_id, c.device, c.dtype, c.checkpoint");  // matrix_as_of's order
  st.bind(1, as_of);
  std::vector<StoredResult> out;
  std::optional<RunMembership> m;
  while (st.step()) {
    StoredResult r;
    r.run_id = run_as_of(st.int_at(0), st.int_at(1), st.int_at(2), as_of, m, db_);
    r.cell.reused = r.run_id != st.int_at(3);
    r.cell.verdict = verdict_from_name(st.text_at(4));
    r.cell.flaky = st.int_at(5) != 0;
    r.cell.key = {specs[st.int_at(6)], releases[st.int_at(7)], consumers[st.int_at(8)], st.text_at(9),
                  st.text_at(10), st.text_at(11)};
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<StoredResult> Store::latest_for_pair(const std::string& producer, const std::string& consumer,
                                                 const std::string& spec) {
  TextCache texts(db_);
  auto id = [&](const char* sql, const std::string& v) -> int64_t {
    auto st = db_.prepare(sql);
    st.bind(1, v);
    return st.step() ? st.int_at(0) : -1;
  };
  const int64_t p = id("SELECT id FROM releases WHERE version = ?", producer),
                c = id("SELECT id FROM consumers WHERE name = ?", consumer);
  // Through cells_by_pair: the pair's cells, then each one's latest span.
  auto st = db_.prepare(
      select_from("(SELECT x.cell_id, MAX(x.first_run) AS first_run, x.last_run, x.outcome_id FROM cells y "
                  "JOIN spans x ON x.cell_id = y.id WHERE y.producer_id = ?1 AND y.consumer_id = ?2 "
                  "GROUP BY x.cell_id)") +
      "WHERE (?3 = '' OR s.name = ?3) ORDER BY s.name, c.device, c.dtype, c.checkpoint");
  st.bind(1, p).bind(2, c).bind(3, spec);
  std::vector<StoredResult> out;
  std::optional<RunMembership> m;
  while (st.step()) {
    Read r = row_to_read(st, texts);
    if (!m) m.emplace(db_);
    place(r, r.span_last, *m);
    out.push_back(std::move(r.result));
  }
  return out;
}

bool Store::has_producer(const std::string& version) {
  auto st = db_.prepare("SELECT 1 FROM cells c JOIN releases p ON p.id = c.producer_id WHERE p.version = ? LIMIT 1");
  st.bind(1, version);
  return st.step();
}

bool Store::has_consumer(const std::string& name) {
  auto st = db_.prepare("SELECT 1 FROM cells c JOIN consumers k ON k.id = c.consumer_id WHERE k.name = ? LIMIT 1");
  st.bind(1, name);
  return st.step();
}

std::vector<StoredResult> Store::history(const CellKey& key) {
  TextCache texts(db_);
  auto st = db_.prepare(select_from("spans") +
                        "WHERE s.name = ? AND p.version = ? AND k.name = ? AND c.device = ? AND c.dtype = ? "
                        "AND c.checkpoint = ? ORDER BY sp.first_run");
  st.bind(1, key.spec).bind(2, key.producer).bind(3, key.consumer).bind(4, key.device).bind(5, key.dtype)
      .bind(6, key.checkpoint);
  std::vector<StoredResult> out;
  std::optional<RunMembership> m;
  while (st.step()) {
    Read r = row_to_read(st, texts);
    if (!m) m.emplace(db_);
    auto runs = m->members(r.cell_id, r.span_first, r.span_last);
    if (runs.empty()) runs = {r.span_last};  // its runs were dropped by `xcompat gc`
    for (int64_t run : runs) {
      Read each = r;
      place(each, run, *m);
      out.push_back(std::move(each.result));
    }
  }
  return out;
}

std::optional<Store::LatestDirect> Store::latest_direct_verdict(const CellKey& key) {
  auto& st = cached(
      "SELECT COALESCE(o.direct_verdict, o.verdict), o.flaky FROM cells c JOIN specs s ON s.id = c.spec_id JOIN releases p ON p.id = c.producer_id "
      "JOIN consumers k ON k.id = c.consumer_id JOIN spans sp ON sp.cell_id = c.id JOIN outcomes o ON o.id = "
      "sp.outcome_id WHERE s.name = ? AND p.version = ? AND k.name = ? AND c.device = ? AND c.dtype = ? AND "
      "c.checkpoint = ? ORDER BY sp.first_run DESC LIMIT 1");
  st.bind(1, key.spec).bind(2, key.producer).bind(3, key.consumer).bind(4, key.device).bind(5, key.dtype)
      .bind(6, key.checkpoint);
  std::optional<LatestDirect> v;
  if (st.step()) v = LatestDirect{verdict_from_name(st.text_at(0)), st.int_at(1) != 0};
  st.reset();
  return v;
}

std::vector<RunInfo> Store::runs() {
  RunMembership m(db_);
  auto st = db_.prepare(
      "SELECT id, uuid, started_at, COALESCE(finished_at, ''), status, harness_version, args FROM runs ORDER BY id");
  std::vector<RunInfo> out;
  while (st.step())
    out.push_back({st.int_at(0), st.text_at(1), st.text_at(2), st.text_at(3), st.text_at(4), st.text_at(5),
                   st.text_at(6), m.size(st.int_at(0))});
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

std::vector<int64_t> Store::recording_runs() { return RunMembership(db_).recording_runs(); }

void Store::for_each_result_in_cell_order(const std::function<void(const TimelineRow&)>& fn) {
  // Names resolved once, not joined per row: this walks every span.
  auto specs = names_by_id(db_, "SELECT id, name FROM specs");
  auto releases = names_by_id(db_, "SELECT id, version FROM releases");
  auto consumers = names_by_id(db_, "SELECT id, name FROM consumers");
  RunMembership m(db_);
  auto st = db_.prepare(
      "SELECT c.id, c.spec_id, c.producer_id, c.consumer_id, c.device, c.dtype, c.checkpoint, sp.first_run, "
      "sp.last_run, sp.runs, o.verdict, o.flaky FROM cells c JOIN spans sp ON sp.cell_id = c.id "
      "JOIN outcomes o ON o.id = sp.outcome_id "
      "ORDER BY c.spec_id, c.producer_id, c.consumer_id, c.device, c.dtype, c.checkpoint, sp.first_run");
  TimelineRow row;
  int64_t cell = -1;
  while (st.step()) {
    if (st.int_at(0) != cell) {
      cell = st.int_at(0);
      row.key = {specs[st.int_at(1)], releases[st.int_at(2)], consumers[st.int_at(3)], st.text_at(4), st.text_at(5),
                 st.text_at(6)};
    }
    row.verdict = verdict_from_name(st.text_at(10));
    row.flaky = st.int_at(11) != 0;
    const int64_t first = st.int_at(7), last = st.int_at(8), runs = st.int_at(9);
    if (row.flaky && runs > 1) {
      // Every run that recorded a flaky result is its own step of the
      // history (the report lists each), as when each run kept a copy.
      auto each = m.members(cell, first, last);
      if (!each.empty()) {
        for (int64_t r : each) {
          row.run_id = row.last_run_id = r;
          row.runs = 1;
          fn(row);
        }
        continue;
      }
    }
    row.run_id = first;
    row.last_run_id = last;
    row.runs = runs;
    fn(row);
  }
}

void Store::checkpoint() { db_.exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

}  // namespace xcompat
