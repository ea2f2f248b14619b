#include "matrix/store.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>

#include "harness/core/fault_points.hpp"
#include "harness/core/error.hpp"
#include "matrix/result_writer.hpp"
#include "matrix/store_columns.hpp"

namespace xcompat {

using json = nlohmann::json;

namespace {

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
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
  // Setting WAL takes an exclusive lock, and SQLite answers "locked" at once
  // (no busy wait) while another process creates or migrates the same file:
  // wait for it, as the busy timeout waits for writers.
  for (int attempt = 0;; ++attempt) {
    try {
      db_.exec("PRAGMA journal_mode = WAL");
      break;
    } catch (const Error& e) {
      if (attempt >= 300 || std::string(e.what()).find("locked") == std::string::npos) throw;
      ::usleep(100 * 1000);
    }
  }
  db_.exec("PRAGMA foreign_keys = ON");
  db_.exec("PRAGMA synchronous = NORMAL");
  // Check every b-tree page's cell layout as it is read, not only what a
  // query happens to follow: damage is caught on the first read of a page.
  db_.exec("PRAGMA cell_size_check = ON");
  migrate(db_);
  for (auto table : {"releases", "specs", "consumers", "runs", "cells", "outcomes", "spans"})
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

namespace {

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// The start time of process `pid` (clock ticks since boot, /proc/<pid>/stat
// field 22): with the pid, it names one process even after pids wrap.
std::string process_start(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return "";
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) return field;
  return "";
}

}  // namespace

std::string Store::this_process_owner() {
  return host_name() + ":" + std::to_string(getpid()) + ":" + process_start(getpid());
}

bool Store::owner_alive(const std::string& owner) {
  const auto a = owner.find(':'), b = owner.rfind(':');
  if (owner.empty() || a == std::string::npos || a == b) return false;  // runs from before owners were recorded
  if (owner.substr(0, a) != host_name()) return true;  // another machine's: not ours to judge
  const long pid = std::strtol(owner.c_str() + a + 1, nullptr, 10);
  return pid > 0 && process_start(pid) == owner.substr(b + 1);
}

void Store::recover_interrupted_runs() {
  // A run still "running" whose process is gone was interrupted. Its recorded
  // results stay; the next sweep resumes by skipping their cache keys. A run
  // whose process still lives is another sweep on the same file: left alone.
  std::vector<int64_t> gone;
  {
    auto st = db_.prepare("SELECT id, owner FROM runs WHERE status = 'running'");
    while (st.step())
      if (!owner_alive(st.text_at(1))) gone.push_back(st.int_at(0));
  }
  for (int64_t id : gone) {
    sql::Transaction tx(db_);
    writer().consolidate(id);
    db_.prepare("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'").bind(1, id).run();
    tx.commit();
  }
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
  db_.prepare("INSERT INTO runs (uuid, started_at, status, harness_version, args, owner) "
              "VALUES (?, ?, 'running', ?, ?, ?)")
      .bind(1, new_uuid()).bind(2, now_utc()).bind(3, XCOMPAT_VERSION).bind(4, args.dump())
      .bind(5, this_process_owner()).run();
  return db_.last_insert_id();
}

void Store::finish_run(int64_t run_id, const std::string& status) {
  sql::Transaction tx(db_);
  // The batches' chunks become one set, shared with every run that recorded
  // the same cells (a nightly's plan is stored once).
  writer().consolidate(run_id);
  db_.prepare("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?")
      .bind(1, status).bind(2, now_utc()).bind(3, run_id).run();
  tx.commit();
}

Store::~Store() = default;

ResultWriter& Store::writer() {
  if (!writer_) writer_ = std::make_unique<ResultWriter>(db_);
  return *writer_;
}

sql::Stmt& Store::cached(const std::string& sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) it = stmts_.emplace(sql, db_.prepare(sql)).first;
  it->second.reset();
  return it->second;
}

void Store::record_check(const CheckRecord& c) {
  db_.prepare(
        "INSERT INTO checks (file_sha256, file_name, checked_at, harness_version, from_release, from_source, "
        "consumer, path, spec, verdict, direct_verdict, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, c.file_sha256)
      .bind(2, c.file_name)
      .bind(3, c.checked_at.empty() ? now_utc() : c.checked_at)
      .bind(4, XCOMPAT_VERSION)
      .bind(5, c.from_release)
      .bind(6, c.from_source)
      .bind(7, c.consumer)
      .bind(8, c.path)
      .bind(9, c.spec.dump())
      .bind(10, verdict_name(c.cell.verdict))
      .bind(11, c.cell.direct_verdict ? std::optional<std::string>(verdict_name(*c.cell.direct_verdict)) : std::nullopt)
      .bind(12, c.cell.to_json().dump())
      .run();
}

std::vector<CheckRecord> Store::checks_of(const std::string& file_sha256) {
  auto st = db_.prepare(
      "SELECT file_sha256, file_name, checked_at, from_release, from_source, consumer, path, spec, result "
      "FROM checks WHERE file_sha256 = ? ORDER BY checked_at, id");
  st.bind(1, file_sha256);
  std::vector<CheckRecord> out;
  while (st.step()) {
    CheckRecord r{st.text_at(0), st.text_at(1), st.text_at(2), st.text_at(3), st.text_at(4), st.text_at(5),
                  st.text_at(6), json::parse(st.text_at(7)), CellResult::from_json(json::parse(st.text_at(8)))};
    out.push_back(std::move(r));
  }
  return out;
}

void Store::record(int64_t run_id, const std::vector<CellResult>& cells) {
  if (cells.empty()) return;
  sql::Transaction tx(db_);
  ResultWriter& w = writer();
  const std::string now = now_utc();
  std::vector<int64_t> recorded;
  recorded.reserve(cells.size());
  for (auto& c : cells) {
    const int64_t cell = w.cell(id_of("specs", "name", c.key.spec), id_of("releases", "version", c.key.producer),
                                id_of("consumers", "name", c.key.consumer), c.key);
    // A result reused as it was read refers to its stored outcome.
    const int64_t outcome = c.reused && c.stored_outcome > 0 && w.outcome_of_cell(c.stored_outcome, cell)
                                ? c.stored_outcome
                                : w.outcome(cell, c, run_id, now);
    w.observe(run_id, cell, outcome);
    recorded.push_back(cell);
    fault_point("store.mid-transaction");  // a row written, the batch not committed
  }
  w.add_cells(run_id, recorded);
  tx.commit();
  fault_point("store.after-commit");
}

}  // namespace xcompat
