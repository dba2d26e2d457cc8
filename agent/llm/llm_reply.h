#pragma once
// From an LLM's reply to a candidate: the reply's last fenced code block is the candidate file.
// Every way that can fail is a status with a reason, recorded by the caller; none throws.
#include <optional>
#include <string>
#include <string_view>

#include "evaluator/plan.h"
#include "tasks/task.h"

namespace ks {

// The body of the last complete ``` fenced block (an info string after the opening fence, such
// as c++ or cuda, is allowed and dropped), or nothing.
std::optional<std::string> last_code_block(std::string_view reply);

struct ReplyCandidate {
  std::optional<Candidate> candidate;  // set when status is "ok"
  std::string status;                  // ok, truncated, no_code_block, bad_plan, wrong_task
  std::string reason;                  // empty when ok
};

// The candidate in the reply, for the task; `origin` names it in messages (e.g. "llm rewrite 12").
ReplyCandidate candidate_from_reply(std::string_view reply, const Task& task, const std::string& origin);

// A reply the endpoint cut at the completion-token limit (finish_reason "length"). It is never a
// candidate, even when it holds a complete fenced block: that block may be a draft the model meant
// to replace, and a cut reply is not what the model chose to answer.
ReplyCandidate truncated_reply(int max_tokens);

}  // namespace ks
