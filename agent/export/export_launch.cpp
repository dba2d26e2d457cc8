// The exported library's C++ source: each exported plan's steps as plain launch code (every
// expression printed as C++ over the sizes, params substituted as literals, the task's constants
// read from the caller's arguments), the dispatcher choosing a plan per shape, and the C entry
// points. The fixed helpers are export_runtime.cpp's.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <sstream>

#include "agent/export/export_library.h"

namespace ks::exporter {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string quoted(const std::string& s) {  // a C string literal of plain text
  std::string o = "\"";
  for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o + "\"";
}

// Prints a plan's expressions: sizes read from `s`, params as their values, lets as their own
// expressions in parentheses.
class Printer {
 public:
  Printer(const Task& task, const Variant& v, std::vector<std::pair<std::string, Expr>> lets = {})
      : v_(v), lets_(std::move(lets)) {
    for (auto& n : task.size_symbols()) sizes_.insert(n);
  }
  std::string operator()(const Expr& e) const {
    return e.to_cpp([this](const std::string& n) -> std::string {
      if (sizes_.count(n)) return "s." + n;
      for (const char* d : kDeviceFactNames)  // read off the device by device_facts()
        if (n == d) return "s." + n;
      for (auto& [p, value] : v_)
        if (p == n) return "int64_t(" + std::to_string(value) + ")";
      for (auto& [name, let] : lets_)
        if (name == n) return "(" + (*this)(let) + ")";
      throw Error("export: expression name '" + n + "' is neither a size, a param nor a let");
    });
  }

 private:
  std::set<std::string> sizes_;
  Variant v_;
  std::vector<std::pair<std::string, Expr>> lets_;
};

struct KernelRef {
  size_t plan;
  std::string name;
};

// plan<i>_applies, plan<i>_workspace and plan<i>_run.
void emit_plan(std::ostringstream& o, const ExportInput& in, size_t i, const std::vector<KernelRef>& kernels) {
  const Task& task = *in.task;
  const ExportedPlan& p = in.plans[i];
  const Printer print(task, p.variant, p.plan.lets);
  const std::string fn = "plan" + std::to_string(i);
  bool has_gemm = false;
  for (auto& st : p.plan.steps) has_gemm = has_gemm || std::holds_alternative<GemmStep>(st.op);

  o << "\n// ---- " << plan_label(p) << ": " << p.source_file << "\n\n";
  o << "int64_t " << fn << "_applies(const Sizes& s) {\n  (void)s;\n  return "
    << (p.plan.applies ? print(*p.plan.applies) : std::string("1")) << ";\n}\n\n";

  // Workspace: each entry at a 256-byte boundary, then cuBLASLt's share; -1 for a negative size.
  const size_t n_ws = p.plan.workspace.size();
  o << "// Fills off[0.." << n_ws << "] (entries, then cuBLASLt's); returns the total bytes, -1 for a negative size.\n"
    << "int64_t " << fn << "_workspace(const Sizes& s, int64_t* off) {\n  (void)s;\n  int64_t at = 0;\n";
  for (size_t w = 0; w < n_ws; ++w)
    o << "  {  // " << p.plan.workspace[w].first << "\n    const int64_t bytes = " << print(p.plan.workspace[w].second)
      << ";\n    if (bytes < 0) return -1;\n    off[" << w << "] = at;\n    at = ks_cdiv(at + bytes, "
      << kWorkspaceAlign << ") * " << kWorkspaceAlign << ";\n  }\n";
  o << "  off[" << n_ws << "] = at;\n  return at + " << (has_gemm ? kLtWorkspaceBytes : 0) << ";\n}\n\n";

  o << "int " << fn << "_run(DeviceState& dev, const Buffers& b, const Sizes& s, const Constants& c, char* ws, cudaStream_t stream) {\n"
    << "  (void)c;\n"
    << "  int64_t off[" << n_ws + 1 << "];\n  if (" << fn << "_workspace(s, off) < 0) return fail("
    << upper(library_name(task)) << "_ERROR_SHAPE, \"a workspace size is negative for this shape\");\n";
  std::map<std::string, std::string> pointer, buffer_bytes;  // buffer or workspace name -> C++ expression
  std::map<std::string, DType> dtype;
  for (auto& bs : task.buffers()) {
    pointer[bs.name] = "b." + bs.name, dtype[bs.name] = bs.dtype;
    std::string bytes = std::to_string(dtype_size(bs.dtype));
    for (auto& d : bs.dims) bytes += " * " + (std::isdigit(static_cast<unsigned char>(d[0])) ? d : "s." + d);
    buffer_bytes[bs.name] = bytes;
  }
  for (size_t w = 0; w < n_ws; ++w) {
    const std::string& name = p.plan.workspace[w].first;
    // (void): a plan may declare an entry that no step uses (its bytes still reserved).
    o << "  void* ws_" << name << " = ws + off[" << w << "];\n  (void)ws_" << name << ";\n";
    pointer[name] = "ws_" + name;
    buffer_bytes[name] = "(" + print(p.plan.workspace[w].second) + ")";
    dtype[name] = DType::bf16;  // as the evaluator binds workspace entries
  }
  if (has_gemm) o << "  void* lt_ws = ws + off[" << n_ws << "];\n";
  o << "  (void)ws;\n";
  std::set<std::string> constants;
  for (auto& c : task.constants()) constants.insert(c.name);

  for (size_t k = 0; k < p.plan.steps.size(); ++k) {
    const std::string where = fn + " step " + std::to_string(k);
    if (auto* g = std::get_if<GemmStep>(&p.plan.steps[k].op)) {
      o << "  {  // step " << k << ": gemm " << g->d << " = " << g->a << (g->trans_a ? "^T" : "") << " @ " << g->b
        << (g->trans_b ? "^T" : "") << " (cuBLASLt)\n"
        << "    if (int st = gemm(dev, " << pointer.at(g->a) << ", " << cuda_data_type(dtype.at(g->a)) << ", "
        << pointer.at(g->b) << ", " << cuda_data_type(dtype.at(g->b)) << ", " << pointer.at(g->d) << ", "
        << cuda_data_type(dtype.at(g->d)) << ",\n                      " << print(g->m) << ", " << print(g->n) << ", "
        << print(g->k) << ", " << (g->trans_a ? "true" : "false") << ", " << (g->trans_b ? "true" : "false") << ", "
        << (g->batch ? print(*g->batch) : std::string("1")) << ", lt_ws, " << kLtWorkspaceBytes
        << ", stream, " << quoted(where + " (gemm)") << "))\n      return st;\n  }\n";
      continue;
    }
    const auto& ks = std::get<KernelStep>(p.plan.steps[k].op);
    size_t kernel = 0;
    while (!(kernels[kernel].plan == i && kernels[kernel].name == ks.kernel)) ++kernel;
    auto dims = [&](const std::vector<Expr>& e) {
      std::string d;
      for (size_t j = 0; j < 3; ++j) d += (j ? ", " : "") + (j < e.size() ? print(e[j]) : std::string("1"));
      return d;
    };
    o << "  {  // step " << k << ": " << ks.kernel << "\n"
      << "    const int64_t grid[3] = {" << dims(ks.grid) << "};\n"
      << "    const int64_t block[3] = {" << dims(ks.block) << "};\n"
      << "    const int64_t smem = " << (ks.smem ? print(*ks.smem) : std::string("0")) << ";\n";
    std::string argv;
    for (size_t a = 0; a < ks.args.size(); ++a) {
      const std::string& name = ks.args[a];
      const std::string var = "a" + std::to_string(a);
      if (const TensorMapSpec* map = find_tensor_map(p.plan, name)) {  // encoded here, checked as the evaluator checks it
        const TensorMapSpec& t = *map;
        auto list = [&](const std::vector<Expr>& e) {
          std::string l;
          for (auto& x : e) l += (l.empty() ? "" : ", ") + print(x);
          return l.empty() ? std::string("0") : l;
        };
        const DType type = t.dtype.value_or(dtype.at(t.buffer));
        // A map with a `when` that is 0 for this plan's params and shape is not encoded: zeros.
        const std::string in = t.when ? "      " : "    ";
        o << "    TensorMap " << var << "{};  // " << name << " over " << t.buffer << "\n";
        if (t.when) o << "    if ((" << print(*t.when) << ") != 0) {\n";
        o << in << "const int64_t " << var << "_dims[] = {" << list(t.dims) << "};\n"
          << (t.strides.empty() ? "" : in + "const int64_t " + var + "_strides[] = {" + list(t.strides) + "};\n")
          << in << "const int64_t " << var << "_box[] = {" << list(t.box) << "};\n"
          << in << "if (int st = tensor_map(" << var << ", " << pointer.at(t.buffer) << ", " << buffer_bytes.at(t.buffer)
          << ", " << static_cast<int>(type) << ", " << dtype_size(type) << ", " << t.dims.size() << ", " << var
          << "_dims, " << (t.strides.empty() ? "nullptr" : var + "_strides") << ", " << var << "_box, " << t.swizzle
          << ", " << t.l2_promotion << ", " << (t.oob_nan ? "true" : "false") << ", "
          << quoted(where + " arg " + std::to_string(a) + " (" + name + ")") << "))\n" << in << "  return st;\n";
        if (t.when) o << "    }\n";
      } else if (pointer.count(name)) {
        o << "    void* " << var << " = " << pointer[name] << ";\n";
      } else if (constants.count(name)) {  // the caller's value, checked by the entry point
        o << "    float " << var << " = c." << name << ";\n";
      } else {  // an integer expression, passed as int
        o << "    const int64_t " << var << "_wide = " << print(Expr::parse(name, where)) << ";  // " << name << "\n"
          << "    if (!fits_int(" << var << "_wide)) return fail(" << upper(library_name(task))
          << "_ERROR_SHAPE, " << quoted(where + ": '" + name + "' does not fit an int") << ");\n"
          << "    int32_t " << var << " = static_cast<int32_t>(" << var << "_wide);\n";
      }
      argv += (argv.empty() ? "" : ", ") + ("&" + var);
    }
    o << "    void* args[] = {" << (argv.empty() ? "nullptr" : argv) << "};\n"
      << "    if (int st = launch(dev, " << kernel << ", grid, block, smem, " << (ks.pdl ? "(" + print(*ks.pdl) + ") != 0" : std::string("false"))
      << ", args, stream, "
      << quoted(where + " (" + ks.kernel + ")") << ")) return st;\n  }\n";
  }
  o << "  return 0;\n}\n";
}

}  // namespace

std::string generate_dispatch(const ExportInput& in) {
  const Task& task = *in.task;
  const std::string lib = library_name(task), macro = upper(lib);
  const auto syms = task.size_symbols();
  std::vector<KernelRef> kernels;
  for (size_t i = 0; i < in.plans.size(); ++i)
    for (auto& st : in.plans[i].plan.steps)
      if (auto* ks = std::get_if<KernelStep>(&st.op)) {
        bool seen = false;
        for (auto& r : kernels) seen = seen || (r.plan == i && r.name == ks->kernel);
        if (!seen) kernels.push_back({i, ks->kernel});
      }
  bool needs_lt = false;
  for (auto& p : in.plans)
    for (auto& st : p.plan.steps) needs_lt = needs_lt || std::holds_alternative<GemmStep>(st.op);

  std::ostringstream o;
  o << "// " << lib << ".cpp: generated by `ksearch export` for " << in.device << " (" << in.arch << ").\n"
    << "// " << task.semantics() << "\n"
    << "#include \"" << lib << ".h\"\n\n#include <cublasLt.h>\n\n"
    << "#include <algorithm>\n#include <array>\n#include <atomic>\n#include <cerrno>\n#include <chrono>\n#include <cmath>\n"
    << "#include <cstdint>\n#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <map>\n#include <memory>\n"
    << "#include <mutex>\n#include <optional>\n#include <random>\n#include <stdexcept>\n#include <string>\n"
    << "#include <utility>\n#include <vector>\n\n"
    << "extern \"C\" const unsigned char* const " << lib << "_cubin_data[];\n"
    << "extern \"C\" const size_t " << lib << "_cubin_size[];\n"
    << "extern \"C\" const unsigned char* const " << lib << "_timing_cubin;  // ksearch's timing kernels, for tuning\n"
    << "extern \"C\" const size_t " << lib << "_timing_cubin_size;\n\nnamespace {\n\n"
    << "constexpr int kCubins = " << in.plans.size() << ";  // one per plan, in plan order\n"
    << "constexpr bool kNeedsLt = " << (needs_lt ? "true" : "false") << ";\n"
    << "struct KernelRef { int cubin; const char* name; };\n"
    << "constexpr int kKernelCount = " << kernels.size() << ";  // 0 when every plan is cuBLASLt alone\n"
    << "constexpr std::array<KernelRef, kKernelCount> kKernels = {{";
  for (auto& k : kernels) o << "{" << k.plan << ", " << quoted(k.name) << "}, ";
  o << "}};\n"
    << runtime_source(lib, macro) << "\n// The sizes, and the device facts a plan's expressions may use (device_facts).\n"
    << "struct Sizes { int64_t";
  for (size_t j = 0; j < syms.size(); ++j) o << (j ? ", " : " ") << syms[j];
  o << "; int64_t SMS = 0, SMEM_MAX = 0, L2_BYTES = 0; };\n"
    << "int device_facts(Sizes& s) { return read_device_facts(s.SMS, s.SMEM_MAX, s.L2_BYTES); }\n"
    << "struct Buffers { void*";
  auto bufs = task.buffers();
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", *" : " ") << bufs[j].name;
  o << "; };\n";
  // The task's constants: the caller's arguments, checked once per call before anything runs.
  const auto constants = task.constants();
  o << "struct Constants {";
  for (auto& c : constants) o << " float " << c.name << ";";
  o << " };\n";
  if (!constants.empty())
    o << "// A caller's float as a message shows it: 1e-05, nan, inf.\n"
      << "std::string float_text(float v) {\n  char buf[32];\n"
      << "  std::snprintf(buf, sizeof buf, \"%g\", static_cast<double>(v));\n  return buf;\n}\n";
  o << "// \"\" when every constant is in its range, else why not.\n"
    << "std::string constants_problem(const Constants& c) {\n  (void)c;\n";
  for (auto& c : constants)
    o << "  if (!(std::isfinite(c." << c.name << ")" << (c.positive ? " && c." + c.name + " > 0" : std::string()) << "))\n"
      << "    return " << quoted(c.name + " = ") << " + float_text(c." << c.name << ") + "
      << quoted(c.positive ? " must be finite and positive (" + c.meaning + ")" : " must be finite") << ";\n";
  o << "  return \"\";\n}\n";
  for (size_t i = 0; i < in.plans.size(); ++i) emit_plan(o, in, i, kernels);

  // The dispatcher.
  const Printer sizes_only(task, {});
  std::string cs = "{";
  for (size_t j = 0; j < syms.size(); ++j) cs += (j ? ", s." : "s.") + syms[j];
  cs += "}";
  const auto buckets = task.bucket_symbols();
  std::string bucket_flags = "{", bucket_list;
  for (size_t j = 0; j < syms.size(); ++j) {
    const bool b = std::find(buckets.begin(), buckets.end(), syms[j]) != buckets.end();
    bucket_flags += std::string(j ? ", " : "") + (b ? "true" : "false");
    if (b) bucket_list += (bucket_list.empty() ? "" : ", ") + syms[j];
  }
  bucket_flags += "}";
  size_t max_ws = 0;
  for (auto& p : in.plans) max_ws = std::max(max_ws, p.plan.workspace.size());
  o << "\n// ---- dispatch\n\n// Every size positive (first, so a constraint may divide by one), then the task's constraints.\n"
    << "bool shape_ok(const Sizes& s) {\n  return ";
  for (auto& sym : syms) o << "s." << sym << " > 0 && ";
  for (auto& c : task.constraints()) o << sizes_only(Expr::parse(c, "constraint")) << " != 0 && ";
  o << "true;\n}\n\n";
  auto switch_over = [&](const std::string& sig, const std::string& suffix, const std::string& args,
                         const std::string& otherwise) {
    o << sig << " {\n  switch (plan) {\n";
    for (size_t i = 0; i < in.plans.size(); ++i)
      o << "    case " << i << ": return plan" << i << suffix << "(" << args << ");\n";
    o << "  }\n  return " << otherwise << ";\n}\n\n";
  };
  switch_over("int64_t plan_applies(int plan, const Sizes& s)", "_applies", "s", "0");
  switch_over("int64_t plan_workspace(int plan, const Sizes& s, int64_t* off)", "_workspace", "s, off", "-1");
  switch_over("int plan_run(int plan, DeviceState& dev, const Buffers& b, const Sizes& s, const Constants& c, char* ws, "
              "cudaStream_t stream)",
              "_run", "dev, b, s, c, ws, stream", "fail(" + macro + "_ERROR_SHAPE, \"no such plan\")");

  o << "// The measured shapes (" ;
  for (size_t j = 0; j < syms.size(); ++j) o << (j ? "," : "") << syms[j];
  o << ") and the plan exported for each: plan 0 is the baseline.\n"
    << "struct Measured { int64_t sizes[" << syms.size() << "]; int plan; };\n"
    << "constexpr int kMeasuredCount = " << in.shapes.size() << ";\n"
    << "constexpr Measured kMeasured[] = {\n";
  for (auto& sc : in.shapes) {
    o << "  {{";
    for (size_t j = 0; j < syms.size(); ++j) o << (j ? ", " : "") << sc.shape.at(syms[j]);
    o << "}, " << sc.plan << "},  // " << plan_label(in.plans[sc.plan]) << "\n";
  }
  if (in.shapes.empty()) o << "  {{}, -1},  // none: keeps the array non-empty\n";
  o << "};\n\n"
    << "// The plan for a shape: the measured shape's own if the shape was measured. Else, among the\n"
    << "// measured shapes with the same fixed sizes (every size but the bucket sizes " << bucket_list << "), if\n"
    << "// each bucket size lies within the range they measured, the plan of the nearest one whose plan\n"
    << "// applies here, nearest meaning the smallest |log(size) - log(size')| of the bucket sizes in\n"
    << "// that order (lexicographic), then table order. Else the baseline: a plan is never carried to\n"
    << "// fixed sizes it was not measured on, nor past the measured range. -1: none applies.\n"
    << "// The measured shape's own plan (when it applies), -1 for a shape the export did not measure.\n"
    << "int measured_plan(const Sizes& s) {\n"
    << "  const int64_t v[] = " << cs << ";\n"
    << "  constexpr int n = " << syms.size() << ";\n"
    << "  for (int i = 0; i < kMeasuredCount; ++i) {\n"
    << "    bool same = true;\n"
    << "    for (int j = 0; j < n; ++j) same = same && kMeasured[i].sizes[j] == v[j];\n"
    << "    if (same && plan_applies(kMeasured[i].plan, s)) return kMeasured[i].plan;\n"
    << "  }\n"
    << "  return -1;\n}\n\n"
    << "int choose_plan(const Sizes& s) {\n"
    << "  if (const int own = measured_plan(s); own >= 0) return own;\n"
    << "  const int64_t v[] = " << cs << ";\n"
    << "  constexpr int n = " << syms.size() << ";\n"
    << "  constexpr bool bucket[n] = " << bucket_flags << ";\n"
    << "  auto same_fixed = [&](int i) {\n"
    << "    for (int j = 0; j < n; ++j)\n"
    << "      if (!bucket[j] && kMeasured[i].sizes[j] != v[j]) return false;\n"
    << "    return true;\n"
    << "  };\n"
    << "  for (int j = 0; j < n; ++j) {  // inside the measured range of every bucket size?\n"
    << "    if (!bucket[j]) continue;\n"
    << "    bool below = false, above = false;\n"
    << "    for (int i = 0; i < kMeasuredCount; ++i) {\n"
    << "      if (!same_fixed(i)) continue;\n"
    << "      below = below || kMeasured[i].sizes[j] <= v[j];\n"
    << "      above = above || kMeasured[i].sizes[j] >= v[j];\n"
    << "    }\n"
    << "    if (!below || !above) return plan_applies(0, s) ? 0 : -1;\n"
    << "  }\n"
    << "  int best = -1;\n  double best_key[n] = {};\n"
    << "  for (int i = 0; i < kMeasuredCount; ++i) {\n"
    << "    if (!same_fixed(i) || !plan_applies(kMeasured[i].plan, s)) continue;\n"
    << "    double key[n] = {};\n"
    << "    for (int j = 0; j < n; ++j)\n"
    << "      if (bucket[j]) key[j] = std::fabs(std::log(double(v[j])) - std::log(double(kMeasured[i].sizes[j])));\n"
    << "    bool better = best < 0;\n"
    << "    for (int j = 0; j < n && !better; ++j) {\n"
    << "      if (key[j] < best_key[j]) better = true;\n"
    << "      if (key[j] != best_key[j]) break;\n"
    << "    }\n"
    << "    if (better) {\n      best = i;\n      for (int j = 0; j < n; ++j) best_key[j] = key[j];\n    }\n"
    << "  }\n"
    << "  if (best >= 0) return kMeasured[best].plan;\n"
    << "  return plan_applies(0, s) ? 0 : -1;\n}\n\n"
    << "std::string shape_text(const Sizes& s) {\n  return std::string(\"\")";
  for (size_t j = 0; j < syms.size(); ++j)
    o << " + \"" << (j ? "," : "") << syms[j] << "=\" + std::to_string(s." << syms[j] << ")";
  o << ";\n}\n\n";

  // The tables the tuner reads: sizes, plans, buffers.
  o << "// ---- for tuning: the sizes as an array, the plans' labels, the buffers\n\n"
    << "constexpr int kSizeCount = " << syms.size() << ";\n"
    << "std::array<int64_t, kSizeCount> size_array(const Sizes& s) { return " << cs << "; }\n"
    << "constexpr int kPlanCount = kCubins;\n"
    << "constexpr int kWorkspaceSlots = " << max_ws + 1 << ";  // plan_workspace's offsets, the most of any plan\n"
    << "constexpr const char* kPlanLabel[] = {";
  for (size_t i = 0; i < in.plans.size(); ++i) o << (i ? ", " : "") << quoted(plan_label(in.plans[i]));
  o << "};\n"
    << "constexpr const char* kLibraryId = " << quoted(library_id(in)) << ";  // manifest.json's library_id\n"
    << "constexpr int kBufferCount = " << bufs.size() << ";\n"
    << "constexpr const char* kBufferName[] = {";
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << quoted(bufs[j].name);
  o << "};\nconstexpr int kBufferDtype[] = {";  // ksearch's DType
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << static_cast<int>(bufs[j].dtype);
  o << "};\nconstexpr bool kBufferIsInput[] = {";
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << (bufs[j].role == Role::in ? "true" : "false");
  o << "};\n// How the task draws each input (normal: mean, standard deviation), for the tuner's own inputs.\n"
    << "constexpr float kBufferMean[] = {";
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << c_float_literal(bufs[j].random.mean);
  o << "};\nconstexpr float kBufferStddev[] = {";
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << c_float_literal(bufs[j].random.stddev);
  o << "};\n"
    << "// A buffer's bytes for a shape (overflow: ExprFault).\n"
    << "int64_t buffer_bytes(int i, const Sizes& s) {\n  (void)s;\n  switch (i) {\n";
  for (size_t j = 0; j < bufs.size(); ++j) {
    std::string bytes = "int64_t(" + std::to_string(dtype_size(bufs[j].dtype)) + ")";
    for (auto& d : bufs[j].dims)
      bytes = "ks_mul(" + bytes + ", " + (std::isdigit(static_cast<unsigned char>(d[0])) ? "int64_t(" + d + ")" : "s." + d) + ")";
    o << "    case " << j << ": return " << bytes << ";  // " << bufs[j].name << "\n";
  }
  o << "  }\n  return 0;\n}\n"
    << "Buffers buffers_from(void* const p[]) { return Buffers{";
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << "p[" << j << "]";
  o << "}; }\n"
    << tuner_source(lib, macro);

  // The checks every entry point that takes constants makes, before the GPU is touched.
  o << "\n// OK, or the shape's or a constant's problem, failed with the entry point's name.\n"
    << "int check_arguments(const char* entry, const Sizes& s, const Constants& c) {\n"
    << "  if (!shape_ok(s))\n    return fail(" << macro << "_ERROR_SHAPE, std::string(entry) + \": \" + shape_text(s) +\n"
    << "                \" breaks the task's constraints (";
  for (auto& c : task.constraints()) o << c << "; ";
  o << "every size positive)\");\n"
    << "  if (std::string why = constants_problem(c); !why.empty()) return fail(" << macro
    << "_ERROR_SHAPE, std::string(entry) + \": \" + why);\n"
    << "  return 0;\n}\n\n}  // namespace\n\n";

  // The C entry points.
  std::string sizes_params, sizes_init;
  for (auto& sym : syms) {
    sizes_params += (sizes_params.empty() ? "" : ", ") + std::string("int64_t ") + sym;
    sizes_init += (sizes_init.empty() ? "" : ", ") + sym;
  }
  std::string constants_init;
  for (auto& c : constants) constants_init += (constants_init.empty() ? "" : ", ") + c.name;
  const std::string constants_params = constant_params(task);
  const std::string catch_all =
      "  } catch (const ExprFault& e) {  // a plan's expression on this shape: overflow, division by zero\n"
      "    return fail(" + macro + "_ERROR_SHAPE, std::string(\"@ENTRY@: a plan expression: \") + e.what());\n"
      "  } catch (const std::exception& e) {  // nothing may cross the C boundary\n"
      "    return fail(" + macro + "_ERROR_CUDA, std::string(\"@ENTRY@: \") + e.what());\n  }\n}\n\n";
  auto catches = [&](const std::string& entry) {
    std::string t = catch_all;
    for (size_t at = t.find("@ENTRY@"); at != std::string::npos; at = t.find("@ENTRY@")) t.replace(at, 7, entry);
    return t;
  };
  o << "extern \"C\" size_t " << lib << "_workspace_size(" << sizes_params << ") {\n"
    << "  try {\n"
    << "    Sizes s{" << sizes_init << "};\n"
    << "    if (!shape_ok(s) || device_facts(s)) return 0;\n"
    << "    const int64_t bytes = workspace_for(s);\n"
    << "    return bytes < 0 ? 0 : static_cast<size_t>(bytes);\n"
    << "  } catch (const std::exception& e) {  // nothing may cross the C boundary\n"
    << "    fail(" << macro << "_ERROR_SHAPE, std::string(\"" << lib << "_workspace_size: \") + e.what());\n    return 0;\n  }\n}\n\n"
    << "extern \"C\" int " << lib << "(";
  for (auto& bs : bufs) o << (bs.role == Role::in ? "const void* " : "void* ") << bs.name << ", ";
  o << sizes_params << (constants_params.empty() ? "" : ", " + constants_params)
    << ", void* workspace, cudaStream_t stream) {\n"
    << "  try {\n    Sizes s{" << sizes_init << "};\n"
    << "    const Constants c{" << constants_init << "};\n"
    << "    if (int st = check_arguments(\"" << lib << "\", s, c)) return st;\n"
    << "    if (int st = device_facts(s)) return st;\n"
    << "    Selection sel;\n"
    << "    if (int st = select_plan(s, sel)) return st;\n"
    << "    if (sel.how == Selection::untuned && tune_env().on)  // KSEARCH_TUNE=1: tuned on first use\n"
    << "      if (int st = tune_on_first_use(s, c, stream, sel)) return st;\n"
    << "    const int plan = sel.plan;\n"
    << "    if (plan < 0) return fail(" << macro << "_ERROR_SHAPE, \"" << lib << ": no plan applies to \" + shape_text(s));\n"
    << "    int64_t off[kWorkspaceSlots];\n"
    << "    const int64_t need = plan_workspace(plan, s, off);\n"
    << "    if (need < 0) return fail(" << macro << "_ERROR_SHAPE, \"" << lib << ": a workspace size is negative for \" + shape_text(s));\n"
    << "    if (need > 0 && workspace == nullptr)\n"
    << "      return fail(" << macro << "_ERROR_WORKSPACE, \"" << lib << ": \" + shape_text(s) + \" needs \" + std::to_string(need) +\n"
    << "                  \" bytes of workspace (" << lib << "_workspace_size), got NULL\");\n"
    << "    if (reinterpret_cast<uintptr_t>(workspace) % " << kWorkspaceAlign << " != 0)\n"
    << "      return fail(" << macro << "_ERROR_WORKSPACE, \"" << lib << ": the workspace must be " << kWorkspaceAlign << "-byte aligned\");\n"
    << "    DeviceState* dev = nullptr;\n    if (int st = device_state(&dev)) return st;\n"
    << "    const Buffers b{";
  for (size_t j = 0; j < bufs.size(); ++j) o << (j ? ", " : "") << "const_cast<void*>(static_cast<const void*>(" << bufs[j].name << "))";
  o << "};\n"
    << "    return plan_run(plan, *dev, b, s, c, static_cast<char*>(workspace), stream);\n"
    << catches(lib)
    << "extern \"C\" const char* " << lib << "_last_error(void) { return g_last_error.c_str(); }\n\n";

  // Tuning: the explicit call and the query.
  o << "extern \"C\" int " << lib << "_tune(" << sizes_params << (constants_params.empty() ? "" : ", " + constants_params)
    << ", cudaStream_t stream) {\n"
    << "  try {\n    Sizes s{" << sizes_init << "};\n"
    << "    const Constants c{" << constants_init << "};\n"
    << "    if (int st = check_arguments(\"" << lib << "_tune\", s, c)) return st;\n"
    << "    if (int st = device_facts(s)) return st;\n"
    << "    if (measured_plan(s) >= 0) return 0;  // measured by ksearch: its plan stays\n"
    << "    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;\n"
    << "    KS_CUDA(cudaStreamIsCapturing(stream, &capture));\n"
    << "    if (capture != cudaStreamCaptureStatusNone)\n"
    << "      return fail(" << macro << "_ERROR_CUDA, \"" << lib
    << "_tune: the stream is capturing a CUDA graph: tune before capturing\");\n"
    << "    int device = 0;\n    KS_CUDA(cudaGetDevice(&device));\n"
    << "    // The cache file's lines first, so that none of them replaces what is tuned now.\n"
    << "    if (int st = ensure_cache_read(tune_table(), device)) return st;\n"
    << "    return tune_and_record(s, c, device, stream, false);\n"
    << catches(lib + "_tune")
    << "extern \"C\" const char* " << lib << "_plan_info(" << sizes_params << ") {\n"
    << "  thread_local std::string info;\n  info.clear();\n"
    << "  try {\n    Sizes s{" << sizes_init << "};\n"
    << "    if (!shape_ok(s)) {\n      fail(" << macro << "_ERROR_SHAPE, \"" << lib
    << "_plan_info: \" + shape_text(s) + \" breaks the task's constraints\");\n      return \"\";\n    }\n"
    << "    Selection sel;\n"
    << "    if (device_facts(s) || select_plan(s, sel)) return \"\";\n"
    << "    if (sel.plan < 0) {\n      fail(" << macro << "_ERROR_SHAPE, \"" << lib
    << "_plan_info: no plan applies to \" + shape_text(s));\n      return \"\";\n    }\n"
    << "    info = selection_text(sel);\n"
    << "  } catch (const std::exception& e) {  // nothing may cross the C boundary\n"
    << "    fail(" << macro << "_ERROR_SHAPE, std::string(\"" << lib << "_plan_info: \") + e.what());\n"
    << "    return \"\";\n  }\n  return info.c_str();\n}\n";
  return o.str();
}

}  // namespace ks::exporter
