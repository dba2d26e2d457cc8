/* ksearch
{ "task": "gemm", "name": "baseline",
  "params": {},
  "steps": [
    { "gemm": { "a": "X", "b": "W", "d": "Y", "m": "M", "n": "N", "k": "K", "trans_b": true } } ] }
*/
// Regime: every M (decode and prefill); sm_80+.
// Idea: cuBLASLt alone, Y = X @ W^T (W stored [N, K], as nn.Linear keeps it): the GEMM every
// fused task's baseline calls, so a gemm candidate measures its mainloop against cuBLASLt.
// Layout: no kernels and no workspace; one gemm step.
// Measured: not measured alone (the baseline the other seeds are timed against).
