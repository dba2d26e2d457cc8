#pragma once
// The worker: one process per GPU that runs untrusted candidates, so that a crash, a sticky CUDA
// error or a hang costs a restart of this process, never the search.
//
// Protocol: JSON, one object per line. The worker speaks first:
//   {"hello": {"ok": true, "device": {...}, "pid": N}}    or {"hello": {"ok": false, "error": "..."}}
// then answers each request in order:
//   {"id": N, "op": "ceilings"}        -> {"id": N, "ceilings": {...}}
//   {"id": N, "op": "run", "request": {...RowRequest...}}
//                                      -> {"id": N, "phase": "candidate"}   (setup done; may be absent)
//                                      -> {"id": N, "row": {...EvalRow...}}
//   any request that fails for a reason of ksearch's own (a bad request, the baseline failing)
//                                      -> {"id": N, "error": "..."}
// After a row with status "crash" (a sticky CUDA error: the context is lost) the worker exits.
// Nothing but protocol lines goes to stdout.
#include <iosfwd>

namespace ks {

class Compiler;

// Serves requests from `in` until it closes; returns the process exit code (0 at end of input,
// 2 when the device cannot be opened, 3 after a crash).
int run_worker(int device, const Compiler& compiler, std::istream& in, std::ostream& out);

}  // namespace ks
