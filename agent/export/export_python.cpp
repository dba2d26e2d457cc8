// The export's PyTorch binding, python/ksearch_<task>.py: a module that loads the built shared
// library with ctypes and registers it as the torch.library op ksearch::<task> (Library.define,
// a CUDA kernel, a fake implementation), so that it runs in eager code, under CUDA graphs and in
// torch.compile, at a host cost of a few microseconds a call. The task-specific part is tables
// (buffers, sizes, constants, the C parameters) and the op's functions, which read their arguments
// by name; the checks' messages and the loader are one fixed text. Nothing here needs torch or
// Python: it is text.
#include <algorithm>
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

// The fixed part: the loader, the checks, the call's helpers. @LIB@, @TASK@ and @ENV@ are
// substituted. The op's kernel itself (_impl), its fake and the public function are generated per
// task below: each reads its arguments by name, so that a call costs a few attribute reads.
const char* kBody = R"PY(

class KsearchError(RuntimeError):
    """@LIB@() returned an error status: .status is the code, the text the library's message."""

    def __init__(self, status, message):
        self.status = status
        name = _STATUS_NAMES.get(status, "status %d" % status)
        super().__init__("@LIB@ failed (%s): %s" % (name, message))


_lib = None
# Per shape (the inputs' torch.Size, then the sizes no input shows): the C function's size
# arguments, each output's shape and the workspace bytes (@LIB@_workspace_size()). Only shapes
# that passed the checks get here; load() empties it.
_SHAPES = {}
_SHAPES_MAX = 4096
_Tensor = torch.Tensor
_U8 = torch.uint8
_NUMBER = (int, float)
_grad_enabled = torch.is_grad_enabled
# The calling thread's current CUDA device, and a device's current stream as a cudaStream_t: what
# torch.cuda.current_device() and torch.cuda.current_stream(i).cuda_stream give, without a
# torch.cuda.Stream object per call (torch._C's functions, which torch.compile's generated code
# calls too; the public ones where a build lacks them).
_current_device = getattr(torch._C, "_cuda_getDevice", None) or (lambda: torch.cuda.current_device())
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None) or (lambda i: torch.cuda.current_stream(i).cuda_stream)


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
            # Set once here: each call converts its arguments by these, with no lookup.
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
            _SHAPES.clear()  # another library's workspace sizes
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
        if not isinstance(value, _NUMBER):
            raise TypeError("%s: expected a float, got %s" % (name, type(value).__name__))


def _check_grad(tensors):
    # Inference only: the op has no backward, so rather than an output that silently has no
    # gradient, an input that requires grad while grad mode is on is refused.
    if _grad_enabled():
        for name, t in tensors:
            if t.requires_grad:
                raise ValueError("%s requires grad: ksearch::%s is inference-only (it has no backward); call it under "
                                 "torch.no_grad() or torch.inference_mode(), or pass %s.detach()" % (name, TASK, name))


def _check_types(tensors, given, constants):
    """The public function's checks of what the op's schema would refuse less clearly."""
    for name, t in tensors:
        if not isinstance(t, _Tensor):
            raise TypeError("%s: expected a torch.Tensor, got %s" % (name, type(t).__name__))
    for name, value in given.items():
        if not isinstance(value, int):
            raise TypeError("%s: expected an int, got %s" % (name, type(value).__name__))
    _check_constants(constants)


def _explain(tensors, given, constants):
    """Raises the error of the first check the arguments fail, in the documented order (type,
    dtype, rank, shape, contiguity, positive sizes, constants, grad, device, alignment): the op's
    kernel calls it when its one-pass check refused them."""
    _sizes_of(tensors, given)
    _check_constants(constants)
    _check_grad(tensors)
    _device_of(tensors)
    _check_aligned(tensors)
    raise AssertionError("ksearch::%s: the arguments were refused, but no check says why" % TASK)


def _new_shape(key, tensors, given):
    """The cache entry of a shape not seen since load(): checks that the shapes agree, then the
    size arguments, each output's shape and @LIB@_workspace_size()."""
    sizes = _sizes_of(tensors, given)
    size_args = tuple(sizes[s] for s in SIZES)
    shapes = tuple(tuple(d if isinstance(d, int) else sizes[d] for d in dims) for _, dims in OUTPUTS.values())
    lib = _lib if _lib is not None else load()
    entry = (size_args, shapes, lib.@LIB@_workspace_size(*size_args))
    if len(_SHAPES) >= _SHAPES_MAX:
        _SHAPES.clear()
    _SHAPES[key] = entry
    return entry


def _failed(lib, status):
    message = lib.@LIB@_last_error()
    raise KsearchError(status, message.decode("utf-8", "replace") if message else "")


def _new_outputs(like, sizes):
    # like.new_empty: a fake tensor under torch.compile's tracing, a meta tensor for meta inputs.
    return [like.new_empty([d if isinstance(d, int) else sizes[d] for d in dims], dtype=dtype)
            for dtype, dims in OUTPUTS.values()]


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
            _failed(lib, status)
        info = lib.@LIB@_plan_info(*size_args)
    return info.decode("utf-8", "replace") if info else ""
)PY";

// The op's registration: after the functions it names.
const char* kRegister = R"PY(

# The op ksearch::@TASK@, registered with torch.library.Library: the dispatcher calls _impl
# directly (torch.library.custom_op's Python wrapper around it cost about 60 us a call).
# pt2_compliant_tag: it works with torch.compile; a stride tag, where this torch has one, keeps
# inductor passing it contiguous inputs, as in eager.
_TAGS = [torch.Tag.pt2_compliant_tag]
for _name in ("needs_contiguous_strides", "needs_exact_strides", "needs_fixed_stride_order"):
    if hasattr(torch.Tag, _name):
        _TAGS.append(getattr(torch.Tag, _name))
        break
_LIBRARY = torch.library.Library("ksearch", "FRAGMENT")
try:
    _LIBRARY.define(SCHEMA, tags=tuple(_TAGS))
except RuntimeError as e:
    raise RuntimeError("ksearch::%s is already defined in this process (is another ksearch_%s module imported?): %s"
                       % (TASK, TASK, e)) from e
_LIBRARY.impl(TASK, _impl, "CUDA")
_LIBRARY.impl(TASK, _impl, "CPU")  # it refuses CPU tensors, naming the argument
torch.library.register_fake("ksearch::" + TASK, _fake, lib=_LIBRARY)
_OP = getattr(torch.ops.ksearch, TASK).default
@TASK@_op = _OP  # torch.ops.ksearch.@TASK@.default
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
       "The op is also torch.ops.ksearch." + task + " (a torch.library op with a fake implementation:\n"
       "torch.compile traces it); it runs on the current stream with its workspace from the caching\n"
       "allocator (CUDA graphs capture it; call it once before capturing, so that the library loads its\n"
       "kernels). Inference only: an input that requires grad while grad mode is on is refused. Importing\n"
       "needs torch, not the library: the first call loads it (load(), library_paths()). Import it by name\n"
       "(its folder on sys.path), or, loading it from a path with importlib, put it in sys.modules before\n"
       "exec_module: torch.compile's code refers to the module by name.\n\n"
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

  // The op's schema: the input tensors, the free sizes, the constants; the outputs.
  std::vector<std::string> schema_args;
  for (auto& n : inputs) schema_args.push_back("Tensor " + n);
  for (auto& s : free_sizes) schema_args.push_back("int " + s);
  for (auto& c : consts) schema_args.push_back("float " + c);
  const std::string schema_ret =
      outputs.size() == 1 ? "Tensor" : "(" + join(std::vector<std::string>(outputs.size(), "Tensor"), ", ") + ")";
  o += "# The op's schema (torch.ops.ksearch." + task + "): the input tensors, the sizes no input shows, the constants.\n"
       "SCHEMA = " + py_string(task + "(" + join(schema_args, ", ") + ") -> " + schema_ret) + "\n";

  o += "# " + lib + "()'s parameters, in the header's order.\n_ARGTYPES = [" + join(c_parameters(t), ", ") + "]\n";
  o += "# " + lib + "_tune()'s.\n_TUNE_ARGTYPES = [" + join(tune_parameters(t), ", ") + "]\n";
  std::string macro = lib;
  for (char& c : macro) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  o += "_STATUS_NAMES = {1: \"" + macro + "_ERROR_SHAPE\", 2: \"" + macro + "_ERROR_WORKSPACE\", 3: \"" + macro +
       "_ERROR_CUDA\", 4: \"" + macro + "_ERROR_CUBLASLT\"}\n";
  // Each buffer's dtype as a name of its own: the kernel's check compares with `is`.
  for (auto& b : t.buffers()) o += "_DTYPE_" + b.name + " = " + torch_dtype(b.dtype) + "\n";

  std::string body = kBody;
  replace_all(body, "@LIB@", lib);
  replace_all(body, "@ENV@", env);
  replace_all(body, "@TASK@", task);
  o += body;

  // The names the op's functions take, in the schema's order, and the tables they pass the checks.
  std::vector<std::string> op_args, tensor_pairs, given, constant_pairs, kw_params;
  for (auto& n : inputs) {
    op_args.push_back(n);
    tensor_pairs.push_back("(" + py_string(n) + ", " + n + ")");
  }
  for (auto& s : free_sizes) {
    op_args.push_back(s);
    given.push_back(py_string(s) + ": " + s);
    kw_params.push_back(s);
  }
  for (auto& c : t.constants()) {
    op_args.push_back(c.name);
    constant_pairs.push_back(py_string(c.name) + ": " + c.name);
    kw_params.push_back(c.name + "=" + py_float(c.value));
  }
  const std::string tensors = "(" + join(tensor_pairs, ", ") + ",)";
  const std::string given_dict = "{" + join(given, ", ") + "}", const_dict = "{" + join(constant_pairs, ", ") + "}";
  const std::string params = join(op_args, ", ");
  const std::string first = inputs[0];

  // _impl: the op's kernel. One pass of attribute reads checks every input; only when it fails
  // does _explain() find which check and raise its error.
  std::vector<std::string> ptrs, is_cuda, same_device, dtypes, contiguous, grads, key, call_args;
  for (auto& n : inputs) {
    ptrs.push_back("p_" + n);
    is_cuda.push_back(n + ".is_cuda");
    if (n != first) same_device.push_back(n + ".get_device() == device_");
    dtypes.push_back(n + ".dtype is _DTYPE_" + n);
    contiguous.push_back(n + ".is_contiguous()");
    grads.push_back(n + ".requires_grad");
    key.push_back(n + ".shape");
  }
  for (auto& s : free_sizes) key.push_back(s);
  std::vector<std::string> ptr_reads;
  for (auto& n : inputs) ptr_reads.push_back(n + ".data_ptr()");
  std::vector<std::string> conditions = {join(is_cuda, " and ")};
  if (!same_device.empty()) conditions.push_back(join(same_device, " and "));
  conditions.push_back(join(dtypes, " and "));
  conditions.push_back(join(contiguous, " and "));
  conditions.push_back("not (" + join(ptrs, " | ") + ") & 15");
  conditions.push_back("not ((" + join(grads, " or ") + ") and _grad_enabled())");
  for (auto& b : buffers) {
    if (std::find(inputs.begin(), inputs.end(), b) != inputs.end())
      call_args.push_back("p_" + b);
    else
      call_args.push_back(b + ".data_ptr()");
  }
  call_args.push_back("*sizes_");
  for (auto& c : consts) call_args.push_back(c);
  call_args.push_back("workspace_.data_ptr() if nbytes_ else None");
  call_args.push_back("_raw_stream(device_)");
  std::string allocs;
  for (size_t i = 0; i < outputs.size(); ++i)
    allocs += "    " + outputs[i] + " = " + first + ".new_empty(shapes_[" + std::to_string(i) + "], dtype=_DTYPE_" + outputs[i] + ")\n";

  o += "\n\ndef _impl(" + params + "):\n"
       "    \"\"\"ksearch::" + task + "'s kernel for CUDA tensors (registered for CPU ones too, to refuse them by\n"
       "    name): the checks in one pass, the shape's sizes and workspace size from _SHAPES, the outputs\n"
       "    and the workspace from the caching allocator, " + lib + "() on the device's current stream.\"\"\"\n"
       "    device_ = " + first + ".get_device()\n"
       "    " + join(ptrs, ", ") + (ptrs.size() == 1 ? "," : "") + " = " + join(ptr_reads, ", ") + (ptr_reads.size() == 1 ? "," : "") + "\n"
       "    if not (" + join(conditions, "\n            and ") + "):\n"
       "        _explain(" + tensors + ", " + given_dict + ", " + const_dict + ")\n"
       "    key_ = (" + join(key, ", ") + (key.size() == 1 ? "," : "") + ")\n"
       "    entry_ = _SHAPES.get(key_)\n"
       "    if entry_ is None:\n"
       "        entry_ = _new_shape(key_, " + tensors + ", " + given_dict + ")\n"
       "    sizes_, shapes_, nbytes_ = entry_\n" +
       allocs +
       "    # The caching allocator's blocks are 512-byte aligned (the library asks 256). The block goes\n"
       "    # back to the pool when this returns, but the pool is stream-ordered: whatever reuses it on\n"
       "    # this stream runs after this call (under CUDA graph capture it is the graph's pool).\n"
       "    workspace_ = " + first + ".new_empty((nbytes_,), dtype=_U8) if nbytes_ else None\n"
       "    lib_ = _lib if _lib is not None else load()\n"
       "    args_ = (" + join(call_args, ", ") + ")\n"
       "    if device_ == _current_device():\n"
       "        status_ = lib_." + lib + "(*args_)\n"
       "    else:  # the library works on the calling thread's current device\n"
       "        with torch.cuda.device(device_):\n"
       "            status_ = lib_." + lib + "(*args_)\n"
       "    if status_:\n"
       "        _failed(lib_, status_)\n"
       "    return " + join(outputs, ", ") + "\n";

  // _fake: shapes and dtypes under torch.compile's tracing and for meta tensors.
  o += "\n\ndef _fake(" + params + "):\n"
       "    \"\"\"ksearch::" + task + "'s fake implementation: the outputs' shapes and dtypes, after the same\n"
       "    checks of dtype, shapes, contiguity and grad (torch.compile traces it; meta tensors run it).\"\"\"\n"
       "    tensors_ = " + tensors + "\n"
       "    outputs_ = _new_outputs(" + first + ", _sizes_of(tensors_, " + given_dict + "))\n"
       "    _check_grad(tensors_)\n"
       "    return " + (outputs.size() == 1 ? "outputs_[0]" : "tuple(outputs_)") + "\n";

  std::string reg = kRegister;
  replace_all(reg, "@TASK@", task);
  o += reg;

  // The public function: the checks the schema would make less clearly (types), then the op.
  std::vector<std::string> type_checks;
  for (auto& n : inputs) type_checks.push_back("isinstance(" + n + ", _Tensor)");
  for (auto& s : free_sizes) type_checks.push_back("isinstance(" + s + ", int)");
  for (auto& c : consts) type_checks.push_back("isinstance(" + c + ", _NUMBER)");
  o += "\n\ndef " + task + "(" + join(inputs, ", ") + (kw_params.empty() ? "" : ", *, " + join(kw_params, ", ")) + "):\n"
       "    \"\"\"" + t.semantics() + "\n\n    Checks every argument (TypeError, ValueError naming it) before the library runs; raises\n"
       "    KsearchError when the library refuses the call. Inference only (torch.no_grad() or\n"
       "    torch.inference_mode() where an input requires grad).\"\"\"\n"
       "    if not (" + join(type_checks, " and ") + "):\n"
       "        _check_types(" + tensors + ", " + given_dict + ", " + const_dict + ")\n"
       "    return _OP(" + params + ")\n";

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
