"""Claim 4's measurement: the escape time of planted confident mistakes, and the claim's own planted controls.

Kept apart from the claim's report code so that claim 5's planted control can
reuse the planted start without importing the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import protocol
from ..context import Context
from ..rules import claim_rules
from ..verdicts import decide

RULES = claim_rules("saturation")
P = RULES.params

__all__ = ["escape_time", "escape_times", "own_controls", "saturation_base"]


def saturation_base() -> dict[str, Any]:
    """The shared run settings of claim 4's comparisons: every run lasts exactly the declared epochs.

    Patience equals the epoch budget, so early stopping never cuts a run short of the window the
    escape time sums over (a run stuck at its epoch-0 accuracy stops exactly at the last epoch).
    """
    k = int(P["epochs"])
    return {"model": P["model"], "hidden": P["hidden"], "epochs": k, "patience": k, "batch_size": P["batch_size"],
            "momentum": P["momentum"], "optimizer": "sgd", "weight_decay": 0.0, "val_fraction": P["val_fraction"],
            "noise": 0.0, "keep_test_logits": False, "plant": dict(P["plant"])}  # fmt: skip


def escape_time(wrong: Sequence[float], k: int) -> float:
    """Sum over epochs 1..k of the share of planted examples still misclassified (``wrong[0]`` is epoch 0).

    It is the mean, over the planted examples, of the number of those k epochs after which each
    was still wrong. A run that stopped early (it diverged) keeps its last value for the rest.
    No planted example at all is a failed plant, not a fast escape: NaN.

    >>> escape_time([1.0, 0.5, 0.25, 0.0], 3), escape_time([1.0, 1.0], 3), escape_time([], 3)
    (0.75, 3.0, nan)
    """
    if not wrong:
        return float("nan")
    v = list(wrong[1 : k + 1])
    v += [wrong[-1]] * (k - len(v))
    return float(np.sum(v))


def escape_times(runs: Sequence[dict[str, Any]], k: int) -> list[float]:
    """Per-seed escape times; a seed whose plant put no example on the wrong side is an error, named."""
    out = [escape_time(r["planted_wrong"], k) for r in runs]
    if not np.all(np.isfinite(out)):
        raise ValueError(f"the plant {P['plant']} put no training example at a wrong-side margin >= "
                         f"{P['plant']['margin']:g} in some seed: raise `plant['bias']` of claim 4 in "
                         "lab.rules")  # fmt: skip
    return out


def own_controls(ctx: Context, comp: protocol.Comparison) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Claim 4's planted controls on the binary comparison ``comp``, through the same escape-time measurement.

    True by construction: a network that gets no learning signal at all (learning rate 0) against
    cross-entropy at its chosen rate: its planted mistakes never escape. False by construction:
    cross-entropy against itself under another name (the same runs): no difference.
    """
    k = int(P["epochs"])
    ce = {"loss": "cross_entropy"}
    lr = comp.chosen["cross_entropy"]
    with ctx.borrowed(seeds=int(P["control_seeds"])) as c_ctx:
        ce_runs = protocol.compare(c_ctx, comp.dataset, {"cross_entropy": ce}, lrs=(lr,), base=saturation_base())
        frozen = protocol.compare(c_ctx, comp.dataset, {"frozen": ce}, lrs=(0.0,), base=saturation_base())
        again = protocol.compare(c_ctx, comp.dataset, {"renamed": ce}, lrs=(lr,), base=saturation_base())
    base = np.asarray(escape_times(ce_runs.runs["cross_entropy"], k))
    rule = RULES.rule("c04.escape_sigmoid")
    cases = [
        (f"no learning signal (lr 0) vs cross-entropy at lr {lr:g}, planted start, {comp.dataset}",
         escape_times(frozen.runs["frozen"], k), "supported"),
        (f"cross-entropy vs itself under another name (the same runs), {comp.dataset}",
         escape_times(again.runs["renamed"], k), "refuted"),
    ]  # fmt: skip
    controls, numbers = [], {}
    for what, values, expected in cases:
        part = decide(rule, np.asarray(values) - base, name="control")
        controls.append({"rule": rule.id, "planted": what, "expected": expected, "got": part.verdict})
        numbers[what] = {"estimate": part.estimate, "ci": part.ci, "got": part.verdict}
    return controls, numbers
