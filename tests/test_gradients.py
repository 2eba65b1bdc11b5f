"""Every closed-form gradient against float64 central differences and against torch autograd.

``losslab.grad.<name>`` is the gradient of the reduced loss w.r.t. its first
argument (of the sum of the returned per-element losses for ``"none"``). It
is checked per coordinate, for every reduction, with and without weights,
for every registry entry and for option variants the registry does not
exercise (soft targets, class weights, ``pos_weight``, learned variances,
several quantiles, binary probabilities, the hard-label distillation term).

Probability inputs are perturbed one entry at a time by 1e-6: the rows then
sum to 1 within 1e-6, far inside ``row_sum_tolerance`` (>= 1e-4), and the
gradients are the unconstrained partial derivatives, which is what such a
perturbation measures.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import NUM_CLASSES, Case, call, call_grad, make_case, reductions, specs_where
from losslab._validation import row_sum_tolerance
from losslab.registry import LOSSES

WITH_GRAD = specs_where(lambda s: s.grad is not None)
STEP = 1e-6


def test_every_loss_has_a_gradient():
    assert [p.id for p in WITH_GRAD] == list(LOSSES)


def test_step_is_inside_row_sum_tolerance():
    assert STEP * 100 <= row_sum_tolerance(np, np.float64, NUM_CLASSES)


# ------------------------------------------------------------------ variants
def _variants(rng):
    """(id, spec, case): every registry entry in its registry configuration (and 2-d when
    elementwise), then option variants the registry does not exercise."""
    C = NUM_CLASSES
    out = []
    for p in WITH_GRAD:
        spec = p.values[0]
        out.append((spec.name, spec, make_case(spec, rng)))
        if spec.has("elementwise"):
            out.append((f"{spec.name}-2d", spec, make_case(spec, rng, cols=3)))

    spec = LOSSES["cross_entropy"]
    case = make_case(spec, rng)
    soft = make_case(LOSSES["kl_divergence"], rng).target
    cw = rng.uniform(0.5, 2.0, C)
    out += [
        ("cross_entropy-soft", spec, replace(case, target=soft)),
        ("cross_entropy-class_weight", spec, replace(case, options={"class_weight": cw, "label_smoothing": 0.2})),
        ("cross_entropy-soft-class_weight", spec, replace(case, target=soft, options={"class_weight": cw})),
        ("cross_entropy-axis0", spec, replace(case, pred=case.pred.T.copy(), options={"axis": 0}, batch=case.n)),
    ]
    spec = LOSSES["distillation_loss"]
    case = make_case(spec, rng)
    hard = {"temperature": 2.5, "target": rng.integers(0, C, case.n), "alpha": 0.3}
    out.append(("distillation_loss-hard", spec, replace(case, options=hard)))
    spec = LOSSES["binary_cross_entropy_with_logits"]
    case = make_case(spec, rng, cols=3)
    out += [
        ("bce_with_logits-pos_weight", spec, replace(case, options={"pos_weight": 2.5})),
        ("bce_with_logits-pos_weight-array", spec, replace(case, options={"pos_weight": rng.uniform(0.5, 3, 3)})),
    ]
    for name, opt in (("gaussian_nll", "var"), ("laplace_nll", "scale")):
        spec = LOSSES[name]
        case = make_case(spec, rng)
        out.append((f"{name}-{opt}-array", spec, replace(case, options={opt: rng.uniform(0.3, 3.0, case.n)})))
    spec = LOSSES["poisson_nll"]
    out.append(("poisson_nll-full", spec, replace(make_case(spec, rng), options={"full": True})))
    spec = LOSSES["pinball"]
    case = make_case(spec, rng, cols=3)
    several = replace(case, target=case.target[:, 0].copy(), options={"quantile": [0.1, 0.5, 0.8]})
    out.append(("pinball-quantiles", spec, several))
    spec = LOSSES["huber"]
    out.append(("huber-delta", spec, replace(make_case(spec, rng, scale=2.0), options={"delta": 0.3})))
    for name in ("log_loss", "brier_score"):
        binary = make_case(LOSSES["binary_cross_entropy"], rng)
        out.append((f"{name}-binary", LOSSES[name], Case(binary.pred, binary.target.astype(np.int64))))
    return out


VARIANTS = _variants(np.random.default_rng(20240601))
VARIANT_PARAMS = [pytest.param(spec, case, id=vid) for vid, spec, case in VARIANTS]


def _weights(case, rng):
    return (None, rng.uniform(0.2, 2.0, size=case.n))


def _finite_differences(spec, case, reduction, weight):
    x = np.array(case.pred, dtype=np.float64)
    g = np.empty_like(x)

    def f(p):
        return float(np.sum(call(spec, case, pred=p, reduction=reduction, weight=weight)))

    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += STEP
        xm[i] -= STEP
        g[i] = (f(xp) - f(xm)) / (2 * STEP)
    return g


# ------------------------------------------------------ finite differences
@pytest.mark.parametrize(("spec", "case"), VARIANT_PARAMS)
def test_grad_matches_central_differences(spec, case, rng):
    for reduction in reductions(spec):
        for weight in _weights(case, rng):
            g = np.asarray(call_grad(spec, case, reduction=reduction, weight=weight))
            fd = _finite_differences(spec, case, reduction, weight)
            np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7, err_msg=f"reduction={reduction}, weight={weight}")


@pytest.mark.parametrize(("spec", "case"), VARIANT_PARAMS)
def test_grad_matches_directional_derivative(spec, case, rng):
    """<grad, v> against (f(x + hv) - f(x - hv)) / 2h for random unit v; for probability rows
    v sums to 0 per row, so x +- hv stays exactly on the simplex."""
    v = rng.standard_normal(case.pred.shape)
    if spec.input_space == "probabilities" and case.pred.ndim == 2:
        v -= v.mean(axis=-1, keepdims=True)
    v /= np.linalg.norm(v)
    for reduction in reductions(spec):
        g = np.asarray(call_grad(spec, case, reduction=reduction))

        def f(p, reduction=reduction):
            return float(np.sum(call(spec, case, pred=p, reduction=reduction)))

        fd = (f(case.pred + STEP * v) - f(case.pred - STEP * v)) / (2 * STEP)
        np.testing.assert_allclose(np.sum(g * v), fd, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- autograd
def _torch(a, requires_grad=False):
    if a is None or not isinstance(a, np.ndarray):
        return a
    t = torch.from_numpy(a.copy())
    return t.requires_grad_() if requires_grad else t


@pytest.mark.parametrize(("spec", "case"), VARIANT_PARAMS)
def test_grad_matches_torch_autograd(spec, case, rng):
    opts = {k: _torch(v) for k, v in case.options.items()}
    for reduction in reductions(spec):
        for weight in _weights(case, rng):
            pred = _torch(case.pred, requires_grad=True)
            tcase = Case(pred, _torch(case.target), opts)
            out = call(spec, tcase, reduction=reduction, weight=_torch(weight))
            assert isinstance(out, torch.Tensor) and out.requires_grad
            out.sum().backward()
            expected = np.asarray(call_grad(spec, case, reduction=reduction, weight=weight))
            np.testing.assert_allclose(
                pred.grad.numpy(), expected, rtol=1e-10, atol=1e-13, err_msg=f"reduction={reduction}"
            )
            # the gradient computed on torch tensors is the same as on NumPy arrays
            tg = call_grad(spec, tcase, reduction=reduction, weight=_torch(weight), pred=pred.detach())
            assert isinstance(tg, torch.Tensor)
            np.testing.assert_allclose(tg.numpy(), expected, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------- shape/dtype
@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("spec", "case"), VARIANT_PARAMS)
def test_grad_shape_and_dtype(spec, case, dtype, library):
    case = case.astype(np.dtype(dtype))
    if library == "torch":
        case = Case(
            _torch(case.pred),
            _torch(case.target),
            {
                k: _torch(np.asarray(v, dtype)) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else _torch(v)
                for k, v in case.options.items()
            },
        )
    for reduction in reductions(spec):
        g = call_grad(spec, case, reduction=reduction)
        assert type(g) is type(case.pred)
        assert tuple(g.shape) == tuple(case.pred.shape)
        assert g.dtype == case.pred.dtype
