"""Every loss inside a graph: torch.compile(fullgraph=True), torch.func.vmap / grad, jit.trace, export.

The registry drives it, so a new loss is compiled, vmapped, traced and
exported as soon as it is registered. ``aot_eager`` runs dynamo and
AOTAutograd (forward and backward graphs) without code generation, which is
what can break; one test runs inductor on a small training loop.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch._dynamo as dynamo  # noqa: E402

import losslab  # noqa: E402
from conftest import SPECS, call, make_case, reductions  # noqa: E402
from losslab.registry import LOSSES  # noqa: E402

CASES = [
    pytest.param(spec, red, weighted, id=f"{spec.name}-{red}{'-w' if weighted else ''}")
    for spec in SPECS
    for red in reductions(spec)
    for weighted in (False, True)
    if not (weighted and red is None)
]


def _tensors(spec, seed=0, n=5):
    case = make_case(spec, np.random.default_rng(seed), n=n)
    pred = torch.as_tensor(case.pred)
    target = None if case.target is None else torch.as_tensor(case.target)
    return case, pred, target


def _fn(spec, case, red, weight):
    def f(p, t):
        return call(spec, case, reduction=red, pred=p, target=t, weight=weight)

    return f


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    dynamo.reset()
    yield
    dynamo.reset()


@pytest.mark.parametrize(("spec", "red", "weighted"), CASES)
def test_fullgraph_compile_equals_eager_with_no_graph_break_and_no_warning(spec, red, weighted):
    case, pred, target = _tensors(spec)
    weight = torch.linspace(0.5, 1.5, case.n, dtype=pred.dtype) if weighted else None
    f = _fn(spec, case, red, weight)
    assert dynamo.explain(f)(pred, target).graph_break_count == 0
    dynamo.reset()
    p0, p1 = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
    eager = f(p0, target)
    (g0,) = torch.autograd.grad(eager.sum(), p0)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        compiled = torch.compile(f, fullgraph=True, backend="aot_eager")(p1, target)
        (g1,) = torch.autograd.grad(compiled.sum(), p1)
    assert not [str(w.message) for w in seen]
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(g1, g0)


@pytest.mark.parametrize(("spec", "red", "weighted"), CASES)
def test_jit_trace_and_export_equal_eager(spec, red, weighted):
    case, pred, target = _tensors(spec)
    weight = torch.linspace(0.5, 1.5, case.n, dtype=pred.dtype) if weighted else None
    f = _fn(spec, case, red, weight)
    args = (pred,) if target is None else (pred, target)

    class Loss(torch.nn.Module):
        def forward(self, p, t=None):
            return f(p, t)

    eager = f(pred, target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shapes recorded as constants
        traced = torch.jit.trace(Loss(), args, check_trace=False)
    torch.testing.assert_close(traced(*args), eager)  # MSELoss once returned the sum here
    exported = torch.export.export(Loss(), args)
    torch.testing.assert_close(exported.module()(*args), eager)


@pytest.mark.parametrize(("spec", "red", "weighted"), CASES)
def test_vmap_over_independent_problems_equals_a_loop(spec, red, weighted):
    B = 3
    cases = [_tensors(spec, seed=s) for s in range(B)]
    case = cases[0][0]
    preds = torch.stack([c[1] for c in cases])
    weight = torch.linspace(0.5, 1.5, case.n, dtype=preds.dtype) if weighted else None
    f = _fn(spec, case, red, weight)
    if spec.target_kind == "none":
        got = torch.func.vmap(lambda p: f(p, None))(preds)
        want = torch.stack([f(p, None) for p in preds])
    else:
        targets = torch.stack([c[2] for c in cases])
        got = torch.func.vmap(f)(preds, targets)
        want = torch.stack([f(p, t) for p, t in zip(preds, targets, strict=True)])
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    ("spec", "red"), [pytest.param(s, r, id=f"{s.name}-{r}") for s in SPECS for r in reductions(s) if r != "none"]
)
def test_func_grad_equals_the_closed_form(spec, red):
    if spec.grad is None or spec.target_kind == "none":
        pytest.skip("no closed-form gradient w.r.t. a prediction")
    case, pred, target = _tensors(spec)
    got = torch.func.grad(_fn(spec, case, red, None))(pred, target)
    kw = {} if red is None else {"reduction": red}
    torch.testing.assert_close(got, spec.grad(pred, target, **case.options, **kw))


# ------------------------------------------------------------ cross-entropy's options
CE_OPTIONS = {
    "class_weight": {"class_weight": torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)},
    "ignore_index": {"ignore_index": -100},
    "smoothing": {"label_smoothing": 0.1},
    "weight+smoothing": {"class_weight": torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64),
                         "label_smoothing": 0.2},
}  # fmt: skip


@pytest.mark.parametrize("options", CE_OPTIONS.values(), ids=CE_OPTIONS.keys())
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_options_compile_and_vmap(options, reduction):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 6, 4, 3, generator=g, dtype=torch.float64)  # (B, N, C, d): class axis 1 of each problem
    y = torch.randint(0, 4, (2, 6, 3), generator=g)
    if "ignore_index" in options:
        y[:, 0] = -100
        z[:, 0] = -torch.inf  # an ignored position holding -inf: still gradient 0

    def f(zi, yi):
        return losslab.cross_entropy(zi, yi, axis=1, reduction=reduction, **options)

    assert dynamo.explain(f)(z[0], y[0]).graph_break_count == 0
    dynamo.reset()
    z0, z1 = z[0].clone().requires_grad_(True), z[0].clone().requires_grad_(True)
    eager = f(z0, y[0])
    (g0,) = torch.autograd.grad(eager.sum(), z0)
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")(z1, y[0])
    (g1,) = torch.autograd.grad(compiled.sum(), z1)
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(g1, g0)
    assert torch.isfinite(g0).all()
    torch.testing.assert_close(torch.func.vmap(f)(z, y), torch.stack([f(a, b) for a, b in zip(z, y, strict=True)]))


# ------------------------------------------------------------------ value checks
def test_value_checks_run_eagerly_and_are_skipped_in_graphs():
    z, bad = torch.zeros(4, 3), torch.tensor([0, 1, 2, 7])
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\]; got 7 at index 3"):
        losslab.cross_entropy(z, bad)
    # In a graph the check cannot read the label; the value is what the computation gives.
    compiled = torch.compile(losslab.cross_entropy, fullgraph=True, backend="aot_eager")
    assert compiled(z, torch.tensor([0, 1, 2, 2])).item() == pytest.approx(np.log(3))
    with losslab.value_checks("off"):
        losslab.mse(torch.tensor([np.nan]), torch.tensor([0.0]))  # no error: NaN in, NaN out
    with pytest.raises(ValueError, match="`pred` contains NaN"):
        losslab.mse(torch.tensor([np.nan]), torch.tensor([0.0]))


def test_meta_tensors_get_shape_checks_only():
    z = torch.empty(4, 3, device="meta")
    assert losslab.cross_entropy(z, torch.empty(4, dtype=torch.int64, device="meta")).shape == ()
    with pytest.raises(ValueError, match="shape"):
        losslab.mse(torch.empty(3, device="meta"), torch.empty(4, device="meta"))


def test_check_mode_is_validated_and_restored():
    with pytest.raises(ValueError, match="`mode` must be one of 'auto', 'always' or 'off'; got 'on'"):
        losslab.set_value_checks("on")
    previous = losslab.set_value_checks("off")
    try:
        assert previous == "auto" and losslab.get_value_checks() == "off"
    finally:
        losslab.set_value_checks(previous)
    with losslab.value_checks("always"):
        assert losslab.get_value_checks() == "always"
    assert losslab.get_value_checks() == "auto"


# ---------------------------------------------------------- autograd at the extremes
def test_ignored_rows_get_exactly_zero_gradient_whatever_they_hold():
    z = torch.tensor([[0.0, 1.0, 2.0], [-torch.inf] * 3, [torch.nan, 0.0, 1.0], [torch.inf, 0.0, 0.0]])
    z.requires_grad_(True)
    y = torch.tensor([0, -100, -100, -100])
    loss = losslab.cross_entropy(z, y, ignore_index=-100)
    (g,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(g).all() and (g[1:] == 0).all()
    torch.testing.assert_close(g, losslab.grad.cross_entropy(z.detach(), y, ignore_index=-100))


def test_rmse_at_an_exact_fit_has_a_finite_subgradient():
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad(losslab.rmse(p, torch.tensor([1.0, 2.0])), p)
    assert torch.equal(g, torch.zeros(2))


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "binary_cross_entropy_with_logits", "cross_entropy"])
def test_reduced_losses_are_float32_under_bfloat16_autocast(name):
    spec = LOSSES[name]
    case, pred, target = _tensors(spec, n=64)
    pred, target = pred.float(), target if target.dtype == torch.int64 else target.float()
    want = call(spec, case, pred=pred, target=target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = call(spec, case, pred=pred, target=target)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)


def test_compiled_training_loop_with_inductor_runs_without_warnings():
    """A small MLP trained by a compiled step (inductor, forward and backward) matches eager."""
    with warnings.catch_warnings():
        # torch's own import-time deprecations (torch.jit.script_method in inductor's modules), not the loss's
        warnings.simplefilter("ignore")
        pytest.importorskip("torch._inductor.compile_fx")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g)

    def run(compiled: bool) -> list[float]:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def objective(xb, yb):
            return losslab.cross_entropy(model(xb), yb, label_smoothing=0.1)

        objective_fn = torch.compile(objective, fullgraph=True) if compiled else objective
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = objective_fn(x, y)
            loss.backward()  # the backward graph AOTAutograd compiled with the forward
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            got = run(compiled=True)
        except Exception as exc:  # no C++ compiler for inductor: the aot_eager tests above still ran
            if "compiler" in str(exc).lower() or "cpp" in str(exc).lower():
                pytest.skip(f"inductor cannot compile here: {exc!s:.80}")
            raise
    assert not [str(w.message) for w in seen]
    np.testing.assert_allclose(got, run(compiled=False), rtol=1e-5)
