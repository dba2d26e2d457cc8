#include "evaluator/replay_verifier.h"

#include <algorithm>
#include <cmath>

namespace ks {
namespace {

constexpr const char* kVerifySource = R"(
#include <cuda_bf16.h>
#include <cuda_fp16.h>
__device__ float ks_load(const void* p, unsigned long long i, int dtype) {
  if (dtype == 0) return __bfloat162float(((const __nv_bfloat16*)p)[i]);
  if (dtype == 1) return __half2float(((const __half*)p)[i]);
  return ((const float*)p)[i];
}
__device__ unsigned ks_bits(const void* p, unsigned long long i, int dtype) {
  if (dtype == 2) return ((const unsigned*)p)[i];
  return ((const unsigned short*)p)[i];
}
// dtype: 0 bf16, 1 f16, 2 f32.
extern "C" __global__ void ks_verify(const void* got, const void* want, unsigned long long n,
                                     int dtype, long long row, const float* row_tol,
                                     unsigned long long* bad) {
  unsigned long long local = 0;
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    bool same;
    if (row_tol) {
      const float a = ks_load(got, i, dtype), b = ks_load(want, i, dtype);
      same = fabsf(a - b) <= row_tol[i / row];  // false for NaN
    } else {
      same = ks_bits(got, i, dtype) == ks_bits(want, i, dtype);
    }
    local += same ? 0 : 1;
  }
  for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(0xffffffffu, local, o);
  if ((threadIdx.x & 31) == 0 && local) atomicAdd(bad, local);
}
)";

int dtype_code(DType t) {
  switch (t) {
    case DType::bf16: return 0;
    case DType::f16: return 1;
    case DType::f32: return 2;
    default: throw Error("replay verification: outputs of type " + std::string(dtype_name(t)) + " are not supported");
  }
}

}  // namespace

VerifyKernel::VerifyKernel(const Compiler& compiler, const std::string& arch, int sms)
    : kernel_(load_own_kernel(compiler, arch, kVerifySource, "replay verification", "ks_verify")),
      blocks_(2 * sms) {}

void VerifyKernel::enqueue(const void* got, const void* want, DType dtype, size_t count, int64_t row,
                           const float* row_tol, unsigned long long* bad, cudaStream_t s) const {
  unsigned long long n = count;
  int code = dtype_code(dtype);
  long long r = row;
  void* args[] = {&got, &want, &n, &code, &r, &row_tol, &bad};
  const unsigned blocks = static_cast<unsigned>(std::min<size_t>(blocks_, (count + 255) / 256 + 1));
  KS_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(kernel_.kernel), dim3(blocks), dim3(256), args, 0, s));
}

ReplayVerifier::ReplayVerifier(const VerifyKernel& kernel, const PlanInstance& inst, size_t sets)
    : kernel_(kernel), outputs_(inst.output_views()), kept_(sets), bad_(sizeof(unsigned long long)) {
  for (auto& per_set : kept_)
    for (auto& o : outputs_) per_set.emplace_back(o.count * dtype_size(o.dtype));
  KS_CUDA(cudaMemset(bad_.get(), 0, bad_.size()));
}

void ReplayVerifier::keep(size_t set, cudaStream_t s) {
  for (size_t i = 0; i < outputs_.size(); ++i)
    KS_CUDA(cudaMemcpyAsync(kept_.at(set)[i].get(), outputs_[i].data, kept_[set][i].size(),
                            cudaMemcpyDeviceToDevice, s));
}

void ReplayVerifier::use_tolerance(const std::vector<const HostBuffers*>& references, double scale) {
  row_tol_.clear();
  row_tol_.resize(references.size());
  for (size_t set = 0; set < references.size(); ++set) {
    for (auto& o : outputs_) {
      const HostBuffer& ref = references[set]->at(o.name);
      const size_t rows = o.count / static_cast<size_t>(o.row), width = static_cast<size_t>(o.row);
      // Each row's scale as the checker's (compare.h): its rms, at least 1e-3 of the whole's.
      std::vector<double> row_sq(rows, 0.0);
      double all_sq = 0;
      for (size_t i = 0; i < o.count; ++i) {
        const double v = ref.get(i);
        row_sq[i / width] += v * v;
        all_sq += v * v;
      }
      const double floor = 1e-3 * std::sqrt(all_sq / static_cast<double>(o.count));
      std::vector<float> tol(rows);
      for (size_t r = 0; r < rows; ++r)
        tol[r] = static_cast<float>(scale * std::max(std::sqrt(row_sq[r] / static_cast<double>(width)), floor));
      DeviceMemory d(rows * sizeof(float));
      upload(d.get(), tol.data(), d.size());
      row_tol_[set].push_back(std::move(d));
    }
  }
}

void ReplayVerifier::enqueue(size_t set, cudaStream_t s) const {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const float* tol = row_tol_.empty() ? nullptr : row_tol_.at(set)[i].as<const float>();
    kernel_.enqueue(outputs_[i].data, kept_.at(set)[i].get(), outputs_[i].dtype, outputs_[i].count,
                    outputs_[i].row, tol, bad_.as<unsigned long long>(), s);
  }
}

uint64_t ReplayVerifier::mismatches() const {
  unsigned long long n = 0;
  download(&n, bad_.get(), sizeof n);
  return n;
}

}  // namespace ks
