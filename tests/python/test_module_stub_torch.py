"""The export's PyTorch modules (python/ksearch_<task>.py, agent/export/export_python.cpp) run on a
stand-in for torch: what the generated code itself does, where torch is not installed (CI). It
checks how each module registers its op (Library.define with the schema and tags, the CUDA and CPU
kernels, the fake), the one-pass checks and the errors they raise, the per-shape cache of the
workspace size, the device switch, the stream, the refusal of inputs that require grad, and the C
call through ctypes with the module's argtypes (a stub library compiled here with cc, when cc is
installed). It does not test torch itself: tests/python/test_torch_module.py does, where torch is.

    python3 test_module_stub_torch.py WRITER   (WRITER: tests/python_module_writer.cpp's binary)
"""
import contextlib
import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import types
import unittest

WRITER = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("KSEARCH_PYTHON_MODULE_WRITER")
TASKS = ("rmsnorm_linear", "swiglu_mlp", "softmax_matmul", "gemm")


# ---- the stand-in for torch: only what the modules use ----------------------------------------

def make_torch():
    torch = types.ModuleType("torch")

    class dtype:
        def __init__(self, name, itemsize):
            self.name, self.itemsize = name, itemsize

        def __repr__(self):
            return "torch." + self.name

    for name, size in (("bfloat16", 2), ("float16", 2), ("float32", 4), ("float64", 8), ("int32", 4), ("uint8", 1)):
        setattr(torch, name, dtype(name, size))

    class device:
        def __init__(self, kind, index=None):
            if isinstance(kind, device):
                kind, index = kind.type, kind.index
            elif isinstance(kind, int):
                kind, index = "cuda", kind
            elif ":" in kind:
                kind, index = kind.split(":")[0], int(kind.split(":")[1])
            self.type, self.index = kind, index

        def __eq__(self, other):
            return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

        def __hash__(self):
            return hash((self.type, self.index))

        def __repr__(self):
            return self.type if self.index is None else "%s:%d" % (self.type, self.index)

    torch.device = device

    class Size(tuple):
        pass

    class Tensor:
        next_address = 1 << 32
        allocations = []  # (shape, dtype, device) of every new_empty

        def __init__(self, shape, dtype=None, device="cuda:0", strides=None, offset=0, requires_grad=False):
            self.shape, self.dtype = Size(shape), dtype or torch.bfloat16
            self.device = torch.device(device)
            row_major, n = [], 1
            for d in reversed(shape):
                row_major.insert(0, n)
                n *= d
            self._strides = tuple(strides) if strides is not None else tuple(row_major)
            self._contiguous = self._strides == tuple(row_major)
            self._address = Tensor.next_address + offset * self.dtype.itemsize
            Tensor.next_address += ((n * self.dtype.itemsize + 511) // 512 + 1) * 512
            self.requires_grad = requires_grad

        @property
        def is_cuda(self):
            return self.device.type == "cuda"

        def get_device(self):
            return self.device.index if self.is_cuda else -1

        def dim(self):
            return len(self.shape)

        def stride(self):
            return self._strides

        def is_contiguous(self):
            return self._contiguous

        def data_ptr(self):
            return 0 if self.device.type == "meta" else self._address

        def new_empty(self, shape, dtype=None):
            Tensor.allocations.append((tuple(shape), dtype or self.dtype, self.device))
            return Tensor(shape, dtype or self.dtype, self.device)

    torch.Size, torch.Tensor = Size, Tensor

    grad = [True]
    torch.is_grad_enabled = lambda: grad[0]

    @contextlib.contextmanager
    def no_grad():
        saved, grad[0] = grad[0], False
        try:
            yield
        finally:
            grad[0] = saved

    torch.no_grad = no_grad

    cuda = types.ModuleType("torch.cuda")
    cuda.current = [0]
    cuda.switches = []  # each torch.cuda.device(d) entered

    @contextlib.contextmanager
    def cuda_device(d):
        index = d if isinstance(d, int) else d.index
        cuda.switches.append(index)
        saved, cuda.current[0] = cuda.current[0], index
        try:
            yield
        finally:
            cuda.current[0] = saved

    def raw_stream(index):
        return 0x5000 + index

    cuda.device = cuda_device
    cuda.current_device = lambda: cuda.current[0]
    cuda.current_stream = lambda d=None: types.SimpleNamespace(
        cuda_stream=raw_stream(cuda.current[0] if d is None or getattr(d, "index", d) is None else getattr(d, "index", d)))
    cuda.is_available = lambda: True
    torch.cuda = cuda
    torch._C = types.SimpleNamespace(_cuda_getDevice=lambda: cuda.current[0], _cuda_getCurrentRawStream=raw_stream)
    torch.Tag = types.SimpleNamespace(pt2_compliant_tag="pt2_compliant_tag", needs_fixed_stride_order="needs_fixed_stride_order")

    # torch.library and torch.ops: a registry and a dispatcher by the tensors' device.
    registry = {}

    class Library:
        def __init__(self, ns, kind, dispatch_key=""):
            assert kind in ("DEF", "IMPL", "FRAGMENT"), kind
            self.ns = ns

        def define(self, schema, alias_analysis="", *, tags=()):
            name = schema.split("(")[0]
            qualname = self.ns + "::" + name
            if qualname in registry:
                raise RuntimeError("Tried to register an operator (%s) with the same name multiple times" % qualname)
            args = [a.strip().split(" ") for a in schema[len(name) + 1:schema.index(")")].split(",")]
            registry[qualname] = {"schema": schema, "tags": tuple(tags), "args": args, "kernels": {}, "fake": None,
                                  "library": self}

        def impl(self, name, fn, dispatch_key=""):
            registry[self.ns + "::" + name]["kernels"][dispatch_key] = fn

    def register_fake(qualname, fn, *, lib=None):
        entry = registry[qualname]
        assert entry["fake"] is None
        entry["fake"], entry["fake_library"] = fn, lib

    torch.library = types.SimpleNamespace(Library=Library, register_fake=register_fake, registry=registry)

    class OpOverload:
        def __init__(self, qualname):
            self.qualname = qualname

        def __call__(self, *args):
            entry = registry[self.qualname]
            if len(args) != len(entry["args"]):
                raise RuntimeError("%s: expected %d arguments" % (self.qualname, len(entry["args"])))
            for (kind, name), value in zip(entry["args"], args):
                ok = {"Tensor": isinstance(value, Tensor), "int": isinstance(value, int),
                      "float": isinstance(value, (int, float))}[kind]
                if not ok:
                    raise RuntimeError("Expected a value of type '%s' for argument '%s'" % (kind, name))
            devices = {a.device.type for a in args if isinstance(a, Tensor)}
            if "meta" in devices:
                return entry["fake"](*args)
            key = "CUDA" if "cuda" in devices else "CPU"
            if key not in entry["kernels"]:
                raise NotImplementedError("Could not run '%s' with arguments from the '%s' backend" % (self.qualname, key))
            return entry["kernels"][key](*args)

    class Namespace:
        def __init__(self, ns):
            self.ns = ns

        def __getattr__(self, name):
            if self.ns + "::" + name not in registry:
                raise AttributeError(name)
            return types.SimpleNamespace(default=OpOverload(self.ns + "::" + name))

    torch.ops = types.SimpleNamespace(ksearch=Namespace("ksearch"))
    return torch


torch = make_torch()
sys.modules["torch"] = torch
MODULES = {}


def setUpModule():
    out = tempfile.mkdtemp(prefix="ksearch_stub_torch_")
    subprocess.run([WRITER, out], check=True)
    for task in TASKS:
        name = "ksearch_" + task
        spec = importlib.util.spec_from_file_location(name, os.path.join(out, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        MODULES[task] = module


class StubLibrary:
    """Stands for the ctypes handle. Records each call with the current device; the workspace
    size and the status it returns are set by the test."""

    def __init__(self, lib, workspace=1024, status=0):
        self.lib, self.workspace, self.status, self.calls = lib, workspace, status, []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, args, torch.cuda.current[0]))
            if name.endswith("_workspace_size"):
                return self.workspace
            if name.endswith("_last_error"):
                return b"the stub's message"
            if name.endswith("_plan_info"):
                return b"stub plan"
            return self.status
        return call


def bf16(*shape, device="cuda:0", **kw):
    return torch.Tensor(shape, torch.bfloat16, device, **kw)


class Module(unittest.TestCase):
    def setUp(self):
        self.mod = MODULES["rmsnorm_linear"]
        self.stub = StubLibrary("ksearch_rmsnorm_linear")
        self.saved, self.mod._lib = self.mod._lib, self.stub
        self.mod._SHAPES.clear()
        torch.cuda.current[0] = 0
        del torch.cuda.switches[:]
        del torch.Tensor.allocations[:]
        self.X, self.gamma, self.W = bf16(4, 64), bf16(64), bf16(32, 64)

    def tearDown(self):
        self.mod._lib = self.saved
        self.mod._SHAPES.clear()

    def names(self):
        return [c[0] for c in self.stub.calls]

    def refuses(self, error, words, *args, direct=True, **kwargs):
        with self.assertRaises(error) as caught:
            self.mod.rmsnorm_linear(*args, **kwargs)
        for w in words:
            self.assertIn(w, str(caught.exception))
        if direct:  # the op itself, called directly, raises the same
            with self.assertRaises(error) as op_error:
                self.mod.rmsnorm_linear_op(*args, kwargs.get("eps", 1e-6))
            self.assertEqual(str(op_error.exception), str(caught.exception))
        self.assertEqual(self.stub.calls, [])

    # ---- registration ----------------------------------------------------------------------------

    def test_every_task_registers_its_op_with_kernels_and_fake(self):
        for task, mod in MODULES.items():
            entry = torch.library.registry["ksearch::" + task]
            self.assertEqual(entry["schema"], mod.SCHEMA)
            self.assertIn("pt2_compliant_tag", entry["tags"])
            self.assertIn("needs_fixed_stride_order", entry["tags"])
            self.assertIs(entry["kernels"]["CUDA"], mod._impl)
            self.assertIs(entry["kernels"]["CPU"], mod._impl)
            self.assertIs(entry["fake"], mod._fake)
            self.assertIs(entry["fake_library"], mod._LIBRARY)
            self.assertIs(entry["library"], mod._LIBRARY)
            self.assertIs(getattr(mod, task + "_op"), mod._OP)
        self.assertEqual(self.mod.SCHEMA, "rmsnorm_linear(Tensor X, Tensor gamma, Tensor W, float eps) -> Tensor")
        self.assertEqual(MODULES["gemm"].SCHEMA, "gemm(Tensor X, Tensor W) -> Tensor")

    # ---- the call ---------------------------------------------------------------------------------

    def test_call_passes_pointers_sizes_constant_workspace_and_stream(self):
        Y = self.mod.rmsnorm_linear(self.X, self.gamma, self.W, eps=1e-5)
        self.assertEqual((tuple(Y.shape), Y.dtype, Y.device), ((4, 32), torch.bfloat16, self.X.device))
        self.assertEqual(self.names(), ["ksearch_rmsnorm_linear_workspace_size", "ksearch_rmsnorm_linear"])
        self.assertEqual(self.stub.calls[0][1], (4, 64, 32))
        args = self.stub.calls[1][1]
        self.assertEqual(args[:8], (self.X.data_ptr(), self.gamma.data_ptr(), self.W.data_ptr(), Y.data_ptr(), 4, 64, 32, 1e-5))
        self.assertEqual(args[9], 0x5000)  # device 0's current stream
        # The workspace: the size the library asked, bytes, on the inputs' device, after the output.
        self.assertEqual(torch.Tensor.allocations, [((4, 32), torch.bfloat16, self.X.device), ((1024,), torch.uint8, self.X.device)])
        self.assertIsNotNone(args[8])
        self.assertEqual(torch.cuda.switches, [], "no device switch when the tensors are on the current device")

    def test_workspace_size_is_asked_once_per_shape(self):
        for _ in range(3):
            self.mod.rmsnorm_linear(self.X, self.gamma, self.W)
        self.assertEqual(self.names().count("ksearch_rmsnorm_linear_workspace_size"), 1)
        self.mod.rmsnorm_linear(bf16(8, 64), self.gamma, self.W)
        self.assertEqual(self.names().count("ksearch_rmsnorm_linear_workspace_size"), 2)
        self.assertEqual(self.stub.calls[-1][1][4:7], (8, 64, 32))
        self.assertEqual(len(self.mod._SHAPES), 2)

    def test_a_refused_shape_is_not_cached(self):
        with self.assertRaises(ValueError):
            self.mod.rmsnorm_linear(self.X, self.gamma, bf16(32, 48))
        self.assertEqual(self.mod._SHAPES, {})

    def test_no_workspace_passes_null(self):
        self.stub.workspace = 0
        self.mod.rmsnorm_linear(self.X, self.gamma, self.W)
        self.assertIsNone(self.stub.calls[-1][1][8])
        self.assertEqual(len(torch.Tensor.allocations), 1)

    def test_switches_device_only_when_it_differs(self):
        X, gamma, W = bf16(4, 64, device="cuda:1"), bf16(64, device="cuda:1"), bf16(32, 64, device="cuda:1")
        self.mod.rmsnorm_linear(X, gamma, W)
        name, args, current = self.stub.calls[-1]
        self.assertEqual((name, current, args[-1]), ("ksearch_rmsnorm_linear", 1, 0x5001))
        self.assertEqual((torch.cuda.switches, torch.cuda.current[0]), ([1], 0))
        torch.cuda.current[0] = 1
        self.mod.rmsnorm_linear(X, gamma, W)
        self.assertEqual(torch.cuda.switches, [1])

    def test_failing_status_raises_ksearch_error(self):
        self.stub.status = 3
        with self.assertRaises(self.mod.KsearchError) as caught:
            self.mod.rmsnorm_linear(self.X, self.gamma, self.W)
        self.assertEqual(caught.exception.status, 3)
        self.assertIn("KSEARCH_RMSNORM_LINEAR_ERROR_CUDA", str(caught.exception))
        self.assertIn("the stub's message", str(caught.exception))

    def test_outputs_of_every_task(self):
        shapes = {"rmsnorm_linear": ((4, 64), (64,), (32, 64)), "swiglu_mlp": ((4, 64), (2, 128, 64), (64, 128)),
                  "softmax_matmul": ((2, 3, 16), (2, 16, 8)), "gemm": ((4, 64), (32, 64))}
        outputs = {"rmsnorm_linear": (4, 32), "swiglu_mlp": (4, 64), "softmax_matmul": (2, 3, 8), "gemm": (4, 32)}
        for task, mod in MODULES.items():
            stub = StubLibrary("ksearch_" + task)
            saved, mod._lib = mod._lib, stub
            try:
                args = [bf16(*s) for s in shapes[task]]
                out = getattr(mod, task)(*args)
                self.assertEqual(tuple(out.shape), outputs[task], task)
                call = stub.calls[-1][1]
                pointers = {n: a.data_ptr() for n, a in zip(mod.INPUTS, args)}
                pointers[list(mod.OUTPUTS)[0]] = out.data_ptr()
                self.assertEqual(call[:len(mod.BUFFERS)], tuple(pointers[b] for b in mod.BUFFERS), task)
                self.assertEqual(len(call), len(mod._ARGTYPES), task)
            finally:
                mod._lib = saved
                mod._SHAPES.clear()

    # ---- the checks -------------------------------------------------------------------------------

    def test_wrong_dtype(self):
        self.refuses(TypeError, ["gamma", "torch.bfloat16", "torch.float32"], self.X, torch.Tensor((64,), torch.float32), self.W)

    def test_not_a_tensor(self):
        self.refuses(TypeError, ["W", "torch.Tensor", "list"], self.X, self.gamma, [[0.0]], direct=False)

    def test_constant_not_a_number(self):
        self.refuses(TypeError, ["eps", "float", "str"], self.X, self.gamma, self.W, eps="small", direct=False)

    def test_cpu_tensor(self):
        self.refuses(ValueError, ["X", "CUDA", "cpu"], bf16(4, 64, device="cpu"), self.gamma, self.W)
        cpu = [bf16(4, 64, device="cpu"), bf16(64, device="cpu"), bf16(32, 64, device="cpu")]
        self.refuses(ValueError, ["X", "CUDA", "cpu"], *cpu)  # all on the CPU: the CPU kernel refuses them

    def test_two_devices(self):
        self.refuses(ValueError, ["W", "cuda:1", "X is on cuda:0"], self.X, self.gamma, bf16(32, 64, device="cuda:1"))

    def test_non_contiguous(self):
        self.refuses(ValueError, ["W", "contiguous", "(1, 32)"], self.X, self.gamma, bf16(32, 64, strides=(1, 32)))

    def test_unaligned(self):
        self.refuses(ValueError, ["gamma", "16-byte aligned"], self.X, bf16(64, offset=1), self.W)

    def test_mismatched_shapes(self):
        self.refuses(ValueError, ["W", "K = 48", "X.shape[1] gives K = 64"], self.X, self.gamma, bf16(32, 48))
        self.refuses(ValueError, ["gamma", "K = 63"], self.X, bf16(63), self.W)

    def test_wrong_rank(self):
        self.refuses(ValueError, ["X", "2 dimensions [M, K]", "[4, 64, 1]"], bf16(4, 64, 1), self.gamma, self.W)

    def test_empty_size(self):
        self.refuses(ValueError, ["M = 0", "X.shape[0]"], bf16(0, 64), self.gamma, self.W)

    def test_fixed_dimension(self):
        swiglu = MODULES["swiglu_mlp"]
        saved, swiglu._lib = swiglu._lib, StubLibrary("ksearch_swiglu_mlp")
        try:
            with self.assertRaises(ValueError) as caught:
                swiglu.swiglu_mlp(bf16(4, 64), bf16(3, 128, 64), bf16(64, 128))
            self.assertIn("Wgu", str(caught.exception))
            self.assertIn("dimension 0 must be 2", str(caught.exception))
            self.assertEqual(swiglu._lib.calls, [])
        finally:
            swiglu._lib = saved

    def test_requires_grad_is_refused_under_grad_mode(self):
        W = bf16(32, 64, requires_grad=True)
        self.refuses(ValueError, ["W requires grad", "inference-only", "torch.no_grad()", "W.detach()"], self.X, self.gamma, W)
        with torch.no_grad():
            self.mod.rmsnorm_linear(self.X, self.gamma, W)
        self.assertEqual(self.names()[-1], "ksearch_rmsnorm_linear")

    def test_requires_grad_is_refused_by_the_fake_too(self):
        meta = [bf16(4, 64, device="meta"), bf16(64, device="meta"), bf16(32, 64, device="meta", requires_grad=True)]
        with self.assertRaises(ValueError) as caught:
            self.mod.rmsnorm_linear(*meta)
        self.assertIn("W requires grad", str(caught.exception))
        with torch.no_grad():
            self.assertEqual(tuple(self.mod.rmsnorm_linear(*meta).shape), (4, 32))

    def test_fake_gives_shape_and_dtype_and_checks(self):
        meta = [bf16(4, 64, device="meta"), bf16(64, device="meta"), bf16(32, 64, device="meta")]
        Y = self.mod.rmsnorm_linear_op(*meta, 1e-6)
        self.assertEqual((tuple(Y.shape), Y.dtype, Y.device.type), ((4, 32), torch.bfloat16, "meta"))
        with self.assertRaises(ValueError) as caught:
            self.mod.rmsnorm_linear_op(meta[0], bf16(32, device="meta"), meta[2], 1e-6)
        self.assertIn("gamma", str(caught.exception))
        self.assertEqual(self.stub.calls, [])

    def test_a_failed_load_keeps_the_library_and_its_cache(self):
        self.mod.rmsnorm_linear(self.X, self.gamma, self.W)
        self.assertEqual(len(self.mod._SHAPES), 1)
        with self.assertRaises(FileNotFoundError):
            self.mod.load("/nonexistent/libksearch_rmsnorm_linear.so")
        self.assertEqual(len(self.mod._SHAPES), 1)
        self.assertIs(self.mod._lib, self.stub)


# ---- the C call through ctypes, with a stub library compiled here -----------------------------

STUB_C = r"""
#include <stddef.h>
#include <stdint.h>
static uintptr_t g_ptr[16];
static int64_t g_size[8];
static float g_const[8];
static uintptr_t g_ws, g_stream;
static int g_calls, g_ws_calls, g_status;
int LIB(PARAMS) {
  BODY
  ++g_calls;
  return g_status;
}
size_t LIB_workspace_size(SIZE_PARAMS) { ++g_ws_calls; return 4096; }
const char* LIB_last_error(void) { return "stub status"; }
int LIB_tune(TUNE_PARAMS) { return 0; }
const char* LIB_plan_info(SIZE_PARAMS) { return "stub plan"; }
uintptr_t stub_ptr(int i) { return g_ptr[i]; }
int64_t stub_size(int i) { return g_size[i]; }
float stub_const(int i) { return g_const[i]; }
uintptr_t stub_ws(void) { return g_ws; }
uintptr_t stub_stream(void) { return g_stream; }
int stub_calls(void) { return g_calls; }
int stub_ws_calls(void) { return g_ws_calls; }
void stub_set_status(int s) { g_status = s; }
"""


def stub_source(mod):
    lib = "ksearch_" + mod.TASK
    params, body = [], []
    for i, b in enumerate(mod.BUFFERS):
        params.append("void* %s" % b)
        body.append("g_ptr[%d] = (uintptr_t)%s;" % (i, b))
    for i, s in enumerate(mod.SIZES):
        params.append("int64_t size_%s" % s)
        body.append("g_size[%d] = size_%s;" % (i, s))
    for i, c in enumerate(mod.CONSTANTS):
        params.append("float %s" % c)
        body.append("g_const[%d] = %s;" % (i, c))
    params += ["void* workspace", "void* stream"]
    body += ["g_ws = (uintptr_t)workspace;", "g_stream = (uintptr_t)stream;"]
    sizes = ", ".join("int64_t size_%s" % s for s in mod.SIZES)
    tune = ", ".join(["int64_t size_%s" % s for s in mod.SIZES] + ["float %s" % c for c in mod.CONSTANTS] + ["void* stream"])
    return (STUB_C.replace("LIB", lib).replace("SIZE_PARAMS", sizes).replace("TUNE_PARAMS", tune)
            .replace("PARAMS", ", ".join(params)).replace("BODY", "\n  ".join(body)))


@unittest.skipUnless(shutil.which("cc"), "no C compiler (cc)")
class ThroughCtypes(unittest.TestCase):
    def test_every_task_calls_the_c_function_with_its_arguments(self):
        shapes = {"rmsnorm_linear": ((4, 64), (64,), (32, 64)), "swiglu_mlp": ((4, 64), (2, 128, 64), (64, 128)),
                  "softmax_matmul": ((2, 3, 16), (2, 16, 8)), "gemm": ((4, 64), (32, 64))}
        sizes = {"rmsnorm_linear": (4, 64, 32), "swiglu_mlp": (4, 64, 128), "softmax_matmul": (2, 3, 16, 8), "gemm": (4, 64, 32)}
        tmp = tempfile.mkdtemp(prefix="ksearch_stub_lib_")
        for task, mod in MODULES.items():
            with self.subTest(task=task):
                c = os.path.join(tmp, task + ".c")
                so = os.path.join(tmp, "libksearch_%s.so" % task)
                with open(c, "w") as f:
                    f.write(stub_source(mod))
                subprocess.run(["cc", "-shared", "-fPIC", "-o", so, c], check=True)
                saved = mod._lib
                try:
                    mod._SHAPES["another library's"] = None
                    mod.load(so)
                    self.assertEqual(mod._SHAPES, {}, "load() empties the shape cache")
                    probe = ctypes.CDLL(so)  # the same handle: reads what the stub recorded
                    for f in ("stub_ptr", "stub_ws", "stub_stream"):
                        getattr(probe, f).restype = ctypes.c_uint64
                    probe.stub_size.restype = ctypes.c_int64
                    probe.stub_const.restype = ctypes.c_float
                    args = [bf16(*s) for s in shapes[task]]
                    constants = {name: 1e-5 for name in mod.CONSTANTS}
                    out = getattr(mod, task)(*args, **constants)
                    out2 = getattr(mod, task)(*args, **constants)
                    self.assertEqual((probe.stub_calls(), probe.stub_ws_calls()), (2, 1))
                    pointers = {n: a.data_ptr() for n, a in zip(mod.INPUTS, args)}
                    pointers[list(mod.OUTPUTS)[0]] = out2.data_ptr()
                    self.assertEqual([probe.stub_ptr(i) for i in range(len(mod.BUFFERS))], [pointers[b] for b in mod.BUFFERS])
                    self.assertEqual(tuple(probe.stub_size(i) for i in range(len(mod.SIZES))), sizes[task])
                    for i, name in enumerate(mod.CONSTANTS):
                        self.assertEqual(probe.stub_const(i), ctypes.c_float(1e-5).value)
                    self.assertNotEqual(probe.stub_ws(), 0)
                    self.assertEqual(probe.stub_stream(), 0x5000)
                    probe.stub_set_status(2)
                    with self.assertRaises(mod.KsearchError) as caught:
                        getattr(mod, task)(*args, **constants)
                    self.assertEqual(caught.exception.status, 2)
                    self.assertIn("stub status", str(caught.exception))
                    self.assertIn("stub plan", mod.tune(*sizes[task]))
                    del out
                finally:
                    mod._lib = saved
                    mod._SHAPES.clear()


if __name__ == "__main__":
    unittest.main()
