#include "agent/llm/llm_reply.h"

#include <vector>

namespace ks {

std::optional<std::string> last_code_block(std::string_view reply) {
  // Fence lines, in order: a line whose first non-blank characters are ```.
  struct Fence {
    size_t line_start, line_end;
  };
  std::vector<Fence> fences;
  for (size_t at = 0; at < reply.size();) {
    size_t end = reply.find('\n', at);
    if (end == std::string_view::npos) end = reply.size();
    const size_t first = reply.find_first_not_of(" \t", at);
    if (first != std::string_view::npos && first < end && reply.substr(first, 3) == "```") fences.push_back({at, end});
    at = end + 1;
  }
  // Fences pair up in order: opening, closing, opening, closing... An unpaired last one is an
  // unterminated block, which does not count.
  if (fences.size() < 2) return std::nullopt;
  const size_t pairs = fences.size() / 2;
  const Fence& open = fences[2 * (pairs - 1)];
  const Fence& close = fences[2 * (pairs - 1) + 1];
  const size_t body = std::min(open.line_end + 1, reply.size());
  return std::string(reply.substr(body, close.line_start - body));
}

ReplyCandidate candidate_from_reply(std::string_view reply, const Task& task, const std::string& origin) {
  ReplyCandidate r;
  const std::optional<std::string> block = last_code_block(reply);
  if (!block) {
    r.status = "no_code_block";
    r.reason = "the reply has no complete fenced code block";
    return r;
  }
  try {
    Candidate c = parse_candidate(*block, origin);
    if (c.plan.task != task.name()) {
      r.status = "wrong_task";
      r.reason = "the candidate is for task '" + c.plan.task + "', not " + task.name();
      return r;
    }
    validate_plan(c.plan, task);
    r.candidate = std::move(c);
    r.status = "ok";
  } catch (const Error& e) {
    r.status = "bad_plan";
    r.reason = e.what();
  }
  return r;
}

ReplyCandidate truncated_reply(int max_tokens) {
  const std::string n = std::to_string(max_tokens);
  return {std::nullopt, "truncated",
          "the reply hit the --llm-max-tokens limit of " + n + " completion tokens and was cut; give a larger "
          "--llm-max-tokens (e.g. " + std::to_string(2 * max_tokens) + ") if the endpoint allows it"};
}

}  // namespace ks
