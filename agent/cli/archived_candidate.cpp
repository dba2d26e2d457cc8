#include "agent/cli/archived_candidate.h"

namespace ks {

std::string ArchivedCandidate::label() const {
  return name + " " + format_variant(variant) + " (archive #" + std::to_string(id) + ")";
}

ArchivedCandidate load_archived(Archive& archive, int64_t candidate_id) {
  const std::optional<CandidateRecord> c = archive.candidate(candidate_id);
  if (!c) throw Error("no candidate #" + std::to_string(candidate_id) + " in " + archive.path());
  const SourceRecord s = *archive.source(c->source_id);
  auto cand = std::make_shared<const Candidate>(parse_candidate(s.text, "archive candidate #" + std::to_string(c->id)));
  Variant v = parse_variant(c->params, cand->plan.params);
  return {c->id, cand, std::move(v), cand->plan.name, c->origin};
}

bool audit_passed(const AuditRecord& a) { return a.status == Status::ok && a.deterministic; }

AuditSummary summarize_audits(const std::vector<AuditRecord>& audits, int64_t candidate_id) {
  AuditSummary s;
  for (const AuditRecord& a : audits)
    if (a.candidate_id == candidate_id) {
      ++s.rows;
      s.passed += audit_passed(a);
    }
  return s;
}

std::string AuditSummary::text() const {
  if (rows == 0) return "-";
  if (passed_all()) return "passed " + std::to_string(passed) + "/" + std::to_string(rows);
  return "FAILED " + std::to_string(rows - passed) + "/" + std::to_string(rows);
}

}  // namespace ks
