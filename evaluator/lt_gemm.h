#pragma once
// A plan's "gemm" step on cuBLASLt: row-major D[m,n] = A[m,k] @ B[k,n], fp32 accumulation.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include "evaluator/cuda_handles.h"
#include "evaluator/plan.h"

namespace ks {

struct BoundBuffer {
  void* ptr = nullptr;
  DType dtype = DType::bf16;
  size_t bytes = 0;
};

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

class LtGemm {
 public:
  // Resolves sizes, checks that each operand fits its buffer, and picks the algorithm (the
  // heuristic's first choice). Throws PlanError for a plan mistake, ks::Error for cuBLASLt.
  LtGemm(const GemmStep& step, const std::string& where, const Env& env,
         const std::map<std::string, BoundBuffer>& buffers, const LtContext& lt);
  void enqueue(cudaStream_t stream) const;

 private:
  LtContext lt_;
  LtMatmulDesc desc_;
  LtLayout a_layout_, b_layout_, d_layout_;  // cuBLASLt's column-major A, B, D
  const void* a_ = nullptr;                  // cuBLASLt's A: the plan's B (see lt_gemm.cpp)
  const void* b_ = nullptr;
  void* d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
};

}  // namespace ks
