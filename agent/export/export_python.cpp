// The export's PyTorch binding, python/ksearch_<task>.py: a module that loads the built shared
// library with ctypes and registers it as the torch.library custom op ksearch::<task>, with a
// fake implementation, so that it runs in eager code, under CUDA graphs and in torch.compile.
// The task-specific part is tables (buffers, sizes, constants, the C parameters); the checks and
// the call are one fixed text that reads them. Nothing here needs torch or Python: it is text.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "agent/export/export_library.h"

namespace ks::exporter {
namespace {

// ---- Task constants: the one place that decides how they reach the C function ----------------
// ksearch_<task>() takes each task constant as a `float` after the sizes (the header documents
// each default), so the module passes the caller's value. The unit test
// ExportPython.ModuleArgtypesMatchTheHeader compares this list with the generated header.
// The C function's parameters, in the header's order: buffers, sizes, constants, workspace,
// stream; each as the ctypes type that passes it.
std::vector<std::string> c_parameters(const Task& t) {
  std::vector<std::string> p;
  for (size_t i = 0; i < t.buffers().size(); ++i) p.push_back("ctypes.c_void_p");
  for (size_t i = 0; i < t.size_symbols().size(); ++i) p.push_back("ctypes.c_int64");
  for (size_t i = 0; i < t.constants().size(); ++i) p.push_back("ctypes.c_float");
  p.push_back("ctypes.c_void_p");  // workspace
  p.push_back("ctypes.c_void_p");  // cudaStream_t
  return p;
}
// ksearch_<task>_tune()'s parameters: sizes, constants, stream (ExportPython.TuneArgtypesMatchTheHeader).
std::vector<std::string> tune_parameters(const Task& t) {
  std::vector<std::string> p;
  for (size_t i = 0; i < t.size_symbols().size(); ++i) p.push_back("ctypes.c_int64");
  for (size_t i = 0; i < t.constants().size(); ++i) p.push_back("ctypes.c_float");
  p.push_back("ctypes.c_void_p");  // cudaStream_t
  return p;
}
// -------------------------------------------------------------------------------------------------

std::string py_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}

// A Python float literal that reads back as the same double.
std::string py_float(double v) {
  if (!std::isfinite(v)) throw Error("export: a task constant is not finite");
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {  // the shortest that reads back: 1e-06, not 9.99...e-07
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string torch_dtype(DType t) {
  switch (t) {
    case DType::bf16: return "torch.bfloat16";
    case DType::f16: return "torch.float16";
    case DType::f32: return "torch.float32";
    case DType::f64: return "torch.float64";
    case DType::i32: return "torch.int32";
  }
  throw Error("export: unknown dtype");
}

bool is_number(const std::string& d) {
  return !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
}

// ("M", "K") with fixed sizes as ints: ("2", "I", "H") -> (2, "I", "H").
std::string dims_tuple(const BufferSpec& b) {
  std::string o = "(";
  for (auto& d : b.dims) o += (is_number(d) ? d : py_string(d)) + ", ";
  return o + ")";
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string o;
  for (auto& s : v) o += (o.empty() ? "" : sep) + s;
  return o;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

// The fixed part: the loader, the checks, the call. @LIB@, @TASK@ and @ENV@ are substituted.
const char* kBody = R"PY(

class KsearchError(RuntimeError):
    """@LIB@() returned an error status: .status is the code, the text the library's message."""

    def __init__(self, status, message):
        self.status = status
        name = _STATUS_NAMES.get(status, "status %d" % status)
        super().__init__("@LIB@ failed (%s): %s" % (name, message))


_lib = None


def library_paths():
    """Where load() looks when given no path, in order: $@ENV@ alone when it is set; else
    LIBRARY_FILE next to this module, then in ../build (the export's `cmake -B build`)."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, LIBRARY_FILE), os.path.normpath(os.path.join(here, os.pardir, "build", LIBRARY_FILE))]


def load(path=None):
    """Loads the shared library (path, else library_paths()) and returns its ctypes handle. The
    first call of the op loads it if nothing has; call load(path) first to choose the file."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    tried = [path] if path is not None else library_paths()
    for candidate in tried:
        if os.path.isfile(candidate):
            try:
                lib = ctypes.CDLL(os.path.abspath(candidate))
            except OSError as e:
                raise OSError("%s: cannot load %s: %s" % (__name__, candidate, e)) from e
            lib.@LIB@.argtypes = _ARGTYPES
            lib.@LIB@.restype = ctypes.c_int
            lib.@LIB@_workspace_size.argtypes = [ctypes.c_int64] * len(SIZES)
            lib.@LIB@_workspace_size.restype = ctypes.c_size_t
            lib.@LIB@_last_error.argtypes = []
            lib.@LIB@_last_error.restype = ctypes.c_char_p
            lib.@LIB@_tune.argtypes = _TUNE_ARGTYPES
            lib.@LIB@_tune.restype = ctypes.c_int
            lib.@LIB@_plan_info.argtypes = [ctypes.c_int64] * len(SIZES)
            lib.@LIB@_plan_info.restype = ctypes.c_char_p
            _lib = lib
            return lib
    raise FileNotFoundError(
        "%s: %s not found; looked at: %s. Build it (cmake -S EXPORT -B EXPORT/build && cmake --build "
        "EXPORT/build), then set $%s to its path or call %s.load(path)."
        % (__name__, LIBRARY_FILE, ", ".join(tried), LIBRARY_ENV, __name__))


def _sizes_of(tensors, given):
    """The size symbols, from the inputs' shapes (and `given`, the sizes no input shows), after
    checking each input's type, dtype, rank, shape and contiguity. Raises TypeError or ValueError
    naming the argument and what was expected. Reads only metadata: fake tensors pass through."""
    sizes, source = dict(given), {name: "the argument %s" % name for name in given}
    for name, value in given.items():
        if not isinstance(value, int):
            raise TypeError("%s: expected an int, got %s" % (name, type(value).__name__))
    for name, t in tensors:
        dtype, dims = INPUTS[name]
        if not isinstance(t, torch.Tensor):
            raise TypeError("%s: expected a torch.Tensor, got %s" % (name, type(t).__name__))
        if t.dtype != dtype:
            raise TypeError("%s: expected dtype %s, got %s" % (name, dtype, t.dtype))
        expected = "[" + ", ".join(str(d) for d in dims) + "]"
        if t.dim() != len(dims):
            raise ValueError("%s: expected %d dimensions %s, got shape %s" % (name, len(dims), expected, list(t.shape)))
        for axis, (d, n) in enumerate(zip(dims, t.shape)):
            if isinstance(d, int):
                if n != d:
                    raise ValueError("%s: expected shape %s, got %s: dimension %d must be %d" % (name, expected, list(t.shape), axis, d))
            elif d in sizes:
                if n != sizes[d]:
                    raise ValueError("%s: expected shape %s, got %s: %s = %d, but %s gives %s = %d"
                                     % (name, expected, list(t.shape), d, n, source[d], d, sizes[d]))
            else:
                sizes[d], source[d] = n, "%s.shape[%d]" % (name, axis)
        if not t.is_contiguous():
            raise ValueError("%s: must be contiguous (row-major), got strides %s for shape %s; pass %s.contiguous()"
                             % (name, tuple(t.stride()), list(t.shape), name))
    for s in SIZES:
        if sizes[s] < 1:
            raise ValueError("%s = %d (from %s): every size must be positive" % (s, sizes[s], source[s]))
    return sizes


def _device_of(tensors):
    """The one CUDA device of every input; raises ValueError naming the argument otherwise."""
    device, first = None, None
    for name, t in tensors:
        if t.device.type != "cuda":
            raise ValueError("%s: expected a CUDA tensor, got one on %s" % (name, t.device))
        if device is None:
            device, first = t.device, name
        elif t.device != device:
            raise ValueError("%s: on %s, but %s is on %s: every tensor must be on one device" % (name, t.device, first, device))
    return device


def _check_aligned(tensors):
    # The kernels read with 16-byte vector loads and TMA: a view at an odd offset would fault.
    for name, t in tensors:
        if t.data_ptr() % 16:
            raise ValueError("%s: data_ptr() is not 16-byte aligned (a view at an offset?); pass %s.clone()" % (name, name))


def _check_constants(constants):
    for name, value in constants.items():
        if not isinstance(value, (int, float)):
            raise TypeError("%s: expected a float, got %s" % (name, type(value).__name__))


def _new_outputs(like, sizes):
    # like.new_empty: a fake tensor under torch.compile's tracing, the caching allocator's memory
    # (on the current stream, or a CUDA graph's pool while capturing) when run.
    return [like.new_empty([d if isinstance(d, int) else sizes[d] for d in dims], dtype=dtype)
            for dtype, dims in OUTPUTS.values()]


def _run(tensors, given, constants):
    """The op's CUDA implementation: checks, allocates the outputs and the workspace, and enqueues
    @LIB@() on the current stream of the inputs' device."""
    sizes = _sizes_of(tensors, given)
    _check_constants(constants)
    device = _device_of(tensors)
    _check_aligned(tensors)
    outputs = _new_outputs(tensors[0][1], sizes)
    pointers = dict((name, t.data_ptr()) for name, t in tensors)
    pointers.update(zip(OUTPUTS, (t.data_ptr() for t in outputs)))
    lib = load()
    size_args = [sizes[s] for s in SIZES]
    # The library works on the calling thread's current device.
    with torch.cuda.device(device):
        nbytes = lib.@LIB@_workspace_size(*size_args)
        # The caching allocator's blocks are 512-byte aligned (the library asks 256). The block
        # goes back to the pool when this returns, but the pool is stream-ordered: whatever reuses
        # it on this stream runs after this call.
        workspace = torch.empty(nbytes, dtype=torch.uint8, device=device) if nbytes else None
        stream = torch.cuda.current_stream(device).cuda_stream
        args = [pointers[b] for b in BUFFERS] + size_args
        args += [float(constants[c]) for c in CONSTANTS]
        args += [workspace.data_ptr() if workspace is not None else None, stream]
        status = lib.@LIB@(*args)
    if status != 0:
        message = lib.@LIB@_last_error()
        raise KsearchError(status, message.decode("utf-8", "replace") if message else "")
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _tune(sizes, constants, device):
    """tune(): checks the sizes and constants, then @LIB@_tune() on the current stream of the
    device (default: the current CUDA device); returns @LIB@_plan_info()."""
    for s in SIZES:
        if not isinstance(sizes[s], int):
            raise TypeError("%s: expected an int, got %s" % (s, type(sizes[s]).__name__))
        if sizes[s] < 1:
            raise ValueError("%s = %d: every size must be positive" % (s, sizes[s]))
    _check_constants(constants)
    device = torch.device("cuda", torch.cuda.current_device()) if device is None else torch.device(device)
    if device.type != "cuda":
        raise ValueError("device: expected a CUDA device, got %s" % device)
    lib = load()
    size_args = [sizes[s] for s in SIZES]
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        status = lib.@LIB@_tune(*(size_args + [float(constants[c]) for c in CONSTANTS] + [stream]))
        if status != 0:
            message = lib.@LIB@_last_error()
            raise KsearchError(status, message.decode("utf-8", "replace") if message else "")
        info = lib.@LIB@_plan_info(*size_args)
    return info.decode("utf-8", "replace") if info else ""


def _fake(tensors, given):
    """The op's fake implementation: the outputs' shapes and dtype, after the same shape checks."""
    outputs = _new_outputs(tensors[0][1], _sizes_of(tensors, given))
    return outputs[0] if len(outputs) == 1 else tuple(outputs)
)PY";

}  // namespace

std::string generate_python(const ExportInput& in) {
  const Task& t = *in.task;
  const std::string lib = library_name(t), task = t.name();
  std::string env = lib;
  for (char& c : env) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  env += "_LIBRARY";

  std::vector<std::string> inputs, outputs, buffers, consts;
  std::set<std::string> shown;  // the size symbols some input's shape gives
  for (auto& b : t.buffers()) {
    buffers.push_back(b.name);
    (b.role == Role::in ? inputs : outputs).push_back(b.name);
    if (b.role == Role::in) shown.insert(b.dims.begin(), b.dims.end());
  }
  std::vector<std::string> free_sizes;  // shown by no input: the caller passes them
  for (auto& s : t.size_symbols())
    if (!shown.count(s)) free_sizes.push_back(s);
  for (auto& c : t.constants()) consts.push_back(c.name);

  std::string o;
  o += "\"\"\"" + lib + ": the PyTorch op ksearch::" + task + " over lib" + lib + ".so,\ngenerated by `ksearch export` for " +
       in.device + " (" + in.arch + ").\n\n    " + t.semantics() + "\n\nArguments (CUDA tensors on one device, contiguous, row-major):\n";
  for (auto& b : t.buffers())
    if (b.role == Role::in) o += "    " + b.name + " " + std::string(dtype_name(b.dtype)) + "[" + join(b.dims, ", ") + "]\n";
  for (auto& s : free_sizes) o += "    " + s + " int (keyword)\n";
  for (auto& c : t.constants()) o += "    " + c.name + " float (keyword, default " + py_float(c.value) + ")\n";
  o += "Returns";
  for (auto& b : t.buffers())
    if (b.role == Role::out) o += " " + b.name + " " + std::string(dtype_name(b.dtype)) + "[" + join(b.dims, ", ") + "]";
  o += ", new, on the inputs' device. The sizes come from the tensors' shapes.\n\n"
       "    import " + lib + "\n    " + outputs[0] + " = " + lib + "." + task + "(" + join(inputs, ", ") + ")\n\n"
       "The op is also torch.ops.ksearch." + task + "; it has a fake implementation (torch.compile traces\n"
       "it) and runs on the current stream with its workspace from the caching allocator (CUDA graphs\n"
       "capture it; call it once before capturing, so that the library loads its kernels). Importing\n"
       "needs torch, not the library: the first call loads it (load(), library_paths()).\n\n"
       "tune(" + join(t.size_symbols(), ", ") + ") times the library's plans on this GPU for a shape it did not measure\n"
       "and keeps the fastest (KSEARCH_TUNE=1: each new shape on its first call; see the C header).\n\"\"\"\n"
       "import ctypes\nimport os\n\nimport torch\n\n";
  o += "TASK = " + py_string(task) + "\nLIBRARY_FILE = " + py_string("lib" + lib + ".so") + "\nLIBRARY_ENV = " + py_string(env) + "\n";
  std::vector<std::string> quoted_sizes;
  for (auto& s : t.size_symbols()) quoted_sizes.push_back(py_string(s));
  o += "# The size symbols, in the C function's order.\nSIZES = (" + join(quoted_sizes, ", ") + ",)\n";
  o += "# Each buffer's dtype and dims (a size symbol, or an int for a fixed size).\nINPUTS = {\n";
  for (auto& b : t.buffers())
    if (b.role == Role::in) o += "    " + py_string(b.name) + ": (" + torch_dtype(b.dtype) + ", " + dims_tuple(b) + "),\n";
  o += "}\nOUTPUTS = {\n";
  for (auto& b : t.buffers())
    if (b.role == Role::out) o += "    " + py_string(b.name) + ": (" + torch_dtype(b.dtype) + ", " + dims_tuple(b) + "),\n";
  std::vector<std::string> quoted_buffers;
  for (auto& b : buffers) quoted_buffers.push_back(py_string(b));
  o += "}\n# The buffers in the C function's order.\nBUFFERS = (" + join(quoted_buffers, ", ") + ",)\n\n";

  o += "# Each task constant's default: a keyword argument of " + task + "(), passed to " + lib +
       "()\n# as a float after the sizes.\nCONSTANTS = {";
  for (size_t i = 0; i < t.constants().size(); ++i)
    o += (i ? ", " : "") + py_string(t.constants()[i].name) + ": " + py_float(t.constants()[i].value);
  o += "}\n\n";

  o += "# " + lib + "()'s parameters, in the header's order.\n_ARGTYPES = [" + join(c_parameters(t), ", ") + "]\n";
  o += "# " + lib + "_tune()'s.\n_TUNE_ARGTYPES = [" + join(tune_parameters(t), ", ") + "]\n";
  std::string macro = lib;
  for (char& c : macro) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  o += "_STATUS_NAMES = {1: \"" + macro + "_ERROR_SHAPE\", 2: \"" + macro + "_ERROR_WORKSPACE\", 3: \"" + macro +
       "_ERROR_CUDA\", 4: \"" + macro + "_ERROR_CUBLASLT\"}\n";

  std::string body = kBody;
  replace_all(body, "@LIB@", lib);
  replace_all(body, "@ENV@", env);
  o += body;

  // The op and the public function. Python names: the tensors, then the free sizes and constants.
  std::vector<std::string> op_params, op_args, tensor_pairs, given, constant_pairs, kw_params;
  for (auto& n : inputs) {
    op_params.push_back(n + ": torch.Tensor");
    op_args.push_back(n);
    tensor_pairs.push_back("(" + py_string(n) + ", " + n + ")");
  }
  for (auto& s : free_sizes) {
    op_params.push_back(s + ": int");
    op_args.push_back(s);
    given.push_back(py_string(s) + ": " + s);
    kw_params.push_back(s);
  }
  for (auto& c : t.constants()) {
    op_params.push_back(c.name + ": float");
    op_args.push_back(c.name);
    constant_pairs.push_back(py_string(c.name) + ": " + c.name);
    kw_params.push_back(c.name + "=" + py_float(c.value));
  }
  const std::string ret = outputs.size() == 1 ? "torch.Tensor" : "tuple[" + join(std::vector<std::string>(outputs.size(), "torch.Tensor"), ", ") + "]";
  const std::string tensors = "(" + join(tensor_pairs, ", ") + ",)";
  const std::string given_dict = "{" + join(given, ", ") + "}", const_dict = "{" + join(constant_pairs, ", ") + "}";
  o += "\n\n@torch.library.custom_op(\"ksearch::" + task + "\", mutates_args=())\n"
       "def " + task + "_op(" + join(op_params, ", ") + ") -> " + ret + ":\n"
       "    return _run(" + tensors + ", " + given_dict + ", " + const_dict + ")\n\n\n"
       "@" + task + "_op.register_fake\n"
       "def _" + task + "_fake(" + join(op_args, ", ") + "):\n"
       "    return _fake(" + tensors + ", " + given_dict + ")\n\n\n"
       "def " + task + "(" + join(inputs, ", ") + (kw_params.empty() ? "" : ", *, " + join(kw_params, ", ")) + "):\n"
       "    \"\"\"" + t.semantics() + "\n\n    Checks every argument (TypeError, ValueError naming it) before the op runs; the op raises\n"
       "    KsearchError when the library refuses the call.\"\"\"\n"
       "    tensors = " + tensors + "\n"
       "    _sizes_of(tensors, " + given_dict + ")\n"
       "    _check_constants(" + const_dict + ")\n"
       "    _device_of(tensors)\n"
       "    return " + task + "_op(" + join(op_args, ", ") + ")\n";

  // tune(sizes..., *, constants, device=None).
  std::vector<std::string> tune_params, size_pairs;
  for (auto& s : t.size_symbols()) {
    tune_params.push_back(s);
    size_pairs.push_back(py_string(s) + ": " + s);
  }
  tune_params.push_back("*");
  for (auto& c : t.constants()) tune_params.push_back(c.name + "=" + py_float(c.value));
  tune_params.push_back("device=None");
  o += "\n\ndef tune(" + join(tune_params, ", ") + "):\n"
       "    \"\"\"Tunes the shape now on this GPU (" + lib + "_tune(): every plan of the library that applies\n"
       "    to it and the baseline, timed as ksearch times, on buffers of the library's own) and returns the\n"
       "    plan the op then runs for it (" + lib + "_plan_info()). A shape the export measured keeps its\n"
       "    plan. Call it before capturing a CUDA graph; KSEARCH_TUNE=1 tunes each new shape on first use\n"
       "    instead. Raises KsearchError when the library refuses.\"\"\"\n"
       "    return _tune({" + join(size_pairs, ", ") + "}, " + const_dict + ", device)\n";
  return o;
}

}  // namespace ks::exporter
