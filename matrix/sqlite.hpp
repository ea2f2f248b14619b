#pragma once
// A small RAII layer over SQLite's C API: a connection, prepared statements
// with typed binds/columns, and a transaction guard. Every failure throws
// Error with SQLite's message and the statement or file it concerns.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace xcompat::sql {

class Db;

class Stmt {
 public:
  Stmt(Db& db, std::string_view sql);
  ~Stmt();
  Stmt(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds are 1-based, like SQLite's.
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind_null(int i);
  // Raw bytes (digests, encoded cell sets), stored as a BLOB.
  Stmt& bind_blob(int i, std::string_view bytes);
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) { return v ? bind(i, *v) : bind_null(i); }

  // Steps once: true while a row is available.
  bool step();
  // Steps to completion (for statements without rows).
  void run();
  void reset();

  // Columns are 0-based, like SQLite's.
  int64_t int_at(int i) const;
  double real_at(int i) const;
  std::string text_at(int i) const;
  std::string blob_at(int i) const;  // the column's raw bytes
  bool is_null(int i) const;
  bool is_text(int i) const;

 private:
  Db* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Db {
 public:
  // Opens (creating if `create`) the file. Throws Error if it is not a
  // database, is corrupt, or cannot be opened.
  explicit Db(const std::string& path, bool create = true);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(std::string_view sql);  // for schema and pragmas only
  Stmt prepare(std::string_view sql) { return Stmt(*this, sql); }
  int64_t last_insert_id() const;
  int changes() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// Commits in commit(); rolls back if destroyed before (an exception unwinds).
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace xcompat::sql
