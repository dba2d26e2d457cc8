#include "evaluator/plan_runner.h"

#include "evaluator/tensor_map.h"

#include <array>
#include <cstring>
#include <limits>

namespace ks {
namespace {

// cuKernelGetParamInfo lives in the driver, which ksearch never links: reach it through the
// runtime, so a plan whose args disagree with the kernel's parameters is refused before launch
// instead of reading garbage.
using ParamInfoFn = int (*)(cudaKernel_t, size_t, size_t*, size_t*);

ParamInfoFn param_info_fn() {
  static const ParamInfoFn fn = reinterpret_cast<ParamInfoFn>(driver_entry_point("cuKernelGetParamInfo", 12040));
  return fn;
}

// Sizes of the kernel's parameters, or nullopt when the driver cannot say.
std::optional<std::vector<size_t>> param_sizes(cudaKernel_t k) {
  auto params = kernel_params(k);
  if (!params) return std::nullopt;
  std::vector<size_t> sizes;
  for (auto& p : *params) sizes.push_back(p.size);
  return sizes;
}

dim3 eval_dim(const std::vector<Expr>& e, const Env& env, const std::string& where) {
  std::array<int64_t, 3> v{1, 1, 1};
  for (size_t i = 0; i < e.size() && i < 3; ++i) {
    v[i] = e[i].eval(env);
    if (v[i] <= 0 || v[i] > std::numeric_limits<int32_t>::max())
      throw PlanError(where + "[" + std::to_string(i) + "] = " + std::to_string(v[i]) +
                      " is not a valid launch dimension");
  }
  return dim3(static_cast<unsigned>(v[0]), static_cast<unsigned>(v[1]), static_cast<unsigned>(v[2]));
}

template <class T, class Slot>
Slot slot(const T& v) {
  static_assert(sizeof(T) <= sizeof(Slot::bytes));
  Slot s;
  std::memcpy(s.bytes.data(), &v, sizeof(T));
  return s;
}

}  // namespace

std::optional<std::vector<KernelParam>> kernel_params(cudaKernel_t k) {
  auto fn = param_info_fn();
  if (!fn) return std::nullopt;
  std::vector<KernelParam> params;
  for (size_t i = 0;; ++i) {
    KernelParam p;
    if (fn(k, i, &p.offset, &p.size) != 0) break;
    params.push_back(p);
  }
  return params;
}

LoadedPlan LoadedPlan::load(const Candidate& c, const Variant& v, const CompileResult& compiled) {
  LoadedPlan lp;
  lp.plan = &c.plan;
  lp.variant = v;
  lp.resources = compiled.kernels;
  cudaLibrary_t lib;
  KS_CUDA(cudaLibraryLoadData(&lib, compiled.cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  lp.library = Library(lib);
  for (size_t i = 0; i < c.plan.steps.size(); ++i) {
    auto* ks = std::get_if<KernelStep>(&c.plan.steps[i].op);
    if (!ks || lp.kernels.count(ks->kernel)) continue;
    cudaKernel_t k;
    if (cudaError_t e = cudaLibraryGetKernel(&k, lib, ks->kernel.c_str()); e != cudaSuccess) {
      (void)cudaGetLastError();
      throw PlanError(c.origin + ": plan.steps[" + std::to_string(i) + "].kernel: '" + ks->kernel +
                      "' is not an extern \"C\" __global__ function of the file (" +
                      cuda_error_text(e) + ")");
    }
    lp.kernels[ks->kernel] = k;
  }
  return lp;
}

BoundPlan::BoundPlan(const LoadedPlan& loaded, const PlanBindings& b, size_t smem_limit) {
  const Plan& plan = *loaded.plan;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const std::string where = "plan.steps[" + std::to_string(i) + "]";
    if (auto* g = std::get_if<GemmStep>(&plan.steps[i].op)) {
      steps_.emplace_back(std::make_unique<LtGemm>(*g, where, b.env, b.buffers, b.lt));
      names_.push_back(where + " (gemm)");
      continue;
    }
    const auto& ks = std::get<KernelStep>(plan.steps[i].op);
    KernelLaunch L{where + " (" + ks.kernel + ")", loaded.kernels.at(ks.kernel),
                   eval_dim(ks.grid, b.env, where + ".grid"),
                   eval_dim(ks.block, b.env, where + ".block"),
                   ks.smem ? static_cast<size_t>(ks.smem->eval(b.env)) : 0,
                   ks.pdl && ks.pdl->eval(b.env) != 0, {}};
    if (L.smem > smem_limit)
      throw PlanError(where + ".smem: " + std::to_string(L.smem) + " bytes exceed the device's " +
                      std::to_string(smem_limit) + " per block");
    if (L.smem > 48 * 1024)
      KS_CUDA(cudaFuncSetAttribute(reinterpret_cast<const void*>(L.kernel),
                                   cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(L.smem)));
    std::vector<size_t> arg_sizes;
    using Slot = ParamSlot;
    for (size_t a = 0; a < ks.args.size(); ++a) {
      const std::string& name = ks.args[a];
      if (const TensorMapSpec* map = find_tensor_map(plan, name)) {
        const std::string arg = where + ".args[" + std::to_string(a) + "] (" + name + ")";
        if (map->when && map->when->eval(b.env) == 0) {
          L.values.push_back(slot<EncodedTensorMap, Slot>(EncodedTensorMap{}));  // unused by this variant
        } else {
          const TensorMapArgs args = resolve_tensor_map(*map, b.buffers.at(map->buffer), b.env, arg);
          L.values.push_back(slot<EncodedTensorMap, Slot>(encode_tensor_map(args, arg)));
        }
        arg_sizes.push_back(sizeof(EncodedTensorMap::bytes));
      } else if (auto it = b.buffers.find(name); it != b.buffers.end()) {
        L.values.push_back(slot<void*, Slot>(it->second.ptr));
        arg_sizes.push_back(sizeof(void*));
      } else if (auto c = b.constants.find(name); c != b.constants.end()) {
        L.values.push_back(slot<float, Slot>(static_cast<float>(c->second)));
        arg_sizes.push_back(sizeof(float));
      } else {
        int64_t v = Expr::parse(name, where + ".args[" + std::to_string(a) + "]").eval(b.env);
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
          throw PlanError(where + ".args[" + std::to_string(a) + "]: " + name + " = " +
                          std::to_string(v) + " does not fit the int it is passed as");
        L.values.push_back(slot<int32_t, Slot>(static_cast<int32_t>(v)));
        arg_sizes.push_back(sizeof(int32_t));
      }
    }
    if (auto sizes = param_sizes(L.kernel); sizes && *sizes != arg_sizes) {
      auto list = [](const std::vector<size_t>& v) {
        std::string s;
        for (size_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
        return "[" + s + "]";
      };
      throw PlanError(L.where + ": the kernel's parameters take " + list(*sizes) +
                      " bytes, the plan's args give " + list(arg_sizes) +
                      " (pointers 8, constants float 4, expressions int 4, tensor maps 128)");
    }
    names_.push_back(L.where);
    steps_.emplace_back(std::move(L));
  }
}

void BoundPlan::enqueue(cudaStream_t stream) const {
  for (size_t i = 0; i < steps_.size(); ++i) enqueue_step(i, stream);
}

void BoundPlan::enqueue_step(size_t i, cudaStream_t stream) const {
  const auto& step = steps_.at(i);
  if (auto* g = std::get_if<std::unique_ptr<LtGemm>>(&step)) {
    (*g)->enqueue(stream);
    return;
  }
  const auto& L = std::get<KernelLaunch>(step);
  std::vector<void*> argv;
  for (auto& v : L.values) argv.push_back(const_cast<std::byte*>(v.bytes.data()));
  if (!L.pdl) {
    cudaError_t e = cudaLaunchKernel(reinterpret_cast<const void*>(L.kernel), L.grid, L.block,
                                     argv.data(), L.smem, stream);
    if (e != cudaSuccess) throw CudaError(e, L.where + ": cudaLaunchKernel: " + cuda_error_text(e));
    return;
  }
  // May start once every block of the step before has started or triggered
  // (griddepcontrol.launch_dependents); its griddepcontrol.wait waits for that step's writes.
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = L.grid;
  config.blockDim = L.block;
  config.dynamicSmemBytes = L.smem;
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = 1;
  cudaError_t e = cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(L.kernel), argv.data());
  if (e != cudaSuccess) throw CudaError(e, L.where + ": cudaLaunchKernelExC: " + cuda_error_text(e));
}

}  // namespace ks
