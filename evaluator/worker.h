#pragma once
// The worker: one process per GPU that runs untrusted candidates, so that a crash, a sticky CUDA
// error or a hang costs a restart of this process, never the search.
//
// Protocol: JSON, one object per line, requests on stdin, answers on a descriptor of their own
// (kWorkerReplyFd), never stdout: a candidate's device printf lands on stdout, which the worker
// captures per request (OutputCapture) and returns inside the row, so nothing a candidate prints
// can forge or break an answer. The worker speaks first:
//   {"hello": {"ok": true, "device": {...}, "pid": N}}    or {"hello": {"ok": false, "error": "..."}}
// then answers each request in order:
//   {"id": N, "op": "ceilings"}        -> {"id": N, "ceilings": {...}}
//   {"id": N, "op": "run", "request": {...EvalRequest...}}
//                                      -> {"id": N, "phase": "candidate"}   (setup done; may be absent)
//                                      -> {"id": N, "row": {...EvalResult...}}
//   a request that fails before its candidate ran, for a reason of ksearch's own (a bad request,
//   the baseline failing)              -> {"id": N, "error": "..."}
// After a row with status "crash" (a sticky CUDA error, or any error raised while the candidate
// ran) the worker exits: nothing it holds is trusted any more.
#include <cstddef>
#include <iosfwd>

namespace ks {

class Compiler;

constexpr int kWorkerReplyFd = 3;
constexpr size_t kMaxReplyBytes = size_t{4} << 20;  // a longer answer line is a broken protocol

// Serves requests from `in` until it closes, answering on reply_fd; returns the process exit
// code (0 at end of input, 2 when the device cannot be opened, 3 after a crash).
int run_worker(int device, const Compiler& compiler, std::istream& in, int reply_fd);

}  // namespace ks
