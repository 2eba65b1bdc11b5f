"""A catalogue of bad inputs to the losses (issue 11): each gets a clear error with a pinned message,
or the right value. Every row is (function, args, kwargs, exception, message regex)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losslab as L
from losslab import grad as G
from losslab.registry import LOSSES

Z = np.zeros((2, 3))
Y = np.array([1, 0])
P = np.full((2, 3), 1 / 3)
R = np.array([0.1, 0.2, 0.3])
MASKED = np.ma.masked_array(R, mask=[0, 1, 0])

CATALOGUE = [
    # 1. masked arrays are refused in as_arrays, naming the argument and the fix
    (L.mse, (MASKED, np.zeros(3)), {}, TypeError, r"`pred` is a NumPy masked.*\.filled\(value\).*\.compressed\(\)"),
    (L.mae, (R, MASKED), {}, TypeError, r"`target` is a NumPy masked array"),
    (L.mse, (R, R), {"weight": MASKED}, TypeError, r"`weight` is a NumPy masked array"),
    (G.mse, (MASKED, R), {}, TypeError, r"`pred` is a NumPy masked array"),
    (L.cross_entropy, (np.ma.masked_array(Z, mask=Z == 0), Y), {}, TypeError, r"`logits` is a NumPy masked array"),
    (L.log_loss, (np.ma.masked_array(P), Y), {}, TypeError, r"`probs` is a NumPy masked array"),
    (L.kl_divergence, (np.ma.masked_array(P), P), {}, TypeError, r"`p` is a NumPy masked array"),
    (L.distillation_loss, (Z, np.ma.masked_array(Z)), {}, TypeError, r"`teacher_logits` is a NumPy masked array"),
    # 3. integer options: ignore_index and axis
    (L.cross_entropy, (Z, Y), {"ignore_index": True}, TypeError, r"`ignore_index` must be an int; got bool True"),
    (L.cross_entropy, (Z, Y), {"ignore_index": 1.0}, TypeError, r"`ignore_index` must be an int; got float"),
    (L.nll_loss, (np.log(P), Y), {"ignore_index": True}, TypeError, r"`ignore_index` must be an int"),
    (L.focal_loss, (Z, Y), {"ignore_index": False}, TypeError, r"`ignore_index` must be an int"),
    (L.cross_entropy, (Z, Y), {"axis": True}, TypeError, r"`axis` must be an int; got bool True"),
    (L.cross_entropy, (Z, Y), {"axis": "1"}, TypeError, r"`axis` must be an int; got str '1'"),
    (L.cross_entropy, (Z, Y), {"axis": 2}, ValueError, r"`axis` must be in \[-2, 1\] for 2-d `logits`; got 2"),
    (L.entropy, (P,), {"axis": "1"}, TypeError, r"`axis` must be an int"),
    (L.kl_divergence, (P, P), {"axis": 1.0}, TypeError, r"`axis` must be an int"),
    (L.kl_divergence_log, (np.log(P), np.log(P)), {"axis": True}, TypeError, r"`axis` must be an int"),
    # 4. probabilities that are not 1-d or 2-d
    (L.log_loss, (0.5, 1), {}, ValueError, r"`probs` must be 1-d .* or 2-d \(n, C\); got shape \(\)"),
    (L.brier_score, (0.5, 1), {}, ValueError, r"`probs` must be 1-d .* or 2-d \(n, C\); got shape \(\)"),
    # 5. unordered quantiles
    (L.pinball, (Z[:, :2], np.zeros(2)), {"quantile": {0.1, 0.9}}, TypeError, r"unordered set: pass sorted"),
    (L.pinball, (Z[:, :2], np.zeros(2)), {"quantile": frozenset({0.1, 0.9})}, TypeError, r"unordered frozenset"),
    (G.pinball, (Z[:, :2], np.zeros(2)), {"quantile": {0.1, 0.9}}, TypeError, r"unordered set"),
    # 8. weights that underflow (or overflow) in the loss's dtype
    (L.mse, (np.ones(3, np.float32), np.zeros(3, np.float32)), {"weight": [1e-50] * 3}, ValueError,
     r"`weight` holds 1e-50, which underflows to 0 in float32 .*float64"),
    (L.mse, (np.ones(3, np.float32), np.zeros(3, np.float32)), {"weight": np.full(3, 1e-50)}, ValueError,
     r"`weight` holds 1e-50 at index 0, which underflows to 0 in float32 .*compute in float64"),
    (L.mse, (np.ones(3, np.float32), np.zeros(3, np.float32)), {"weight": np.array([1.0, 1e300, 1.0])}, ValueError,
     r"`weight` holds 1e\+300 at index 1, which overflows to inf in float32"),
]  # fmt: skip

# 2. a missing target, for every loss of the registry that takes one
_TARGET_NAMES = {"kl_divergence": "q", "kl_divergence_log": "log_q", "distillation_loss": "teacher_logits"}
for _name, _spec in LOSSES.items():
    if _spec.target_kind == "none":
        continue
    _arg = _TARGET_NAMES.get(_name, "target")
    CATALOGUE.append((_spec.fn, (P, None), {}, TypeError, rf"`{_arg}` is required; got None"))
    if _spec.grad is not None:
        CATALOGUE.append((_spec.grad, (P, None), {}, TypeError, rf"`{_arg}` is required; got None"))


# 9. issue 11 leftovers. The distillation gradient raises exactly where the loss does: a student logit of
# -inf where the teacher puts probability (the loss is +inf, q - p stays finite), T**2 overflowing.
NINF = -np.inf
S_MASKED = np.array([[NINF, 0.0, 0.0], [0.5, 0.2, 0.1]])
TEACHER = np.array([[2.0, 0.0, -2.0], [0.1, 0.2, 0.3]])
_PROB_POSITIVE = r"`student_logits` is -inf at index \(0, 0\) where the teacher's probability is positive"
_DISTILL_BAD = [
    ((S_MASKED, TEACHER), {}, ValueError, _PROB_POSITIVE),
    ((S_MASKED, TEACHER), {"reduction": "none"}, ValueError, _PROB_POSITIVE),
    ((S_MASKED, TEACHER), {"target": np.array([1, 1])}, ValueError, _PROB_POSITIVE),
    ((np.moveaxis(S_MASKED, 0, 1), np.moveaxis(TEACHER, 0, 1)), {"axis": 0}, ValueError,
     r"`student_logits` is -inf at index \(0, 0\)"),
    ((S_MASKED, S_MASKED), {"target": np.array([0, 1])}, ValueError,
     r"the target class 0 of sample 0 has student logit -inf \(probability 0\)"),
    ((TEACHER, np.array([[NINF] * 3, [0.0] * 3])), {}, ValueError,
     r"row 0 of `teacher_logits` is -inf for every class; no distribution remains"),
    ((TEACHER, TEACHER[::-1]), {"temperature": 1e308}, ValueError, r"the distillation loss overflowed float64"),
    ((np.float32(np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]]) * 3e38), np.float32(TEACHER)), {}, ValueError,
     r"the distillation loss overflowed float32 .*compute in float64"),
]  # fmt: skip
for _fn in (L.distillation_loss, G.distillation_loss):
    CATALOGUE += [(_fn, *_case) for _case in _DISTILL_BAD]

# Integer labels are range-checked in their own dtype: uint64 2**63 is not "-9223372036854775808", and
# 2**64 - 100 does not wrap onto ignore_index=-100. Float labels are refused before any cast (no warning).
_U = np.array([2**63, 0], dtype=np.uint64)
CATALOGUE += [
    (L.cross_entropy, (Z, _U), {}, ValueError, r"`target` must hold class indices in \[0, 2\]; got 9223372036854775808 "
     r"at index 0"),
    (G.cross_entropy, (Z, _U), {}, ValueError, r"got 9223372036854775808 at index 0"),
    (L.nll_loss, (np.log(P), _U), {}, ValueError, r"got 9223372036854775808 at index 0"),
    (L.focal_loss, (Z, _U), {}, ValueError, r"got 9223372036854775808 at index 0"),
    (L.cross_entropy, (Z, np.array([2**64 - 100, 0], np.uint64)), {"ignore_index": -100}, ValueError,
     r"in \[0, 2\] or ignore_index=-100; got 18446744073709551516 at index 0"),
    (L.cross_entropy, (Z[:1], np.array([1e300])), {}, TypeError, r"`target` has a floating dtype \(float64\)"),
    # Integral float labels are class indices for the metrics (as scikit-learn's); others are named as given.
    (L.log_loss, (P[:1], np.array([1e300])), {}, ValueError, r"class indices in \[0, \d+\] \(columns of `probs`\); "
     r"got 1e\+300 at index 0"),
    (L.brier_score, (P[:1], np.array([np.nan])), {}, ValueError, r"got nan at index 0"),
    (L.brier_score, (np.array([0.2, 0.7]), np.array([0.0, 0.5])), {}, ValueError, r"got the non-integral 0.5 at "
     r"index 1\. Round the labels"),
    (L.log_loss, (np.array([0.2, 0.7]), np.array([0, 2**63], np.uint64)), {}, ValueError,
     r"got 9223372036854775808 at index 1"),
]  # fmt: skip

# Values that the conversion to the inputs' float dtype would lose, said as given (not "total weight is 0",
# not "contains inf"), for Python sequences (also into torch, which converts them itself) and arrays alike.
F32 = np.ones(3, np.float32)
Z32 = np.zeros((3, 3), np.float32)
Y3 = np.array([0, 1, 2])
CATALOGUE += [
    (L.mse, (torch.ones(3), torch.zeros(3)), {"weight": [1e-50] * 3}, ValueError,
     r"`weight` holds 1e-50, which underflows to 0 in float32 \(the inputs' dtype\)"),
    (L.cross_entropy, (torch.zeros(3, 3), torch.tensor([0, 1, 2])), {"weight": [1e-50] * 3}, ValueError,
     r"`weight` holds 1e-50, which underflows to 0 in float32"),
    (L.mse, (F32, F32), {"weight": [1.0, 1e300, 1.0]}, ValueError, r"`weight` holds 1e\+300, which overflows to inf "
     r"in float32 \(the inputs' dtype\); rescale the weights"),
    (L.mse, (torch.ones(3), torch.zeros(3)), {"weight": [1.0, 1e300, 1.0]}, ValueError,
     r"`weight` holds 1e\+300, which overflows to inf in float32"),
    (L.mse, (F32, F32), {"weight": [-1e-50, 1.0, 1.0]}, ValueError, r"`weight` holds -1e-50, which underflows to 0"),
    (L.cross_entropy, (Z32, Y3), {"class_weight": np.full(3, 1e-50)}, ValueError,
     r"`class_weight` holds 1e-50 at index 0, which underflows to 0 in float32 \(the loss's dtype\)"),
    (L.cross_entropy, (Z32, Y3), {"class_weight": np.array([1.0, 1e300, 1.0])}, ValueError,
     r"`class_weight` holds 1e\+300 at index 1, which overflows to inf in float32"),
    (G.cross_entropy, (Z32, Y3), {"class_weight": [1e-50] * 3}, ValueError, r"`class_weight` holds 1e-50, which "
     r"underflows to 0 in float32"),
    (L.cross_entropy, (torch.zeros(3, 3), torch.tensor([0, 1, 2])), {"class_weight": torch.full((3,), 1e-50,
     dtype=torch.float64)}, ValueError, r"`class_weight` holds 1e-50 at index 0, which underflows to 0 in float32"),
    (L.mse, (F32, [1e300, 0.0, 0.0]), {}, ValueError, r"`target` holds 1e\+300, which overflows to inf in float32 "
     r"\(the inputs' dtype\); rescale it or compute in float64"),
    (L.mse, (torch.ones(3), [1e300, 0.0, 0.0]), {}, ValueError, r"`target` holds 1e\+300, which overflows to inf"),
    (L.mse, (F32, 1e300), {}, ValueError, r"`target` holds 1e\+300, which overflows to inf in float32"),
    (L.smooth_labels, (np.array([0, 1]), np.int64(0), 0.1), {}, ValueError,
     r"`num_classes` must be a positive integer; got (np\.int64\()?0"),
]  # fmt: skip


def _id(case):
    fn, _, kwargs, exc, _ = case
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}-{'-'.join(kwargs) or 'args'}-{exc.__name__}"


@pytest.mark.parametrize("case", CATALOGUE, ids=[_id(c) for c in CATALOGUE])
def test_bad_input_is_a_clear_error(case):
    fn, args, kwargs, exc, message = case
    with pytest.raises(exc, match=message):
        fn(*args, **kwargs)


def test_masked_arrays_refused_by_every_loss():
    for spec in LOSSES.values():
        with pytest.raises(TypeError, match="masked array"):
            spec.fn(np.ma.masked_array(P), *(() if spec.target_kind == "none" else (P,)))


# The right value, where the input is unusual but valid.
def test_numpy_integers_are_integers():
    a = L.smooth_labels(np.array([0, 2]), np.int64(3), 0.3)
    np.testing.assert_allclose(a, L.smooth_labels(np.array([0, 2]), 3, 0.3))
    assert L.cross_entropy(Z, Y, axis=np.int64(-1)) == L.cross_entropy(Z, Y)
    assert L.cross_entropy(Z, Y, ignore_index=np.int32(1)) == L.cross_entropy(Z[1:], Y[1:])


@pytest.mark.parametrize("num_classes", [True, 2.0, 0, "3"])
def test_smooth_labels_num_classes_still_refused(num_classes):
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer"):
        L.smooth_labels(np.array([0, 1]), num_classes, 0.1)


def test_quantiles_as_list_or_tuple_stay_fine():
    pred, t = np.array([[0.0, 1.0]]), np.array([0.5])
    assert L.pinball(pred, t, quantile=[0.1, 0.9]) == L.pinball(pred, t, quantile=(0.1, 0.9))


@pytest.mark.parametrize(("dtype", "huge"), [(np.float64, 1e308), (np.float32, 3e38)])
def test_weighted_mean_of_equal_huge_weights_is_the_unweighted_mean(dtype, huge):
    pred, t = np.array([1.0, 2.0, 4.0], dtype), np.zeros(3, dtype)
    w = np.full(3, huge, dtype)
    assert L.mse(pred, t, weight=w) == pytest.approx(L.mse(pred, t), rel=1e-6)
    np.testing.assert_allclose(G.mse(pred, t, weight=w), G.mse(pred, t), rtol=1e-6)
    z, y = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype), np.array([0, 1, 2])
    assert L.cross_entropy(z, y, weight=w) == pytest.approx(L.cross_entropy(z, y), rel=1e-6)
    cw = np.ones(3, dtype)
    assert L.cross_entropy(z, y, weight=w, class_weight=cw) == pytest.approx(L.cross_entropy(z, y), rel=1e-6)
    assert L.log_loss(np.full((3, 2), 0.5, dtype), np.array([0, 1, 1]), weight=w) == pytest.approx(np.log(2))


# ---------------------------------------------------------------- issue 11 leftovers: the right value
_DISTILL_INPUTS = [
    (S_MASKED, TEACHER, {}),
    (S_MASKED, S_MASKED, {}),  # masked alike in both: a finite loss (0 log 0 = 0)
    (S_MASKED, S_MASKED, {"target": np.array([1, 1])}),
    (S_MASKED, S_MASKED, {"target": np.array([0, 1])}),
    (TEACHER, np.array([[NINF, 0.0, 0.0], [0.0, 0.0, 0.0]]), {}),
    (TEACHER, TEACHER[::-1], {"temperature": 1e308}),
    (TEACHER, TEACHER[::-1], {"temperature": 1e-300}),
    (TEACHER * 1e300, TEACHER, {}),
    (np.array([[np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]]), TEACHER, {}),
    (TEACHER, np.array([[np.inf, 0.0, 0.0], [0.0, 0.0, 0.0]]), {"reduction": "sum"}),
    (S_MASKED, TEACHER, {"weight": np.array([0.0, 1.0])}),
]


def _outcome(fn, s, t, kw):
    try:
        return "ok", fn(s, t, **kw)
    except ValueError as e:
        return "error", str(e)


@pytest.mark.parametrize(("s", "t", "kw"), _DISTILL_INPUTS)
def test_distillation_gradient_raises_exactly_where_the_loss_does(s, t, kw):
    loss_kind, loss = _outcome(L.distillation_loss, s, t, kw)
    grad_kind, grad = _outcome(G.distillation_loss, s, t, kw)
    assert loss_kind == grad_kind, (loss, grad)
    if loss_kind == "error":
        assert loss == grad
    else:
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


def test_distillation_gradient_with_classes_masked_alike_is_the_unmasked_one():
    s, t = np.array([[NINF, 1.0, 0.0]]), np.array([[NINF, 2.0, -1.0]])
    g = G.distillation_loss(s, t, temperature=2.0)
    np.testing.assert_allclose(g[:, 1:], G.distillation_loss(s[:, 1:], t[:, 1:], temperature=2.0))
    assert g[0, 0] == 0.0


BF16 = pytest.importorskip("ml_dtypes").bfloat16


def _bf16(*arrays):
    return tuple(np.asarray(a).astype(BF16) for a in arrays)


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (L.mse, ([0.5, -1.0, 2.0], [0.0, 1.0, 1.0])),
        (G.mse, ([0.5, -1.0, 2.0], [0.0, 1.0, 1.0])),
        (L.binary_cross_entropy_with_logits, ([0.5, -1.0, 2.0], [0.0, 1.0, 1.0])),
        (G.binary_cross_entropy_with_logits, ([0.5, -1.0, 2.0], [0.0, 1.0, 1.0])),
        (L.huber, ([0.5, -1.0, 2.0], [0.0, 1.0, 1.0])),
    ],
)
def test_numpy_bfloat16_computes_in_float32(fn, args):
    """ml_dtypes' bfloat16 (what JAX hands to NumPy) is exact in float32: computed there, the result float32."""
    got = fn(*_bf16(*args))
    want = fn(*(np.asarray(a).astype(BF16).astype(np.float32) for a in args))
    assert np.asarray(got).dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_numpy_bfloat16_logits_weights_and_scalars():
    z = np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]])
    y = np.array([0, 2])
    (zb,) = _bf16(z)
    z32 = zb.astype(np.float32)
    assert L.cross_entropy(zb, y) == L.cross_entropy(z32, y) and L.cross_entropy(zb, y).dtype == np.float32
    np.testing.assert_array_equal(G.cross_entropy(zb, y), G.cross_entropy(z32, y))
    assert G.cross_entropy(zb, y).dtype == np.float32
    assert L.cross_entropy(z32, y, weight=np.array([1.0, 3.0]).astype(BF16)) == L.cross_entropy(
        z32, y, weight=np.array([1.0, 3.0], np.float32)
    )
    assert L.mse(BF16(0.5), 0.0) == 0.25  # an ml_dtypes scalar
    assert L.mse(*_bf16([1.0, 2.0], [0.0, 0.0]), reduction="none").dtype == np.float32
    int4 = pytest.importorskip("ml_dtypes").int4
    assert L.cross_entropy(z, y.astype(int4)) == L.cross_entropy(z, y)


@pytest.mark.parametrize("integer", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint64])
def test_numpy_integers_of_every_width_are_integer_options(integer):
    z, y = np.zeros((2, 3)), np.array([1, 0])
    np.testing.assert_allclose(L.smooth_labels(y, integer(3), 0.3), L.smooth_labels(y, 3, 0.3))
    assert L.cross_entropy(z, y, ignore_index=integer(1)) == L.cross_entropy(z[1:], y[1:])
    assert L.cross_entropy(z, y, axis=integer(1)) == L.cross_entropy(z, y)


def test_integer_labels_of_unsigned_dtypes_are_still_class_indices():
    z, y = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), np.array([0, 2])
    for dtype in (np.uint8, np.uint32, np.uint64):
        assert L.cross_entropy(z, y.astype(dtype)) == L.cross_entropy(z, y)
    assert L.cross_entropy(z, np.array([7, 2], np.uint64), ignore_index=7) == L.cross_entropy(z[1:], y[1:])


def _public_objects():
    import importlib
    import pkgutil

    import losslab.calibration
    import losslab.torch

    modules = [L, G]
    for package in (losslab.calibration, losslab.torch):
        modules.append(package)
        found = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
        modules += [importlib.import_module(m.name) for m in found]
    for module in modules:
        yield module.__name__, module
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            yield f"{module.__name__}.{name}", obj
            if isinstance(obj, type):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") or attr == "__init__":
                        yield f"{module.__name__}.{name}.{attr}", getattr(member, "__func__", member)


def test_no_public_docstring_holds_control_characters():
    """A non-raw docstring turns ``\\alpha`` into BEL and ``\\beta`` into a backspace: refused everywhere."""
    bad = {}
    for where, obj in _public_objects():
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str):
            found = sorted({repr(c) for c in doc if (ord(c) < 32 and c not in "\n\t") or ord(c) == 127})
            if found:
                bad[where] = found
    assert not bad, bad


def test_integral_float_labels_are_class_indices_for_the_metrics():
    """``brier_score`` and ``log_loss`` take 0.0/1.0 labels as ``binary_cross_entropy`` and scikit-learn do."""
    p1, p2 = np.array([0.2, 0.9, 0.5]), np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    for fn in (L.brier_score, L.log_loss):
        np.testing.assert_allclose(fn(p1, np.array([0.0, 1.0, 1.0])), fn(p1, np.array([0, 1, 1])), rtol=1e-14)
        np.testing.assert_allclose(fn(p2, np.array([0.0, 2.0], np.float32)), fn(p2, np.array([0, 2])), rtol=1e-14)
