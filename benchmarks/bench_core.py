"""losslab beside its peers, in one process: median time and peak extra memory, as ratios.

Run:  python benchmarks/bench_core.py [--quick] [--out BENCHMARKS-table.md]

Each case times every implementation on the same inputs, in this process
with the ordinary allocator, after one warm-up call: the median of
``--repeat`` runs. Peak memory is measured apart, one child process per
implementation, started with a fixed glibc mmap threshold so that every
temporary above 64 KiB shows in the resident set: the peak the call adds
above what was resident before it (VmHWM reset through
/proc/self/clear_refs), which sees NumPy, PyTorch and BLAS allocations
alike. Values are checked to agree before anything is timed. The floor is one read of the inputs and one write of the
outputs at the memory bandwidth measured here by a large array copy.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import losslab


# ----------------------------------------------------------------- measuring
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: imports, lazy allocations
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times)


def peak_extra_mib(fn: Callable[[], object]) -> float:
    """Peak resident memory one call adds, in MiB (NaN where /proc cannot reset the peak)."""
    fn()
    gc.collect()
    if not _reset_peak():
        return float("nan")
    before = _status_kib("VmRSS")
    out = fn()
    peak = _status_kib("VmHWM")
    del out
    return max(peak - before, 0) / 1024


def bandwidth_gbs() -> float:
    """Copy bandwidth (read + write bytes per second) on 256 MiB arrays."""
    a = np.ones(32 * 2**20)
    b = np.empty_like(a)
    np.copyto(b, a)
    best = min(_time(lambda: np.copyto(b, a)) for _ in range(5))
    return 2 * a.nbytes / best / 1e9


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass
class Row:
    case: str
    impl: str
    seconds: float
    peak_mib: float


@dataclass
class Case:
    name: str
    floor_bytes: int  # one read of the inputs and one write of the outputs
    impls: dict[str, Callable[[], object]]


# --------------------------------------------------------------------- cases
def case_cross_entropy(quick: bool) -> Case:
    import torch
    import torch.nn.functional as F

    n, c = (512, 32000) if quick else (4096, 32000)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, c), dtype=np.float32)
    y = rng.integers(0, c, n)
    zt, yt = torch.from_numpy(z), torch.from_numpy(y)

    def ours_np():
        return losslab.cross_entropy(z, y), losslab.grad.cross_entropy(z, y)

    def ours_torch():
        return losslab.cross_entropy(zt, yt), losslab.grad.cross_entropy(zt, yt)

    def torch_eager():
        a = zt.detach().requires_grad_()
        loss = F.cross_entropy(a, yt)
        loss.backward()
        return loss.detach(), a.grad

    ref_loss, ref_grad = torch_eager()
    for impl in (ours_np, ours_torch):
        loss, g = impl()
        assert abs(float(loss) - float(ref_loss)) < 1e-4 * abs(float(ref_loss)), impl.__name__
        assert float(np.max(np.abs(np.asarray(g) - ref_grad.numpy()))) < 1e-6, impl.__name__
    impls = {"losslab (numpy)": ours_np, "losslab (torch)": ours_torch, "torch.nn.functional": torch_eager}
    return Case(f"cross_entropy fwd+bwd {n}x{c} float32", 2 * z.nbytes, impls)


def _probs_and_labels(quick: bool):
    """The scoring cases' input: (n, C) Dirichlet probabilities and uniform labels, 1,000,000 x 10."""
    n, c = (100_000, 10) if quick else (1_000_000, 10)
    rng = np.random.default_rng(0)
    return n, c, rng.dirichlet(np.ones(c), size=n), rng.integers(0, c, n)


def case_log_loss(quick: bool) -> Case:
    from sklearn.metrics import log_loss as sk_log_loss

    n, c, p, y = _probs_and_labels(quick)
    labels = np.arange(c)
    ours, ref = losslab.log_loss(p, y), sk_log_loss(y, p, labels=labels)
    assert abs(float(ours) - ref) < 1e-12 * ref
    impls = {
        "losslab (numpy)": lambda: losslab.log_loss(p, y),
        "sklearn.metrics": lambda: sk_log_loss(y, p, labels=labels),
    }
    return Case(f"log_loss {n}x{c} float64, validation included", p.nbytes + y.nbytes, impls)


def case_brier(quick: bool) -> Case:
    from sklearn.metrics import brier_score_loss

    n, c, p, y = _probs_and_labels(quick)
    labels = np.arange(c)
    # multiclass Brier: sum over classes, mean over samples (scale_by_half=False is that form in sklearn)
    ours, ref = losslab.brier_score(p, y), brier_score_loss(y, p, labels=labels, scale_by_half=False)
    assert abs(float(ours) - ref) < 1e-12 * ref
    impls = {
        "losslab (numpy)": lambda: losslab.brier_score(p, y),
        "sklearn.metrics": lambda: brier_score_loss(y, p, labels=labels, scale_by_half=False),
    }
    return Case(f"brier_score {n}x{c} float64, validation included", p.nbytes + y.nbytes, impls)


def case_ece(quick: bool) -> Case:
    import torch
    from torchmetrics.classification import MulticlassCalibrationError

    from losslab.calibration import ece

    # scikit-learn has no ECE (calibration_curve is binary-only, bins (lo, hi]), so it is not timed.
    n, c, p, y = _probs_and_labels(quick)
    pt, yt = torch.from_numpy(p), torch.from_numpy(y)
    metric = MulticlassCalibrationError(num_classes=c, n_bins=15, norm="l1")

    def tm():
        metric.reset()
        metric.update(pt, yt)
        return metric.compute()

    # torchmetrics bins float32 confidences (`.float()` in its update): agreement to ~1e-5, not 1e-12.
    assert abs(ece(p, y) - float(tm())) < 1e-5
    impls = {"losslab (numpy)": lambda: ece(p, y), "torchmetrics": tm}
    return Case(f"ece top-label 15 bins {n}x{c} float64, validation included", p.nbytes + y.nbytes, impls)


def case_mse(quick: bool) -> Case:
    import torch
    import torch.nn.functional as F
    from sklearn.metrics import mean_squared_error

    n = 10**6 if quick else 10**7
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    at, bt = torch.from_numpy(a), torch.from_numpy(b)
    ref = mean_squared_error(b, a)
    assert abs(float(losslab.mse(a, b)) - ref) < 1e-12 * ref
    assert abs(float(losslab.mse(at, bt)) - ref) < 1e-12 * ref
    impls = {
        "losslab (numpy)": lambda: losslab.mse(a, b),
        "sklearn.metrics": lambda: mean_squared_error(b, a),
        "losslab (torch)": lambda: losslab.mse(at, bt),
        "torch.nn.functional": lambda: F.mse_loss(at, bt),
    }
    return Case(f"mse {n:.0e} float64", a.nbytes + b.nbytes, impls)


# Order matters on a small machine: PyTorch's OpenMP workers spin for a while after a
# parallel region and take a core from single-threaded NumPy code that follows (measured:
# log_loss 12.0 ms alone, 16.7 ms right after a torch op, on 2 cores). So the case without
# torch runs first, and within a case every NumPy-only implementation runs before torch.
CASES = {
    "log_loss": case_log_loss,
    "brier": case_brier,
    "ece": case_ece,
    "mse": case_mse,
    "cross_entropy": case_cross_entropy,
}


def memory_in_child(case: str, impl: str, quick: bool) -> float:
    """Run one implementation in a fresh process with a fixed mmap threshold; its peak MiB."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--memory-of", case, impl] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


# -------------------------------------------------------------------- report
def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), losslab {losslab.__version__}"
    )


def table(rows: list[Row], floors: dict[str, float], gbs: float) -> str:
    out = [
        "| case | implementation | median ms | peak extra MiB | time / losslab (numpy) | floor ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case in dict.fromkeys(r.case for r in rows):
        group = [r for r in rows if r.case == case]
        base = next(r for r in group if r.impl == "losslab (numpy)")
        floor_ms = floors[case] / (gbs * 1e9) * 1e3
        for r in group:
            out.append(
                f"| {case} | {r.impl} | {r.seconds * 1e3:.1f} | {r.peak_mib:.0f} | "
                f"{r.seconds / base.seconds:.2f}x | {floor_ms:.1f} |"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--memory-of", nargs=2, metavar=("CASE", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:  # child: print one number
        case, impl = args.memory_of
        print(peak_extra_mib(CASES[case](args.quick).impls[impl]))
        return
    rows: list[Row] = []
    floors: dict[str, float] = {}
    for key, build in CASES.items():
        case = build(args.quick)
        floors[case.name] = case.floor_bytes
        for impl, fn in case.impls.items():
            seconds = median_seconds(fn, args.repeat)
            rows.append(Row(case.name, impl, seconds, memory_in_child(key, impl, args.quick)))
        del case
        gc.collect()
    gbs = bandwidth_gbs()
    text = f"Machine: {machine()}; measured copy bandwidth {gbs:.1f} GB/s.\n\n{table(rows, floors, gbs)}\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
