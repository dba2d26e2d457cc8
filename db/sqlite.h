#pragma once
// RAII over SQLite: a connection, prepared statements with typed binds and columns, and a write
// transaction that rolls back unless committed. Every call is checked; an error names the failing
// call, the file and SQLite's own message.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ks::sql {

struct SqlError : Error {
  SqlError(const std::string& what, int code) : Error(what), code(code) {}
  int code;  // SQLite's primary result code (SQLITE_BUSY, SQLITE_NOTADB, ...)
};

class Connection {
 public:
  // Opens path read-write (creating the file when create is set) or read-only, with a busy
  // timeout so that several processes can share one file.
  Connection(const std::string& path, bool create, bool read_only = false);
  // Opens path read-only (SQLITE_OPEN_READONLY: no write lock is ever taken, nothing is
  // created); immutable tells SQLite that no one writes the file while it is open, so it takes no
  // locks and needs no -shm (only for a file no one here can write: see db/archive.cpp).
  struct ReadOnly {
    bool immutable = false;
  };
  Connection(const std::string& path, ReadOnly ro);
  sqlite3* get() const { return db_.get(); }
  const std::string& path() const { return path_; }

  void exec(const std::string& sql);  // one or more statements, no results
  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_.get()); }
  int changes() const { return sqlite3_changes(db_.get()); }
  // Throws SqlError naming `call` unless rc is one of the ok codes.
  void check(int rc, const char* call, std::string_view sql = {}) const;

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  void open(const std::string& name, int flags);
  std::unique_ptr<sqlite3, Close> db_;
  std::string path_;
};

class Statement {
 public:
  Statement(const Connection& c, std::string_view sql);
  Statement(Statement&&) = default;

  // Parameters are 1-based, as in SQLite.
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, std::nullopt_t);
  Statement& bind(int i, const sqlite3_value* v);  // a column of another statement, as it is
  template <class T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }
  // Binds each argument to parameters 1, 2, ... in order.
  template <class... A>
  Statement& bind_all(const A&... a) {
    int i = 0;
    (bind(++i, a), ...);
    return *this;
  }

  bool step();  // true while a row is ready
  void run();   // steps to the end, ignoring rows
  void reset(); // ready to run again with new binds

  // Columns are 0-based, as in SQLite.
  bool is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double f64(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  std::optional<double> opt_f64(int col) const {
    return is_null(col) ? std::nullopt : std::optional<double>(f64(col));
  }
  std::optional<int64_t> opt_i64(int col) const {
    return is_null(col) ? std::nullopt : std::optional<int64_t>(i64(col));
  }
  std::string text(int col) const;
  const sqlite3_value* value(int col) const { return sqlite3_column_value(stmt_.get(), col); }
  int columns() const { return sqlite3_column_count(stmt_.get()); }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  const Connection* conn_;
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
  std::string sql_;
};

// A read transaction: every query inside it sees one snapshot of the file, whatever other
// processes commit meanwhile (WAL readers neither block writers nor wait for them). BEGIN is
// deferred, so the snapshot is taken by the first read; ended (COMMIT) on destruction.
class ReadTransaction {
 public:
  explicit ReadTransaction(Connection& c);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Connection& c_;
};

// BEGIN IMMEDIATE (the write lock is taken at once, so two writers never deadlock upgrading a
// read lock); rolled back on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& c);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& c_;
  bool done_ = false;
};

}  // namespace ks::sql
