#include "matrix/sqlite.hpp"

#include <sqlite3.h>

#include "harness/core/error.hpp"

namespace xcompat::sql {

Db::Db(const std::string& path, bool create) : path_(path) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 30000);  // parallel shards may share a file briefly
  sqlite3_extended_result_codes(db_, 1);
}

Db::~Db() { sqlite3_close_v2(db_); }

namespace {
// Damage is found page by page as SQLite reads (no open scans the whole
// file): whichever statement meets it says so in the same words, and the
// transaction it was in rolls back, so nothing is written on top of it.
bool is_damage(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}
std::string damage_message(const std::string& path, const char* sqlite_says) {
  return "database " + path + " is corrupt or not an xcompat matrix (" + sqlite_says +
         "); restore it from a backup or pass another --db";
}
// A write the file system refused: the likeliest causes, said.
std::string storage_hint(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_FULL || primary == SQLITE_IOERR
             ? "; is the disk full, or a file size limit reached? the transaction rolled back: nothing of it is recorded"
             : "";
}
}  // namespace

void Db::fail(const std::string& what) const {
  const int rc = sqlite3_extended_errcode(db_);
  if (is_damage(rc)) throw Error(damage_message(path_, sqlite3_errmsg(db_)));
  throw Error("database " + path_ + ": " + what + ": " + sqlite3_errmsg(db_) + storage_hint(rc));
}

void Db::exec(std::string_view sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    if (is_damage(rc)) throw Error(damage_message(path_, msg.c_str()));
    throw Error("database " + path_ + ": " + msg + " (in: " + std::string(sql.substr(0, 80)) + ")" +
                storage_hint(sqlite3_extended_errcode(db_)));
  }
}

int64_t Db::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Db::changes() const { return sqlite3_changes(db_); }

Stmt::Stmt(Db& db, std::string_view sql) : db_(&db), sql_(sql) {
  if (sqlite3_prepare_v2(db.handle(), sql_.c_str(), static_cast<int>(sql_.size()), &stmt_, nullptr) != SQLITE_OK)
    db.fail("cannot prepare '" + sql_.substr(0, 80) + "'");
}

Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) { o.stmt_ = nullptr; }
Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int i, int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) db_->fail("bind");
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  if (sqlite3_bind_double(stmt_, i, v) != SQLITE_OK) db_->fail("bind");
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    db_->fail("bind");
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view v) {
  if (sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    db_->fail("bind");
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) db_->fail("bind");
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail("cannot run '" + sql_.substr(0, 80) + "'");
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::int_at(int i) const { return sqlite3_column_int64(stmt_, i); }
double Stmt::real_at(int i) const { return sqlite3_column_double(stmt_, i); }
std::string Stmt::text_at(int i) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))) : std::string();
}
std::string Stmt::blob_at(int i) const {
  auto p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))) : std::string();
}
bool Stmt::is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
bool Stmt::is_text(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_TEXT; }

Transaction::Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace xcompat::sql
