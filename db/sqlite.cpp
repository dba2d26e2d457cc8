#include "db/sqlite.h"

#include <cctype>
#include <cstdio>
#include <cstring>

namespace ks::sql {
namespace {

constexpr int kBusyTimeoutMs = 60'000;  // a writer waits this long for another's transaction

std::string clip(std::string_view sql) {
  std::string s(sql.substr(0, 80));
  for (char& c : s)
    if (c == '\n') c = ' ';
  return sql.size() > 80 ? s + "..." : s;
}

// A file: URI for path, its reserved characters escaped (RFC 3986), with the query given.
std::string file_uri(const std::string& path, const std::string& query) {
  std::string uri = "file:";
  for (unsigned char ch : path) {
    if (std::isalnum(ch) || std::strchr("/-_.~", ch)) {
      uri += static_cast<char>(ch);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      uri += buf;
    }
  }
  return uri + "?" + query;
}

}  // namespace

Connection::Connection(const std::string& path, bool create, bool read_only) : path_(path) {
  open(path, read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
}

Connection::Connection(const std::string& path, ReadOnly ro) : path_(path) {
  // mode=ro as well as the flag: a URI's mode can only narrow what the flags allow.
  open(file_uri(path, ro.immutable ? "mode=ro&immutable=1" : "mode=ro"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

void Connection::open(const std::string& name, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);  // closed even when the open failed
  if (rc != SQLITE_OK)
    throw SqlError("sqlite3_open_v2 " + path_ + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)), rc);
  check(sqlite3_busy_timeout(raw, kBusyTimeoutMs), "sqlite3_busy_timeout");
  check(sqlite3_extended_result_codes(raw, 0), "sqlite3_extended_result_codes");
}

void Connection::check(int rc, const char* call, std::string_view sql) const {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  std::string what = std::string(call);
  if (!sql.empty()) what += " (" + clip(sql) + ")";
  throw SqlError(what + " on " + path_ + ": " + sqlite3_errmsg(db_.get()), rc & 0xff);
}

void Connection::exec(const std::string& sql) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    throw SqlError("sqlite3_exec (" + clip(sql) + ") on " + path_ + ": " + text, rc & 0xff);
  }
}

Statement::Statement(const Connection& c, std::string_view sql) : conn_(&c), sql_(sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(c.get(), sql_.data(), static_cast<int>(sql_.size()), &raw, nullptr);
  stmt_.reset(raw);
  c.check(rc, "sqlite3_prepare_v2", sql_);
}

Statement& Statement::bind(int i, int64_t v) {
  conn_->check(sqlite3_bind_int64(stmt_.get(), i, v), "sqlite3_bind_int64", sql_);
  return *this;
}

Statement& Statement::bind(int i, double v) {
  conn_->check(sqlite3_bind_double(stmt_.get(), i, v), "sqlite3_bind_double", sql_);
  return *this;
}

Statement& Statement::bind(int i, std::string_view v) {
  conn_->check(sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT),
               "sqlite3_bind_text", sql_);
  return *this;
}

Statement& Statement::bind(int i, const sqlite3_value* v) {
  conn_->check(sqlite3_bind_value(stmt_.get(), i, v), "sqlite3_bind_value", sql_);
  return *this;
}

Statement& Statement::bind(int i, std::nullopt_t) {
  conn_->check(sqlite3_bind_null(stmt_.get(), i), "sqlite3_bind_null", sql_);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_.get());
  conn_->check(rc, "sqlite3_step", sql_);
  return rc == SQLITE_ROW;
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  conn_->check(sqlite3_reset(stmt_.get()), "sqlite3_reset", sql_);
  conn_->check(sqlite3_clear_bindings(stmt_.get()), "sqlite3_clear_bindings", sql_);
}

std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col))) : std::string();
}

ReadTransaction::ReadTransaction(Connection& c) : c_(c) { c_.exec("BEGIN DEFERRED"); }

ReadTransaction::~ReadTransaction() {
  // Ending a read cannot lose anything; a failure here (there is none for a read-only
  // transaction) must not throw from a destructor.
  sqlite3_exec(c_.get(), "COMMIT", nullptr, nullptr, nullptr);
}

Transaction::Transaction(Connection& c) : c_(c) { c_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(c_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  c_.exec("COMMIT");
  done_ = true;
}

}  // namespace ks::sql
