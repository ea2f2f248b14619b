#include "matrix/store.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <array>
#include <fstream>
#include <random>
#include <set>
#include <unordered_map>
#include <string_view>

#include "harness/core/error.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

std::string now_utc() {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", now);
}

std::string new_uuid() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid()));
  return fmt::format("{:016x}{:016x}", gen(), gen());
}

// SQLite happily "opens" any file and fails on first use; check the header
// up front so a wrong or damaged file gets a clear message.
void check_is_database(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;  // does not exist yet
  char header[16] = {};
  in.read(header, sizeof header);
  if (in.gcount() == 0) return;  // empty file: SQLite treats it as a new database
  if (in.gcount() < 16 || std::string(header, 15) != "SQLite format 3")
    throw Error("database " + path + " is not an xcompat matrix (not an SQLite file); move it away or pass --db");
}

// The results table's columns, in one order that every statement follows:
// record()'s INSERT, merge_from()'s copy and every read. Reads select the
// names of spec, producer and consumer in place of their ids.
constexpr std::array<const char*, 21> kColumns = {
    "run_id",   "spec_id", "producer_id", "consumer_id", "device",     "dtype", "verdict",
    "max_abs",  "max_rel", "mean_abs",    "nmse",        "cosine",     "top1",  "latency_ms",
    "load_report", "error", "cache_key",  "flaky",       "recorded_at", "tolerance_override", "bitwise"};

constexpr int col(std::string_view name) {
  for (size_t i = 0; i < kColumns.size(); ++i)
    if (name == kColumns[i]) return static_cast<int>(i);
  throw "no such column";  // a compile-time error where col() is constant-evaluated
}

// "a, b, c" of the columns, each through `each(name)`.
template <class F>
std::string column_list(F each) {
  std::string out;
  for (auto c : kColumns) out += (out.empty() ? "" : ", ") + each(std::string(c));
  return out;
}

// What a read selects in column position: the ids as names.
std::string read_expr(const std::string& c) {
  if (c == "spec_id") return "s.name";
  if (c == "producer_id") return "p.version";
  if (c == "consumer_id") return "c.name";
  return "r." + c;
}

const std::string kSelectResults = "SELECT " + column_list(read_expr) +
                                   " FROM results r JOIN specs s ON s.id = r.spec_id "
                                   "JOIN releases p ON p.id = r.producer_id JOIN consumers c ON c.id = r.consumer_id ";

StoredResult row_to_result(const sql::Stmt& st) {
  StoredResult s;
  s.run_id = st.int_at(col("run_id"));
  s.recorded_at = st.text_at(col("recorded_at"));
  CellResult& c = s.cell;
  c.key = {st.text_at(col("spec_id")), st.text_at(col("producer_id")), st.text_at(col("consumer_id")),
           st.text_at(col("device")), st.text_at(col("dtype"))};
  c.verdict = verdict_from_name(st.text_at(col("verdict")));
  if (!st.is_null(col("nmse"))) {
    Metrics m;
    m.max_abs = st.real_at(col("max_abs"));
    m.max_rel = st.real_at(col("max_rel"));
    m.mean_abs = st.real_at(col("mean_abs"));
    m.nmse = st.real_at(col("nmse"));
    m.cosine = st.real_at(col("cosine"));
    m.top1 = st.real_at(col("top1"));
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
  return s;
}

std::optional<double> finite_or_null(double v) {
  if (std::isnan(v)) return std::nullopt;
  return v;
}

}  // namespace

json RunInfo::to_json() const {
  json a = json::object();
  try {
    a = json::parse(args);
  } catch (const json::exception&) {
  }
  return {{"id", id}, {"uuid", uuid}, {"started_at", started_at}, {"finished_at", finished_at},
          {"status", status}, {"harness_version", harness_version}, {"args", a}, {"results", results}};
}

Store::Store(const std::string& path, bool create) : db_((check_is_database(path), path), create) {
  // No whole-file scan here: opening must stay milliseconds on a year of
  // history. Every read meets damage page by page and reports it (sqlite.cpp);
  // the root page of each table is touched now, so a damaged file usually
  // fails right at open. `integrity_check()` reads everything.
  db_.exec("PRAGMA journal_mode = WAL");
  db_.exec("PRAGMA foreign_keys = ON");
  db_.exec("PRAGMA synchronous = NORMAL");
  // Check every b-tree page's cell layout as it is read, not only what a
  // query happens to follow: damage is caught on the first read of a page.
  db_.exec("PRAGMA cell_size_check = ON");
  migrate(db_);
  for (auto table : {"releases", "specs", "consumers", "runs", "results"})
    db_.prepare(fmt::format("SELECT * FROM {} LIMIT 1", table)).step();
  // Only writers recover: a reader (query, report) must not relabel the run
  // of a sweep that is still going in another process.
  if (create) recover_interrupted_runs();
}

std::string Store::integrity_check() {
  auto st = db_.prepare("PRAGMA integrity_check");
  std::string out;
  while (st.step()) out += (out.empty() ? "" : "\n") + st.text_at(0);
  return out;
}

int Store::schema_version() {
  auto st = db_.prepare("PRAGMA user_version");
  st.step();
  return static_cast<int>(st.int_at(0));
}

void Store::recover_interrupted_runs() {
  // A run still "running" whose process is gone was interrupted. Its recorded
  // results stay; the next sweep resumes by skipping their cache keys.
  // (Concurrent sweeps on one file are not supported: that is what shards and
  // merge are for.)
  db_.exec("UPDATE runs SET status = 'interrupted' WHERE status = 'running'");
}

int64_t Store::id_of(const char* table, const char* column, const std::string& value) {
  const std::string cache_key = std::string(table) + "\x1f" + value;
  if (auto it = id_cache_.find(cache_key); it != id_cache_.end()) return it->second;
  auto st = db_.prepare(fmt::format("SELECT id FROM {} WHERE {} = ?", table, column));
  st.bind(1, value);
  if (!st.step()) throw Error(fmt::format("{} '{}' is not registered in {}", table, value, db_.path()));
  return id_cache_[cache_key] = st.int_at(0);
}

void Store::register_release(const Release& r) {
  db_.prepare("INSERT INTO releases (version, reason) VALUES (?, ?) "
              "ON CONFLICT (version) DO UPDATE SET reason = excluded.reason")
      .bind(1, r.version).bind(2, r.reason).run();
}

void Store::register_spec(const Spec& s) {
  db_.prepare("INSERT INTO specs (name, definition, hash) VALUES (?, ?, ?) "
              "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, hash = excluded.hash")
      .bind(1, s.name).bind(2, s.definition.dump()).bind(3, s.content_hash()).run();
}

void Store::register_consumer(const Consumer& c) {
  db_.prepare("INSERT INTO consumers (name, kind, version) VALUES (?, ?, ?) "
              "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, version = excluded.version")
      .bind(1, c.name).bind(2, c.kind).bind(3, c.version).run();
}

int64_t Store::begin_run(const json& args) {
  db_.prepare("INSERT INTO runs (uuid, started_at, status, harness_version, args) VALUES (?, ?, 'running', ?, ?)")
      .bind(1, new_uuid()).bind(2, now_utc()).bind(3, XCOMPAT_VERSION).bind(4, args.dump()).run();
  return db_.last_insert_id();
}

void Store::finish_run(int64_t run_id, const std::string& status) {
  db_.prepare("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?")
      .bind(1, status).bind(2, now_utc()).bind(3, run_id).run();
}

void Store::record(int64_t run_id, const std::vector<CellResult>& cells) {
  if (cells.empty()) return;
  static const std::string sql = [] {
    // A cell recorded twice in one run keeps its last result.
    const std::set<std::string_view> key = {"run_id", "spec_id", "producer_id", "consumer_id", "device", "dtype"};
    std::string set;
    for (auto c : kColumns)
      if (!key.count(c)) set += (set.empty() ? "" : ", ") + std::string(c) + " = excluded." + c;
    return "INSERT INTO results (" + column_list([](const std::string& c) { return c; }) + ") VALUES (" +
           column_list([](const std::string&) { return std::string("?"); }) +
           ") ON CONFLICT (run_id, spec_id, producer_id, consumer_id, device, dtype) DO UPDATE SET " + set;
  }();
  sql::Transaction tx(db_);
  auto st = db_.prepare(sql);
  const std::string now = now_utc();
  auto at = [](std::string_view name) { return col(name) + 1; };  // binds are 1-based
  for (auto& c : cells) {
    st.bind(at("run_id"), run_id)
        .bind(at("spec_id"), id_of("specs", "name", c.key.spec))
        .bind(at("producer_id"), id_of("releases", "version", c.key.producer))
        .bind(at("consumer_id"), id_of("consumers", "name", c.key.consumer))
        .bind(at("device"), c.key.device)
        .bind(at("dtype"), c.key.dtype)
        .bind(at("verdict"), verdict_name(c.verdict));
    if (c.metrics) {
      st.bind(at("max_abs"), finite_or_null(c.metrics->max_abs))
          .bind(at("max_rel"), finite_or_null(c.metrics->max_rel))
          .bind(at("mean_abs"), finite_or_null(c.metrics->mean_abs))
          .bind(at("nmse"), c.metrics->nmse)
          .bind(at("cosine"), finite_or_null(c.metrics->cosine))
          .bind(at("top1"), c.metrics->top1);
    } else {
      for (auto m : {"max_abs", "max_rel", "mean_abs", "nmse", "cosine", "top1"}) st.bind_null(at(m));
    }
    st.bind(at("latency_ms"), c.latency_ms)
        .bind(at("load_report"), c.load_report.to_json().dump())
        .bind(at("error"), c.error)
        .bind(at("cache_key"), c.cache_key)
        .bind(at("flaky"), c.flaky ? 1 : 0)
        .bind(at("recorded_at"), now)
        .bind(at("tolerance_override"), c.tolerance_override)
        .bind(at("bitwise"), c.metrics && c.metrics->bitwise ? 1 : 0);
    st.run();
  }
  tx.commit();
}

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
                        "producer_id, consumer_id, device, dtype ORDER BY run_id DESC, id DESC) AS k "
                        "FROM results WHERE run_id <= ?) WHERE k = 1) "
                        "ORDER BY s.name, p.id, c.id, r.device, r.dtype");
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
                        "GROUP BY r.spec_id, r.device, r.dtype ORDER BY s.name, r.device, r.dtype");
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
                        "ORDER BY r.run_id, r.id");
  st.bind(1, key.spec).bind(2, key.producer).bind(3, key.consumer).bind(4, key.device).bind(5, key.dtype);
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
      "SELECT spec_id, producer_id, consumer_id, device, dtype, run_id, verdict, flaky FROM results "
      "ORDER BY spec_id, producer_id, consumer_id, device, dtype, run_id, id");
  TimelineRow row;
  int64_t ids[3] = {-1, -1, -1};
  while (st.step()) {
    const int64_t s = st.int_at(0), p = st.int_at(1), c = st.int_at(2);
    if (s != ids[0] || p != ids[1] || c != ids[2] || st.text_at(3) != row.key.device || st.text_at(4) != row.key.dtype) {
      ids[0] = s, ids[1] = p, ids[2] = c;
      row.key = {specs[s], releases[p], consumers[c], st.text_at(3), st.text_at(4)};
    }
    row.run_id = st.int_at(5);
    row.verdict = verdict_from_name(st.text_at(6));
    row.flaky = st.int_at(7) != 0;
    fn(row);
  }
}

void Store::checkpoint() { db_.exec("PRAGMA wal_checkpoint(TRUNCATE)"); }

int64_t Store::merge_from(const std::string& other_path) {
  { Store other(other_path, false); }  // validates and migrates the input first
  db_.prepare("ATTACH DATABASE ? AS other").bind(1, other_path).run();
  int64_t added = 0;
  try {
    sql::Transaction tx(db_);
    db_.exec("INSERT OR IGNORE INTO releases (version, reason) SELECT version, reason FROM other.releases");
    db_.exec("INSERT OR IGNORE INTO specs (name, definition, hash) SELECT name, definition, hash FROM other.specs");
    db_.exec("INSERT OR IGNORE INTO consumers (name, kind, version) SELECT name, kind, version FROM other.consumers");
    db_.exec("INSERT OR IGNORE INTO runs (uuid, started_at, finished_at, status, harness_version, args) "
             "SELECT uuid, started_at, finished_at, status, harness_version, args FROM other.runs ORDER BY id");
    static const std::string copy_results = [] {
      auto from_other = [](const std::string& c) -> std::string {
        if (c == "run_id") return "mr.id";
        if (c == "spec_id") return "ms.id";
        if (c == "producer_id") return "mp.id";
        if (c == "consumer_id") return "mc.id";
        return "o." + c;
      };
      return "INSERT OR IGNORE INTO results (" + column_list([](const std::string& c) { return c; }) + ") SELECT " +
             column_list(from_other) +
             " FROM other.results o "
             "JOIN other.runs orr ON orr.id = o.run_id JOIN main.runs mr ON mr.uuid = orr.uuid "
             "JOIN other.specs os ON os.id = o.spec_id JOIN main.specs ms ON ms.name = os.name "
             "JOIN other.releases op ON op.id = o.producer_id JOIN main.releases mp ON mp.version = op.version "
             "JOIN other.consumers oc ON oc.id = o.consumer_id JOIN main.consumers mc ON mc.name = oc.name "
             "ORDER BY o.run_id, o.id";
    }();
    db_.exec(copy_results);
    added = db_.changes();
    tx.commit();
  } catch (...) {
    db_.exec("DETACH DATABASE other");
    throw;
  }
  db_.exec("DETACH DATABASE other");
  id_cache_.clear();
  return added;
}

}  // namespace xcompat
