// The export's PyTorch module (agent/export/export_python.cpp) for every task: it is part of the
// export, names the task's buffers, sizes and constants, registers the op through
// torch.library.Library (schema, tags, CUDA and CPU kernels, a fake implementation; not
// torch.library.custom_op, whose wrapper cost ~60 us a call), refuses inputs that require grad,
// compiles with python3, and calls the C function with the parameters the header declares, in the
// header's order. tests/python/test_torch_module.py runs its checks under torch,
// tests/python/test_module_stub_torch.py on a stand-in for torch.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/export/export_library.h"
#include "evaluator/plan.h"
#include "read_text.h"
#include "temp_dir.h"

namespace ks {
namespace {

namespace fs = std::filesystem;

using test::read_text;

// The export of a task's baseline alone: the header and the module are the task's, whatever the plans.
exporter::FileMap export_of(const Task& task) {
  exporter::ExportInput in;
  in.task = &task;
  in.device = "Fake GPU";
  in.arch = "sm_90a";
  const std::string file = "seeds/" + task.name() + "/baseline.cu";
  const Candidate base = parse_candidate(read_text(fs::path(KSEARCH_SOURCE_DIR) / file), "baseline.cu");
  in.plans.push_back({std::nullopt, "baseline", "default", base.source, "sources/baseline.cu", base.plan, {}, {'x'}});
  return exporter::generate_library(in);
}

// The text between `open` and the next `close` after it, "" if absent.
std::string between(const std::string& text, const std::string& open, const std::string& close) {
  const size_t a = text.find(open);
  if (a == std::string::npos) return "";
  const size_t b = text.find(close, a + open.size());
  return b == std::string::npos ? "" : text.substr(a + open.size(), b - a - open.size());
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream s(list);
  for (std::string item; std::getline(s, item, ',');) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// A header parameter ("const void* X", "int64_t M", "float eps", "cudaStream_t stream") as the
// ctypes type that passes it.
std::string ctypes_of(const std::string& param) {
  if (param.find('*') != std::string::npos) return "ctypes.c_void_p";
  if (param.rfind("int64_t ", 0) == 0) return "ctypes.c_int64";
  if (param.rfind("float ", 0) == 0) return "ctypes.c_float";
  if (param.rfind("cudaStream_t ", 0) == 0) return "ctypes.c_void_p";
  return "unknown C type: " + param;
}

TEST(ExportPython, ModuleOfEveryTaskNamesItsBuffersSizesAndConstants) {
  for (const Task* task : all_tasks()) {
    SCOPED_TRACE(task->name());
    const auto files = export_of(*task);
    const std::string path = "python/ksearch_" + task->name() + ".py";
    ASSERT_TRUE(files.count(path)) << "the export has no " << path;
    const std::string py = files.at(path);
    EXPECT_EQ(py.find("custom_op("), std::string::npos) << "the op is registered with torch.library.Library";
    EXPECT_NE(py.find("\n_LIBRARY = torch.library.Library(\"ksearch\", \"FRAGMENT\")\n"), std::string::npos);
    EXPECT_NE(py.find("_LIBRARY.define(SCHEMA, tags=tuple(_TAGS))"), std::string::npos);
    EXPECT_NE(py.find("_TAGS = [torch.Tag.pt2_compliant_tag]"), std::string::npos);
    EXPECT_NE(py.find("_LIBRARY.impl(TASK, _impl, \"CUDA\")"), std::string::npos);
    EXPECT_NE(py.find("torch.library.register_fake(\"ksearch::\" + TASK, _fake, lib=_LIBRARY)"), std::string::npos);
    EXPECT_NE(py.find("\n" + task->name() + "_op = _OP"), std::string::npos);
    // Inference only: the kernel's one-pass check and the fake both refuse inputs that require grad.
    EXPECT_NE(py.find("and _grad_enabled())"), std::string::npos);
    EXPECT_NE(between(py, "\ndef _fake(", "\n\n\n").find("_check_grad(tensors_)"), std::string::npos);
    EXPECT_NE(py.find("LIBRARY_FILE = \"libksearch_" + task->name() + ".so\""), std::string::npos);
    std::string sizes;
    for (auto& s : task->size_symbols()) sizes += "\"" + s + "\", ";
    EXPECT_NE(py.find("SIZES = (" + sizes.substr(0, sizes.size() - 1) + ")"), std::string::npos) << py.substr(0, 2000);
    for (auto& b : task->buffers()) {
      std::string dims;
      for (auto& d : b.dims) dims += (std::isdigit(static_cast<unsigned char>(d[0])) ? d : "\"" + d + "\"") + ", ";
      const std::string entry = "    \"" + b.name + "\": (torch.bfloat16, (" + dims + ")),\n";
      const std::string table = between(py, b.role == Role::in ? "\nINPUTS = {\n" : "\nOUTPUTS = {\n", "}\n");
      EXPECT_NE(table.find(entry), std::string::npos) << entry << " in " << table;
    }
    std::string public_signature = "\ndef " + task->name() + "(";
    for (auto& b : task->inputs()) public_signature += b.name + ", ";
    public_signature.resize(public_signature.size() - 2);
    for (auto& c : task->constants()) {
      EXPECT_NE(py.find("\"" + c.name + "\": "), std::string::npos) << "CONSTANTS names " << c.name;
      public_signature += ", *, " + c.name + "=";
    }
    EXPECT_NE(py.find(public_signature), std::string::npos) << public_signature;
  }
  const std::string rms = export_of(*find_task("rmsnorm_linear")).at("python/ksearch_rmsnorm_linear.py");
  EXPECT_NE(rms.find("CONSTANTS = {\"eps\": 1e-06}"), std::string::npos);
  EXPECT_NE(rms.find("def rmsnorm_linear(X, gamma, W, *, eps=1e-06):"), std::string::npos);
  EXPECT_NE(rms.find("\nSCHEMA = \"rmsnorm_linear(Tensor X, Tensor gamma, Tensor W, float eps) -> Tensor\"\n"), std::string::npos);
  EXPECT_NE(rms.find("\ndef _impl(X, gamma, W, eps):\n"), std::string::npos);
  EXPECT_NE(rms.find("\ndef _fake(X, gamma, W, eps):\n"), std::string::npos);
  EXPECT_NE(rms.find("    return _OP(X, gamma, W, eps)\n"), std::string::npos);
  const std::string swiglu = export_of(*find_task("swiglu_mlp")).at("python/ksearch_swiglu_mlp.py");
  EXPECT_NE(swiglu.find("\"Wgu\": (torch.bfloat16, (2, \"I\", \"H\", )),"), std::string::npos) << "a fixed size is an int";
}

// What the module passes through ctypes is what the header declares: one parameter per buffer,
// size and constant, then workspace and stream, in that order.
TEST(ExportPython, ModuleArgtypesMatchTheHeader) {
  for (const Task* task : all_tasks()) {
    SCOPED_TRACE(task->name());
    const auto files = export_of(*task);
    const std::string lib = "ksearch_" + task->name();
    const std::string header = files.at("include/" + lib + ".h"), py = files.at("python/" + lib + ".py");
    const std::vector<std::string> params = split(between(header, "\nint " + lib + "(", ");"));
    ASSERT_FALSE(params.empty()) << header;
    std::string expected;
    for (auto& p : params) expected += (expected.empty() ? "" : ", ") + ctypes_of(p);
    EXPECT_NE(py.find("\n_ARGTYPES = [" + expected + "]\n"), std::string::npos)
        << "header: " << between(header, "\nint " + lib + "(", ");") << "\nmodule: " << between(py, "\n_ARGTYPES = [", "]");
    // The pointer parameters name the buffers in the order BUFFERS lists them.
    std::string buffers;
    for (auto& p : params)
      if (p.find("void* ") != std::string::npos && p != "void* workspace") buffers += "\"" + p.substr(p.find("* ") + 2) + "\", ";
    EXPECT_NE(py.find("\nBUFFERS = (" + buffers.substr(0, buffers.size() - 1) + ")\n"), std::string::npos) << buffers;
    // _impl's call passes them in that order (inputs' pointers read once, outputs' from the new
    // tensors), then the sizes, the constants, the workspace and the stream.
    std::set<std::string> inputs;
    for (auto& b : task->inputs()) inputs.insert(b.name);
    std::string call = "    args_ = (";
    for (auto& p : params) {
      if (p.find("void* ") == std::string::npos || p == "void* workspace") continue;
      const std::string name = p.substr(p.find("* ") + 2);
      call += (inputs.count(name) ? "p_" + name : name + ".data_ptr()") + ", ";
    }
    call += "*sizes_, ";
    for (auto& c : task->constants()) call += c.name + ", ";
    call += "workspace_.data_ptr() if nbytes_ else None, _raw_stream(device_))\n";
    EXPECT_NE(py.find(call), std::string::npos) << call << "\nin\n" << between(py, "\ndef _impl(", "\n\n\n");
    // A task with constants: the header takes them as floats (and _ARGTYPES, checked above,
    // passes them).
    if (!task->constants().empty()) EXPECT_NE(header.find("float "), std::string::npos) << header;
  }
}

// tune() passes what the header's ksearch_<task>_tune() declares: sizes, constants, stream; its
// Python signature takes the sizes, then the constants as keywords with the task's defaults.
TEST(ExportPython, TuneArgtypesMatchTheHeader) {
  for (const Task* task : all_tasks()) {
    SCOPED_TRACE(task->name());
    const auto files = export_of(*task);
    const std::string lib = "ksearch_" + task->name();
    const std::string header = files.at("include/" + lib + ".h"), py = files.at("python/" + lib + ".py");
    const std::vector<std::string> params = split(between(header, "\nint " + lib + "_tune(", ");"));
    ASSERT_FALSE(params.empty()) << header;
    std::string expected;
    for (auto& p : params) expected += (expected.empty() ? "" : ", ") + ctypes_of(p);
    EXPECT_NE(py.find("\n_TUNE_ARGTYPES = [" + expected + "]\n"), std::string::npos)
        << "header: " << between(header, "\nint " + lib + "_tune(", ");") << "\nmodule: " << between(py, "\n_TUNE_ARGTYPES = [", "]");
    EXPECT_NE(py.find("lib." + lib + "_tune.argtypes = _TUNE_ARGTYPES"), std::string::npos);
    EXPECT_NE(py.find("lib." + lib + "_plan_info.restype = ctypes.c_char_p"), std::string::npos);
    std::string signature = "\ndef tune(";
    for (auto& s : task->size_symbols()) signature += s + ", ";
    signature += "*, ";
    for (auto& c : task->constants()) signature += c.name + "=";
    EXPECT_NE(py.find(signature), std::string::npos) << signature;
  }
  const std::string rms = export_of(*find_task("rmsnorm_linear")).at("python/ksearch_rmsnorm_linear.py");
  EXPECT_NE(rms.find("\ndef tune(M, K, N, *, eps=1e-06, device=None):\n"), std::string::npos);
  EXPECT_NE(rms.find("return _tune({\"M\": M, \"K\": K, \"N\": N}, {\"eps\": eps}, device)"), std::string::npos);
}

TEST(ExportPython, ModuleOfEveryTaskCompilesWithPython3) {
  if (std::system("python3 --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 is not installed";
  test::TempDir tmp("export_python");
  for (const Task* task : all_tasks()) {
    SCOPED_TRACE(task->name());
    const std::string name = "ksearch_" + task->name() + ".py";
    std::ofstream(tmp.dir / name) << export_of(*task).at("python/" + name);
    const std::string log = tmp.file(task->name() + ".log");
    const std::string cmd = "python3 -m py_compile " + (tmp.dir / name).string() + " > " + log + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << read_text(log);
  }
}

}  // namespace
}  // namespace ks
