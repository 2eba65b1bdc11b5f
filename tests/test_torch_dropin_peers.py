"""``losslab.torch``'s NLLLoss, SmoothL1Loss, MultiMarginLoss and KLDivLoss against torch.nn's.

As ``test_torch_dropin.py``: both modules from the same arguments, values and autograd gradients in
float64 (to 1e-6; they agree to ~1e-15), every reduction, class weights, ignore_index and
``(N, C, d1, ...)`` inputs where torch takes them; the deliberate differences at the end.
"""

from __future__ import annotations

import itertools
import math
import zlib

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import losslab
import losslab.torch as LT

REDUCTIONS = ["mean", "sum", "none"]
TOL = {"rtol": 1e-6, "atol": 1e-9}
D = torch.float64
# torch warns at each call with KLDivLoss's default reduction (tested once, below)
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")


def _gen(*key) -> torch.Generator:
    # crc32, not hash(): str hashes change with every process (PYTHONHASHSEED), and so would the data.
    return torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))


def _same(ours: nn.Module, theirs: nn.Module, inputs, *rest, grad_of=(0,)):
    """Values and autograd gradients (w.r.t. ``inputs[i]`` for i in grad_of) of both modules agree."""
    a = [x.clone().requires_grad_(i in grad_of) for i, x in enumerate(inputs)]
    b = [x.clone().requires_grad_(i in grad_of) for i, x in enumerate(inputs)]
    va, vb = ours(*a, *rest), theirs(*b, *rest)
    assert va.shape == vb.shape and va.dtype == vb.dtype
    torch.testing.assert_close(va, vb, **TOL)
    ga = torch.autograd.grad(va.sum(), [a[i] for i in grad_of])
    gb = torch.autograd.grad(vb.sum(), [b[i] for i in grad_of])
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, **TOL)
    return va


def _indices(shape, gen, ignore_index=None):
    """Log-probabilities of ``shape`` (classes on axis 1, axis 0 unbatched) and class indices, some
    ``ignore_index`` (at least one kept)."""
    axis = 1 if len(shape) > 1 else 0
    lp = torch.log_softmax(3 * torch.randn(*shape, generator=gen, dtype=D), dim=axis)
    C, batch = shape[axis], (shape[0], *shape[2:]) if len(shape) > 1 else ()
    y = torch.randint(0, C, batch, generator=gen)
    if ignore_index is not None:
        y = torch.where(torch.rand(batch, generator=gen) < 0.3, torch.full_like(y, ignore_index), y)
        y.view(-1)[0] = 0 if ignore_index != 0 else 1
    return lp, y


# ===================================================================== NLLLoss
NLL_CASES = [
    c
    for c in itertools.product([(7, 5), (5,), (3, 4, 2, 3), (4, 5, 6)], [False, True], [False, True], REDUCTIONS)
    if not (c[2] and len(c[0]) == 1)
]


@pytest.mark.parametrize(("shape", "weighted", "ignore", "reduction"), NLL_CASES)
def test_nll_equals_torchs(shape, weighted, ignore, reduction):
    gen = _gen("nll", shape, weighted, ignore, reduction)
    lp, y = _indices(shape, gen, -100 if ignore else None)
    C = shape[1] if len(shape) > 1 else shape[0]
    kw = {"weight": torch.rand(C, generator=gen, dtype=D) + 0.2 if weighted else None, "reduction": reduction}
    _same(LT.NLLLoss(**kw), nn.NLLLoss(**kw), (lp,), y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 0, 2, 7])
def test_nll_ignore_index_values(ignore_index, reduction):
    gen = _gen("nll-ii", ignore_index, reduction)
    lp, y = _indices((9, 4, 3), gen, ignore_index if ignore_index in (-100, 7) else None)
    w = torch.rand(4, generator=gen, dtype=D) + 0.2
    for kw in ({}, {"weight": w}):
        kw = {**kw, "ignore_index": ignore_index, "reduction": reduction}
        _same(LT.NLLLoss(**kw), nn.NLLLoss(**kw), (lp,), y)


def test_nll_is_cross_entropy_of_the_log_softmax_and_sample_weight():
    gen = _gen("nll-ce")
    z = torch.randn(6, 3, 2, generator=gen, dtype=D)
    y = torch.randint(0, 3, (6, 2), generator=gen)
    w, s = torch.tensor([1.0, 2.0, 0.5], dtype=D), torch.rand(6, generator=gen, dtype=D) + 0.1
    torch.testing.assert_close(LT.NLLLoss(w)(F.log_softmax(z, 1), y), LT.CrossEntropyLoss(w)(z, y), **TOL)
    got = LT.NLLLoss(w)(F.log_softmax(z, 1), y, sample_weight=s)
    per = nn.NLLLoss(weight=w, reduction="none")(F.log_softmax(z, 1), y)
    torch.testing.assert_close(got, (s[:, None] * per).sum() / (s[:, None] * w[y]).sum(), **TOL)


# ================================================================ SmoothL1Loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4)])
@pytest.mark.parametrize("beta", [1.0, 0.5, 3.0, 0.0])
def test_smooth_l1_equals_torchs(beta, shape, reduction):
    gen = _gen("sl1", beta, shape, reduction)
    x, y = 2 * torch.randn(*shape, generator=gen, dtype=D), torch.randn(*shape, generator=gen, dtype=D)
    kw = {"beta": beta, "reduction": reduction}
    _same(LT.SmoothL1Loss(**kw), nn.SmoothL1Loss(**kw), (x, y), grad_of=(0, 1))


def test_smooth_l1_beta_zero_is_l1_and_sample_weight():
    gen = _gen("sl1-0")
    x, y = torch.randn(5, 3, generator=gen, dtype=D), torch.randn(5, 3, generator=gen, dtype=D)
    # The same terms; torch's two kernels may sum them in different orders (1 ulp).
    torch.testing.assert_close(LT.SmoothL1Loss(beta=0.0)(x, y), nn.L1Loss()(x, y), rtol=1e-15, atol=0)
    s = torch.rand(5, generator=gen, dtype=D)
    per = nn.SmoothL1Loss(reduction="none", beta=0.5)(x, y) * s[:, None]
    torch.testing.assert_close(LT.SmoothL1Loss(beta=0.5)(x, y, sample_weight=s), per.sum() / (3 * s.sum()), **TOL)


# ============================================================= MultiMarginLoss
MM_CASES = list(itertools.product([(7, 5), (5,), (6, 2)], [False, True], [1.0, 0.3, 0.0, 2.5], REDUCTIONS))


@pytest.mark.parametrize(("shape", "weighted", "margin", "reduction"), MM_CASES)
def test_multi_margin_equals_torchs(shape, weighted, margin, reduction):
    gen = _gen("mm", shape, weighted, margin, reduction)
    x = torch.randn(*shape, generator=gen, dtype=D)
    C = shape[-1]
    y = torch.randint(0, C, shape[:-1], generator=gen)
    w = torch.rand(C, generator=gen, dtype=D) + 0.2 if weighted else None
    kw = {"margin": margin, "weight": w, "reduction": reduction}
    _same(LT.MultiMarginLoss(**kw), nn.MultiMarginLoss(**kw), (x,), y)


def test_multi_margin_weighted_mean_divides_by_n_and_masked_scores():
    gen = _gen("mm-n")
    x, y = torch.randn(8, 4, generator=gen, dtype=D), torch.randint(0, 4, (8,), generator=gen)
    w = torch.tensor([0.5, 1.0, 3.0, 2.0], dtype=D)
    per = nn.MultiMarginLoss(weight=w, reduction="none")(x, y)
    torch.testing.assert_close(LT.MultiMarginLoss(weight=w)(x, y), per.sum() / 8, **TOL)  # not / sum(w[y])
    ww = losslab.multiclass_hinge(x, y, form="weston_watkins", class_weight=w, reduction="none")
    torch.testing.assert_close(per, ww / 4, **TOL)  # torch's value is the Weston-Watkins sum over C
    s = torch.rand(8, generator=gen, dtype=D) + 0.1
    torch.testing.assert_close(LT.MultiMarginLoss(weight=w)(x, y, sample_weight=s), (s * per).sum() / s.sum(), **TOL)
    torch.testing.assert_close(LT.MultiMarginLoss()(x, y, sample_weight=s), (s * per / w[y]).sum() / s.sum(), **TOL)
    x[0, (y[0] + 1) % 4] = x[3, (y[3] + 2) % 4] = -math.inf  # masked wrong classes: never violate, as in torch
    for reduction in REDUCTIONS:
        kw = {"weight": w, "reduction": reduction}
        _same(LT.MultiMarginLoss(**kw), nn.MultiMarginLoss(**kw), (x,), y)


# =================================================================== KLDivLoss
KL_SHAPES = {
    "(N, C)": ((6, 5), -1),
    "(C,)": ((5,), -1),
    "(B, T, V)": ((2, 3, 4), -1),
    "(N, C, H, W)": ((2, 4, 3, 3), 1),
}
KL_CASES = list(itertools.product(list(KL_SHAPES), [False, True], ["batchmean", "sum", "mean"]))


@pytest.mark.parametrize(("shape", "log_target", "reduction"), KL_CASES)
def test_kl_div_equals_torchs(shape, log_target, reduction):
    size, axis = KL_SHAPES[shape]
    gen = _gen("kl", shape, log_target, reduction)
    log_q = torch.log_softmax(2 * torch.randn(*size, generator=gen, dtype=D), dim=axis)
    log_p = torch.log_softmax(2 * torch.randn(*size, generator=gen, dtype=D), dim=axis)
    target = log_p if log_target else log_p.exp()
    ours = LT.KLDivLoss(reduction=reduction, log_target=log_target, axis=axis)
    theirs = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    with pytest.warns(UserWarning, match="batchmean") if reduction == "mean" else _no_warning():
        _same(ours, theirs, (log_q, target), grad_of=(0, 1))


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_kl_div_reductions_are_torchs_counts_and_none_is_refused():
    gen = _gen("kl-r")
    log_q = torch.log_softmax(torch.randn(6, 5, generator=gen, dtype=D), 1)
    p = torch.softmax(torch.randn(6, 5, generator=gen, dtype=D), 1)
    terms = nn.KLDivLoss(reduction="none")(log_q, p)  # per element: losslab's KL is per row
    kl = losslab.kl_divergence_log(p.log(), log_q, reduction="none")
    torch.testing.assert_close(terms.sum(1), kl, **TOL)
    for reduction, count in (("batchmean", 6), ("mean", 30), ("sum", 1)):
        torch.testing.assert_close(LT.KLDivLoss(reduction=reduction)(log_q, p), kl.sum() / count, **TOL)
    with pytest.raises(ValueError, match="'none' gives per-element terms, which losslab does not compute"):
        LT.KLDivLoss(reduction="none")
    assert LT.KLDivLoss().reduction == nn.KLDivLoss().reduction == "mean"  # torch's default, with its values


def test_kl_div_sample_weight_divides_by_torchs_count_times_the_mean_weight():
    gen = _gen("kl-w")
    log_q = torch.log_softmax(torch.randn(6, 5, generator=gen, dtype=D), 1)
    p = torch.softmax(torch.randn(6, 5, generator=gen, dtype=D), 1)
    s = torch.rand(6, generator=gen, dtype=D) + 0.1
    rows = nn.KLDivLoss(reduction="none")(log_q, p).sum(1)
    for reduction, count in (("batchmean", 6), ("mean", 30)):
        got = LT.KLDivLoss(reduction=reduction)(log_q, p, sample_weight=s)
        torch.testing.assert_close(got, (s * rows).sum() / (count * s.mean()), **TOL)
    # batchmean is losslab's weighted mean over samples
    ref = losslab.kl_divergence_log(p.log(), log_q, weight=s)
    torch.testing.assert_close(LT.KLDivLoss(reduction="batchmean")(log_q, p, sample_weight=s), ref, **TOL)
    torch.testing.assert_close(LT.KLDivLoss(reduction="sum")(log_q, p, sample_weight=s), (s * rows).sum(), **TOL)
    # (B, T, V) with one weight per token or per sequence
    lq3 = torch.log_softmax(torch.randn(2, 3, 4, generator=gen, dtype=D), -1)
    p3 = torch.softmax(torch.randn(2, 3, 4, generator=gen, dtype=D), -1)
    rows3 = nn.KLDivLoss(reduction="none")(lq3, p3).sum(-1)
    tok = torch.rand(2, 3, generator=gen, dtype=D) + 0.1
    got = LT.KLDivLoss(reduction="batchmean")(lq3, p3, sample_weight=tok)
    torch.testing.assert_close(got, (tok * rows3).sum() / (2 * tok.mean()), **TOL)
    seq = torch.tensor([1.0, 3.0], dtype=D)
    got = LT.KLDivLoss(reduction="batchmean")(lq3, p3, sample_weight=seq)
    torch.testing.assert_close(got, (seq[:, None] * rows3).sum() / seq.sum(), **TOL)


def test_kl_div_zero_probabilities():
    gen = _gen("kl-0")
    log_q = torch.log_softmax(torch.randn(4, 5, generator=gen, dtype=D), 1)
    p = torch.softmax(torch.randn(4, 5, generator=gen, dtype=D), 1)
    p[0, 1] = p[2, 4] = 0.0
    p = p / p.sum(1, keepdim=True)
    for reduction in ("batchmean", "sum", "mean"):  # 0 log 0 = 0, as torch's xlogy
        _same(LT.KLDivLoss(reduction=reduction), nn.KLDivLoss(reduction=reduction), (log_q, p))
    # the same distribution as a log-target: -inf contributes 0, where torch gives NaN (0 * -inf)
    ours = LT.KLDivLoss(reduction="sum", log_target=True)(log_q, p.log())
    assert math.isnan(float(nn.KLDivLoss(reduction="sum", log_target=True)(log_q, p.log())))
    torch.testing.assert_close(ours, nn.KLDivLoss(reduction="sum")(log_q, p), **TOL)
    # a target probability where the model's is 0: infinite, as torch
    log_q[1, 2] = -math.inf
    log_q[1] = log_q[1] - torch.logsumexp(log_q[1], 0)
    assert LT.KLDivLoss(reduction="sum")(log_q, p).item() == nn.KLDivLoss(reduction="sum")(log_q, p).item() == math.inf


# ===================================================================== state
@pytest.mark.parametrize("name", ["SmoothL1Loss", "KLDivLoss"])
def test_option_only_peers_have_torchs_empty_state_dict(name):
    assert list(getattr(LT, name)().state_dict()) == list(getattr(nn, name)().state_dict()) == []


# ======================================================== deliberate differences
def test_nll_refuses_what_torch_computes_with():
    gen = _gen("nll-d")
    z = torch.randn(3, 4, generator=gen, dtype=D)
    y = torch.tensor([0, 2, 1])
    assert float(nn.NLLLoss()(z, y)) < 5  # torch takes raw logits (even giving a negative loss)
    with pytest.raises(ValueError, match="must hold log-probabilities.*losslab.cross_entropy"):
        LT.NLLLoss()(z, y)
    lp = F.log_softmax(z, 1)
    lp[1, 2] = -math.inf
    lp[1] = lp[1] - torch.logsumexp(lp[1], 0)
    assert nn.NLLLoss(reduction="none")(lp, y)[1] == math.inf
    with pytest.raises(ValueError, match="target class 2 of sample 1 has log-probability -inf"):
        LT.NLLLoss()(lp, y)
    every = torch.full((3,), -100)
    assert math.isnan(float(nn.NLLLoss()(F.log_softmax(z, 1), every)))
    with pytest.raises(ValueError, match="every target is `ignore_index`"):
        LT.NLLLoss()(F.log_softmax(z, 1), every)
    for reduction in ("sum", "none"):
        _same(LT.NLLLoss(reduction=reduction), nn.NLLLoss(reduction=reduction), (F.log_softmax(z, 1),), every)


def test_multi_margin_refuses_p2_and_negative_margins():
    x, y = torch.randn(4, 3, dtype=D), torch.tensor([0, 1, 2, 0])
    assert nn.MultiMarginLoss(p=2)(x, y) >= 0  # torch's squared violations: not available here
    with pytest.raises(ValueError, match="p=2 .* no losslab counterpart"):
        LT.MultiMarginLoss(p=2)
    assert nn.MultiMarginLoss(margin=-1.0)(x, y) >= 0  # torch takes a negative margin
    with pytest.raises(ValueError, match="`margin` must be finite and >= 0"):
        LT.MultiMarginLoss(margin=-1.0)


def test_kl_div_refuses_rows_that_are_not_distributions():
    gen = _gen("kl-d")
    x, t = torch.randn(3, 4, generator=gen, dtype=D), torch.rand(3, 4, generator=gen, dtype=D)
    assert float(nn.KLDivLoss(reduction="sum")(x, t)) == float(nn.KLDivLoss(reduction="sum")(x, t))  # computes
    with pytest.raises(ValueError, match="`log_q` must hold log-probabilities"):  # the input: the model's log q
        LT.KLDivLoss(reduction="sum")(x, torch.softmax(t, 1))
    with pytest.raises(ValueError, match="`log_p` must hold log-probabilities"):  # the target: p, or log p
        LT.KLDivLoss(reduction="sum")(F.log_softmax(x, 1), t)
    with pytest.raises(ValueError, match="`log_p` must hold log-probabilities"):  # distributions on another axis
        LT.KLDivLoss(reduction="sum")(F.log_softmax(x, 0), torch.softmax(t, 0))
    torch.testing.assert_close(
        LT.KLDivLoss(reduction="sum", axis=0)(F.log_softmax(x, 0), torch.softmax(t, 0)),
        nn.KLDivLoss(reduction="sum")(F.log_softmax(x, 0), torch.softmax(t, 0)),
        **TOL,
    )


def test_smooth_l1_negative_beta_is_refused_at_construction():
    with pytest.raises(RuntimeError, match="negative values for beta"):
        nn.SmoothL1Loss(beta=-1.0)(torch.zeros(2), torch.zeros(2))  # torch: at the call
    with pytest.raises(ValueError, match="`beta` must be finite and >= 0"):
        LT.SmoothL1Loss(beta=-1.0)
