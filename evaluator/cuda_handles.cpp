#include "evaluator/cuda_handles.h"

namespace ks {

Stream make_stream() {
  cudaStream_t s;
  KS_CUDA(cudaStreamCreate(&s));
  return Stream(s);
}

Event make_event() {
  cudaEvent_t e;
  KS_CUDA(cudaEventCreate(&e));
  return Event(e);
}

LtHandle make_lt_handle() {
  cublasLtHandle_t h;
  KS_CUBLAS(cublasLtCreate(&h));
  return LtHandle(h);
}

DeviceMemory::DeviceMemory(size_t bytes) : bytes_(bytes) {
  void* p = nullptr;
  if (bytes) KS_CUDA(cudaMalloc(&p, bytes));
  mem_ = Handle<void*, cudaFree>(p);
}

void upload(void* dst, const void* src, size_t bytes) {
  KS_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void download(void* dst, const void* src, size_t bytes) {
  KS_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

std::vector<std::byte> download(const void* src, size_t bytes) {
  std::vector<std::byte> r(bytes);
  download(r.data(), src, bytes);
  return r;
}

}  // namespace ks
