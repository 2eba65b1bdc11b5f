"""Per-call cost of a loss in a small training step: losslab.torch's modules beside torch.nn's.

Run:  python benchmarks/bench_percall.py [--rounds 15] [--calls 2000]

Forward + backward of one loss module on small CPU tensors (64 x 10 logits,
256 values), one thread, in one process. Each round times ``--calls`` calls
of every implementation back to back (alternating which goes first), and the
table reports the median over rounds of each time and of the per-round
ratio, so that a machine whose load drifts affects both sides alike. The
module is built once, as in a training loop; the input requires grad and its
``.grad`` is reset to None before each call.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import losslab
import losslab.torch as LT


def cases():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 10, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)
    p, t = torch.randn(256, generator=g), torch.randn(256, generator=g)
    b = torch.randint(0, 2, (256,), generator=g).float()
    return {
        "CrossEntropyLoss 64x10": (LT.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), z, y),
        "MSELoss 256": (LT.MSELoss(), torch.nn.MSELoss(), p, t),
        "BCEWithLogitsLoss 256": (LT.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), p, b),
    }


def step_fn(module, x, target):
    x = x.clone().requires_grad_(True)

    def step():
        x.grad = None
        module(x, target).backward()

    return step


def timed(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__} (1 thread), losslab {losslab.__version__}\n"
    )
    print("| case | losslab.torch us | torch.nn us | ratio (median of rounds) |")
    print("|---|---:|---:|---:|")
    for name, (ours, theirs, x, target) in cases().items():
        a, b = step_fn(ours, x, target), step_fn(theirs, x, target)
        with torch.no_grad():
            torch.testing.assert_close(ours(x, target), theirs(x, target))
        timed(a, args.calls // 4), timed(b, args.calls // 4)  # warm-up
        ta, tb, ratios = [], [], []
        for r in range(args.rounds):
            first, second = (a, b) if r % 2 == 0 else (b, a)
            t1, t2 = timed(first, args.calls), timed(second, args.calls)
            x_a, x_b = (t1, t2) if r % 2 == 0 else (t2, t1)
            ta.append(x_a), tb.append(x_b), ratios.append(x_a / x_b)
        print(
            f"| {name} | {statistics.median(ta) * 1e6:.1f} | {statistics.median(tb) * 1e6:.1f} "
            f"| {statistics.median(ratios):.2f}x |"
        )


if __name__ == "__main__":
    main()
