"""Cross-entropy at the memory floor: losslab's fused kernel beside torch and the floor, one run.

Run:  python benchmarks/bench_ce.py [--n 4096] [--v 32000] [--h 1024] [--repeat 5] [--only NAME ...]

Each implementation runs in its own fresh process (so that one's freed pages
and allocator state cannot help or hurt the next), on the same seeded
float32 inputs: logits N x V for cross-entropy, hidden N x H and weight V x H
for linear + cross-entropy. Time: the best of ``--repeat`` runs after one
warm-up, the inputs rebuilt outside the timer. Memory: the peak resident
set during one run above the resident set before it (Linux: VmHWM after
``clear_refs``), so the inputs themselves do not count, the gradients do.

The floor is physics, measured in the same run: a copy of the logits into a
warm buffer (one read, one write) and into a fresh array (the page faults of
a new 500 MiB array cost more than the arithmetic on this machine).

"Intermediate" logits are what a training step has: the output of an
autograd op that no Python name holds, handed straight to the loss
(``loss_fn(head(x), y)``); here the op is a copy whose backward costs
nothing, made outside the timer, so the row times the loss alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CE = [
    "copy into a warm buffer (floor: one read, one write)",
    "fresh copy of the logits (np.array(z))",
    "losslab numpy cross_entropy_and_grad(out=z)",
    "losslab numpy cross_entropy_and_grad (fresh gradient)",
    "losslab numpy cross_entropy + grad.cross_entropy",
    "torch z.clone() (fresh copy)",
    "losslab torch cross_entropy_and_grad(out=z)",
    "losslab torch cross_entropy + backward (leaf)",
    "torch F.cross_entropy + backward (leaf)",
    "losslab torch cross_entropy + backward (intermediate)",
    "torch F.cross_entropy + backward (intermediate)",
    "torch.compile(F.cross_entropy) + backward (intermediate)",
]
LINEAR = [
    "torch reference F.linear + F.cross_entropy + backward",
    "torch F.linear_cross_entropy (chunked options) + backward",
    "losslab torch linear_cross_entropy + backward",
    "losslab numpy linear_cross_entropy_and_grad",
]
SLOW = {"torch.compile(F.cross_entropy) + backward (intermediate)"}


def _rss() -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes."""
    vals = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                vals[line.split(":")[0]] = int(line.split()[1]) * 1024
    return vals["VmRSS"], vals["VmHWM"]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _measure(setup, run, repeat: int) -> dict:
    times, peaks = [], []
    for i in range(repeat + 1):
        state = setup()
        _reset_peak()
        before = _rss()[0]
        t0 = time.perf_counter()
        run(state)
        dt = time.perf_counter() - t0
        peaks.append(_rss()[1] - before)
        del state
        if i:  # the first run warms up
            times.append(dt)
    return {"ms": 1e3 * min(times), "mib": max(0, min(peaks[1:])) / 2**20}


def _child(name: str, n: int, v: int, h: int, repeat: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, v, n)
    if name in LINEAR:
        return _linear(name, rng, y, n, v, h, repeat)
    z0 = rng.standard_normal((n, v), dtype=np.float32)
    import losslab

    if name.startswith("copy into"):
        warm = np.empty_like(z0)
        np.copyto(warm, z0)
        return _measure(lambda: None, lambda s: np.copyto(warm, z0), repeat)
    if name.startswith("fresh copy"):
        return _measure(lambda: None, lambda s: np.array(z0), repeat)
    if name.startswith("losslab numpy"):
        if "out=z" in name:
            return _measure(lambda: np.array(z0), lambda z: losslab.cross_entropy_and_grad(z, y, out=z), repeat)
        if "fresh" in name:
            return _measure(lambda: None, lambda s: losslab.cross_entropy_and_grad(z0, y), repeat)
        return _measure(
            lambda: None, lambda s: (losslab.cross_entropy(z0, y), losslab.grad.cross_entropy(z0, y)), repeat
        )
    import torch
    import torch.nn.functional as F

    zt0, yt = torch.from_numpy(z0), torch.from_numpy(y)
    if name.startswith("torch z.clone"):
        return _measure(lambda: None, lambda s: zt0.clone(), repeat)
    if "cross_entropy_and_grad" in name:
        return _measure(lambda: zt0.clone(), lambda z: losslab.cross_entropy_and_grad(z, yt, out=z), repeat)
    loss_fn = losslab.cross_entropy if name.startswith("losslab") else F.cross_entropy
    if name.startswith("torch.compile"):
        loss_fn = torch.compile(F.cross_entropy)
    if "(leaf)" in name:

        def leaf():
            return zt0.clone().requires_grad_(True)

        def step(z):
            loss_fn(z, yt).backward()

        return _measure(leaf, step, repeat)

    class Head(torch.autograd.Function):  # a producer whose backward costs nothing
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return None

    base = zt0.clone().requires_grad_(True)

    def intermediate():
        return [Head.apply(base)]

    def step_i(box):
        loss_fn(box.pop(), yt).backward()  # pop: the loss gets the only reference, as in loss_fn(head(x), y)

    return _measure(intermediate, step_i, repeat)


def _linear(name, rng, y, n, v, h, repeat):
    import numpy as np

    x0 = rng.standard_normal((n, h), dtype=np.float32)
    w0 = (rng.standard_normal((v, h), dtype=np.float32) / np.sqrt(h)).astype(np.float32)
    import losslab

    if "numpy" in name:
        return _measure(lambda: None, lambda s: losslab.linear_cross_entropy_and_grad(x0, w0, y), repeat)
    import torch
    import torch.nn.functional as F

    yt = torch.from_numpy(y)

    def leaves():
        return torch.from_numpy(x0).clone().requires_grad_(True), torch.from_numpy(w0).clone().requires_grad_(True)

    if name.startswith("losslab"):

        def step(s):
            losslab.linear_cross_entropy(s[0], s[1], yt).backward()
    elif "linear_cross_entropy" in name:
        if not hasattr(F, "linear_cross_entropy"):
            return {"skip": "torch has no F.linear_cross_entropy"}
        opts = {}
        if hasattr(torch.nn, "LinearCrossEntropyOptions"):
            opts["options"] = torch.nn.LinearCrossEntropyOptions()  # the chunked path; None is the reference

        def step(s):
            F.linear_cross_entropy(s[0], s[1], yt, **opts).backward()
    else:

        def step(s):
            F.cross_entropy(F.linear(s[0], s[1]), yt).backward()

    return _measure(leaves, step, repeat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--v", type=int, default=32000)
    ap.add_argument("--h", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--linear-repeat", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="substrings of the implementations to run")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (a minute of compiling)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        rep = a.linear_repeat if a.child in LINEAR else a.repeat
        print(json.dumps(_child(a.child, a.n, a.v, a.h, rep)))
        return
    names = [x for x in CE + LINEAR if not a.only or any(s in x for s in a.only)]
    if a.no_compile:
        names = [x for x in names if x not in SLOW]
    results = {}
    for name in names:
        cmd = [sys.executable, __file__, "--child", name, "--n", str(a.n), "--v", str(a.v), "--h", str(a.h),
               "--repeat", str(a.repeat), "--linear-repeat", str(a.linear_repeat)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if out.returncode:
            results[name] = {"skip": out.stderr.strip().splitlines()[-1] if out.stderr else f"rc {out.returncode}"}
        else:
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, results[name], file=sys.stderr, flush=True)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for title, group, floor_key in (
        (f"cross-entropy fwd+bwd, {a.n} x {a.v} float32", CE, CE[0]),
        (f"linear + cross-entropy fwd+bwd, N={a.n} H={a.h} V={a.v} float32", LINEAR, LINEAR[0]),
    ):
        rows = [x for x in group if x in results]
        if not rows:
            continue
        ref = results.get(floor_key, {}).get("ms")
        print(
            f"\n### {title}\n\n| implementation | ms | extra MiB | time / {'floor' if group is CE else 'reference'} |"
        )
        print("|---|---:|---:|---:|")
        for x in rows:
            r = results[x]
            if "skip" in r:
                print(f"| {x} | - | - | {r['skip']} |")
            else:
                ratio = f"{r['ms'] / ref:.2f}x" if ref else "-"
                print(f"| {x} | {r['ms']:.0f} | {r['mib']:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
