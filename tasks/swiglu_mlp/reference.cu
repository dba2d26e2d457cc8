/* ksearch
{ "task": "swiglu_mlp", "name": "reference",
  "params": {},
  "workspace": { "hidden": "M * I * 4" },
  "steps": [
    { "kernel": "ref_gate_up", "grid": ["cdiv(I, 32)", "cdiv(M, 32)"], "block": ["32", "8"],
      "args": ["X", "Wgu", "hidden", "M", "H", "I"] },
    { "kernel": "ref_down", "grid": ["cdiv(H, 32)", "cdiv(M, 32)"], "block": ["32", "8"],
      "args": ["hidden", "Wd", "Y", "M", "H", "I"] } ] }
*/
// The fp32 GPU reference: trusted, so plain code and no shared helpers. Output Y is fp32, and so
// is the hidden activation (never rounded to bf16, unlike the candidates).
// Step 1: hidden[m,i] = silu(g) * u with g = sum_h X[m,h] * Wg[i,h], u = sum_h X[m,h] * Wu[i,h],
//         one 32x32 smem-tiled fp32 GEMM that computes g and u together from the same X tile.
//         Wg = Wgu[0] (rows 0..I-1 of the [2I, H] matrix), Wu = Wgu[1] (rows I..2I-1).
// Step 2: Y[m,h] = sum_i hidden[m,i] * Wd[h,i], a 32x32 smem-tiled fp32 GEMM.
// Every load and store is bounds-checked on M, H and I, so any shape is handled.
#include <cuda_bf16.h>

#define TILE 32  // output tile is TILE x TILE; the block is TILE x 8 threads
#define ROWS_PER_THREAD (TILE / 8)

// silu(g) * u in fp32. For very negative g, expf(-g) is inf and g / inf is -0: the right limit.
__device__ __forceinline__ float ref_silu_mul(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}

// Block (TILE, 8): thread (tx, ty) computes hidden[m0 + ty + 8*j, i0 + tx] for j < ROWS_PER_THREAD.
extern "C" __global__ void ref_gate_up(const __nv_bfloat16* X, const __nv_bfloat16* Wgu,
                                       float* hidden, int M, int H, int I) {
  __shared__ float xs[TILE][TILE + 1];  // xs[row][k] = X[m0+row, k0+k]
  __shared__ float gs[TILE][TILE + 1];  // gs[col][k] = Wg[i0+col, k0+k]
  __shared__ float us[TILE][TILE + 1];  // us[col][k] = Wu[i0+col, k0+k]
  const __nv_bfloat16* Wg = Wgu;
  const __nv_bfloat16* Wu = Wgu + (size_t)I * H;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int i0 = blockIdx.x * TILE, m0 = blockIdx.y * TILE;
  float g[ROWS_PER_THREAD], u[ROWS_PER_THREAD];
  for (int j = 0; j < ROWS_PER_THREAD; ++j) g[j] = u[j] = 0.0f;

  for (int k0 = 0; k0 < H; k0 += TILE) {
    const int k = k0 + tx;  // each thread loads column tx of tile rows ty, ty+8, ...
    for (int j = 0; j < ROWS_PER_THREAD; ++j) {
      const int row = ty + 8 * j;
      const int m = m0 + row, i = i0 + row;
      xs[row][tx] = (m < M && k < H) ? __bfloat162float(X[(size_t)m * H + k]) : 0.0f;
      gs[row][tx] = (i < I && k < H) ? __bfloat162float(Wg[(size_t)i * H + k]) : 0.0f;
      us[row][tx] = (i < I && k < H) ? __bfloat162float(Wu[(size_t)i * H + k]) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < TILE; ++kk) {
      const float wg = gs[tx][kk], wu = us[tx][kk];
      for (int j = 0; j < ROWS_PER_THREAD; ++j) {
        const float x = xs[ty + 8 * j][kk];
        g[j] += x * wg;
        u[j] += x * wu;
      }
    }
    __syncthreads();
  }

  const int i = i0 + tx;
  for (int j = 0; j < ROWS_PER_THREAD; ++j) {
    const int m = m0 + ty + 8 * j;
    if (m < M && i < I) hidden[(size_t)m * I + i] = ref_silu_mul(g[j], u[j]);
  }
}

// Block (TILE, 8): thread (tx, ty) computes Y[m0 + ty + 8*j, h0 + tx] for j < ROWS_PER_THREAD.
extern "C" __global__ void ref_down(const float* hidden, const __nv_bfloat16* Wd, float* Y,
                                    int M, int H, int I) {
  __shared__ float as[TILE][TILE + 1];  // as[row][k] = hidden[m0+row, k0+k]
  __shared__ float ws[TILE][TILE + 1];  // ws[col][k] = Wd[h0+col, k0+k]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int h0 = blockIdx.x * TILE, m0 = blockIdx.y * TILE;
  float acc[ROWS_PER_THREAD];
  for (int j = 0; j < ROWS_PER_THREAD; ++j) acc[j] = 0.0f;

  for (int k0 = 0; k0 < I; k0 += TILE) {
    const int k = k0 + tx;
    for (int j = 0; j < ROWS_PER_THREAD; ++j) {
      const int row = ty + 8 * j;
      const int m = m0 + row, h = h0 + row;
      as[row][tx] = (m < M && k < I) ? hidden[(size_t)m * I + k] : 0.0f;
      ws[row][tx] = (h < H && k < I) ? __bfloat162float(Wd[(size_t)h * I + k]) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < TILE; ++kk) {
      const float w = ws[tx][kk];
      for (int j = 0; j < ROWS_PER_THREAD; ++j) acc[j] += as[ty + 8 * j][kk] * w;
    }
    __syncthreads();
  }

  const int h = h0 + tx;
  for (int j = 0; j < ROWS_PER_THREAD; ++j) {
    const int m = m0 + ty + 8 * j;
    if (m < M && h < H) Y[(size_t)m * H + h] = acc[j];
  }
}
