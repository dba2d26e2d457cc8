#include "db/archive.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

namespace ks {
namespace {

// PRAGMA application_id of every ksearch archive: "ksrc".
constexpr int64_t kApplicationId = 0x6b737263;

int64_t pragma_int(sql::Connection& c, const std::string& name) {
  sql::Statement s(c, "PRAGMA " + name);
  return s.step() ? s.i64(0) : 0;
}

std::string random_uid() {
  std::random_device rd;
  char buf[33];
  snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

// Opens the connection after checking what the path is: a folder, or a missing file where one is
// required, is the user's error before SQLite sees it.
//
// A reader opens the file read-only. SQLite reads a WAL file through its -wal and -shm, creating
// them when they are missing, and a read-only connection cannot remove them when it closes. So:
// - a -wal beside the file means a connection is open on it (or a writer was killed): the files
//   are there already, and a plain read-only open uses them;
// - no -wal, and this process cannot write the file or its folder: no connection is open on the
//   file (the last one to close removes the -wal) and none can be from here, and SQLite cannot
//   read it otherwise: it is opened immutable (no locks, no -shm);
// - no -wal, and this process could write both: read-only, and `tidy` names the file, so that the
//   -wal and -shm the read made are removed afterwards (Archive::Tidy).
sql::Connection open_connection(const std::string& path, Archive::Mode mode, std::string& tidy) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path + " is a folder, not an archive file");
  if (mode != Archive::Mode::create && !fs::exists(path, ec))
    throw Error("no archive at " + path + " (`ksearch run` creates one)");
  if (mode != Archive::Mode::read) return sql::Connection(path, mode == Archive::Mode::create);
  if (fs::exists(path + "-wal", ec)) return sql::Connection(path, sql::Connection::ReadOnly{});
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const bool writable = access(path.c_str(), W_OK) == 0 && access(dir.c_str(), W_OK) == 0;
  if (!writable) return sql::Connection(path, sql::Connection::ReadOnly{.immutable = true});
  tidy = path;
  return sql::Connection(path, sql::Connection::ReadOnly{});
}

// A member's value as its column stores it, and back. Parents are a JSON array of ids; a status is
// its name, and a name this ksearch does not know is a damaged archive, never a guess.
int64_t to_column(bool v) { return v; }
int64_t to_column(int v) { return v; }
int64_t to_column(uint64_t v) { return static_cast<int64_t>(v); }
std::string to_column(Status v) { return std::string(status_name(v)); }
std::string to_column(const std::vector<int64_t>& v) { return nlohmann::json(v).dump(); }
template <class T>
const T& to_column(const T& v) {  // int64_t, double, text and their optionals: as they are
  return v;
}

void from_column(const sql::Statement& s, int i, int64_t& v) { v = s.i64(i); }
void from_column(const sql::Statement& s, int i, int& v) { v = static_cast<int>(s.i64(i)); }
void from_column(const sql::Statement& s, int i, uint64_t& v) { v = static_cast<uint64_t>(s.i64(i)); }
void from_column(const sql::Statement& s, int i, bool& v) { v = s.i64(i) != 0; }
void from_column(const sql::Statement& s, int i, double& v) { v = s.f64(i); }
void from_column(const sql::Statement& s, int i, std::string& v) { v = s.text(i); }
void from_column(const sql::Statement& s, int i, std::optional<int64_t>& v) { v = s.opt_i64(i); }
void from_column(const sql::Statement& s, int i, std::optional<double>& v) { v = s.opt_f64(i); }
void from_column(const sql::Statement& s, int i, Status& v) {
  const std::string name = s.text(i);
  const std::optional<Status> status = parse_status(name);
  if (!status) throw Error("unknown status '" + name + "' in the archive (written by a newer ksearch?)");
  v = *status;
}
void from_column(const sql::Statement& s, int i, std::vector<int64_t>& v) {
  const std::string text = s.text(i);
  try {
    v = nlohmann::json::parse(text).get<std::vector<int64_t>>();
  } catch (const std::exception& e) {
    throw Error("malformed parents list '" + text + "' in the archive: " + e.what());
  }
}

// Each table's columns, listed once: the table's name and, in order, each column with the member
// that holds it. Every SELECT list, INSERT list, bind and read in this file is made from these
// (schema.sql says what each column means).
template <class Record>
struct Table;

template <>
struct Table<RunRecord> {
  static constexpr const char* name = "runs";
  template <class R, class F>
  static void columns(R& r, F&& f) {
    f("id", r.id), f("uid", r.uid), f("task", r.task), f("device", r.device), f("arch", r.arch);
    f("host", r.host), f("seed", r.seed), f("options", r.options), f("state", r.state);
    f("started_at", r.started_at), f("updated_at", r.updated_at), f("active_seconds", r.active_seconds);
    f("bandwidth", r.bandwidth), f("peak_flops", r.peak_flops), f("constants", r.constants);
  }
};

template <>
struct Table<SourceRecord> {
  static constexpr const char* name = "sources";
  template <class R, class F>
  static void columns(R& r, F&& f) {
    f("id", r.id), f("hash", r.hash), f("task", r.task), f("name", r.name), f("text", r.text);
    f("uses_helpers", r.uses_helpers);
  }
};

template <>
struct Table<CandidateRecord> {
  static constexpr const char* name = "candidates";
  template <class R, class F>
  static void columns(R& r, F&& f) {
    f("id", r.id), f("key", r.key), f("source_id", r.source_id), f("task", r.task), f("params", r.params);
    f("origin", r.origin), f("parents", r.parents), f("generation", r.generation), f("label", r.label);
    f("run_id", r.run_id), f("created_at", r.created_at);
  }
};

template <>
struct Table<EvaluationRecord> {
  static constexpr const char* name = "evaluations";
  template <class R, class F>
  static void columns(R& r, F&& f) {
    f("id", r.id), f("candidate_id", r.candidate_id), f("run_id", r.run_id), f("device", r.device);
    f("shape", r.shape), f("status", r.status), f("error", r.error), f("nondeterministic", r.nondeterministic);
    f("median_us", r.median_us), f("p10_us", r.p10_us), f("p90_us", r.p90_us), f("baseline_us", r.baseline_us);
    f("speedup", r.speedup), f("floor_us", r.floor_us), f("max_scaled_error", r.max_scaled_error);
    f("rel_l2_error", r.rel_l2_error), f("registers", r.registers), f("smem_bytes", r.smem_bytes);
    f("spill_bytes", r.spill_bytes), f("resources", r.resources), f("seed", r.seed), f("seconds", r.seconds);
    f("created_at", r.created_at), f("steps", r.steps), f("constants", r.constants);
  }
};

template <>
struct Table<LlmCallRecord> {
  static constexpr const char* name = "llm_calls";
  template <class R, class F>
  static void columns(R& r, F&& f) {
    f("id", r.id), f("run_id", r.run_id), f("operator", r.op), f("model", r.model), f("status", r.status);
    f("error", r.error), f("prompt_tokens", r.prompt_tokens), f("completion_tokens", r.completion_tokens);
    f("latency_s", r.latency_s), f("candidate_id", r.candidate_id), f("created_at", r.created_at);
    f("messages", r.messages), f("reply", r.reply);
  }
};

template <>
struct Table<AuditRecord> {
  static constexpr const char* name = "audits";
  template <class R, class F>
  static void columns(R& r, F&& f) {
    f("id", r.id), f("candidate_id", r.candidate_id), f("device", r.device), f("shape", r.shape);
    f("seed", r.seed), f("status", r.status), f("error", r.error), f("deterministic", r.deterministic);
    f("median_us", r.median_us), f("max_scaled_error", r.max_scaled_error), f("rel_l2_error", r.rel_l2_error);
    f("created_at", r.created_at), f("constants", r.constants);
  }
};

// "SELECT t.id, t.uid, ... FROM runs t ": every column of R's table, its rows named `t`.
template <class R>
std::string select_from() {
  std::string list;
  R r;
  Table<R>::columns(r, [&](const char* column, auto&) { list += (list.empty() ? "t." : ", t.") + std::string(column); });
  return "SELECT " + list + " FROM " + Table<R>::name + " t ";
}

template <class R>
R read_row(const sql::Statement& s) {
  R r;
  int i = 0;
  Table<R>::columns(r, [&](const char*, auto& member) { from_column(s, i++, member); });
  return r;
}

template <class R>
std::vector<R> read_rows(sql::Statement& s) {
  std::vector<R> out;
  while (s.step()) out.push_back(read_row<R>(s));
  return out;
}

template <class R>
std::optional<R> read_one(sql::Statement& s) {
  if (!s.step()) return std::nullopt;
  return read_row<R>(s);
}

// Inserts every column of r but its id (SQLite assigns it); `conflict` is what to do when a
// unique key is taken ("ON CONFLICT DO NOTHING", or "" to fail). Returns whether a row was written.
template <class R>
bool insert_row(sql::Connection& c, const R& r, const std::string& conflict, bool replace = false) {
  std::string list, marks;
  Table<R>::columns(r, [&](const char* column, const auto&) {
    if (std::string_view(column) == "id") return;
    list += (list.empty() ? "" : ", ") + std::string(column);
    marks += marks.empty() ? "?" : ",?";
  });
  sql::Statement s(c, std::string(replace ? "INSERT OR REPLACE" : "INSERT") + " INTO " + Table<R>::name + " (" +
                          list + ") VALUES (" + marks + ") " + conflict);
  int i = 0;
  Table<R>::columns(r, [&](const char* column, const auto& member) {
    if (std::string_view(column) != "id") s.bind(++i, to_column(member));
  });
  s.run();
  return c.changes() > 0;
}

// Inserts e (its candidate_id and run_id as given); false when the unique key was taken.
bool insert_evaluation(sql::Connection& c, const EvaluationRecord& e) {
  return insert_row(c, e, "ON CONFLICT (candidate_id, shape, device) DO NOTHING");
}

int64_t insert_run(sql::Connection& c, const RunRecord& r) {
  insert_row(c, r, "");
  return c.last_insert_id();
}

// The id of the row whose unique `column` is `value`, inserting r when it is new.
template <class R>
int64_t upsert(sql::Connection& c, const R& r, const char* column, const std::string& value) {
  insert_row(c, r, "ON CONFLICT (" + std::string(column) + ") DO NOTHING");
  sql::Statement get(c, "SELECT id FROM " + std::string(Table<R>::name) + " WHERE " + column + " = ?");
  get.bind_all(value);
  if (!get.step()) throw Error(std::string(Table<R>::name) + " row " + value + " vanished from " + c.path());
  return get.i64(0);
}

int64_t upsert_source(sql::Connection& c, const SourceRecord& src) { return upsert(c, src, "hash", src.hash); }

// The candidate's id, inserting it (with the given source id) when its key is new.
int64_t upsert_candidate(sql::Connection& c, CandidateRecord cand, int64_t source_id) {
  cand.source_id = source_id;
  return upsert(c, cand, "key", cand.key);
}

}  // namespace

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// What a file holds, read in one snapshot: another process may be creating it right now.
struct FileKind {
  int64_t app_id = 0, version = 0, tables = 0;
  bool empty() const { return app_id == 0 && version == 0 && tables == 0; }
};

FileKind read_kind(sql::Connection& c) {
  FileKind k;
  k.app_id = pragma_int(c, "application_id");
  k.version = pragma_int(c, "user_version");
  sql::Statement s(c, "SELECT count(*) FROM sqlite_master");
  k.tables = s.step() ? s.i64(0) : 0;
  return k;
}

void refuse_foreign(const std::string& path, const FileKind& k, int schema_version) {
  if (!k.empty() && k.app_id != kApplicationId)
    throw Error(path + " is not a ksearch archive (an SQLite database of another application)");
  if (k.version > schema_version)
    throw Error(path + " has archive schema version " + std::to_string(k.version) +
                ", newer than this ksearch's (" + std::to_string(schema_version) +
                "): use a newer ksearch");
  if (k.app_id == kApplicationId && k.version == 0)
    throw Error(path + " is a damaged ksearch archive (it has no schema version)");
}

// What the file holds, in the snapshot the caller is in; SQLite's verdicts on a file that is no
// database, or a corrupt one, become one line.
FileKind identify(sql::Connection& c, const std::string& path) {
  try {
    return read_kind(c);
  } catch (const sql::SqlError& e) {
    if (e.code == SQLITE_NOTADB) throw Error(path + " is not a ksearch archive (not an SQLite database)");
    if (e.code == SQLITE_CORRUPT) throw Error(path + " is a corrupt archive (" + e.what() + ")");
    throw;
  }
}

void quick_check(sql::Connection& c, const std::string& path) {
  sql::Statement check(c, "PRAGMA quick_check(1)");
  const std::string verdict = check.step() ? check.text(0) : "no answer";
  if (verdict != "ok") throw Error(path + " is a corrupt archive (" + verdict + ")");
}

}  // namespace

Archive::Tidy::~Tidy() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || !(fs::exists(path + "-wal", ec) || fs::exists(path + "-shm", ec))) return;
  // The last connection to close a WAL file checkpoints it and removes its -wal and -shm; a
  // read-only one cannot, so a brief read-write one that only reads does it. When another
  // connection is open, SQLite leaves the files to it. Nothing of the database is written.
  try {
    sql::Connection c(path, false);
    sql::Statement s(c, "SELECT count(*) FROM sqlite_master");
    s.step();
  } catch (const std::exception&) {
    // Tidying is a courtesy: the read has succeeded, and leftover files are harmless.
  }
}

Archive::Archive(const std::string& path, Mode mode, const Schema& schema)
    : conn_(open_connection(path, mode, tidy_.path)) {
  if (mode == Mode::read) {
    snapshot_.emplace(conn_);  // every read from here on sees this one snapshot
    const FileKind kind = identify(conn_, path);
    refuse_foreign(path, kind, schema.version);
    if (kind.empty()) throw Error(path + " is an empty file, not a ksearch archive");
    quick_check(conn_, path);
    if (kind.version < schema.version) {
      // An older archive is brought up to date once, by a writer, then read as it is now.
      snapshot_.reset();
      try {
        Archive upgrade(path, Mode::existing, schema);
      } catch (const std::exception& e) {
        throw Error(path + " has archive schema version " + std::to_string(kind.version) +
                    ", older than this ksearch's (" + std::to_string(schema.version) +
                    "), and cannot be upgraded here: " + e.what());
      }
      std::string unused;
      conn_ = open_connection(path, mode, unused);
      snapshot_.emplace(conn_);
      refuse_foreign(path, identify(conn_, path), schema.version);
    }
    return;
  }
  // Identify the file before anything could write to it.
  FileKind kind;
  {
    sql::ReadTransaction read(conn_);
    kind = identify(conn_, path);
  }
  refuse_foreign(path, kind, schema.version);
  if (kind.empty() && mode == Mode::existing) throw Error(path + " is an empty file, not a ksearch archive");
  if (!kind.empty()) quick_check(conn_, path);

  conn_.exec("PRAGMA journal_mode = WAL");
  conn_.exec("PRAGMA synchronous = NORMAL");
  conn_.exec("PRAGMA foreign_keys = ON");
  // Create or migrate under the write lock, deciding again inside it: another process may have
  // done it while this one waited.
  sql::Transaction tx(conn_);
  kind = read_kind(conn_);
  refuse_foreign(path, kind, schema.version);
  if (kind.empty()) {
    conn_.exec(schema.create_sql);
    conn_.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  } else {
    for (int64_t v = kind.version; v < schema.version; ++v) {
      try {
        conn_.exec(schema.migrations.at(static_cast<size_t>(v - 1)));
      } catch (const std::exception& e) {
        throw Error(path + ": migrating the archive from schema version " + std::to_string(v) +
                    " failed, nothing was changed: " + e.what());
      }
    }
  }
  if (kind.version != schema.version) conn_.exec("PRAGMA user_version = " + std::to_string(schema.version));
  tx.commit();
}

Archive::~Archive() = default;

int Archive::schema_version() { return static_cast<int>(pragma_int(conn_, "user_version")); }

int64_t Archive::add_run(RunRecord r) {
  if (r.uid.empty()) r.uid = random_uid();
  if (r.started_at == 0) r.started_at = r.updated_at = unix_now();
  if (r.host.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    r.host = host;
  }
  return insert_run(conn_, r);
}

std::optional<RunRecord> Archive::run(int64_t id) {
  sql::Statement s(conn_, select_from<RunRecord>() + "WHERE t.id = ?");
  s.bind_all(id);
  return read_one<RunRecord>(s);
}

std::optional<RunRecord> Archive::latest_run(const std::string& task, const std::string& device) {
  sql::Statement s(conn_, select_from<RunRecord>() + "WHERE t.task = ? AND t.device = ? ORDER BY t.id DESC LIMIT 1");
  s.bind_all(task, device);
  return read_one<RunRecord>(s);
}

std::vector<RunRecord> Archive::runs() {
  sql::Statement s(conn_, select_from<RunRecord>() + "ORDER BY t.id");
  return read_rows<RunRecord>(s);
}

void Archive::update_run(const RunRecord& r) {
  sql::Statement s(conn_,
                   "UPDATE runs SET state = ?, options = ?, updated_at = ?, active_seconds = ?, "
                   "bandwidth = ?, peak_flops = ? WHERE id = ?");
  s.bind_all(r.state, r.options, unix_now(), r.active_seconds, r.bandwidth, r.peak_flops, r.id);
  s.run();
  if (conn_.changes() != 1) throw Error("run " + std::to_string(r.id) + " is not in " + path());
}

int64_t Archive::add_candidate(const SourceRecord& source, const CandidateRecord& c) {
  sql::Transaction tx(conn_);
  const int64_t id = upsert_candidate(conn_, c, upsert_source(conn_, source));
  tx.commit();
  return id;
}

std::optional<CandidateRecord> Archive::candidate(int64_t id) {
  sql::Statement s(conn_, select_from<CandidateRecord>() + "WHERE t.id = ?");
  s.bind_all(id);
  return read_one<CandidateRecord>(s);
}

std::optional<SourceRecord> Archive::source(int64_t id) {
  sql::Statement s(conn_, select_from<SourceRecord>() + "WHERE t.id = ?");
  s.bind_all(id);
  return read_one<SourceRecord>(s);
}

std::vector<SourceRecord> Archive::sources(const std::string& task) {
  sql::Statement s(conn_, select_from<SourceRecord>() + "WHERE ?1 = '' OR t.task = ?1 ORDER BY t.id");
  s.bind_all(task);
  return read_rows<SourceRecord>(s);
}

std::vector<CandidateRecord> Archive::candidates(const std::string& task) {
  sql::Statement s(conn_, select_from<CandidateRecord>() + "WHERE ?1 = '' OR t.task = ?1 ORDER BY t.id");
  s.bind_all(task);
  return read_rows<CandidateRecord>(s);
}

std::vector<int64_t> Archive::children(int64_t candidate_id) {
  // parents is a small JSON array; json_each keeps the query exact (no substring matches).
  sql::Statement s(conn_,
                   "SELECT DISTINCT c.id FROM candidates c, json_each(c.parents) p "
                   "WHERE p.value = ? ORDER BY c.id");
  s.bind_all(candidate_id);
  std::vector<int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

bool Archive::add_evaluation(const EvaluationRecord& e) {
  sql::Transaction tx(conn_);
  const bool added = insert_evaluation(conn_, e);
  tx.commit();
  return added;
}

std::vector<EvaluationRecord> Archive::evaluations(const std::string& task, const std::string& device) {
  sql::Statement s(conn_, select_from<EvaluationRecord>() +
                              "JOIN candidates c ON c.id = t.candidate_id "
                              "WHERE (?1 = '' OR c.task = ?1) AND (?2 = '' OR t.device = ?2) ORDER BY t.id");
  s.bind_all(task, device);
  return read_rows<EvaluationRecord>(s);
}

std::vector<EvaluationRecord> Archive::evaluations_of(int64_t candidate_id) {
  sql::Statement s(conn_, select_from<EvaluationRecord>() + "WHERE t.candidate_id = ? ORDER BY t.id");
  s.bind_all(candidate_id);
  return read_rows<EvaluationRecord>(s);
}

int64_t Archive::run_evaluations(int64_t run_id) {
  sql::Statement s(conn_, "SELECT count(*) FROM evaluations WHERE run_id = ? AND status != 'not_applicable'");
  s.bind_all(run_id);
  return s.step() ? s.i64(0) : 0;
}

int64_t Archive::add_llm_call(const LlmCallRecord& r) {
  sql::Transaction tx(conn_);
  LlmCallRecord row = r;
  if (!row.created_at) row.created_at = unix_now();
  insert_row(conn_, row, "");
  const int64_t id = conn_.last_insert_id();
  tx.commit();
  return id;
}

void Archive::set_llm_call_candidate(int64_t call_id, int64_t candidate_id) {
  sql::Transaction tx(conn_);
  sql::Statement s(conn_, "UPDATE llm_calls SET candidate_id = ? WHERE id = ?");
  s.bind_all(candidate_id, call_id);
  s.step();
  tx.commit();
}

std::vector<LlmCallRecord> Archive::llm_calls(std::optional<int64_t> run_id) {
  sql::Statement s(conn_, select_from<LlmCallRecord>() + "WHERE ?1 IS NULL OR t.run_id = ?1 ORDER BY t.id");
  s.bind_all(run_id);
  return read_rows<LlmCallRecord>(s);
}

std::vector<LlmCallRecord> Archive::llm_calls_of_task(const std::string& task) {
  sql::Statement s(conn_, select_from<LlmCallRecord>() + "JOIN runs r ON r.id = t.run_id WHERE r.task = ? ORDER BY t.id");
  s.bind_all(task);
  return read_rows<LlmCallRecord>(s);
}

std::optional<LlmCallRecord> Archive::llm_call_of_candidate(int64_t candidate_id) {
  // The first: a duplicate reply may name the candidate too, after the call that produced it.
  sql::Statement s(conn_, select_from<LlmCallRecord>() + "WHERE t.candidate_id = ? ORDER BY t.id LIMIT 1");
  s.bind_all(candidate_id);
  return read_one<LlmCallRecord>(s);
}

int64_t Archive::run_llm_tokens(int64_t run_id) {
  sql::Statement s(conn_,
                   "SELECT coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)), 0) "
                   "FROM llm_calls WHERE run_id = ?");
  s.bind_all(run_id);
  return s.step() ? s.i64(0) : 0;
}

void Archive::add_audit(const AuditRecord& a) {
  sql::Transaction tx(conn_);
  AuditRecord row = a;
  if (!row.created_at) row.created_at = unix_now();
  insert_row(conn_, row, "", /*replace=*/true);  // auditing again with the same seed replaces the row
  tx.commit();
}

std::vector<AuditRecord> Archive::audits(const std::string& task, const std::string& device) {
  sql::Statement s(conn_, select_from<AuditRecord>() +
                              "JOIN candidates c ON c.id = t.candidate_id "
                              "WHERE (?1 = '' OR c.task = ?1) AND (?2 = '' OR t.device = ?2) ORDER BY t.id");
  s.bind_all(task, device);
  return read_rows<AuditRecord>(s);
}

MergeStats Archive::merge_from(const std::string& other_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::equivalent(other_path, path(), ec)) throw Error("cannot merge " + other_path + " into itself");
  Archive other(other_path, Mode::read);  // one snapshot of it, read-only
  MergeStats st;
  sql::Transaction tx(conn_);
  std::map<int64_t, int64_t> runs, sources, candidates;
  for (RunRecord r : other.runs()) {
    sql::Statement find(conn_, "SELECT id FROM runs WHERE uid = ?");
    find.bind_all(r.uid);
    if (find.step()) {
      runs[r.id] = find.i64(0);
    } else {
      runs[r.id] = insert_run(conn_, r);
      ++st.runs;
    }
  }
  auto count = [&](const char* table) {
    sql::Statement s(conn_, std::string("SELECT count(*) FROM ") + table);
    return s.step() ? s.i64(0) : 0;
  };
  const int64_t sources_before = count("sources"), candidates_before = count("candidates");
  for (const SourceRecord& s : other.sources("")) sources[s.id] = upsert_source(conn_, s);
  for (CandidateRecord c : other.candidates("")) {  // in id order: parents come first
    for (int64_t& p : c.parents) p = candidates.at(p);
    if (c.run_id) c.run_id = runs.at(*c.run_id);
    candidates[c.id] = upsert_candidate(conn_, c, sources.at(c.source_id));
  }
  st.sources = static_cast<int>(count("sources") - sources_before);
  st.candidates = static_cast<int>(count("candidates") - candidates_before);
  for (EvaluationRecord e : other.evaluations("", "")) {
    e.candidate_id = candidates.at(e.candidate_id);
    if (e.run_id) e.run_id = runs.at(*e.run_id);
    st.evaluations += insert_evaluation(conn_, e);
  }
  // Calls and audits hold no ids that others point to: copied with their ids remapped, each
  // added unless its unique key is taken.
  auto remap = [](std::optional<int64_t>& id, const std::map<int64_t, int64_t>& ids) {
    if (id) id = ids.at(*id);
  };
  for (LlmCallRecord l : other.llm_calls(std::nullopt)) {
    remap(l.run_id, runs);
    remap(l.candidate_id, candidates);
    st.llm_calls += insert_row(conn_, l, "ON CONFLICT DO NOTHING");
  }
  for (AuditRecord a : other.audits("", "")) {
    a.candidate_id = candidates.at(a.candidate_id);
    st.audits += insert_row(conn_, a, "ON CONFLICT DO NOTHING");
  }
  tx.commit();
  return st;
}

}  // namespace ks
