"""The export's PyTorch modules (python/ksearch_<task>.py, agent/export/export_python.cpp): their
argument checks raise a clear error, naming the argument, before any library call; the fake
implementation gives the output's shape and dtype. The library is a stub that fails the test when
called, so no GPU is needed. Exits 77 (ctest's SKIP_RETURN_CODE) where torch is not installed.

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
if not hasattr(torch, "library") or not hasattr(torch.library, "custom_op"):
    print("SKIPPED: torch %s has no torch.library.custom_op (torch >= 2.4 needed)" % torch.__version__)
    sys.exit(SKIP)

WRITER = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("KSEARCH_PYTHON_MODULE_WRITER")
MODULES = {}


def setUpModule():
    out = tempfile.mkdtemp(prefix="ksearch_torch_module_")
    subprocess.run([WRITER, out], check=True)
    for task in ("rmsnorm_linear", "swiglu_mlp", "softmax_matmul", "gemm"):
        name = "ksearch_" + task
        spec = importlib.util.spec_from_file_location(name, os.path.join(out, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        MODULES[task] = module


class StubLibrary:
    """Stands for the ctypes handle: any use of it is a library call the checks should have
    prevented, unless the test allows it (then it records the call and returns 0)."""

    def __init__(self, lib, allow=False):
        self.lib, self.allow, self.calls = lib, allow, []

    def __getattr__(self, name):
        def call(*args):
            if not self.allow:
                raise AssertionError("the library was called (%s) before the checks refused the arguments" % name)
            self.calls.append((name, args))
            return 0
        return call


def bf16(*shape, device="cpu"):
    return torch.zeros(shape, dtype=torch.bfloat16, device=device)


class Checks(unittest.TestCase):
    def setUp(self):
        self.mod = MODULES["rmsnorm_linear"]
        self.stub = StubLibrary("ksearch_rmsnorm_linear")
        self.saved, self.mod._lib = self.mod._lib, self.stub
        # M=4, K=64, N=32
        self.X, self.gamma, self.W = bf16(4, 64), bf16(64), bf16(32, 64)

    def tearDown(self):
        self.mod._lib = self.saved

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

    @unittest.skipUnless(torch.cuda.is_available(), "no CUDA device")
    def test_valid_call_passes_pointers_sizes_workspace_and_stream(self):
        self.stub.allow = True
        X, gamma, W = (t.cuda() for t in (self.X, self.gamma, self.W))
        Y = self.mod.rmsnorm_linear(X, gamma, W)
        self.assertEqual((list(Y.shape), Y.dtype, Y.device), ([4, 32], torch.bfloat16, X.device))
        names = [c[0] for c in self.stub.calls]
        self.assertEqual(names, ["ksearch_rmsnorm_linear_workspace_size", "ksearch_rmsnorm_linear"])
        self.assertEqual(self.stub.calls[0][1], (4, 64, 32))
        args = self.stub.calls[1][1]
        self.assertEqual(args[:7], (X.data_ptr(), gamma.data_ptr(), W.data_ptr(), Y.data_ptr(), 4, 64, 32))
        self.assertEqual(args[-1], torch.cuda.current_stream().cuda_stream)


if __name__ == "__main__":
    unittest.main()
