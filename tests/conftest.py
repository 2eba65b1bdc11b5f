"""Shared helpers for the registry-driven tests: valid random inputs for any loss.

``make_case(spec, rng)`` builds a ``Case`` (pred, target, options) that is in the
domain of ``spec`` according to its ``input_space`` and ``target_kind``;
``call`` and ``call_grad`` invoke a loss or its gradient on a case with the
conventions every loss shares (no target for the entropy, no ``reduction`` for
the always-reduced rmse).
"""

from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from losslab.registry import LOSSES, LossSpec

SPECS: list[LossSpec] = list(LOSSES.values())
SPEC_IDS: list[str] = [s.name for s in SPECS]
NUM_CLASSES = 4


def specs_where(predicate) -> list[Any]:
    """``pytest.param``s (id = the loss's name) of the registry entries satisfying ``predicate``."""
    return [pytest.param(s, id=s.name) for s in SPECS if predicate(s)]


def reductions(spec: LossSpec) -> list[str | None]:
    """The reductions a loss accepts; ``[None]`` (call without ``reduction=``) for rmse."""
    return ["mean", "sum", "none"] if spec.has("reducible") else [None]


@dataclass
class Case:
    """Inputs of one call: ``target`` is None for losses of one distribution (entropy)."""

    pred: Any
    target: Any
    options: dict[str, Any] = field(default_factory=dict)
    batch: int | None = None  # number of samples, when not the prediction's leading axis

    @property
    def n(self) -> int:
        return int(np.shape(self.pred)[0]) if self.batch is None else self.batch

    def take(self, index) -> Case:
        """The samples at ``index`` (an index array along the leading axis)."""
        return replace(self, pred=self.pred[index], target=None if self.target is None else self.target[index])

    def astype(self, dtype) -> Case:
        """Floating arrays cast to ``dtype``; integer (class index) targets are kept."""

        def cast(a):
            if a is None or not np.issubdtype(a.dtype, np.floating):
                return a
            return a.astype(dtype)

        return replace(self, pred=cast(self.pred), target=cast(self.target))


def _probability_rows(rng, n, C, floor):
    """Random rows on the simplex with every entry >= ``floor`` (summing to 1 to rounding)."""
    d = rng.dirichlet(np.full(C, 1.5), size=n)
    p = (1.0 - C * floor) * d + floor
    return p / p.sum(axis=-1, keepdims=True)


def make_case(
    spec: LossSpec,
    rng: np.random.Generator,
    n: int = 6,
    dtype: Any = np.float64,
    *,
    cols: int | None = None,
    scale: float = 1.0,
    floor: float = 0.02,
) -> Case:
    """Random valid ``(pred, target, options)`` for ``spec``.

    n      number of samples (leading axis)
    dtype  floating dtype of the prediction and of floating targets
    cols   elementwise losses only: give them a 2-d ``(n, cols)`` shape
    scale  spread of real values and logits
    floor  probabilities stay in [floor, 1 - floor] (away from the clipping floor)

    Spaces: real (normal), logits (normal * 2), log-rate (normal / 2, clipped to
    [-30, 30]) with Poisson counts, probabilities (1-d in (0, 1) for binary losses, else rows of
    ``NUM_CLASSES`` summing to 1), log-probabilities (the log of such rows). Targets: real, binary
    0/1 (float), class indices (int64), probabilities (rows), log-probabilities (rows), teacher
    logits, or none.
    """
    C = NUM_CLASSES
    shape = (n,) if cols is None or not spec.has("elementwise") else (n, cols)
    space, tk = spec.input_space, spec.target_kind
    if space == "real":
        pred = scale * rng.standard_normal(shape)
    elif space == "log-rate":
        pred = np.clip(0.5 * scale * rng.standard_normal(shape), -30.0, 30.0)  # rates stay finite
    elif space == "logits":
        pred = 2.0 * scale * rng.standard_normal(shape if tk == "binary" else (n, C))
    elif space == "log-probabilities":  # log-softmax rows
        with np.errstate(divide="ignore"):
            pred = np.log(_probability_rows(rng, n, C, floor))
    elif space == "probabilities":
        if tk == "binary":
            pred = rng.uniform(floor, 1.0 - floor, size=shape)
        else:
            pred = _probability_rows(rng, n, C, floor)
    else:  # pragma: no cover - a new input space needs a generator here
        raise NotImplementedError(f"make_case: unknown input_space {space!r} of {spec.name}")

    if tk == "real":
        target = scale * rng.standard_normal(pred.shape)
    elif tk == "binary":
        target = rng.integers(0, 2, size=pred.shape).astype(np.float64)
    elif tk == "counts":
        target = rng.poisson(np.exp(pred)).astype(np.float64)
    elif tk == "class":
        target = rng.integers(0, C, size=n)
    elif tk == "probs":
        target = _probability_rows(rng, n, C, floor)
    elif tk == "log-probs":
        with np.errstate(divide="ignore"):
            target = np.log(_probability_rows(rng, n, C, floor))
    elif tk == "logits":
        target = 2.0 * scale * rng.standard_normal(pred.shape)
    elif tk == "none":
        target = None
    else:  # pragma: no cover
        raise NotImplementedError(f"make_case: unknown target_kind {tk!r} of {spec.name}")
    return Case(pred, target, dict(spec.options)).astype(dtype)


def _args(spec: LossSpec, pred, target):
    return (pred,) if spec.target_kind == "none" else (pred, target)


def call(spec: LossSpec, case: Case, *, reduction: str | None = "mean", weight=None, pred=None, target=None, **kw):
    """``spec.fn`` on ``case`` (``pred``/``target`` override the case's arrays)."""
    pred = case.pred if pred is None else pred
    target = case.target if target is None else target
    if reduction is not None:
        kw["reduction"] = reduction
    return spec.fn(*_args(spec, pred, target), **case.options, weight=weight, **kw)


def call_grad(spec: LossSpec, case: Case, *, reduction: str | None = "mean", weight=None, pred=None, target=None):
    """``spec.grad`` on ``case``: the gradient of ``call(...)`` (summed when "none") w.r.t. pred."""
    pred = case.pred if pred is None else pred
    target = case.target if target is None else target
    kw = {} if reduction is None else {"reduction": reduction}
    return spec.grad(*_args(spec, pred, target), **case.options, weight=weight, **kw)


def target_as_pred(spec: LossSpec, case: Case) -> np.ndarray:
    """The target written in the prediction's space, for ``zero_at_target`` losses."""
    if spec.target_kind == "class" and spec.input_space == "probabilities":
        return np.eye(NUM_CLASSES, dtype=case.pred.dtype)[case.target]
    if spec.target_kind == "class" and spec.input_space == "log-probabilities":
        with np.errstate(divide="ignore"):
            return np.log(np.eye(NUM_CLASSES, dtype=case.pred.dtype)[case.target])
    return np.asarray(case.target, dtype=case.pred.dtype)


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's id, so every test is reproducible on its own."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar ``sum(f(x))`` in float64, entry by entry.

    ``sum`` makes it the gradient ``losslab.grad`` returns for every reduction
    (for "none", the gradient of the summed per-element losses). Non-finite
    entries (masked logits) are left at 0.
    """
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        if not np.isfinite(x[idx]):
            continue
        xp_, xm = x.copy(), x.copy()
        xp_[idx] += h
        xm[idx] -= h
        g[idx] = (np.sum(f(xp_)) - np.sum(f(xm))) / (2 * h)
    return g


def full_weight(w, shape):
    """The per-element weight a per-sample or per-element ``w`` stands for."""
    if w is None:
        return np.ones(shape)
    return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)


def expected_reduced(values, w, reduction):
    """The reduction written out in NumPy: the oracle for every reduction/weight test."""
    wf = full_weight(w, values.shape)
    if reduction == "none":
        return wf * values
    if reduction == "sum":
        return np.sum(wf * values)
    return np.sum(wf * values) / np.sum(wf)


# ------------------------------------------------------------------ headless Chromium
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error').slice(0, 120));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var r = {images: imgs.length,
           decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
           external: Array.prototype.slice.call(document.querySelectorAll('[src],[href]'))
             .map(function (el) { return el.getAttribute('src') || el.getAttribute('href'); })
             .filter(function (u) { return !/^(data:|#)/.test(u); }),
           errors: window.__errors, title: document.title};
  var pre = document.createElement('pre'); pre.id = 'losslab-check'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def render_in_chromium(html_path, tmp_path) -> dict:
    """Open a copy of ``html_path`` in headless Chromium and return what the page saw on load.

    A small script is injected into the copy: on the load event it counts the images,
    those that decoded (``complete`` with a natural width), every ``src``/``href``
    that is not a ``data:`` URI or an in-page anchor (a self-contained page has none) and every error event. Skips the
    test when Chromium is not installed (``.ci/run`` installs Debian's package).
    """
    import json
    import re
    import subprocess
    from pathlib import Path

    if CHROMIUM is None:
        if os.environ.get("LOSSLAB_REQUIRE_CHROMIUM"):
            pytest.fail("LOSSLAB_REQUIRE_CHROMIUM is set but Chromium is not installed (apt-get install chromium)")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    page = Path(html_path).read_text(encoding="utf-8")
    copy = Path(tmp_path) / "chromium-check.html"
    copy.write_text(page.replace("<head>", "<head>" + _CHECK_SCRIPT, 1), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={Path(tmp_path) / 'chromium-profile'}", "--virtual-time-budget=20000",
           "--dump-dom", copy.as_uri()]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="losslab-check">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"Chromium rendered no check result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    import html as _html

    return json.loads(_html.unescape(m.group(1)))


# ------------------------------------------------------------------ the lab's results.json
def check_results_schema(results: dict) -> None:
    """The shape every results.json has (the lab's contract with tools that read it)."""
    from losslab.lab.runner import SCHEMA_VERSION

    assert results["schema_version"] == SCHEMA_VERSION
    assert isinstance(results["losslab_version"], str) and results["created_utc"].endswith("Z")
    assert isinstance(results["elapsed_s"], float)
    cfg = results["config"]
    assert set(cfg) == {"profile", "claims", "datasets", "data_dir", "device", "jobs", "threads", "command",
                        "scheduler"}  # fmt: skip
    assert set(cfg["profile"]) == {"name", "seeds", "epochs", "datasets", "n_bootstrap"}
    for lib in ("python", "numpy", "torch", "scikit-learn", "matplotlib", "losslab"):
        assert isinstance(results["versions"][lib], str)
    assert len(results["rules_sha256"]) == 64 and results["alpha"] == 0.025
    assert isinstance(results["holm_tests"], int)
    assert set(results["tally"]) == {"empirical", "identity"}
    for st in results["statements"]:
        assert set(st) == {"seed", "quote", "status", "claim", "verdict", "why"}
    keys = {"number", "slug", "title", "statement", "source", "method", "kind", "logic", "rule", "rules", "references",
            "status", "verdict", "reason", "summary", "numbers", "tables", "figures", "discussion", "parts",
            "controls", "controls_ok", "published", "error", "elapsed_s", "cells"}  # fmt: skip
    part_keys = {"rule", "name", "test", "kind", "verdict", "detail", "estimate", "ci", "n", "unit", "p_support",
                 "p_refute", "p_holm", "p_decision", "effect", "note"}  # fmt: skip
    for c in results["claims"]:
        assert set(c) == keys, set(c) ^ keys
        assert c["status"] in ("ok", "error")
        assert c["kind"] in ("identity", "empirical") and c["logic"] in ("all", "exists")
        assert c["verdict"] in ("supported", "refuted", "mixed", "inconclusive", "error")
        assert set(c["cells"]) == {"computed", "cached"}
        for p in c["parts"]:
            assert part_keys <= set(p) <= part_keys | {"verdict_before_holm"}, set(p) ^ part_keys
            assert p["rule"] in c["rules"] and p["verdict"] in ("supported", "refuted", "inconclusive")
            if p["kind"] == "empirical" and p["p_decision"] is not None:
                assert 0.0 <= p["p_holm"] <= 1.0 and p["p_holm"] >= p["p_decision"] - 1e-15
        for k in c["controls"]:
            assert {"planted", "expected", "got", "rule", "source"} <= set(k)
        for pub in c["published"]:
            assert set(pub) == {"source", "setting", "value", "ours", "interval", "unit", "in_interval", "why"}
        for t in c["tables"]:
            assert all(len(r) == len(t["columns"]) for r in t["rows"])
        for f in c["figures"]:
            assert set(f) == {"caption", "file"} and f["file"].endswith(".png")
    __import__("json").dumps(results, allow_nan=False)  # strict JSON: no NaN or infinity anywhere
