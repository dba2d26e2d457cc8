#pragma once
// JSON forms of the evaluation types: the worker protocol's messages, and `ksearch eval --json`.
#include <nlohmann/json.hpp>

#include "evaluator/ceilings.h"
#include "evaluator/device.h"
#include "evaluator/eval_types.h"

namespace ks {

nlohmann::json to_json(const EvalRequest& r);
EvalRequest request_from_json(const nlohmann::json& j);  // throws ks::Error naming the field

nlohmann::json to_json(const EvalResult& r);
nlohmann::json to_json(const std::vector<KernelResources>& kernels);  // ptxas's report, per kernel
EvalResult result_from_json(const nlohmann::json& j);
// [{"step": "plan.steps[1] (gemm)", "median_us": 12.5}, ...]: also the archive's form.
nlohmann::json to_json(const std::vector<StepTime>& steps);
std::vector<StepTime> steps_from_json(const nlohmann::json& j);  // throws ks::Error

nlohmann::json to_json(const DeviceInfo& d);
DeviceInfo device_from_json(const nlohmann::json& j);

nlohmann::json to_json(const Ceilings& c);
Ceilings ceilings_from_json(const nlohmann::json& j);

}  // namespace ks
