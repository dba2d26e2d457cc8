#pragma once
// A candidate as the archive keeps it, made ready to evaluate again (bench, audit), and what its
// audits say.
#include <memory>
#include <string>
#include <vector>

#include "db/archive.h"
#include "evaluator/plan.h"

namespace ks {

struct ArchivedCandidate {
  int64_t id = 0;
  std::shared_ptr<const Candidate> candidate;  // origin: "archive candidate #ID"
  Variant variant;
  std::string name;    // the plan's
  std::string origin;  // the operator that made it: seed, mutate, llm_rewrite, ...
  std::string label() const;  // "wgmma_fused BM=128,BN=128,STAGES=5 (archive #42)"
};

// Throws ks::Error when the id is unknown or its source no longer parses.
ArchivedCandidate load_archived(Archive& archive, int64_t candidate_id);

// A candidate's audit rows on one GPU model, in a word: "-" (none), "passed 8/8", or
// "FAILED 2/8" (a row not ok, or not bitwise deterministic).
struct AuditSummary {
  int rows = 0, passed = 0;
  bool passed_all() const { return rows > 0 && passed == rows; }
  std::string text() const;
};
bool audit_passed(const AuditRecord& a);
AuditSummary summarize_audits(const std::vector<AuditRecord>& audits, int64_t candidate_id);

}  // namespace ks
