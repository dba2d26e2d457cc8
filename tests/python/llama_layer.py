#!/usr/bin/env python3
"""A Llama-style decoder layer through the exported ksearch ops, against the stock layer (issue 23).

One randomly initialized Llama-3-8B-shaped layer (hidden 4096, 32 query heads and 8 KV heads of
128, intermediate 14336, RMSNorm eps 1e-5, RoPE theta 500000, causal attention; linear weights
drawn with std 0.02, norm weights 1 + 0.05 * N(0, 1)), batch 1, run three ways on the same bf16
parameters and input:

  (a) reference: fp32 (the bf16 parameters and input widened), attention written out (scores,
      mask, softmax, @ V), TF32 off;
  (b) stock: the same layer in bf16 with torch ops (F.linear, F.scaled_dot_product_attention
      with is_causal, GQA by repeating the KV heads);
  (c) ksearch: bf16, with
        attention RMSNorm + QKV projection -> ksearch::rmsnorm_linear (X, gamma, Wqkv, eps),
        softmax(S) @ V                     -> ksearch::softmax_matmul (S [B*32, s, s], V [B*32, s, 128];
                                              S = scale * Q K^T + causal mask (-inf above the
                                              diagonal) by torch.baddbmm, per KV head; V's KV heads
                                              expanded to the 32 query heads),
        MLP gate/up/silu/down              -> ksearch::swiglu_mlp (X, Wgu [2, I, H], Wd [H, I]),
                                              after torch's RMSNorm (the task has no norm),
        o_proj                             -> ksearch::gemm (X, W) where it is exported, else torch;
      RoPE, the score GEMM, the residual adds and the MLP's RMSNorm are torch's, as in (b).

Checks per sequence length: (c)'s outputs have no NaN or Inf, and each relative L2 error against
(a) is at most FACTOR * (b)'s + ABS (defaults 1.5 and 1e-3): on the layer's output, on what the
layer adds to its input (output - input), and on the attention block's and the MLP block's
outputs apart (the residual and the other block would hide an error of one: a 5% error in the
attention block moves the layer's output by less than FACTOR allows); the same for (c) replayed
from a CUDA graph and for (c) under torch.compile (fullgraph: the custom ops trace through their
fake implementations), which must run. Timed with CUDA events, median of
--iters calls after --warmup calls and --warmup-seconds of them: (b) and (c) eager, each captured in a CUDA graph, each under
torch.compile, and torch.compile inside a CUDA graph; then each op against its unfused torch
equivalent on the layer's own tensors. The weights (436 MB in bf16) do not fit the L2, so no flush
is needed between calls. The table is printed last.

The modules come from `ksearch export` (python/ksearch_<task>.py; each finds its built library,
see its library_paths()): give each export folder with --lib-dir, or put their python/ folders
on PYTHONPATH. `scripts/gpu-check.sh layer` searches, audits, exports and builds them, then runs
this. Exit status: 0 passed, 1 a check failed (or a required op did not load), 2 bad arguments,
77 torch or a CUDA device is missing (nothing was checked).

    python3 tests/python/llama_layer.py --lib-dir EXPORT_RMSNORM --lib-dir EXPORT_SOFTMAX ... [--seq 128 512]

--emulate runs the whole script on the CPU with the four ops replaced by plain-torch versions of
their contracts (same argument checks: dtype, shape, contiguity, alignment): a dry run of the
glue around the ops (layouts, GQA, masks, the checks, the table) where no GPU is present; with
small sizes, e.g. --emulate --hidden 256 --heads 4 --kv-heads 2 --head-dim 64 --intermediate 512.
"""
import argparse
import importlib
import json
import math
import os
import statistics
import sys
import time
import traceback

SKIP = 77
TASKS = ("rmsnorm_linear", "softmax_matmul", "swiglu_mlp", "gemm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seq", type=int, nargs="+", default=[128, 512], help="sequence lengths (default 128 512)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--intermediate", type=int, default=14336)
    p.add_argument("--eps", type=float, default=1e-5, help="RMSNorm eps (Llama-3: 1e-5), passed to rmsnorm_linear at run time")
    p.add_argument("--rope-theta", type=float, default=500000.0)
    p.add_argument("--init-std", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--warmup-seconds", type=float, default=2.0, metavar="S",
                   help="then warm-up calls for S seconds at least before each timing (default 2: a GPU under "
                        "sustained load, as `ksearch bench` times; README \"Timing\")")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--lib-dir", action="append", default=[], metavar="DIR",
                   help="an export folder (ksearch export --out DIR); its python/ goes on sys.path (repeatable)")
    p.add_argument("--require", default="rmsnorm_linear,softmax_matmul,swiglu_mlp",
                   help="ops that must load, comma-separated, or 'none' (default: the three fused ones); "
                        "an op that does not load is run with torch instead")
    p.add_argument("--torch-ops", default="", help="ops to run with torch even when they load, comma-separated")
    p.add_argument("--factor", type=float, default=1.5, help="(c) may be this many times (b)'s error ...")
    p.add_argument("--abs", type=float, default=1e-3, help="... plus this")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--time-budget", type=float, metavar="S",
                   help="skip a torch.compile variant (said in the notes) once fewer than 60 of these seconds are left")
    p.add_argument("--op-compile", action="store_true",
                   help="also time each op's torch equivalent under torch.compile (one compile per op and length)")
    p.add_argument("--no-graph", action="store_true", help="skip CUDA graphs")
    p.add_argument("--emulate", action="store_true", help="CPU dry run with plain-torch stand-ins for the ops")
    p.add_argument("--json", metavar="FILE", help="write every measurement here too")
    a = p.parse_args(argv)
    for name in ("batch", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "iters"):
        if getattr(a, name) < 1:
            p.error("--%s must be at least 1" % name.replace("_", "-"))
    if a.time_budget is not None and not a.time_budget > 0:
        p.error("--time-budget must be positive")
    if a.warmup < 0:
        p.error("--warmup must be at least 0")
    if not 0 <= a.warmup_seconds <= 3600:
        p.error("--warmup-seconds must be from 0 to 3600")
    if any(s < 1 for s in a.seq):
        p.error("--seq: every length must be at least 1")
    if a.heads % a.kv_heads:
        p.error("--heads (%d) must be a multiple of --kv-heads (%d)" % (a.heads, a.kv_heads))
    if a.head_dim % 2:
        p.error("--head-dim must be even (RoPE)")
    if not (a.eps > 0 and math.isfinite(a.eps)):
        p.error("--eps must be finite and positive")
    for opt in ("require", "torch_ops"):
        v = getattr(a, opt)
        names = [] if v in ("", "none") else [t.strip() for t in v.split(",") if t.strip()]
        bad = [t for t in names if t not in TASKS]
        if bad:
            p.error("--%s: unknown op %s (ops: %s)" % (opt.replace("_", "-"), ", ".join(bad), ", ".join(TASKS)))
        setattr(a, opt, names)
    return a


class Config:
    def __init__(self, a):
        self.hidden, self.heads, self.kv_heads, self.head_dim = a.hidden, a.heads, a.kv_heads, a.head_dim
        self.inter, self.eps, self.theta = a.intermediate, a.eps, a.rope_theta
        self.groups = a.heads // a.kv_heads
        self.q_dim, self.kv_dim = a.heads * a.head_dim, a.kv_heads * a.head_dim
        self.scale = 1.0 / math.sqrt(a.head_dim)

    def text(self):
        return ("hidden %d, %d heads / %d KV heads x %d, intermediate %d, eps %g, rope theta %g"
                % (self.hidden, self.heads, self.kv_heads, self.head_dim, self.inter, self.eps, self.theta))


# ---- the layer, in plain torch ------------------------------------------------------------------

def make_params(torch, cfg, seed, device, std):
    """bf16 parameters: Wqkv [q + 2 kv, H] (q, k, v stacked), Wo [H, q], Wgu [2, I, H] (gate,
    up), Wd [H, I], the two norms' weights [H]."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)

    def normal(*shape, mean=0.0, sd=std):
        return (torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * sd + mean).to(torch.bfloat16)

    H = cfg.hidden
    return {
        "attn_norm": normal(H, mean=1.0, sd=0.05),
        "Wqkv": normal(cfg.q_dim + 2 * cfg.kv_dim, H),
        "Wo": normal(H, cfg.q_dim),
        "mlp_norm": normal(H, mean=1.0, sd=0.05),
        "Wgu": normal(2, cfg.inter, H),
        "Wd": normal(H, cfg.inter),
    }


def rms_norm(torch, x, w, eps):
    """Llama's RMSNorm: in fp32, back to x's dtype, times the weight."""
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope_tables(torch, S, D, theta, device):
    inv = 1.0 / (theta ** (torch.arange(0, D, 2, device=device, dtype=torch.float32) / D))
    f = torch.outer(torch.arange(S, device=device, dtype=torch.float32), inv)
    emb = torch.cat((f, f), -1)
    return emb.cos(), emb.sin()  # [S, D], fp32


def apply_rope(torch, x, cos, sin):
    """x [B, S, heads, D] (rotate-half convention, as Llama's), in x's dtype."""
    D = x.shape[-1]
    c, s = cos.to(x.dtype)[None, :, None, :], sin.to(x.dtype)[None, :, None, :]
    rot = torch.cat((-x[..., D // 2:], x[..., :D // 2]), -1)
    return x * c + rot * s


def stock_layer(torch, F, p, x, cos, sin, cfg, attention):
    """The layer as torch runs it; returns (output, attention block, MLP block), each [B, S, H]."""
    B, S, H = x.shape
    h = rms_norm(torch, x, p["attn_norm"], cfg.eps)
    q, k, v = F.linear(h, p["Wqkv"]).split([cfg.q_dim, cfg.kv_dim, cfg.kv_dim], -1)
    q = apply_rope(torch, q.reshape(B, S, cfg.heads, cfg.head_dim), cos, sin).transpose(1, 2)
    k = apply_rope(torch, k.reshape(B, S, cfg.kv_heads, cfg.head_dim), cos, sin).transpose(1, 2)
    v = v.reshape(B, S, cfg.kv_heads, cfg.head_dim).transpose(1, 2)
    k = k.repeat_interleave(cfg.groups, dim=1)  # query head i reads KV head i // groups
    v = v.repeat_interleave(cfg.groups, dim=1)
    o = attention(q, k, v).transpose(1, 2).reshape(B, S, cfg.q_dim)
    attn = F.linear(o, p["Wo"])
    h = x + attn
    gate, up = F.linear(rms_norm(torch, h, p["mlp_norm"], cfg.eps), p["Wgu"].view(2 * cfg.inter, H)).chunk(2, -1)
    mlp = F.linear(F.silu(gate) * up, p["Wd"])
    return h + mlp, attn, mlp


def math_attention(torch, cfg):
    """Scores, causal mask, softmax in fp32, @ V: the reference's attention (and the stock one where
    torch has no scaled_dot_product_attention)."""
    def attention(q, k, v):
        S = q.shape[-2]
        scores = torch.matmul(q, k.transpose(-1, -2)) * cfg.scale
        mask = torch.ones(S, S, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
        return torch.matmul(torch.softmax(scores.float(), -1).to(q.dtype), v)
    return attention


def sdpa_attention(torch, F, cfg):
    if not hasattr(F, "scaled_dot_product_attention"):
        return math_attention(torch, cfg)
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)


def causal_bias(torch, cfg, batch, S, device):
    """[batch * KV heads, groups * S, S] bf16: 0 on and below the diagonal, -inf above; row g * S + s
    is query s of the g-th query head of a KV head (the rows of ksearch_layer's per-KV-head
    scores). Materialized, not broadcast: baddbmm copies its input into the result first anyway,
    and torch.compile then sees no broadcast."""
    bias = torch.full((S, S), float("-inf"), dtype=torch.float32, device=device).triu(1)
    return bias.repeat(batch * cfg.kv_heads, cfg.groups, 1).to(torch.bfloat16).contiguous()


def ksearch_layer(torch, F, ops, p, x, cos, sin, bias, cfg):
    """The layer with the ksearch ops (ops: name -> callable with the op's signature, or None for
    torch's own). Every tensor handed to an op is a fresh contiguous bf16 tensor."""
    B, S, H = x.shape
    M, D, KV, G = B * S, cfg.head_dim, cfg.kv_heads, cfg.groups
    x2 = x.reshape(M, H)
    if ops["rmsnorm_linear"]:
        qkv = ops["rmsnorm_linear"](x2, p["attn_norm"], p["Wqkv"], cfg.eps)  # [M, q + 2 kv]
    else:
        qkv = F.linear(rms_norm(torch, x2, p["attn_norm"], cfg.eps), p["Wqkv"])
    q, k, v = qkv.split([cfg.q_dim, cfg.kv_dim, cfg.kv_dim], -1)
    q = apply_rope(torch, q.reshape(B, S, cfg.heads, D), cos, sin)  # [B, S, heads, D]
    k = apply_rope(torch, k.reshape(B, S, KV, D), cos, sin)         # [B, S, KV, D]
    v = v.reshape(B, S, KV, D)
    if ops["softmax_matmul"]:
        # S = scale * Q K^T + bias per KV head, its G query heads' rows stacked: [B*KV, G*S, S],
        # which is [B*heads, S, S] with query head h = kv * G + g, rounded to bf16 once.
        qg = q.reshape(B, S, KV, G, D).permute(0, 2, 3, 1, 4).reshape(B * KV, G * S, D)
        kt = k.permute(0, 2, 1, 3).reshape(B * KV, S, D).transpose(1, 2)
        scores = torch.baddbmm(bias, qg, kt, beta=1.0, alpha=cfg.scale).reshape(B * cfg.heads, S, S)  # bias: causal_bias
        # V's KV heads expanded to the query heads: [B*heads, S, D].
        vv = v.permute(0, 2, 1, 3)[:, :, None].expand(B, KV, G, S, D).reshape(B * cfg.heads, S, D)
        o = ops["softmax_matmul"](scores, vv)  # [B*heads, S, D]
        o = o.reshape(B, cfg.heads, S, D).permute(0, 2, 1, 3).reshape(M, cfg.q_dim)
    else:
        o = sdpa_attention(torch, F, cfg)(q.transpose(1, 2), k.transpose(1, 2).repeat_interleave(G, dim=1),
                                          v.transpose(1, 2).repeat_interleave(G, dim=1))
        o = o.transpose(1, 2).reshape(M, cfg.q_dim)
    attn = ops["gemm"](o, p["Wo"]) if ops["gemm"] else F.linear(o, p["Wo"])
    h = x2 + attn
    m = rms_norm(torch, h, p["mlp_norm"], cfg.eps)
    if ops["swiglu_mlp"]:
        mlp = ops["swiglu_mlp"](m, p["Wgu"], p["Wd"])
    else:
        gate, up = F.linear(m, p["Wgu"].view(2 * cfg.inter, H)).chunk(2, -1)
        mlp = F.linear(F.silu(gate) * up, p["Wd"])
    return (h + mlp).view(B, S, H), attn.view(B, S, H), mlp.view(B, S, H)


# ---- the ops -------------------------------------------------------------------------------------

def load_ops(torch, lib_dirs):
    """task -> (callable with the op's signature, None) or (None, why it did not load)."""
    for d in reversed(lib_dirs):
        sys.path.insert(0, os.path.join(os.path.abspath(d), "python"))
    out = {}
    for task in TASKS:
        name = "ksearch_" + task
        try:
            mod = importlib.import_module(name)
            path = mod.load()._name  # loads the shared library now: a missing one is said here
            op = getattr(torch.ops.ksearch, task)
            out[task] = (op, None, path)
        except Exception as e:  # noqa: BLE001: any reason is reported, with its type
            out[task] = (None, "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""), None)
    return out


def emulated_ops(torch):
    """Plain-torch stand-ins with the ops' signatures and contracts (tasks/<task>): bf16 in and out,
    fp32 inside, and the modules' argument checks (dtype, shapes, contiguity, 16-byte alignment)."""
    def check(name, t, shape):
        assert t.dtype == torch.bfloat16, "%s: dtype %s, not bf16" % (name, t.dtype)
        assert list(t.shape) == list(shape), "%s: shape %s, expected %s" % (name, list(t.shape), list(shape))
        assert t.is_contiguous(), "%s: not contiguous (strides %s)" % (name, t.stride())
        assert t.data_ptr() % 16 == 0, "%s: data_ptr not 16-byte aligned" % name

    def rmsnorm_linear(X, gamma, W, eps):
        M, K = X.shape
        N = W.shape[0]
        check("X", X, [M, K]), check("gamma", gamma, [K]), check("W", W, [N, K])
        assert isinstance(eps, float) and eps > 0
        xf = X.float()
        y = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * gamma.float()) @ W.float().t()
        return y.to(torch.bfloat16)

    def softmax_matmul(S, V):
        B, M, N = S.shape
        D = V.shape[2]
        check("S", S, [B, M, N]), check("V", V, [B, N, D])
        return torch.matmul(torch.softmax(S.float(), -1), V.float()).to(torch.bfloat16)

    def swiglu_mlp(X, Wgu, Wd):
        M, H = X.shape
        I = Wgu.shape[1]
        check("X", X, [M, H]), check("Wgu", Wgu, [2, I, H]), check("Wd", Wd, [H, I])
        xf = X.float()
        g, u = xf @ Wgu[0].float().t(), xf @ Wgu[1].float().t()
        return ((g * torch.sigmoid(g) * u) @ Wd.float().t()).to(torch.bfloat16)

    def gemm(X, W):
        M, K = X.shape
        N = W.shape[0]
        check("X", X, [M, K]), check("W", W, [N, K])
        return (X.float() @ W.float().t()).to(torch.bfloat16)

    return {"rmsnorm_linear": rmsnorm_linear, "softmax_matmul": softmax_matmul, "swiglu_mlp": swiglu_mlp, "gemm": gemm}


# ---- measuring -----------------------------------------------------------------------------------

def rel_l2(torch, y, ref):
    y, ref = y.double(), ref.double()
    return (torch.linalg.vector_norm(y - ref) / torch.linalg.vector_norm(ref)).item()


def finite(torch, *ts):
    return all(bool(torch.isfinite(t).all()) for t in ts)


class Timer:
    def __init__(self, torch, cuda, warmup, iters, warmup_seconds):
        self.torch, self.cuda, self.warmup, self.iters = torch, cuda, warmup, iters
        self.warmup_seconds = warmup_seconds

    def __call__(self, fn):
        """Median microseconds of fn() over iters calls after warmup: CUDA events on a GPU, the
        wall clock otherwise."""
        torch = self.torch
        for _ in range(self.warmup):
            fn()
        if not self.cuda:
            times = []
            for _ in range(self.iters):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e6)
            return statistics.median(times)
        # On, for warmup_seconds at least (2 s, as `ksearch bench`): times of a GPU under sustained
        # load, whose clocks settle lower over ~2 s of heavy work after a pause (README "Timing").
        torch.cuda.synchronize()
        warm_start = time.perf_counter()
        while time.perf_counter() - warm_start < self.warmup_seconds:
            fn()
            torch.cuda.synchronize()
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(self.iters)]
        for start, end in ev:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return statistics.median(s.elapsed_time(e) for s, e in ev) * 1e3


def capture(torch, fn):
    """fn captured in a CUDA graph (after warm-up calls on a side stream, which also load the
    ops' kernels): returns (replay, outputs), the outputs refreshed by each replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = fn()
    return graph.replay, outputs


def short(e):
    text = str(e).strip().splitlines()
    return "%s: %s" % (type(e).__name__, text[0][:200] if text else "")


def main(argv=None):
    args = parse_args(argv)
    t_main = time.perf_counter()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("SKIPPED: torch is not installed; the layer test needs it")
        return SKIP
    cuda = not args.emulate
    if cuda and not torch.cuda.is_available():
        print("SKIPPED: torch %s sees no CUDA device; the layer test needs one (--emulate: a CPU dry run)" % torch.__version__)
        return SKIP
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # the reference is fp32, not TF32
        torch.backends.cudnn.allow_tf32 = False
    cfg = Config(args)
    compile_ok = cuda and not args.no_compile and hasattr(torch, "compile")
    graphs_ok = cuda and not args.no_graph

    # The ops: the exported modules, or the stand-ins.
    failures, notes = [], []
    if args.emulate:
        ops = {t: f for t, f in emulated_ops(torch).items()}
        op_source = {t: "emulated (plain torch)" for t in TASKS}
    else:
        loaded = load_ops(torch, args.lib_dir)
        ops, op_source = {}, {}
        for t in TASKS:
            op, why, path = loaded[t]
            ops[t] = op
            op_source[t] = ("ksearch (%s)" % path) if op else "torch (%s)" % why
            if not op and t in args.require:
                failures.append("ksearch::%s did not load: %s" % (t, why))
    for t in args.torch_ops:
        ops[t], op_source[t] = None, "torch (--torch-ops)"
    device_name = torch.cuda.get_device_name(device) if cuda else "CPU (--emulate)"
    print("layer: %s; batch %d, bf16, seq %s; on %s, torch %s" % (cfg.text(), args.batch, " ".join(map(str, args.seq)),
                                                                 device_name, torch.__version__))
    for t in TASKS:
        print("  %-15s %s" % (t, op_source[t]))
    if failures:
        for f in failures:
            print("FAILED: " + f)
        print("(give each export folder with --lib-dir, or --require none to run the missing ops with torch)")
        return 1

    p = make_params(torch, cfg, args.seed, device, args.init_std)
    p32 = {k: v.float() for k, v in p.items()}
    timer = Timer(torch, cuda, args.warmup, args.iters, args.warmup_seconds)
    stock_attn = sdpa_attention(torch, F, cfg)
    ref_attn = math_attention(torch, cfg)
    kernel_ops = {t: ops[t] for t in TASKS}

    def stock(x, cos, sin):
        return stock_layer(torch, F, p, x, cos, sin, cfg, stock_attn)

    def ks(x, cos, sin, bias):
        return ksearch_layer(torch, F, kernel_ops, p, x, cos, sin, bias, cfg)

    compiled_stock = compiled_ks = None
    if compile_ok:
        compiled_stock = torch.compile(stock, dynamic=False, fullgraph=True)
        compiled_ks = torch.compile(ks, dynamic=False, fullgraph=True)

    results = []   # one row per (seq, variant)
    op_rows = []   # one row per (seq, op)
    for S in args.seq:
        gen = torch.Generator(device=device)
        gen.manual_seed(args.seed + 1000 + S)
        x = torch.randn(args.batch, S, cfg.hidden, generator=gen, device=device, dtype=torch.float32).to(torch.bfloat16)
        cos, sin = rope_tables(torch, S, cfg.head_dim, cfg.theta, device)
        bias = causal_bias(torch, cfg, args.batch, S, device)
        with torch.no_grad():
            ref = stock_layer(torch, F, p32, x.float(), cos, sin, cfg, ref_attn)
        ref_delta = ref[0] - x.float()
        row_of = {}

        def record(variant, outs=None, us=None, error=None, extra=None):
            r = {"seq": S, "variant": variant, "us": us, "error": error}
            if outs is not None:
                out, attn, mlp = outs
                r.update(finite=finite(torch, out, attn, mlp), rel_l2_out=rel_l2(torch, out, ref[0]),
                         rel_l2_delta=rel_l2(torch, out.float() - x.float(), ref_delta),
                         rel_l2_attn=rel_l2(torch, attn, ref[1]), rel_l2_mlp=rel_l2(torch, mlp, ref[2]))
            if extra:
                r.update(extra)
            # As it goes, so that a run cut short by a time limit still says what it measured.
            print("seq %d %s: %s" % (S, variant, error if error else "rel L2 out %.2e, delta %.2e, attn %.2e, mlp %.2e, %s, %.1f us"
                                     % (r["rel_l2_out"], r["rel_l2_delta"], r["rel_l2_attn"], r["rel_l2_mlp"],
                                        "finite" if r["finite"] else "NaN/Inf", us)), flush=True)
            results.append(r)
            row_of[variant] = r
            return r

        def attempt(variant, run, time_fn=None, extra=None):
            """run() -> outputs; time_fn: what to time (default run). An exception is recorded."""
            try:
                with torch.no_grad():
                    t0 = time.perf_counter()
                    outs = run()
                    if cuda:
                        torch.cuda.synchronize()
                    first_s = time.perf_counter() - t0
                    outs = tuple(o.clone() for o in outs)  # graph outputs change with each replay
                    us = timer(time_fn or run)
                e = dict(extra or {})
                e["first_call_s"] = first_s
                return record(variant, outs, us, extra=e)
            except Exception as e:  # noqa: BLE001: reported in the table, judged below
                traceback.print_exc()
                return record(variant, error=short(e))

        attempt("stock eager", lambda: stock(x, cos, sin))
        attempt("ksearch eager", lambda: ks(x, cos, sin, bias))
        if graphs_ok:
            for name, fn in (("stock graph", lambda: stock(x, cos, sin)), ("ksearch graph", lambda: ks(x, cos, sin, bias))):
                def run_graph(fn=fn):
                    with torch.no_grad():
                        replay, outs = capture(torch, fn)
                    replay()
                    run_graph.replay, run_graph.outs = replay, outs
                    return outs
                r = attempt(name, run_graph, time_fn=lambda: run_graph.replay())
                if r.get("error") is None and name == "ksearch graph":
                    # The replay on the same input again: the same bits, unless a kernel is not deterministic.
                    eager = ks(x, cos, sin, bias)[0]
                    r["graph_equals_eager_bitwise"] = bool(torch.equal(run_graph.outs[0], eager))
        if compile_ok:
            # The ops' compile first: where the time budget runs short, it is the one that counts.
            for name, fn in (("ksearch compile", lambda: compiled_ks(x, cos, sin, bias)),
                             ("stock compile", lambda: compiled_stock(x, cos, sin))):
                if args.time_budget and time.perf_counter() - t_main > args.time_budget - 60:
                    notes.append("seq %d: %s skipped: less than 60 s of the --time-budget %g s left (a compile takes"
                                 " tens of seconds)" % (S, name, args.time_budget))
                    continue
                attempt(name, fn)
                if graphs_ok and row_of[name].get("error") is None:
                    def run_cgraph(fn=fn):
                        replay, outs = capture(torch, fn)
                        replay()
                        run_cgraph.replay = replay
                        return outs
                    attempt(name + "+graph", run_cgraph, time_fn=lambda: run_cgraph.replay())

        # Each op against its unfused torch equivalent, on this layer's tensors.
        with torch.no_grad():
            M, H, D = args.batch * S, cfg.hidden, cfg.head_dim
            xm = x.reshape(M, H)
            hq = torch.randn(args.batch * cfg.heads, S, D, generator=gen, device=device).to(torch.bfloat16)
            # bias[:1, :S]: the causal mask of one head, [1, S, S].
            scores = torch.baddbmm(bias[:1, :S], hq, hq.transpose(1, 2), beta=1.0, alpha=cfg.scale)
            vv = torch.randn(args.batch * cfg.heads, S, D, generator=gen, device=device).to(torch.bfloat16)
            att_o = torch.randn(M, cfg.q_dim, generator=gen, device=device).to(torch.bfloat16)
            pairs = [
                ("rmsnorm_linear", "M=%d,K=%d,N=%d" % (M, H, cfg.q_dim + 2 * cfg.kv_dim),
                 lambda: kernel_ops["rmsnorm_linear"](xm, p["attn_norm"], p["Wqkv"], cfg.eps),
                 lambda: F.linear(rms_norm(torch, xm, p["attn_norm"], cfg.eps), p["Wqkv"])),
                ("softmax_matmul", "B=%d,M=%d,N=%d,D=%d" % (args.batch * cfg.heads, S, S, D),
                 lambda: kernel_ops["softmax_matmul"](scores, vv),
                 lambda: torch.bmm(torch.softmax(scores, -1, dtype=torch.float32).to(torch.bfloat16), vv)),
                ("swiglu_mlp", "M=%d,H=%d,I=%d" % (M, H, cfg.inter),
                 lambda: kernel_ops["swiglu_mlp"](xm, p["Wgu"], p["Wd"]),
                 lambda: (lambda gu: F.linear(F.silu(gu[0]) * gu[1], p["Wd"]))(
                     F.linear(xm, p["Wgu"].view(2 * cfg.inter, H)).chunk(2, -1))),
                ("gemm", "M=%d,K=%d,N=%d" % (M, cfg.q_dim, H),
                 lambda: kernel_ops["gemm"](att_o, p["Wo"]),
                 lambda: F.linear(att_o, p["Wo"])),
            ]
            for task, shape, op_fn, torch_fn in pairs:
                r = {"seq": S, "op": task, "shape": shape, "torch_us": timer(torch_fn), "op_us": None, "rel_diff": None}
                if kernel_ops[task]:
                    try:
                        a, b = op_fn(), torch_fn()
                        r["rel_diff"] = rel_l2(torch, a, b)
                        r["finite"] = finite(torch, a)
                        r["op_us"] = timer(op_fn)
                    except Exception as e:  # noqa: BLE001
                        traceback.print_exc()
                        r["error"] = short(e)
                if args.op_compile and compile_ok and not (
                        args.time_budget and time.perf_counter() - t_main > args.time_budget - 60):
                    try:
                        r["torch_compile_us"] = timer(torch.compile(torch_fn, dynamic=False))
                    except Exception as e:  # noqa: BLE001: torch's own path; reported, not judged
                        r["torch_compile_error"] = short(e)
                op_rows.append(r)

        # The checks.
        b = row_of["stock eager"]
        for variant in ("ksearch eager", "ksearch graph", "ksearch compile", "ksearch compile+graph"):
            r = row_of.get(variant)
            if r is None:
                continue
            stock_twin = row_of.get(variant.replace("ksearch", "stock"))
            if r["error"] is not None:
                if stock_twin is not None and stock_twin["error"] is not None:
                    notes.append("seq %d: %s and %s both failed (%s): torch's problem here, not the ops'"
                                 % (S, variant, stock_twin["variant"], stock_twin["error"]))
                else:
                    failures.append("seq %d: %s raised %s" % (S, variant, r["error"]))
                continue
            if b.get("error") is not None:
                failures.append("seq %d: stock eager failed (%s): nothing to compare with" % (S, b["error"]))
                continue
            bad = []
            if not r["finite"]:
                bad.append("NaN or Inf in the output")
            for key in ("rel_l2_out", "rel_l2_delta", "rel_l2_attn", "rel_l2_mlp"):
                limit = args.factor * b[key] + args.abs
                r[key + "_limit"] = limit
                if not r[key] <= limit:
                    bad.append("%s %.3g > %.3g (= %g x stock's %.3g + %g)" % (key, r[key], limit, args.factor, b[key], args.abs))
            r["passed"] = not bad
            if bad:
                failures.append("seq %d: %s: %s" % (S, variant, "; ".join(bad)))
        for r in op_rows:
            if r["seq"] == S and r.get("error"):
                failures.append("seq %d: op %s raised %s" % (S, r["op"], r["error"]))
            elif r["seq"] == S and r.get("finite") is False:
                failures.append("seq %d: op %s returned NaN or Inf" % (S, r["op"]))

    # The tables, last.
    def f(v, fmt):
        return "-" if v is None else fmt % v

    lines = ["", "## Llama layer: %s; batch %d, bf16, on %s" % (cfg.text(), args.batch, device_name),
             "ops: " + ", ".join("%s=%s" % (t, "ksearch" if kernel_ops[t] else "torch") for t in TASKS)
             + ("  (EMULATED: plain-torch stand-ins, not the library)" if args.emulate else ""),
             "errors: relative L2 against the fp32 reference; delta = output - input; us: median of %d calls after %d"
             % (args.iters, args.warmup), "",
             "| seq | variant | rel L2 out | rel L2 delta | rel L2 attn | rel L2 mlp | finite | median us | vs stock eager | first call s | check |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        base = next((x for x in results if x["seq"] == r["seq"] and x["variant"] == "stock eager"), {})
        speed = f(base["us"] / r["us"], "%.2fx") if base.get("us") and r.get("us") else "-"
        check = r.get("error") or ("ok" if r.get("passed") else "FAILED" if "passed" in r else "")
        lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["seq"], r["variant"], f(r.get("rel_l2_out"), "%.2e"), f(r.get("rel_l2_delta"), "%.2e"),
            f(r.get("rel_l2_attn"), "%.2e"), f(r.get("rel_l2_mlp"), "%.2e"),
            "-" if "finite" not in r else ("yes" if r["finite"] else "NO"), f(r.get("us"), "%.1f"), speed,
            f(r.get("first_call_s"), "%.2f"), check))
    lines += ["", "| seq | op | shape | ksearch us | torch eager us | torch / ksearch | torch.compile us | rel L2 vs torch |",
              "|---|---|---|---|---|---|---|---|"]
    for r in op_rows:
        lines.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
            r["seq"], r["op"], r["shape"], r.get("error") or f(r["op_us"], "%.1f"), f(r["torch_us"], "%.1f"),
            f(r["torch_us"] / r["op_us"], "%.2fx") if r["op_us"] else "-",
            r.get("torch_compile_error") or f(r.get("torch_compile_us"), "%.1f"), f(r["rel_diff"], "%.2e")))
    graph_bits = [r for r in results if "graph_equals_eager_bitwise" in r]
    for r in graph_bits:
        lines.append("seq %d: ksearch graph replay %s eager bit for bit" % (r["seq"], "equals" if r["graph_equals_eager_bitwise"] else "differs from"))
    for n in notes:
        lines.append("note: " + n)
    for fl in failures:
        lines.append("FAILED: " + fl)
    lines.append("layer test: " + ("FAILED (%d)" % len(failures) if failures else "passed")
                 + (" (emulated ops: the glue only)" if args.emulate else ""))
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": device_name, "torch": torch.__version__, "config": vars(cfg), "batch": args.batch,
                       "ops": op_source, "emulated": args.emulate, "rows": results, "op_rows": op_rows,
                       "notes": notes, "failures": failures}, fh, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
