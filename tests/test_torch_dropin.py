"""``losslab.torch`` as a drop-in for ``torch.nn``: torch's arguments, inputs, values, gradients and state dicts.

Every case builds the torch module and the losslab one from the same arguments and compares the
values and the autograd gradients in float64 (to 1e-6; they agree to ~1e-15). The places where
losslab differs from torch on purpose are tested as such at the end.
"""

from __future__ import annotations

import inspect
import itertools
import math
import pydoc
import zlib

import pytest
import torch
import torch.nn as nn

import losslab
import losslab.torch as LT

SHARED = ["MSELoss", "L1Loss", "HuberLoss", "GaussianNLLLoss", "PoissonNLLLoss", "BCELoss", "BCEWithLogitsLoss"]
SHARED += ["CrossEntropyLoss", "SmoothL1Loss", "NLLLoss", "MultiMarginLoss", "KLDivLoss"]
REDUCTIONS = ["mean", "sum", "none"]
TOL = {"rtol": 1e-6, "atol": 1e-9}
D = torch.float64


def _gen(*key) -> torch.Generator:
    # crc32, not hash(): str hashes change with every process (PYTHONHASHSEED), and so would the data.
    return torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))


def _same(ours: nn.Module, theirs: nn.Module, inputs, *rest, grad_of=(0,), **ours_only):
    """Values and autograd gradients (w.r.t. ``inputs[i]`` for i in grad_of) of both modules agree."""
    a = [x.clone().requires_grad_(i in grad_of) for i, x in enumerate(inputs)]
    b = [x.clone().requires_grad_(i in grad_of) for i, x in enumerate(inputs)]
    va, vb = ours(*a, *rest, **ours_only), theirs(*b, *rest)
    assert va.shape == vb.shape and va.dtype == vb.dtype
    torch.testing.assert_close(va, vb, **TOL)
    ga = torch.autograd.grad(va.sum(), [a[i] for i in grad_of])
    gb = torch.autograd.grad(vb.sum(), [b[i] for i in grad_of])
    for x, y in zip(ga, gb, strict=True):
        torch.testing.assert_close(x, y, **TOL)
    return va


# ==================================================================== signatures
@pytest.mark.parametrize("name", SHARED)
def test_torch_arguments_have_torchs_names_and_defaults(name):
    ours = inspect.signature(getattr(LT, name)).parameters
    theirs = inspect.signature(getattr(nn, name)).parameters
    for p in theirs.values():
        if p.name in ("size_average", "reduce"):  # deprecated in torch: not taken
            assert p.name not in ours
            continue
        assert p.name in ours, (name, p.name)
        assert ours[p.name].default == p.default, (name, p.name)
        assert ours[p.name].kind != inspect.Parameter.VAR_KEYWORD
    assert all(p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in ours.values())
    assert getattr(LT, name)().reduction == "mean"
    # positional use is torch's as far as torch's positions do not pass through a deprecated argument
    first = next(iter(theirs))
    if first not in ("size_average",):
        assert next(iter(ours)) == first


def test_help_shows_the_named_arguments():
    text = pydoc.render_doc(LT.CrossEntropyLoss, renderer=pydoc.plaintext)
    for arg in ("weight", "ignore_index", "reduction", "label_smoothing", "sample_weight"):
        assert arg in text
    assert "ignore_index: 'int' = -100" in str(inspect.signature(LT.CrossEntropyLoss))
    sig = inspect.signature(LT.GaussianNLLLoss.forward)
    assert list(sig.parameters) == ["self", "input", "target", "var", "sample_weight"]
    for name in LT.__all__:
        cls = getattr(LT, name)
        assert "options" not in inspect.signature(cls).parameters and cls.__doc__, name


def test_unknown_or_misplaced_arguments_fail_at_construction():
    with pytest.raises(TypeError, match="ignore_indx"):
        LT.CrossEntropyLoss(ignore_indx=3)
    with pytest.raises(TypeError, match="class_weight"):  # torch's name is `weight`
        LT.CrossEntropyLoss(class_weight=torch.ones(3))
    with pytest.raises(TypeError):  # torch's second positional is the deprecated size_average
        LT.CrossEntropyLoss(torch.ones(3), None)
    with pytest.raises(TypeError, match="size_average"):
        LT.MSELoss(size_average=True)
    with pytest.raises(TypeError, match="delt"):
        LT.HuberLoss(delt=2.0)
    with pytest.raises(TypeError, match="quantil"):
        LT.PinballLoss(quantil=0.2)
    with pytest.raises(ValueError, match="reduction"):
        LT.CrossEntropyLoss(reduction="avg")
    assert LT.HuberLoss("sum", 0.5).delta == 0.5  # torch's positional order
    assert LT.PoissonNLLLoss(False, True).full


# ================================================================ cross-entropy
def _ce_inputs(shape, target_kind, gen, ignore=False, ignore_index=-100):
    z = 3 * torch.randn(*shape, generator=gen, dtype=D)
    C = shape[1] if len(shape) > 1 else shape[0]
    batch = (shape[0], *shape[2:]) if len(shape) > 1 else ()
    if target_kind == "index":
        y = torch.randint(0, C, batch, generator=gen)
        if ignore:
            y = torch.where(torch.rand(batch, generator=gen) < 0.3, torch.full_like(y, ignore_index), y)
            y.view(-1)[0] = 0 if ignore_index != 0 else 1  # at least one target kept
        return z, y
    t = torch.rand(*shape, generator=gen, dtype=D) ** 3
    return z, t / t.sum(dim=1 if len(shape) > 1 else 0, keepdim=True)


CE_CASES = [
    c
    for c in itertools.product(
        [(7, 5), (5,), (3, 4, 2, 3)], ["index", "prob"], [False, True], [0.0, 0.15], [False, True], REDUCTIONS
    )
    if not (c[4] and (c[1] == "prob" or c[0] == (5,)))  # ignored targets: batched class indices only
]


@pytest.mark.parametrize(("shape", "kind", "weighted", "smoothing", "ignore", "reduction"), CE_CASES)
def test_cross_entropy_equals_torchs(shape, kind, weighted, smoothing, ignore, reduction):
    gen = _gen("ce", shape, kind, weighted, smoothing, ignore, reduction)
    z, y = _ce_inputs(shape, kind, gen, ignore)
    C = shape[1] if len(shape) > 1 else shape[0]
    w = torch.rand(C, generator=gen, dtype=D) + 0.2 if weighted else None
    kw = {"weight": w, "reduction": reduction, "label_smoothing": smoothing}
    _same(LT.CrossEntropyLoss(**kw), nn.CrossEntropyLoss(**kw), (z,), y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 0, 2, 7])
def test_cross_entropy_ignore_index_values(ignore_index, reduction):
    gen = _gen("ii", ignore_index, reduction)
    z, y = _ce_inputs((9, 4, 3), "index", gen, ignore=ignore_index in (-100, 7), ignore_index=ignore_index)
    w = torch.rand(4, generator=gen, dtype=D) + 0.2
    for kw in ({}, {"weight": w}, {"weight": w, "label_smoothing": 0.3}):
        kw = {**kw, "ignore_index": ignore_index, "reduction": reduction}
        _same(LT.CrossEntropyLoss(**kw), nn.CrossEntropyLoss(**kw), (z,), y)


def test_cross_entropy_probability_targets_ignore_the_ignore_index():
    z, t = _ce_inputs((6, 3), "prob", _gen("p"))
    for ii in (-100, -1):  # torch does not apply a negative ignore_index to probability targets
        _same(LT.CrossEntropyLoss(ignore_index=ii), nn.CrossEntropyLoss(ignore_index=ii), (z,), t)
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point target"):
        nn.CrossEntropyLoss(ignore_index=1)(z, t)
    with pytest.raises(ValueError, match="`ignore_index` applies to integer class targets only"):
        LT.CrossEntropyLoss(ignore_index=1)(z, t)


def test_cross_entropy_gradient_of_ignored_rows_is_zero():
    z, y = _ce_inputs((6, 3), "index", _gen("g0"))
    y[1] = y[4] = -100
    x = z.clone().requires_grad_(True)
    LT.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 3.0], dtype=D))(x, y).backward()
    assert x.grad[1].eq(0).all() and x.grad[4].eq(0).all() and x.grad[0].ne(0).all()


def test_cross_entropy_class_indices_of_other_integer_dtypes():
    z, y = _ce_inputs((6, 3), "index", _gen("i32"))
    torch.testing.assert_close(LT.CrossEntropyLoss()(z, y.int()), nn.CrossEntropyLoss()(z, y))


def test_cross_entropy_sample_weight():
    z, y = _ce_inputs((6, 3), "index", _gen("sw"))
    s = torch.rand(6, generator=_gen("sw2"), dtype=D)
    w = torch.tensor([1.0, 2.0, 0.5], dtype=D)
    got = LT.CrossEntropyLoss(weight=w)(z, y, sample_weight=s)
    per = nn.CrossEntropyLoss(weight=w, reduction="none")(z, y)
    torch.testing.assert_close(got, (s * per).sum() / (s * w[y]).sum(), **TOL)


# ======================================================================= binary
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6,), (6, 3), (2, 3, 4, 4)])
@pytest.mark.parametrize("weight", [None, "class", "full"])
@pytest.mark.parametrize("pos_weight", [None, "class", "full"])
def test_bce_with_logits_equals_torchs(reduction, shape, weight, pos_weight):
    gen = _gen("bcel", reduction, shape, weight, pos_weight)
    x = 3 * torch.randn(*shape, generator=gen, dtype=D)
    t = torch.rand(*shape, generator=gen, dtype=D).round()
    t.view(-1)[::5] = 0.3  # label probabilities too
    # torch's broadcasting: (C,) on the last axis for (N, C); (C, 1, 1) on axis 1 for (N, C, H, W)
    per_class = (shape[1], 1, 1) if len(shape) == 4 else shape[-1:]

    def make(kind, low):
        if kind is None:
            return None
        return torch.rand(per_class if kind == "class" else shape, generator=gen, dtype=D) + low

    kw = {"weight": make(weight, 0.0), "pos_weight": make(pos_weight, 0.1), "reduction": reduction}
    _same(LT.BCEWithLogitsLoss(**kw), nn.BCEWithLogitsLoss(**kw), (x,), t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6,), (6, 3), (2, 3, 4)])
@pytest.mark.parametrize("weight", [None, "last", "full"])
def test_bce_equals_torchs(reduction, shape, weight):
    gen = _gen("bce", reduction, shape, weight)
    p = torch.rand(*shape, generator=gen, dtype=D) * 0.96 + 0.02
    t = torch.rand(*shape, generator=gen, dtype=D).round()
    w = None if weight is None else torch.rand(shape[-1:] if weight == "last" else shape, generator=gen, dtype=D)
    kw = {"weight": w, "reduction": reduction}
    _same(LT.BCELoss(**kw), nn.BCELoss(**kw), (p,), t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_weight_with_sample_weight(reduction):
    """torch's ``weight`` rescales; ``sample_weight`` weighs samples, and "mean" divides by its total."""
    gen = _gen("tw", reduction)
    x, t = torch.randn(5, 3, generator=gen, dtype=D), torch.rand(5, 3, generator=gen, dtype=D).round()
    w, s = torch.rand(3, generator=gen, dtype=D), torch.rand(5, generator=gen, dtype=D) + 0.1
    got = LT.BCEWithLogitsLoss(weight=w, reduction=reduction)(x, t, sample_weight=s)
    per = nn.BCEWithLogitsLoss(weight=w, reduction="none")(x, t) * s[:, None]
    ref = {"none": per, "sum": per.sum(), "mean": per.sum() / (3 * s.sum())}[reduction]
    torch.testing.assert_close(got, ref, **TOL)
    got = LT.BCELoss(weight=w, reduction=reduction)(torch.sigmoid(x), t, sample_weight=s)
    torch.testing.assert_close(got, ref, **TOL)
    with pytest.raises(ValueError, match="`sample_weight` must have shape"):
        LT.BCELoss(weight=w)(torch.sigmoid(x), t, sample_weight=s[:3])


# =================================================================== regression
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4)])
@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "HuberLoss"])
def test_regression_equals_torchs(name, shape, reduction):
    gen = _gen(name, shape, reduction)
    x, y = 2 * torch.randn(*shape, generator=gen, dtype=D), torch.randn(*shape, generator=gen, dtype=D)
    options = [{}] if name != "HuberLoss" else [{}, {"delta": 0.5}, {"delta": 3.0}]
    for kw in options:
        kw = {**kw, "reduction": reduction}
        _same(getattr(LT, name)(**kw), getattr(nn, name)(**kw), (x, y), grad_of=(0, 1))


VAR_SHAPES = {"same": (4, 3), "no last axis": (4,), "one axis 1": (4, 1), "number": None}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", list(VAR_SHAPES))
@pytest.mark.parametrize("clamped", [False, True])
def test_gaussian_nll_equals_torchs(reduction, full, var_shape, clamped):
    gen = _gen("gnll", reduction, full, var_shape, clamped)
    x, y = torch.randn(4, 3, generator=gen, dtype=D), torch.randn(4, 3, generator=gen, dtype=D)
    kw = {"full": full, "reduction": reduction, "eps": 1e-2 if clamped else 1e-6}
    ours, theirs = LT.GaussianNLLLoss(**kw), nn.GaussianNLLLoss(**kw)
    if VAR_SHAPES[var_shape] is None:
        v = 0.005 if clamped else 0.7
        _same(ours, theirs, (x, y), v, grad_of=(0, 1))
        return
    v = torch.rand(VAR_SHAPES[var_shape], generator=gen, dtype=D) + 0.1
    if clamped:
        v.view(-1)[::2] = 0.0  # below eps (and 0): the value is clamped, the gradient passes through
        v.view(-1)[1] = 0.004
    _same(ours, theirs, (x, y, v), grad_of=(0, 1, 2))


def test_gaussian_nll_target_broadcast_and_bad_var():
    gen = _gen("gb")
    x, v = torch.randn(4, 3, generator=gen, dtype=D), torch.rand(4, 3, generator=gen, dtype=D) + 0.1
    y = torch.randn(4, 1, generator=gen, dtype=D)  # torch: "same shape as the input but with one dimension 1"
    _same(LT.GaussianNLLLoss(), nn.GaussianNLLLoss(), (x, y, v))
    with pytest.raises(ValueError, match="var"):
        LT.GaussianNLLLoss()(x, y, torch.rand(2, 3, dtype=D))
    with pytest.raises(ValueError, match="var"):
        nn.GaussianNLLLoss()(x, y, torch.rand(2, 3, dtype=D))
    neg = v.clone()
    neg[1, 1] = -0.5
    with pytest.raises(ValueError, match="var"):
        LT.GaussianNLLLoss()(x, y.expand(4, 3), neg)  # torch: "var has negative entry/entries"
    with pytest.raises(ValueError, match="var"):
        LT.GaussianNLLLoss()(x, y, -1.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("shape", [(8,), (4, 3)])
def test_poisson_nll_equals_torchs(reduction, log_input, shape):
    gen = _gen("pnll", reduction, log_input, shape)
    eta = torch.randn(*shape, generator=gen, dtype=D)
    y = torch.poisson(torch.exp(eta), generator=gen)
    x = eta if log_input else torch.exp(eta)
    x.view(-1)[0] = 0.0 if not log_input else x.view(-1)[0]  # a zero rate: log(0 + eps)
    for eps in (1e-8, 0.1):
        kw = {"log_input": log_input, "reduction": reduction, "eps": eps}
        _same(LT.PoissonNLLLoss(**kw), nn.PoissonNLLLoss(**kw), (x,), y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_rates_with_sample_weight(reduction):
    gen = _gen("pw", reduction)
    x, y = torch.rand(4, 3, generator=gen, dtype=D) * 3, torch.randint(0, 5, (4, 3), generator=gen).to(D)
    for s in (torch.rand(4, generator=gen, dtype=D) + 0.1, torch.rand(4, 3, generator=gen, dtype=D)):
        got = LT.PoissonNLLLoss(log_input=False, reduction=reduction)(x, y, sample_weight=s)
        sb = s if s.shape == x.shape else s[:, None].expand_as(x)
        per = sb * nn.PoissonNLLLoss(log_input=False, reduction="none")(x, y)
        torch.testing.assert_close(got, {"none": per, "sum": per.sum(), "mean": per.sum() / sb.sum()}[reduction])


# =================================================================== state dicts
BUFFERED = [
    ("CrossEntropyLoss", {"weight": (3,)}),
    ("BCELoss", {"weight": (3,)}),
    ("BCEWithLogitsLoss", {"weight": (3,)}),
    ("BCEWithLogitsLoss", {"pos_weight": (3,)}),
    ("BCEWithLogitsLoss", {"weight": (3,), "pos_weight": (3,)}),
    ("NLLLoss", {"weight": (3,)}),
    ("MultiMarginLoss", {"weight": (3,)}),
]


@pytest.mark.parametrize(("name", "shapes"), BUFFERED)
def test_state_dicts_load_strictly_both_ways(name, shapes):
    gen = _gen("sd", name, tuple(shapes))
    given = {k: torch.rand(s, generator=gen) + 0.5 for k, s in shapes.items()}
    ones = {k: torch.ones(s) for k, s in shapes.items()}
    theirs, ours = getattr(nn, name)(**given), getattr(LT, name)(**given)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(getattr(LT, name)().state_dict()) == list(getattr(nn, name)().state_dict()) == []
    assert set(ours._buffers) == set(theirs._buffers)  # None buffers registered as torch does
    # torch's checkpoint into ours: into a module with the buffers, and into one without (taken over)
    for target in (getattr(LT, name)(**ones), getattr(LT, name)()):
        assert not target.load_state_dict(theirs.state_dict(), strict=True).missing_keys
        for k, v in given.items():
            torch.testing.assert_close(getattr(target, k), v, rtol=0, atol=0)
    # ours into torch's
    back = getattr(nn, name)(**ones)
    back.load_state_dict(ours.state_dict(), strict=True)
    for k, v in given.items():
        torch.testing.assert_close(getattr(back, k), v, rtol=0, atol=0)
    # and the loaded module computes torch's loss
    x = torch.randn(4, 3, dtype=torch.float64)
    indices = name in ("CrossEntropyLoss", "NLLLoss", "MultiMarginLoss")
    t = torch.randint(0, 3, (4,)) if indices else torch.rand(4, 3, dtype=torch.float64).round()
    if name == "BCELoss":
        x = torch.sigmoid(x)
    if name == "NLLLoss":
        x = torch.log_softmax(x, 1)
    loaded = getattr(LT, name)()
    loaded.load_state_dict(theirs.state_dict())
    loaded, theirs = loaded.double(), theirs.double()
    torch.testing.assert_close(loaded(x, t), theirs(x, t), **TOL)
    assert all(b.dtype == torch.float64 for b in loaded.buffers())


def test_state_dict_missing_buffer_is_an_error_as_in_torch():
    ours = LT.CrossEntropyLoss(weight=torch.ones(3))
    with pytest.raises(RuntimeError, match="Missing key"):
        ours.load_state_dict(nn.CrossEntropyLoss().state_dict(), strict=True)
    with pytest.raises(RuntimeError, match="Missing key"):
        nn.CrossEntropyLoss(weight=torch.ones(3)).load_state_dict(LT.CrossEntropyLoss().state_dict())


def test_module_inside_a_model_state_dict():
    class Model(nn.Module):
        def __init__(self, crit):
            super().__init__()
            self.lin, self.crit = nn.Linear(3, 3), crit

    w = torch.tensor([1.0, 2.0, 3.0])
    sd = Model(nn.CrossEntropyLoss(weight=w)).state_dict()
    m = Model(LT.CrossEntropyLoss(weight=torch.ones(3)))
    m.load_state_dict(sd, strict=True)
    torch.testing.assert_close(m.crit.weight, w)


# ======================================================== deliberate differences
def test_every_target_ignored_under_mean_is_an_error_where_torch_returns_nan():
    z = torch.randn(3, 4, dtype=D)
    y = torch.full((3,), -100)
    assert math.isnan(float(nn.CrossEntropyLoss()(z, y)))
    with pytest.raises(ValueError, match="every target is `ignore_index`"):
        LT.CrossEntropyLoss()(z, y)
    for reduction in ("sum", "none"):  # the same as torch's: zeros
        _same(LT.CrossEntropyLoss(reduction=reduction), nn.CrossEntropyLoss(reduction=reduction), (z,), y)


def test_bce_floors_the_log_at_machine_eps_where_torch_clamps_at_minus_100():
    p, t = torch.tensor([0.0, 1.0, 0.5], dtype=D), torch.tensor([1.0, 0.0, 1.0], dtype=D)
    ours = LT.BCELoss(reduction="none")(p, t)
    theirs = nn.BCELoss(reduction="none")(p, t)
    torch.testing.assert_close(theirs[:2], torch.tensor([100.0, 100.0], dtype=D))
    floor = -math.log(torch.finfo(D).eps)  # 36.04
    torch.testing.assert_close(ours[:2], torch.tensor([floor, floor], dtype=D))
    torch.testing.assert_close(ours[2], theirs[2])
    p32 = p.float()
    assert abs(float(LT.BCELoss(reduction="none")(p32, t.float())[0]) - 15.942385) < 1e-5


def test_poisson_full_is_the_exact_log_factorial_where_torch_uses_stirling():
    x = torch.randn(6, dtype=D)
    y = torch.tensor([0.0, 1.0, 2.0, 3.0, 10.0, 50.0], dtype=D)
    ours = LT.PoissonNLLLoss(full=True, reduction="none")(x, y)
    theirs = nn.PoissonNLLLoss(full=True, reduction="none")(x, y)
    plain = nn.PoissonNLLLoss(reduction="none")(x, y)
    torch.testing.assert_close(ours - plain, torch.lgamma(y + 1), **TOL)
    stirling = torch.where(y > 1, y * torch.log(y) - y + 0.5 * torch.log(2 * math.pi * y), torch.zeros_like(y))
    torch.testing.assert_close(theirs - plain, stirling, **TOL)
    diff = (ours - theirs).tolist()
    assert diff[0] == diff[1] == 0.0 and 0.041 < diff[2] < 0.042 and abs(diff[4] - 1 / 120) < 1e-5
    # the gradient w.r.t. the input is the same
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    LT.PoissonNLLLoss(full=True)(a, y).backward()
    nn.PoissonNLLLoss(full=True)(b, y).backward()
    torch.testing.assert_close(a.grad, b.grad, **TOL)


def test_losslab_checks_what_torch_computes_with():
    x = torch.randn(4, 3, dtype=D)
    t = torch.rand(4, 3, dtype=D).round()
    with pytest.raises(ValueError, match="weight"):  # torch rescales by a negative weight
        LT.BCEWithLogitsLoss(weight=-torch.ones(3, dtype=D))(x, t)
    with pytest.raises(ValueError, match="pos_weight"):  # torch takes pos_weight <= 0
        LT.BCEWithLogitsLoss(pos_weight=torch.zeros(3, dtype=D))(x, t)
    with pytest.raises(ValueError, match="target"):  # torch broadcasts (4, 1) against (4, 3) with a warning
        LT.MSELoss()(x, t[:, :1])
    with pytest.raises(ValueError, match="counts"):  # torch computes with negative counts
        LT.PoissonNLLLoss()(x, -t - 1)
    with pytest.raises(ValueError, match="class_weight"):  # negative class weights
        LT.CrossEntropyLoss(weight=-torch.ones(3, dtype=D))(x, torch.tensor([0, 1, 2, 0]))


def test_half_precision_reduced_losses_come_back_in_float32():
    z, y = torch.randn(8, 5).half(), torch.randint(0, 5, (8,))
    out = LT.CrossEntropyLoss()(z, y)
    assert out.dtype == torch.float32  # torch returns float16 here
    torch.testing.assert_close(out, nn.CrossEntropyLoss()(z.float(), y), rtol=1e-3, atol=1e-3)
    assert LT.CrossEntropyLoss(reduction="none")(z, y).dtype == torch.float16


def test_the_module_equals_the_function_with_torchs_axis():
    z, y = _ce_inputs((3, 4, 5), "index", _gen("fn"), ignore=True)
    w = torch.rand(4, dtype=D) + 0.5
    got = LT.CrossEntropyLoss(weight=w, label_smoothing=0.2)(z, y)
    ref = losslab.cross_entropy(z, y, axis=1, class_weight=w, ignore_index=-100, label_smoothing=0.2)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


# ================================================================ graph-clean forward
def _stub(x, t, **kw):
    """Stands in for the losslab function: pure torch, reads every tensor it is given."""
    out = x.sum() + (0.0 if t is None else t.sum())
    for v in kw.values():
        if isinstance(v, torch.Tensor):
            out = out + v.sum()
    return out


_W3 = torch.ones(3)
GRAPH_CASES = {
    "CrossEntropyLoss": ({"weight": _W3}, (torch.randn(4, 3), torch.tensor([0, 1, -100, 2]))),
    "CrossEntropyLoss-probs": ({"weight": _W3}, (torch.randn(4, 3, 2), torch.rand(4, 3, 2))),
    "CrossEntropyLoss-unbatched": ({}, (torch.randn(3), torch.tensor(1))),
    "BCEWithLogitsLoss": ({"weight": _W3, "pos_weight": torch.ones(3, 1)}, (torch.randn(3, 3), torch.rand(3, 3))),
    "BCELoss": ({"weight": _W3}, (torch.rand(4, 3), torch.rand(4, 3))),
    "GaussianNLLLoss": ({}, (torch.randn(4, 3), torch.randn(4, 1), torch.rand(4))),
    "GaussianNLLLoss-number": ({"full": True}, (torch.randn(4, 3), torch.randn(4, 3), 0.5)),
    "PoissonNLLLoss": ({"log_input": False, "reduction": "sum"}, (torch.rand(4, 3), torch.rand(4, 3))),
    "MSELoss": ({}, (torch.randn(4), torch.randn(4))),
    "L1Loss": ({}, (torch.randn(4), torch.randn(4))),
    "HuberLoss": ({"delta": 0.5}, (torch.randn(4), torch.randn(4))),
    "PinballLoss": ({"quantile": 0.2}, (torch.randn(4), torch.randn(4))),
    "LaplaceNLLLoss": ({"scale": torch.ones(4)}, (torch.randn(4), torch.randn(4))),
    "GeneralizedCrossEntropyLoss": ({"class_weight": _W3}, (torch.randn(4, 3), torch.tensor([0, 1, 2, 2]))),
    "LogLoss": ({}, (torch.rand(4, 3), torch.tensor([0, 1, 2, 2]))),
    "BrierScore": ({}, (torch.rand(4, 3), torch.tensor([0, 1, 2, 2]))),
    "KLDivergence": ({}, (torch.rand(4, 3), torch.rand(4, 3))),
    "DistillationLoss": ({"temperature": 3.0}, (torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 2]))),
    "SmoothL1Loss": ({"beta": 0.5}, (torch.randn(4), torch.randn(4))),
    "NLLLoss": ({"weight": _W3}, (torch.randn(4, 3, 2), torch.tensor([[0, 1], [-100, 2], [1, 1], [2, 0]]))),
    "NLLLoss-unbatched": ({}, (torch.randn(3), torch.tensor(1))),
    "MultiMarginLoss": ({"weight": _W3}, (torch.randn(4, 3), torch.tensor([0, 1, 2, 2]))),
    "MultiMarginLoss-sum": ({"weight": _W3, "reduction": "sum"}, (torch.randn(4, 3), torch.tensor([0, 1, 2, 2]))),
    "MultiMarginLoss-unweighted": ({}, (torch.randn(3), torch.tensor(1))),
    "KLDivLoss": ({}, (torch.randn(4, 3), torch.rand(4, 3))),
    "KLDivLoss-batchmean": ({"reduction": "batchmean", "log_target": True}, (torch.randn(4, 3), torch.randn(4, 3))),
    "KLDivLoss-sum": ({"reduction": "sum", "axis": 1}, (torch.randn(2, 3, 4), torch.rand(2, 3, 4))),
    "SigmoidFocalLoss": ({"alpha": None}, (torch.randn(4, 3), torch.rand(4, 3))),
    "FocalLoss": ({"weight": _W3}, (torch.randn(4, 3), torch.tensor([0, 1, -100, 2]))),
    "Poly1CrossEntropyLoss": ({"weight": _W3}, (torch.randn(4, 3), torch.tensor([0, 1, -100, 2]))),
    "Poly1CrossEntropyLoss-probs": ({}, (torch.randn(4, 3, 2), torch.rand(4, 3, 2))),
    "MulticlassHingeLoss": ({"weight": _W3, "form": "weston_watkins"}, (torch.randn(4, 3), torch.tensor([0, 1, 2, 2]))),
    "HingeLoss": ({}, (torch.randn(4), torch.randn(4).sign())),
    "SquaredHingeLoss": ({}, (torch.randn(4), torch.randn(4).sign())),
    "LogCoshLoss": ({}, (torch.randn(4), torch.randn(4))),
}


def test_graph_cases_cover_every_module():
    assert {k.split("-")[0] for k in GRAPH_CASES} == set(LT.__all__)


@pytest.mark.parametrize("key", list(GRAPH_CASES))
def test_forward_adds_no_graph_break(key):
    """The module's own code (option reads, shape logic, torch's broadcasting) compiles in one graph;
    the losslab function is replaced by a pure-torch stub, so this tests the module alone."""
    name = key.split("-")[0]
    ctor, args = GRAPH_CASES[key]
    cls = type(name, (getattr(LT, name),), {"fn": staticmethod(_stub)})
    mod = cls(**ctor)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(mod)(*args)
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    compiled = torch.compile(mod, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(*args), mod(*args))
