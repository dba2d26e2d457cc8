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

std::string parents_json(const std::vector<int64_t>& p) { return nlohmann::json(p).dump(); }

std::vector<int64_t> parents_from(const std::string& text) {
  try {
    return nlohmann::json::parse(text).get<std::vector<int64_t>>();
  } catch (const std::exception& e) {
    throw Error("malformed parents list '" + text + "' in the archive: " + e.what());
  }
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

constexpr const char* kRunColumns =
    "id, uid, task, device, arch, host, seed, options, state, started_at, updated_at, "
    "active_seconds, bandwidth, peak_flops";

RunRecord run_from(const sql::Statement& s) {
  RunRecord r;
  r.id = s.i64(0);
  r.uid = s.text(1);
  r.task = s.text(2);
  r.device = s.text(3);
  r.arch = s.text(4);
  r.host = s.text(5);
  r.seed = static_cast<uint64_t>(s.i64(6));
  r.options = s.text(7);
  r.state = s.text(8);
  r.started_at = s.f64(9);
  r.updated_at = s.f64(10);
  r.active_seconds = s.f64(11);
  r.bandwidth = s.opt_f64(12);
  r.peak_flops = s.opt_f64(13);
  return r;
}

constexpr const char* kCandidateColumns =
    "id, key, source_id, task, params, origin, parents, generation, label, run_id, created_at";

CandidateRecord candidate_from(const sql::Statement& s) {
  CandidateRecord c;
  c.id = s.i64(0);
  c.key = s.text(1);
  c.source_id = s.i64(2);
  c.task = s.text(3);
  c.params = s.text(4);
  c.origin = s.text(5);
  c.parents = parents_from(s.text(6));
  c.generation = static_cast<int>(s.i64(7));
  c.label = s.text(8);
  c.run_id = s.opt_i64(9);
  c.created_at = s.f64(10);
  return c;
}

constexpr const char* kSourceColumns = "id, hash, task, name, text, uses_helpers";

SourceRecord source_from(const sql::Statement& s) {
  return {s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.i64(5) != 0};
}

constexpr const char* kEvaluationColumns =
    "e.id, e.candidate_id, e.run_id, e.device, e.shape, e.status, e.error, e.nondeterministic, "
    "e.median_us, e.p10_us, e.p90_us, e.baseline_us, e.speedup, e.floor_us, e.max_scaled_error, "
    "e.rel_l2_error, e.registers, e.smem_bytes, e.spill_bytes, e.resources, e.seed, e.seconds, "
    "e.created_at, e.steps";

EvaluationRecord evaluation_from(const sql::Statement& s) {
  EvaluationRecord e;
  e.id = s.i64(0);
  e.candidate_id = s.i64(1);
  e.run_id = s.opt_i64(2);
  e.device = s.text(3);
  e.shape = s.text(4);
  e.status = s.text(5);
  e.error = s.text(6);
  e.nondeterministic = s.i64(7) != 0;
  e.median_us = s.opt_f64(8);
  e.p10_us = s.opt_f64(9);
  e.p90_us = s.opt_f64(10);
  e.baseline_us = s.opt_f64(11);
  e.speedup = s.opt_f64(12);
  e.floor_us = s.opt_f64(13);
  e.max_scaled_error = s.opt_f64(14);
  e.rel_l2_error = s.opt_f64(15);
  e.registers = s.opt_i64(16);
  e.smem_bytes = s.opt_i64(17);
  e.spill_bytes = s.opt_i64(18);
  e.resources = s.text(19);
  e.seed = s.opt_i64(20);
  e.seconds = s.f64(21);
  e.created_at = s.f64(22);
  e.steps = s.text(23);
  return e;
}

// Inserts e (its candidate_id and run_id as given); false when the unique key was taken.
bool insert_evaluation(sql::Connection& c, const EvaluationRecord& e) {
  sql::Statement s(c,
                   "INSERT INTO evaluations (candidate_id, run_id, device, shape, status, error, "
                   "nondeterministic, median_us, p10_us, p90_us, baseline_us, speedup, floor_us, "
                   "max_scaled_error, rel_l2_error, registers, smem_bytes, spill_bytes, resources, "
                   "seed, seconds, created_at, steps) VALUES "
                   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                   "ON CONFLICT (candidate_id, shape, device) DO NOTHING");
  s.bind_all(e.candidate_id, e.run_id, e.device, e.shape, e.status, e.error,
             static_cast<int64_t>(e.nondeterministic), e.median_us, e.p10_us, e.p90_us,
             e.baseline_us, e.speedup, e.floor_us, e.max_scaled_error, e.rel_l2_error, e.registers,
             e.smem_bytes, e.spill_bytes, e.resources, e.seed, e.seconds, e.created_at, e.steps);
  s.run();
  return c.changes() > 0;
}

int64_t insert_run(sql::Connection& c, const RunRecord& r) {
  sql::Statement s(c,
                   "INSERT INTO runs (uid, task, device, arch, host, seed, options, state, "
                   "started_at, updated_at, active_seconds, bandwidth, peak_flops) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.bind_all(r.uid, r.task, r.device, r.arch, r.host, static_cast<int64_t>(r.seed), r.options,
             r.state, r.started_at, r.updated_at, r.active_seconds, r.bandwidth, r.peak_flops);
  s.run();
  return c.last_insert_id();
}

// The source's id, inserting it when its hash is new.
int64_t upsert_source(sql::Connection& c, const SourceRecord& src) {
  sql::Statement ins(c,
                     "INSERT INTO sources (hash, task, name, text, uses_helpers) VALUES (?,?,?,?,?) "
                     "ON CONFLICT (hash) DO NOTHING");
  ins.bind_all(src.hash, src.task, src.name, src.text, static_cast<int64_t>(src.uses_helpers));
  ins.run();
  sql::Statement get(c, "SELECT id FROM sources WHERE hash = ?");
  get.bind_all(src.hash);
  if (!get.step()) throw Error("source " + src.hash + " vanished from " + c.path());
  return get.i64(0);
}

// The candidate's id, inserting it (with the given source id and run id) when its key is new.
int64_t upsert_candidate(sql::Connection& c, const CandidateRecord& cand, int64_t source_id) {
  sql::Statement ins(c,
                     "INSERT INTO candidates (key, source_id, task, params, origin, parents, "
                     "generation, label, run_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
                     "ON CONFLICT (key) DO NOTHING");
  ins.bind_all(cand.key, source_id, cand.task, cand.params, cand.origin, parents_json(cand.parents),
               static_cast<int64_t>(cand.generation), cand.label, cand.run_id, cand.created_at);
  ins.run();
  sql::Statement get(c, "SELECT id FROM candidates WHERE key = ?");
  get.bind_all(cand.key);
  if (!get.step()) throw Error("candidate " + cand.key + " vanished from " + c.path());
  return get.i64(0);
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
  sql::Statement s(conn_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
  s.bind_all(id);
  if (!s.step()) return std::nullopt;
  return run_from(s);
}

std::optional<RunRecord> Archive::latest_run(const std::string& task, const std::string& device) {
  sql::Statement s(conn_, std::string("SELECT ") + kRunColumns +
                              " FROM runs WHERE task = ? AND device = ? ORDER BY id DESC LIMIT 1");
  s.bind_all(task, device);
  if (!s.step()) return std::nullopt;
  return run_from(s);
}

std::vector<RunRecord> Archive::runs() {
  sql::Statement s(conn_, std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id");
  std::vector<RunRecord> out;
  while (s.step()) out.push_back(run_from(s));
  return out;
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
  sql::Statement s(conn_, std::string("SELECT ") + kCandidateColumns + " FROM candidates WHERE id = ?");
  s.bind_all(id);
  if (!s.step()) return std::nullopt;
  return candidate_from(s);
}

std::optional<SourceRecord> Archive::source(int64_t id) {
  sql::Statement s(conn_, std::string("SELECT ") + kSourceColumns + " FROM sources WHERE id = ?");
  s.bind_all(id);
  if (!s.step()) return std::nullopt;
  return source_from(s);
}

std::vector<SourceRecord> Archive::sources(const std::string& task) {
  sql::Statement s(conn_, std::string("SELECT ") + kSourceColumns +
                              " FROM sources WHERE ?1 = '' OR task = ?1 ORDER BY id");
  s.bind_all(task);
  std::vector<SourceRecord> out;
  while (s.step()) out.push_back(source_from(s));
  return out;
}

std::vector<CandidateRecord> Archive::candidates(const std::string& task) {
  sql::Statement s(conn_, std::string("SELECT ") + kCandidateColumns +
                              " FROM candidates WHERE ?1 = '' OR task = ?1 ORDER BY id");
  s.bind_all(task);
  std::vector<CandidateRecord> out;
  while (s.step()) out.push_back(candidate_from(s));
  return out;
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
  sql::Statement s(conn_, std::string("SELECT ") + kEvaluationColumns +
                              " FROM evaluations e JOIN candidates c ON c.id = e.candidate_id "
                              "WHERE (?1 = '' OR c.task = ?1) AND (?2 = '' OR e.device = ?2) "
                              "ORDER BY e.id");
  s.bind_all(task, device);
  std::vector<EvaluationRecord> out;
  while (s.step()) out.push_back(evaluation_from(s));
  return out;
}

std::vector<EvaluationRecord> Archive::evaluations_of(int64_t candidate_id) {
  sql::Statement s(conn_, std::string("SELECT ") + kEvaluationColumns +
                              " FROM evaluations e WHERE e.candidate_id = ? ORDER BY e.id");
  s.bind_all(candidate_id);
  std::vector<EvaluationRecord> out;
  while (s.step()) out.push_back(evaluation_from(s));
  return out;
}

int64_t Archive::run_evaluations(int64_t run_id) {
  sql::Statement s(conn_, "SELECT count(*) FROM evaluations WHERE run_id = ? AND status != 'not_applicable'");
  s.bind_all(run_id);
  return s.step() ? s.i64(0) : 0;
}

int64_t Archive::add_llm_call(const LlmCallRecord& r) {
  sql::Transaction tx(conn_);
  sql::Statement s(conn_,
                   "INSERT INTO llm_calls (run_id, operator, model, status, error, prompt_tokens, "
                   "completion_tokens, latency_s, candidate_id, created_at, messages, reply) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind_all(r.run_id, r.op, r.model, r.status, r.error, r.prompt_tokens, r.completion_tokens, r.latency_s,
             r.candidate_id, r.created_at ? r.created_at : unix_now(), r.messages, r.reply);
  s.step();
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

namespace {

// The columns read_llm_calls expects, prefixed for a query that joins llm_calls as `l`.
const char* const kLlmCallColumns =
    "l.id, l.run_id, l.operator, l.model, l.status, l.error, l.prompt_tokens, l.completion_tokens, l.latency_s, "
    "l.candidate_id, l.created_at, l.messages, l.reply";

std::vector<LlmCallRecord> read_llm_calls(sql::Statement& s) {
  std::vector<LlmCallRecord> out;
  while (s.step())
    out.push_back({s.i64(0), s.opt_i64(1), s.text(2), s.text(3), s.text(4), s.text(5), s.opt_i64(6), s.opt_i64(7),
                   s.opt_f64(8), s.opt_i64(9), s.f64(10), s.text(11), s.text(12)});
  return out;
}

}  // namespace

std::vector<LlmCallRecord> Archive::llm_calls(std::optional<int64_t> run_id) {
  sql::Statement s(conn_, std::string("SELECT ") + kLlmCallColumns +
                              " FROM llm_calls l WHERE ?1 IS NULL OR l.run_id = ?1 ORDER BY l.id");
  s.bind_all(run_id);
  return read_llm_calls(s);
}

std::vector<LlmCallRecord> Archive::llm_calls_of_task(const std::string& task) {
  sql::Statement s(conn_, std::string("SELECT ") + kLlmCallColumns +
                              " FROM llm_calls l JOIN runs r ON r.id = l.run_id WHERE r.task = ? ORDER BY l.id");
  s.bind_all(task);
  return read_llm_calls(s);
}

std::optional<LlmCallRecord> Archive::llm_call_of_candidate(int64_t candidate_id) {
  // The first: a duplicate reply may name the candidate too, after the call that produced it.
  sql::Statement s(conn_, std::string("SELECT ") + kLlmCallColumns +
                              " FROM llm_calls l WHERE l.candidate_id = ? ORDER BY l.id LIMIT 1");
  s.bind_all(candidate_id);
  std::vector<LlmCallRecord> v = read_llm_calls(s);
  if (v.empty()) return std::nullopt;
  return v.front();
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
  sql::Statement s(conn_,
                   "INSERT OR REPLACE INTO audits (candidate_id, device, shape, seed, status, error, deterministic, "
                   "median_us, max_scaled_error, rel_l2_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind_all(a.candidate_id, a.device, a.shape, a.seed, a.status, a.error, static_cast<int64_t>(a.deterministic),
             a.median_us, a.max_scaled_error, a.rel_l2_error, a.created_at ? a.created_at : unix_now());
  s.step();
  tx.commit();
}

std::vector<AuditRecord> Archive::audits(const std::string& task, const std::string& device) {
  sql::Statement s(conn_,
                   "SELECT a.id, a.candidate_id, a.device, a.shape, a.seed, a.status, a.error, a.deterministic, "
                   "a.median_us, a.max_scaled_error, a.rel_l2_error, a.created_at FROM audits a "
                   "JOIN candidates c ON c.id = a.candidate_id "
                   "WHERE (?1 = '' OR c.task = ?1) AND (?2 = '' OR a.device = ?2) ORDER BY a.id");
  s.bind_all(task, device);
  std::vector<AuditRecord> out;
  while (s.step())
    out.push_back({s.i64(0), s.i64(1), s.text(2), s.text(3), s.i64(4), s.text(5), s.text(6), s.i64(7) != 0,
                   s.opt_f64(8), s.opt_f64(9), s.opt_f64(10), s.f64(11)});
  return out;
}

namespace {

// Copies the rows of a table that holds no ids of its own that others point to (llm_calls,
// audits), with its run and candidate ids remapped; returns how many were new.
int copy_leaf_table(sql::Connection& from, sql::Connection& to, const std::string& table,
                    const std::vector<std::string>& columns, const std::map<int64_t, int64_t>& runs,
                    const std::map<int64_t, int64_t>& candidates) {
  std::string list, marks;
  for (auto& c : columns) {
    list += (list.empty() ? "" : ", ") + c;
    marks += marks.empty() ? "?" : ",?";
  }
  sql::Statement read(from, "SELECT " + list + " FROM " + table + " ORDER BY id");
  sql::Statement write(to, "INSERT INTO " + table + " (" + list + ") VALUES (" + marks + ") ON CONFLICT DO NOTHING");
  int added = 0;
  while (read.step()) {
    write.reset();
    for (int i = 0; i < static_cast<int>(columns.size()); ++i) {
      const auto* map = columns[i] == "run_id" ? &runs : columns[i] == "candidate_id" ? &candidates : nullptr;
      if (map && !read.is_null(i))
        write.bind(i + 1, map->at(read.i64(i)));
      else
        write.bind(i + 1, read.value(i));
    }
    write.run();
    added += to.changes();
  }
  return added;
}

}  // namespace

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
  st.llm_calls = copy_leaf_table(other.conn_, conn_, "llm_calls",
                                 {"run_id", "operator", "model", "status", "error", "prompt_tokens",
                                  "completion_tokens", "latency_s", "candidate_id", "created_at", "messages", "reply"},
                                 runs, candidates);
  st.audits = copy_leaf_table(other.conn_, conn_, "audits",
                              {"candidate_id", "device", "shape", "seed", "status", "error",
                               "deterministic", "median_us", "max_scaled_error", "rel_l2_error",
                               "created_at"},
                              runs, candidates);
  tx.commit();
  return st;
}

}  // namespace ks
