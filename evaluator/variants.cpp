// Points of a plan's parameter space: enumerating them for the tuner, naming them for the archive
// and the command line ("THREADS=128,ROWS=2"), and the env its expressions are evaluated in.
#include <algorithm>
#include <charconv>

#include "evaluator/plan.h"
#include "evaluator/text.h"

namespace ks {
namespace {

std::string join_values(const std::vector<int64_t>& values) {
  std::string out;
  for (int64_t v : values) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return out;
}

std::string join_names(const std::vector<Param>& params) {
  if (params.empty()) return "this plan has no params";
  std::string out = "params: ";
  for (size_t i = 0; i < params.size(); ++i) out += (i ? ", " : "") + params[i].name;
  return out;
}

[[noreturn]] void variant_error(const std::string& text, const std::string& problem) {
  throw PlanError("variant '" + text + "': " + problem);
}

}  // namespace

std::vector<Variant> enumerate_variants(const std::vector<Param>& params) {
  for (const Param& p : params)
    if (p.values.empty()) return {};
  // An odometer over value indices: the last param turns fastest.
  std::vector<size_t> index(params.size(), 0);
  std::vector<Variant> out;
  for (;;) {
    Variant v;
    for (size_t i = 0; i < params.size(); ++i)
      v.emplace_back(params[i].name, params[i].values[index[i]]);
    out.push_back(std::move(v));
    size_t i = params.size();
    while (i > 0) {
      --i;
      if (++index[i] < params[i].values.size()) break;
      index[i] = 0;
      if (i == 0) return out;
    }
    if (params.empty()) return out;
  }
}

Variant default_variant(const std::vector<Param>& params) {
  Variant v;
  for (const Param& p : params) {
    if (p.values.empty()) throw PlanError("plan.params." + p.name + ": a param needs a value");
    v.emplace_back(p.name, p.values.front());
  }
  return v;
}

std::vector<Variant> spread_variants(const std::vector<Param>& params, size_t n) {
  std::vector<Variant> all = enumerate_variants(params);
  if (all.size() <= n) return all;
  std::vector<Variant> out;
  for (size_t i = 0; i < n; ++i) out.push_back(all[i * all.size() / n]);
  return out;
}

std::string format_variant(const Variant& v) {
  if (v.empty()) return "default";
  std::string out;
  for (const auto& [name, value] : v)
    out += (out.empty() ? "" : ",") + name + "=" + std::to_string(value);
  return out;
}

Variant parse_variant(const std::string& text, const std::vector<Param>& params) {
  Variant v = default_variant(params);
  std::string all(trim(text));
  if (all.empty() || all == "default") return v;
  auto fail = [&](const std::string& problem) { variant_error(text, problem); };
  std::vector<bool> given(params.size(), false);
  size_t start = 0;
  for (;;) {
    size_t comma = all.find(',', start);
    std::string item(trim(std::string_view(all).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start)));
    size_t eq = item.find('=');
    if (eq == std::string::npos) fail("'" + item + "' is not NAME=VALUE");
    std::string name(trim(std::string_view(item).substr(0, eq)));
    std::string value_text(trim(std::string_view(item).substr(eq + 1)));

    size_t i = 0;
    while (i < params.size() && params[i].name != name) ++i;
    if (i == params.size()) fail("unknown param '" + name + "' (" + join_names(params) + ")");
    if (given[i]) fail(name + " is given twice");
    given[i] = true;

    int64_t value = 0;
    const char* end = value_text.data() + value_text.size();
    auto [ptr, ec] = std::from_chars(value_text.data(), end, value);
    if (value_text.empty() || ec != std::errc() || ptr != end)
      fail("the value of " + name + " must be an integer, got '" + value_text + "'");
    const auto& allowed = params[i].values;
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
      fail(name + "=" + value_text + " is not allowed (allowed values of " + name + ": " +
           join_values(allowed) + ")");
    v[i].second = value;

    if (comma == std::string::npos) return v;
    start = comma + 1;
  }
}

Env make_env(const Shape& shape, const Variant& variant) {
  Env env(shape.begin(), shape.end());
  for (const auto& [name, value] : variant) env.insert_or_assign(name, value);
  return env;
}

bool applies_somewhere(const Plan& plan, const Task& task, const Variant& v) {
  if (!plan.applies) return true;
  std::vector<Shape> shapes = task.search_shapes();
  for (const Shape& s : task.audit_shapes()) shapes.push_back(s);
  for (const Shape& s : shapes)
    if (plan_applies(plan, s, v, kNominalDevice)) return true;
  return false;
}

Env make_env(const Plan& plan, const Shape& shape, const Variant& variant, const DeviceFacts& device) {
  Env env = make_env(shape, variant);
  env.insert_or_assign("SMS", device.sms);
  env.insert_or_assign("SMEM_MAX", device.smem_max);
  env.insert_or_assign("L2_BYTES", device.l2_bytes);
  for (const auto& [name, e] : plan.lets) env.insert_or_assign(name, e.eval(env));
  return env;
}

bool plan_applies(const Plan& plan, const Shape& shape, const Variant& variant, const DeviceFacts& device) {
  if (!plan.applies) return true;
  try {
    return plan.applies->eval(make_env(plan, shape, variant, device)) != 0;
  } catch (const ExprError&) {
    return true;
  }
}

std::vector<std::pair<std::string, int64_t>> compile_defines(const Plan& plan, const Variant& variant) {
  std::vector<std::pair<std::string, int64_t>> defines(variant.begin(), variant.end());
  Env env = make_env({}, variant);
  for (const auto& [name, e] : plan.lets) {
    bool params_only = true;  // of params and earlier lets of params alone
    for (const std::string& n : e.names()) params_only &= env.count(n) > 0;
    if (!params_only) continue;
    try {
      env[name] = e.eval(env);
    } catch (const ExprError&) {
      continue;  // and so are the lets that use it: their names are not all in env
    }
    defines.emplace_back(name, env[name]);
  }
  return defines;
}

const TensorMapSpec* find_tensor_map(const Plan& plan, const std::string& name) {
  for (const auto& [n, map] : plan.tensor_maps)
    if (n == name) return &map;
  return nullptr;
}

CompileRequest compile_request(const Candidate& c, const Variant& variant, const std::string& arch) {
  return {c.source, c.origin, compile_defines(c.plan, variant), arch};
}

}  // namespace ks
