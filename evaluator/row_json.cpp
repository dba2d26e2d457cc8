#include "evaluator/row_json.h"

#include <cmath>
#include <limits>

namespace ks {
namespace {

using nlohmann::json;

json variant_json(const Variant& v) {
  json a = json::array();
  for (auto& [name, value] : v) a.push_back({name, value});
  return a;
}

Variant variant_from(const json& j) {
  Variant v;
  for (auto& p : j) v.emplace_back(p.at(0).get<std::string>(), p.at(1).get<int64_t>());
  return v;
}

// JSON has no NaN or infinity (nlohmann writes null): a wrong row's error can be either.
json number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

double number_from(const json& j) {
  if (!j.is_string()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  throw Error("malformed number " + j.dump());
}

json stats_json(const TimeStats& t) {
  return {{"median_us", t.median_us}, {"p10_us", t.p10_us}, {"p90_us", t.p90_us}};
}

TimeStats stats_from(const json& j) {
  return {j.at("median_us").get<double>(), j.at("p10_us").get<double>(), j.at("p90_us").get<double>()};
}

// nlohmann's own exceptions name the key but not the message kind: say which message it was.
template <class Fn>
auto parse(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const json::exception& e) {
    throw Error(std::string("malformed ") + what + ": " + e.what());
  }
}

}  // namespace

json to_json(const EvalRequest& r) {
  return {{"task", r.task},
          {"origin", r.origin},
          {"source", r.source},
          {"variant", variant_json(r.variant)},
          {"shape", r.shape},
          {"seed", r.settings.seed},
          {"time", r.settings.time},
          {"input_sets", r.settings.input_sets},
          {"constants", r.settings.constants},
          {"skeleton", r.settings.skeleton},
          {"timer", {{"warmup", r.settings.timer.warmup},
                     {"min_replays", r.settings.timer.min_replays},
                     {"min_seconds", r.settings.timer.min_seconds},
                     {"max_replays", r.settings.timer.max_replays},
                     {"warmup_seconds", r.settings.timer.warmup_seconds}}}};
}

EvalRequest request_from_json(const json& j) {
  return parse("request", [&] {
    EvalRequest r;
    r.task = j.at("task").get<std::string>();
    r.origin = j.at("origin").get<std::string>();
    r.source = j.at("source").get<std::string>();
    r.variant = variant_from(j.at("variant"));
    r.shape = j.at("shape").get<Shape>();
    r.settings.seed = j.at("seed").get<uint64_t>();
    r.settings.time = j.at("time").get<bool>();
    r.settings.input_sets = j.at("input_sets").get<int>();
    r.settings.constants = j.at("constants").get<Constants>();
    r.settings.skeleton = j.value("skeleton", false);
    const json& t = j.at("timer");
    r.settings.timer = {t.at("warmup").get<int>(), t.at("min_replays").get<int>(),
                        t.at("min_seconds").get<double>(), t.at("max_replays").get<int>(),
                        t.at("warmup_seconds").get<double>()};
    return r;
  });
}

json to_json(const std::vector<KernelResources>& kernels) {
  json a = json::array();
  for (auto& k : kernels)
    a.push_back({{"kernel", k.kernel}, {"registers", k.registers},
                 {"spill_store_bytes", k.spill_store_bytes}, {"spill_load_bytes", k.spill_load_bytes},
                 {"stack_bytes", k.stack_bytes}, {"static_smem_bytes", k.static_smem_bytes}});
  return a;
}

json to_json(const std::vector<StepTime>& steps) {
  json a = json::array();
  for (auto& s : steps) a.push_back({{"step", s.step}, {"median_us", number(s.median_us)}});
  return a;
}

std::vector<StepTime> steps_from_json(const json& j) {
  return parse("step times", [&] {
    std::vector<StepTime> r;
    for (auto& s : j) r.push_back({s.at("step").get<std::string>(), number_from(s.at("median_us"))});
    return r;
  });
}

json to_json(const EvalResult& r) {
  json j = {{"shape", r.shape}, {"variant", variant_json(r.variant)},
            {"status", status_name(r.status)}, {"error", r.error},
            {"nondeterministic", r.nondeterministic}, {"floor_us", number(r.floor_us)},
            {"max_scaled_error", number(r.max_scaled)}, {"rel_l2_error", number(r.rel_l2)},
            {"kernels", to_json(r.resources)}};
  if (r.output_bytes > 0) {
    j["output"] = r.output;
    j["output_bytes"] = r.output_bytes;
  }
  if (!r.steps.empty()) j["steps"] = to_json(r.steps);
  if (r.skeleton_us > 0) j["skeleton_us"] = number(r.skeleton_us);
  if (!r.skeleton_error.empty()) j["skeleton_error"] = r.skeleton_error;
  if (r.timing) {
    const PairTiming& t = *r.timing;
    j["timing"] = {{"candidate", stats_json(t.candidate)}, {"baseline", stats_json(t.baseline)},
                   {"speedup", t.speedup}, {"replays", t.replays}, {"last_set", t.last_set}};
  }
  return j;
}

EvalResult result_from_json(const json& j) {
  return parse("result row", [&] {
    EvalResult r;
    r.shape = j.at("shape").get<Shape>();
    r.variant = variant_from(j.at("variant"));
    auto status = parse_status(j.at("status").get<std::string>());
    if (!status) throw Error("malformed result row: unknown status " + j.at("status").dump());
    r.status = *status;
    r.error = j.at("error").get<std::string>();
    r.nondeterministic = j.at("nondeterministic").get<bool>();
    r.floor_us = number_from(j.at("floor_us"));
    r.max_scaled = number_from(j.at("max_scaled_error"));
    r.rel_l2 = number_from(j.at("rel_l2_error"));
    for (auto& k : j.at("kernels"))
      r.resources.push_back({k.at("kernel").get<std::string>(), k.at("registers").get<int>(),
                             k.at("spill_store_bytes").get<int>(), k.at("spill_load_bytes").get<int>(),
                             k.at("stack_bytes").get<int>(), k.at("static_smem_bytes").get<int>()});
    r.output = j.value("output", "");
    r.output_bytes = j.value("output_bytes", size_t{0});
    if (j.contains("steps")) r.steps = steps_from_json(j.at("steps"));
    if (j.contains("skeleton_us")) r.skeleton_us = number_from(j.at("skeleton_us"));
    r.skeleton_error = j.value("skeleton_error", "");
    if (j.contains("timing")) {
      const json& t = j.at("timing");
      r.timing = PairTiming{stats_from(t.at("candidate")), stats_from(t.at("baseline")),
                            t.at("speedup").get<double>(), t.at("replays").get<int>(),
                            t.at("last_set").get<size_t>()};
    }
    return r;
  });
}

json to_json(const DeviceInfo& d) {
  return {{"index", d.index}, {"name", d.name}, {"cc_major", d.cc_major}, {"cc_minor", d.cc_minor},
          {"arch", d.arch}, {"sms", d.sms}, {"l2_bytes", d.l2_bytes},
          {"smem_per_block_optin", d.smem_per_block_optin}, {"global_mem", d.global_mem},
          {"driver_version", d.driver_version}, {"runtime_version", d.runtime_version}};
}

DeviceInfo device_from_json(const json& j) {
  return parse("device", [&] {
    DeviceInfo d;
    d.index = j.at("index").get<int>();
    d.name = j.at("name").get<std::string>();
    d.cc_major = j.at("cc_major").get<int>();
    d.cc_minor = j.at("cc_minor").get<int>();
    d.arch = j.at("arch").get<std::string>();
    d.sms = j.at("sms").get<int>();
    d.l2_bytes = j.at("l2_bytes").get<size_t>();
    d.smem_per_block_optin = j.at("smem_per_block_optin").get<size_t>();
    d.global_mem = j.at("global_mem").get<size_t>();
    d.driver_version = j.at("driver_version").get<int>();
    d.runtime_version = j.at("runtime_version").get<int>();
    return d;
  });
}

json to_json(const Ceilings& c) { return {{"bytes_per_s", c.bytes_per_s}, {"flops_per_s", c.flops_per_s}}; }

Ceilings ceilings_from_json(const json& j) {
  return parse("ceilings", [&] {
    return Ceilings{j.at("bytes_per_s").get<double>(), j.at("flops_per_s").get<double>()};
  });
}

}  // namespace ks
