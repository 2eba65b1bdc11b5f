"""A catalogue of bad inputs to the losses (issue 11): each gets a clear error with a pinned message,
or the right value. Every row is (function, args, kwargs, exception, message regex)."""

from __future__ import annotations

import numpy as np
import pytest

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
