/* ksearch
{ "task": "swiglu_mlp", "name": "baseline",
  "params": {},
  "workspace": { "gu": "M * 2 * I * 2", "h": "M * I * 2" },
  "steps": [
    { "gemm": { "a": "X", "b": "Wgu", "d": "gu", "m": "M", "n": "2 * I", "k": "H",
                "trans_b": true } },
    { "kernel": "silu_and_mul", "grid": ["M"], "block": ["min(1024, max(32, cdiv(I / 8, 32) * 32))"],
      "args": ["gu", "h", "I"] },
    { "gemm": { "a": "h", "b": "Wd", "d": "Y", "m": "M", "n": "H", "k": "I", "trans_b": true } } ] }
*/
// Regime: the reference plan for every M; sm_80+.
// Idea: the unfused pipeline vLLM and SGLang run today: a cuBLASLt GEMM over the merged gate-up
//   weight, a silu-and-mul kernel, a cuBLASLt GEMM for the down projection.
// Layout: gu = X @ Wgu^T ([M, 2I] bf16: gate in columns 0..I-1, up in I..2I-1); h = bf16(silu(gate)
//   * up); Y = h @ Wd^T. gate and up are rounded to bf16 between the steps, as in those engines.
// Measured: not measured alone (the baseline the other seeds are timed against).
#include <cuda_bf16.h>
#include <ks/vec.cuh>

// One block per row m (as vLLM's act_and_mul kernel); each thread takes 8-element chunks
// tid, tid + blockDim, ... of the row. I % 8 == 0, so gate, up and h chunks are 16-byte aligned.
extern "C" __global__ void silu_and_mul(const __nv_bfloat16* gu, __nv_bfloat16* h, int I) {
  const __nv_bfloat16* gate = gu + (size_t)blockIdx.x * 2 * I;
  const __nv_bfloat16* up = gate + I;
  __nv_bfloat16* out = h + (size_t)blockIdx.x * I;
  for (int c = threadIdx.x; c < I / 8; c += blockDim.x) {
    float g[8], u[8];
    ks::unpack8(ks::load8_stream(gate + 8 * c), g);
    ks::unpack8(ks::load8_stream(up + 8 * c), u);
#pragma unroll
    for (int j = 0; j < 8; ++j) g[j] = g[j] / (1.0f + expf(-g[j])) * u[j];  // fp32 silu * up
    ks::store8(out + 8 * c, ks::pack8(g));
  }
}
