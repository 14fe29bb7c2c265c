"""Time PyTorch's CPU optimizer steps, to compare with signfree's `Optimizer::step`.

For each size n (f32 elements) and each thread count t (torch.set_num_threads),
it times, in one process:

  adamw_fused    torch.optim.AdamW(fused=True) step, one parameter of n elements
  adamw_foreach  torch.optim.AdamW(foreach=True) step (PyTorch's default CPU path)
  sign_step      the idiomatic sign step  p.add_(g.sign(), alpha=-lr)  under no_grad
  roofline       x.add_(g, alpha=s), the same-run memory-bandwidth reference

lr 1e-3, default betas, weight_decay 0.01; p.grad is a fixed N(0,1) tensor.
Each timing repeats the call until it lasts >= 20 ms and takes the per-call time;
the reported figure is the median of 9 timings, taken round-robin over the cases
so that drift hits all of them alike. GB/s uses the minimal traffic per element:
AdamW 28 bytes (read p,g,m,v; write p,m,v), sign step and roofline 12 bytes
(read x,g; write x). "vs roof" is GB/s divided by the same run's roofline GB/s.

Run:  python3 tools/torch_step.py --sizes 16M --threads 1,2
      python3 tools/torch_step.py --sizes 1M,16M,128M --threads 1,2 --reps 9
"""
import argparse
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

LR, WD = 1e-3, 0.01
BYTES = {"adamw_fused": 28, "adamw_foreach": 28, "sign_step": 12, "roofline": 12}


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(s[-1:], 1)
    return int(s[:-1] if s[-1:] in "KMG" else s) * mult


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def make_cases(n, gen):
    """Build one closure per case; each case owns its tensors and optimizer state."""
    grad = torch.randn(n, generator=gen)
    cases = {}
    for name, kw in (("adamw_fused", {"fused": True}), ("adamw_foreach", {"foreach": True})):
        p = torch.nn.Parameter(torch.randn(n, generator=gen) * 0.02)
        p.grad = grad.clone()
        opt = torch.optim.AdamW([p], lr=LR, weight_decay=WD, **kw)
        cases[name] = opt.step
    x_sign = torch.randn(n, generator=gen) * 0.02
    g_sign = grad.clone()

    def sign_step():
        with torch.no_grad():
            x_sign.add_(g_sign.sign(), alpha=-LR)

    x_roof = torch.randn(n, generator=gen) * 0.02
    g_roof = grad.clone()

    def roofline():
        x_roof.add_(g_roof, alpha=-1e-6)

    cases["sign_step"] = sign_step
    cases["roofline"] = roofline
    return cases


class _SeenOps(TorchDispatchMode):
    """Records the names of the aten ops dispatched while active."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


def check_fused(cases):
    """Run one fused step under a dispatch recorder; return the fused aten op seen (or None)."""
    with _SeenOps() as rec:
        cases["adamw_fused"]()
    return next((op for op in ("_fused_adamw_", "_fused_adam_") if op in rec.seen), None)


def time_once(fn, min_s):
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return dt / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="16M", help="comma list, e.g. 1M,16M,128M")
    ap.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    ap.add_argument("--reps", type=int, default=9, help="timings per case (median taken)")
    ap.add_argument("--min-ms", type=float, default=20.0, help="minimum length of one timing")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls per case first")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    print(f"# torch {torch.__version__} | cpu: {cpu_model()} | "
          f"capability {torch.backends.cpu.get_cpu_capability()} | "
          f"reps {args.reps}, >= {args.min_ms:g} ms per timing, median reported")
    hdr = f"{'case':<14} {'n':>10} {'thr':>3} {'ms/step':>9} {'GB/s':>7} {'vs roof':>7} {'spread':>7}"
    print(hdr)
    print("-" * len(hdr))
    gen = torch.Generator().manual_seed(0)
    for n in sizes:
        cases = make_cases(n, gen)
        for t in threads:
            torch.set_num_threads(t)
            for fn in cases.values():
                for _ in range(args.warmup):
                    fn()
            fused_op = check_fused(cases)
            samples = {name: [] for name in cases}
            for _ in range(args.reps):
                for name, fn in cases.items():
                    samples[name].append(time_once(fn, args.min_ms / 1e3))
            med = {k: statistics.median(v) for k, v in samples.items()}
            gbs = {k: BYTES[k] * n / med[k] / 1e9 for k in cases}
            for k in cases:
                spread = (max(samples[k]) - min(samples[k])) / med[k] * 100
                print(f"{k:<14} {n:>10} {t:>3} {med[k] * 1e3:>9.3f} {gbs[k]:>7.2f} "
                      f"{gbs[k] / gbs['roofline']:>7.3f} {spread:>6.1f}%")
            print(f"# n={n} threads={t}: fused aten op dispatched: {fused_op or 'NO'}")
        del cases


if __name__ == "__main__":
    main()
