#pragma once
// The archive: one SQLite file that keeps every run, candidate and evaluation (db/schema.sql), so
// a search can stop at any moment, resume, and be merged with searches on other hosts. WAL mode
// and a busy timeout let several processes write one file; every write is one transaction, so a
// writer killed at any point leaves the file consistent. One Archive is used by one thread at a
// time.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/sqlite.h"
#include "tasks/status.h"

namespace ks {

struct RunRecord {
  int64_t id = 0;
  std::string uid;  // set by add_run when empty
  std::string task, device, arch, host;
  uint64_t seed = 0;
  std::string options = "{}";  // JSON
  std::string state = "running";
  double started_at = 0, updated_at = 0, active_seconds = 0;
  std::optional<double> bandwidth, peak_flops;
  std::string constants = "{}";  // JSON: the task's constants it checks with, {"eps": 1e-05}
};

struct SourceRecord {
  int64_t id = 0;
  std::string hash;  // of the normalized text: equal hash, same candidate code
  std::string task, name, text;
  bool uses_helpers = false;
};

struct CandidateRecord {
  int64_t id = 0;
  std::string key;  // source hash + params
  int64_t source_id = 0;
  std::string task, params, origin;
  std::vector<int64_t> parents;
  int generation = 0;
  std::string label;
  std::optional<int64_t> run_id;
  double created_at = 0;
};

// One evaluation as the archive keeps it: an EvalResult (evaluator/eval_types.h) with who and
// where (candidate, run, device, shape), its baseline and its step times; the search's
// population holds these too, so a result read back from the archive is the one it recorded.
struct EvaluationRecord {
  int64_t id = 0, candidate_id = 0;
  std::optional<int64_t> run_id;
  std::string device, shape;
  Status status = Status::ok;
  std::string error;
  bool nondeterministic = false;
  std::optional<double> median_us, p10_us, p90_us, baseline_us, speedup;
  std::optional<double> floor_us, max_scaled_error, rel_l2_error;
  std::optional<int64_t> registers, smem_bytes, spill_bytes;
  std::string resources = "[]";  // JSON
  std::optional<int64_t> seed;
  double seconds = 0, created_at = 0;
  std::string steps = "[]";  // JSON: each step's share of the time, [{"step", "median_us"}]
  // JSON: the task's constants it was checked with, {"eps": 1e-05}; a name missing is the
  // task's default (recorded_constants reads it so).
  std::string constants = "{}";
};

// One call to the LLM: what it cost and what came of it. Holds nothing of the key.
struct LlmCallRecord {
  int64_t id = 0;
  std::optional<int64_t> run_id;
  std::string op;      // the operator that asked: rewrite, repair, crossover, refine
  std::string model;
  // ok, truncated, no_code_block, bad_plan, wrong_task, duplicate, bad_response, unreachable,
  // too_large (a reply over the size limit), http_NNN, replay_exhausted
  std::string status;
  std::string error;
  std::optional<int64_t> prompt_tokens, completion_tokens;
  std::optional<double> latency_s;
  std::optional<int64_t> candidate_id;  // the candidate it produced, if any
  double created_at = 0;
  std::string messages = "[]";  // JSON: the chat messages sent, [{"role": ..., "content": ...}]
  std::string reply;            // the reply's text; empty when none came
};

// One re-verification of a candidate on one shape with one input seed (ksearch audit).
struct AuditRecord {
  int64_t id = 0, candidate_id = 0;
  std::string device, shape;
  int64_t seed = 0;
  Status status = Status::ok;
  std::string error;
  bool deterministic = true;  // two runs on the same inputs gave the same bits
  std::optional<double> median_us, max_scaled_error, rel_l2_error;
  double created_at = 0;
  std::string constants = "{}";  // JSON, as EvaluationRecord's
};

// What merging one archive into another added; the rest was there already.
struct MergeStats {
  int runs = 0, sources = 0, candidates = 0, evaluations = 0, llm_calls = 0, audits = 0;
};

// The schema an archive is brought to: the SQL that creates it at `version`, and the migrations,
// migrations[i] taking version i + 1 to i + 2, each run in one transaction.
struct Schema {
  int version;
  std::string create_sql;
  std::vector<std::string> migrations;
};
const Schema& archive_schema();  // schema.sql and db/migrations.cpp

double unix_now();

class Archive {
 public:
  enum class Mode {
    create,    // a missing or empty file becomes a new archive
    existing,  // the file must already be an archive
    // The file must already be an archive, and is only read: opened SQLITE_OPEN_READONLY (no
    // write lock, so never waiting behind a writer; a read-only file or folder is enough), read
    // in one snapshot for the Archive's whole life, and nothing is left beside it. What every
    // command that only reads uses (best, show, report, export, a merge's source, a replay).
    read,
  };
  // Opens the archive at path and brings an older schema up to date (a read-only archive is
  // upgraded by a brief writer first, when it has to be). Throws ks::Error with one line when
  // the file is not a ksearch archive, comes from a newer ksearch, or is corrupt; such a file is
  // never written.
  explicit Archive(const std::string& path, Mode mode = Mode::create, const Schema& schema = archive_schema());
  ~Archive();
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;

  // A read transaction: what is read while it lives is one snapshot, for a command that reads
  // several tables and then writes (audit). A Mode::read archive is one snapshot already.
  sql::ReadTransaction snapshot() { return sql::ReadTransaction(conn_); }

  const std::string& path() const { return conn_.path(); }
  int schema_version();
  sql::Connection& connection() { return conn_; }

  // Runs.
  int64_t add_run(RunRecord r);
  std::optional<RunRecord> run(int64_t id);
  std::optional<RunRecord> latest_run(const std::string& task, const std::string& device);
  std::vector<RunRecord> runs();
  void update_run(const RunRecord& r);  // state, options, times, ceilings

  // A candidate and its source: the source is stored once per hash, the candidate once per key.
  // Returns the candidate's id: the stored one when the key is already known.
  int64_t add_candidate(const SourceRecord& source, const CandidateRecord& c);
  std::optional<CandidateRecord> candidate(int64_t id);
  std::optional<SourceRecord> source(int64_t id);
  std::vector<SourceRecord> sources(const std::string& task);        // "" for every task
  std::vector<CandidateRecord> candidates(const std::string& task);  // "" for every task
  std::vector<int64_t> children(int64_t candidate_id);

  // One evaluation; false, and nothing written, when that candidate was already evaluated on
  // that shape and device.
  bool add_evaluation(const EvaluationRecord& e);
  // Of a task's candidates ("" for every task) on one GPU model ("" for every one).
  std::vector<EvaluationRecord> evaluations(const std::string& task, const std::string& device);
  std::vector<EvaluationRecord> evaluations_of(int64_t candidate_id);
  // Evaluations a run ran on the GPU (not_applicable ones cost nothing and are not counted).
  int64_t run_evaluations(int64_t run_id);

  // LLM calls: one row each, written at once; the candidate it produced may be set later.
  int64_t add_llm_call(const LlmCallRecord& r);
  void set_llm_call_candidate(int64_t call_id, int64_t candidate_id);
  std::vector<LlmCallRecord> llm_calls(std::optional<int64_t> run_id);  // nullopt: every call
  // The calls of every run of a task, in the order they were recorded (what a replay answers with).
  std::vector<LlmCallRecord> llm_calls_of_task(const std::string& task);
  // The call that produced the candidate, if an LLM call did.
  std::optional<LlmCallRecord> llm_call_of_candidate(int64_t candidate_id);
  // Prompt and completion tokens a run's calls used, for its token budget.
  int64_t run_llm_tokens(int64_t run_id);

  // Audits: one row per (candidate, device, shape, seed); auditing again with the same seed
  // replaces the row.
  void add_audit(const AuditRecord& a);
  // Of a task's candidates ("" for every task) on one GPU model ("" for every one), in id order.
  std::vector<AuditRecord> audits(const std::string& task, const std::string& device);

  // Adds what `other` holds and this archive does not (runs by uid, sources by hash, candidates
  // by key, evaluations by candidate, shape and device), in one transaction.
  MergeStats merge_from(const std::string& other_path);

 private:
  // Declared first, so destroyed last: after the connection closed (db/archive.cpp).
  struct Tidy {
    std::string path;  // empty: nothing to tidy
    ~Tidy();
  } tidy_;
  sql::Connection conn_;
  std::optional<sql::ReadTransaction> snapshot_;  // Mode::read: the one snapshot
};

}  // namespace ks
