"""The export's PyTorch modules (python/ksearch_<task>.py, agent/export/export_python.cpp) under
torch: their argument checks raise a clear error, naming the argument, before any library call;
an input that requires grad under grad mode is refused (the op is inference-only); the fake
implementation gives the output's shape and dtype; with a GPU, the op passes the pointers, sizes,
workspace and current stream, asks the workspace size once per shape, switches device only when
the inputs are on another one, is captured by a CUDA graph, traced by torch.compile (fullgraph)
and passes torch.library.opcheck. The library is a stub that records its calls (and fails the test
when one was not expected), so no kernel runs. Exits 77 (ctest's SKIP_RETURN_CODE) where torch is
not installed. tests/python/test_module_stub_torch.py runs the same module code without torch.

    python3 test_torch_module.py WRITER   (WRITER: tests/python_module_writer.cpp's binary)
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

SKIP = 77

try:
    import torch
except ImportError:
    print("SKIPPED: torch is not installed; the PyTorch module's tests need it")
    sys.exit(SKIP)
if not hasattr(torch, "library") or not hasattr(torch.library, "register_fake"):
    print("SKIPPED: torch %s has no torch.library.register_fake (torch >= 2.4 needed)" % torch.__version__)
    sys.exit(SKIP)

CUDA = torch.cuda.is_available()

WRITER = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("KSEARCH_PYTHON_MODULE_WRITER")
MODULES = {}


def setUpModule():
    out = tempfile.mkdtemp(prefix="ksearch_torch_module_")
    subprocess.run([WRITER, out], check=True)
    for task in ("rmsnorm_linear", "swiglu_mlp", "softmax_matmul", "gemm"):
        name = "ksearch_" + task
        spec = importlib.util.spec_from_file_location(name, os.path.join(out, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        # importlib's recipe for a source file: torch.compile's guards and inductor's code refer to
        # the module by name, so it must be in sys.modules as an import would put it.
        sys.modules[name] = module
        spec.loader.exec_module(module)
        MODULES[task] = module


class StubLibrary:
    """Stands for the ctypes handle: any use of it is a library call the checks should have
    prevented, unless the test allows it (then it records the call, and with CUDA the current
    device; returns `workspace` for the workspace size, 0 for the rest)."""

    def __init__(self, lib, allow=False, workspace=1024):
        self.lib, self.allow, self.workspace, self.calls, self.devices = lib, allow, workspace, [], []

    def __getattr__(self, name):
        def call(*args):
            if not self.allow:
                raise AssertionError("the library was called (%s) before the checks refused the arguments" % name)
            self.calls.append((name, args))
            self.devices.append(torch.cuda.current_device() if CUDA else None)
            if name.endswith("_workspace_size"):
                return self.workspace
            return b"stub" if name.endswith(("_plan_info", "_last_error")) else 0
        return call


def bf16(*shape, device="cpu"):
    return torch.zeros(shape, dtype=torch.bfloat16, device=device)


class Checks(unittest.TestCase):
    def setUp(self):
        self.mod = MODULES["rmsnorm_linear"]
        self.stub = StubLibrary("ksearch_rmsnorm_linear")
        self.saved, self.mod._lib = self.mod._lib, self.stub
        self.mod._SHAPES.clear()
        # M=4, K=64, N=32
        self.X, self.gamma, self.W = bf16(4, 64), bf16(64), bf16(32, 64)

    def tearDown(self):
        self.mod._lib = self.saved
        self.mod._SHAPES.clear()

    def names(self):
        return [c[0] for c in self.stub.calls]

    def cuda_args(self):
        return tuple(t.cuda() for t in (self.X, self.gamma, self.W))

    def refuses(self, error, words, *args, direct=True, **kwargs):
        with self.assertRaises(error) as caught:
            self.mod.rmsnorm_linear(*args, **kwargs)
        for w in words:
            self.assertIn(w, str(caught.exception))
        # The op itself checks too (torch.ops.ksearch.rmsnorm_linear called directly).
        if not direct:
            return
        eps = kwargs.get("eps", self.mod.CONSTANTS["eps"])
        with self.assertRaises(Exception) as op_error:
            self.mod.rmsnorm_linear_op(*args, eps)
        for w in words:
            self.assertIn(w, str(op_error.exception))
        self.assertEqual(self.stub.calls, [])

    def test_tables_name_the_task(self):
        self.assertEqual(self.mod.SIZES, ("M", "K", "N"))
        self.assertEqual(list(self.mod.INPUTS), ["X", "gamma", "W"])
        self.assertEqual(self.mod.INPUTS["W"], (torch.bfloat16, ("N", "K")))
        self.assertEqual(self.mod.BUFFERS, ("X", "gamma", "W", "Y"))
        self.assertEqual(self.mod.SCHEMA, "rmsnorm_linear(Tensor X, Tensor gamma, Tensor W, float eps) -> Tensor")
        self.assertIs(self.mod.rmsnorm_linear_op, torch.ops.ksearch.rmsnorm_linear.default)
        self.assertIn(torch.Tag.pt2_compliant_tag, torch.ops.ksearch.rmsnorm_linear.default.tags)
        self.assertEqual(self.mod.CONSTANTS, {"eps": 1e-6})
        self.assertEqual(MODULES["swiglu_mlp"].INPUTS["Wgu"], (torch.bfloat16, (2, "I", "H")))
        self.assertEqual(MODULES["softmax_matmul"].SIZES, ("B", "M", "N", "D"))
        self.assertEqual(MODULES["gemm"].CONSTANTS, {})

    def test_wrong_dtype(self):
        self.refuses(TypeError, ["gamma", "torch.bfloat16", "torch.float32"], self.X, self.gamma.float(), self.W)

    def test_not_a_tensor(self):
        self.refuses(TypeError, ["W", "torch.Tensor", "list"], self.X, self.gamma, [[0.0]], direct=False)

    def test_cpu_tensor(self):
        self.refuses(ValueError, ["X", "CUDA", "cpu"], self.X, self.gamma, self.W)

    def test_non_contiguous(self):
        W = bf16(64, 32).t()
        self.refuses(ValueError, ["W", "contiguous"], self.X, self.gamma, W)

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
        finally:
            swiglu._lib = saved

    def test_fake_implementation_gives_shape_and_dtype(self):
        meta = [t.to("meta") for t in (self.X, self.gamma, self.W)]
        Y = torch.ops.ksearch.rmsnorm_linear(*meta, 1e-6)
        self.assertEqual((list(Y.shape), Y.dtype, Y.device.type), ([4, 32], torch.bfloat16, "meta"))
        O = torch.ops.ksearch.softmax_matmul(bf16(2, 3, 16, device="meta"), bf16(2, 16, 8, device="meta"))
        self.assertEqual(list(O.shape), [2, 3, 8])
        with self.assertRaises(Exception) as caught:
            torch.ops.ksearch.rmsnorm_linear(meta[0], meta[1][:32], meta[2], 1e-6)
        self.assertIn("gamma", str(caught.exception))

    def test_missing_library_names_where_it_looked(self):
        self.mod._lib = None
        old = os.environ.pop(self.mod.LIBRARY_ENV, None)
        try:
            with self.assertRaises(FileNotFoundError) as caught:
                self.mod.load()
            for path in self.mod.library_paths():
                self.assertIn(path, str(caught.exception))
            self.assertIn(self.mod.LIBRARY_ENV, str(caught.exception))
        finally:
            if old is not None:
                os.environ[self.mod.LIBRARY_ENV] = old

    def test_tune_checks_sizes_and_constants_first(self):
        with self.assertRaises(ValueError) as caught:
            self.mod.tune(0, 64, 32)
        self.assertIn("M = 0", str(caught.exception))
        with self.assertRaises(TypeError) as caught:
            self.mod.tune(4, 64.0, 32)
        self.assertIn("K", str(caught.exception))
        with self.assertRaises(TypeError) as caught:
            self.mod.tune(4, 64, 32, eps="small")
        self.assertIn("eps", str(caught.exception))
        self.assertEqual(self.stub.calls, [])

    @unittest.skipUnless(torch.cuda.is_available(), "no CUDA device")
    def test_tune_passes_sizes_constants_and_stream(self):
        self.stub.allow = True
        self.mod.tune(4, 64, 32, eps=1e-5)
        names = [c[0] for c in self.stub.calls]
        self.assertEqual(names, ["ksearch_rmsnorm_linear_tune", "ksearch_rmsnorm_linear_plan_info"])
        self.assertEqual(self.stub.calls[0][1], (4, 64, 32, 1e-5, torch.cuda.current_stream().cuda_stream))
        self.assertEqual(self.stub.calls[1][1], (4, 64, 32))

    def test_requires_grad_is_refused_under_grad_mode(self):
        W = self.W.clone().requires_grad_()
        self.refuses(ValueError, ["W requires grad", "inference-only", "torch.no_grad()"], self.X, self.gamma, W)
        with torch.no_grad():  # then the next check speaks: these are CPU tensors
            self.refuses(ValueError, ["X", "CUDA", "cpu"], self.X, self.gamma, W)
        meta = [t.to("meta") for t in (self.X, self.gamma, W)]
        with self.assertRaises(Exception) as caught:  # the fake refuses it too
            torch.ops.ksearch.rmsnorm_linear(*meta, 1e-6)
        self.assertIn("W requires grad", str(caught.exception))
        with torch.inference_mode():
            meta = [t.to("meta") for t in (self.X, self.gamma, self.W)]
            self.assertEqual(list(self.mod.rmsnorm_linear(*meta).shape), [4, 32])

    @unittest.skipUnless(CUDA, "no CUDA device")
    def test_valid_call_passes_pointers_sizes_workspace_and_stream(self):
        self.stub.allow = True
        X, gamma, W = self.cuda_args()
        Y = self.mod.rmsnorm_linear(X, gamma, W, eps=1e-5)
        self.assertEqual((list(Y.shape), Y.dtype, Y.device), ([4, 32], torch.bfloat16, X.device))
        self.assertEqual(self.names(), ["ksearch_rmsnorm_linear_workspace_size", "ksearch_rmsnorm_linear"])
        self.assertEqual(self.stub.calls[0][1], (4, 64, 32))
        args = self.stub.calls[1][1]
        self.assertEqual(args[:8], (X.data_ptr(), gamma.data_ptr(), W.data_ptr(), Y.data_ptr(), 4, 64, 32, 1e-5))
        self.assertTrue(args[8] and args[8] % 256 == 0, "a workspace from the caching allocator: %r" % (args[8],))
        self.assertEqual(args[-1], torch.cuda.current_stream().cuda_stream)
        # The same shape again: the workspace size comes from the module's cache.
        self.mod.rmsnorm_linear(X, gamma, W)
        self.assertEqual(self.names()[2:], ["ksearch_rmsnorm_linear"])
        # On a side stream: that stream.
        side = torch.cuda.Stream()
        with torch.cuda.stream(side):
            self.mod.rmsnorm_linear(X, gamma, W)
        self.assertEqual(self.stub.calls[-1][1][-1], side.cuda_stream)

    @unittest.skipUnless(CUDA and torch.cuda.device_count() >= 2, "fewer than 2 CUDA devices")
    def test_switches_device_for_inputs_on_another(self):
        self.stub.allow = True
        torch.cuda.set_device(0)
        X, gamma, W = (t.to("cuda:1") for t in (self.X, self.gamma, self.W))
        self.mod.rmsnorm_linear(X, gamma, W)
        self.assertEqual(self.stub.devices[-1], 1)
        self.assertEqual(self.stub.calls[-1][1][-1], torch.cuda.current_stream(1).cuda_stream)
        self.assertEqual(torch.cuda.current_device(), 0)

    @unittest.skipUnless(CUDA, "no CUDA device")
    def test_cuda_graph_captures_the_call_on_the_capture_stream(self):
        self.stub.allow = True
        X, gamma, W = self.cuda_args()
        self.mod.rmsnorm_linear(X, gamma, W)  # warm-up, as the README says
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            capture_stream = torch.cuda.current_stream().cuda_stream
            Y = self.mod.rmsnorm_linear(X, gamma, W)
            Z = X + 1  # a kernel, so the graph is not empty
        graph.replay()
        torch.cuda.synchronize()
        self.assertEqual(list(Y.shape), [4, 32])
        self.assertEqual(self.stub.calls[-1][1][-1], capture_stream)
        self.assertEqual(float(Z[0, 0]), 1.0)

    @unittest.skipUnless(CUDA, "no CUDA device")
    def test_torch_compile_fullgraph_traces_the_op(self):
        self.stub.allow = True
        X, gamma, W = self.cuda_args()
        torch._dynamo.reset()
        graphs = []

        def record(gm, example_inputs):
            graphs.append(gm)
            return gm.forward

        f = torch.compile(lambda X, g, W: self.mod.rmsnorm_linear(X, g, W, eps=1e-5) * 2, fullgraph=True, backend=record)
        self.assertEqual(list(f(X, gamma, W).shape), [4, 32])
        targets = [n.target for gm in graphs for n in gm.graph.nodes if n.op == "call_function"]
        self.assertIn(torch.ops.ksearch.rmsnorm_linear.default, targets)
        # Inductor: the op is an extern call to its kernel, which calls the library.
        torch._dynamo.reset()
        before = len(self.stub.calls)
        g = torch.compile(lambda X, g, W: self.mod.rmsnorm_linear(X, g, W, eps=1e-5) * 2, fullgraph=True)
        Y = g(X, gamma, W)
        self.assertEqual((list(Y.shape), Y.dtype), ([4, 32], torch.bfloat16))
        call = self.stub.calls[-1]
        self.assertGreater(len(self.stub.calls), before)
        self.assertEqual(call[0], "ksearch_rmsnorm_linear")
        self.assertEqual(call[1][:3], (X.data_ptr(), gamma.data_ptr(), W.data_ptr()))
        torch._dynamo.reset()

    @unittest.skipUnless(CUDA, "no CUDA device")
    def test_torch_compile_refuses_requires_grad(self):
        X, gamma, W = self.cuda_args()
        W.requires_grad_()
        torch._dynamo.reset()
        f = torch.compile(lambda X, g, W: self.mod.rmsnorm_linear(X, g, W), fullgraph=True)
        with self.assertRaises(Exception) as caught:
            f(X, gamma, W)
        self.assertIn("W requires grad", str(caught.exception))
        self.assertEqual(self.stub.calls, [])
        torch._dynamo.reset()

    @unittest.skipUnless(CUDA and hasattr(torch.library, "opcheck"), "no CUDA device or no torch.library.opcheck")
    def test_opcheck(self):
        self.stub.allow = True
        torch.library.opcheck(self.mod.rmsnorm_linear_op, self.cuda_args() + (1e-6,),
                              test_utils=("test_schema", "test_faketensor"))


if __name__ == "__main__":
    unittest.main()
