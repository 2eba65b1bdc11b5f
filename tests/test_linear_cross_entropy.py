# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""linear_cross_entropy: the value and the three gradients of cross_entropy(hidden @ weight.T + bias),
chunk by chunk, against the materialised logits (losslab.cross_entropy + torch autograd in float64)."""

from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest
import torch

import losslab
import losslab.torch as LT
from losslab import linear_cross_entropy, linear_cross_entropy_and_grad
from losslab.losses._linear_chunks import CHUNK_BYTES, default_chunk_rows

N, H, V = 7, 5, 6
D = torch.float64
REDUCTIONS = ("mean", "sum", "none")


def _case(batch=(N,), seed=0, soft=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(*batch, H)).astype(dtype)
    W = rng.normal(size=(V, H)).astype(dtype)
    b = rng.normal(size=V).astype(dtype)
    if soft:
        t = rng.random((*batch, V)) + 0.05
        t = (t / t.sum(-1, keepdims=True)).astype(dtype)
    else:
        t = rng.integers(0, V, size=batch)
        t.reshape(-1)[: min(V, t.size)] = np.arange(min(V, t.size))
    return h, W, b, t


def _t(x, **kw):
    return None if x is None else torch.as_tensor(x, **kw)


def _reference(h, W, b, t, go=None, reduction="mean", sample_weight=None, **opts):
    """(loss, dh, dW, db): the logits materialised, losslab.cross_entropy and autograd, in float64."""
    ht, Wt = (torch.tensor(x, dtype=D, requires_grad=True) for x in (h, W))
    bt = None if b is None else torch.tensor(b, dtype=D, requires_grad=True)
    tt = torch.as_tensor(t) if np.issubdtype(np.asarray(t).dtype, np.integer) else torch.tensor(t, dtype=D)
    z = ht @ Wt.T + (0 if bt is None else bt)
    opts = {k: _t(v, dtype=D) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    out = losslab.cross_entropy(z, tt, reduction=reduction, weight=_t(sample_weight, dtype=D), **opts)
    (out if reduction != "none" else (out * torch.as_tensor(go, dtype=D)).sum()).backward()
    return out.detach().numpy(), ht.grad.numpy(), Wt.grad.numpy(), None if bt is None else bt.grad.numpy()


def _torch_path(h, W, b, t, go=None, reduction="mean", need=(True, True, True), **opts):
    """(loss, dh, dW, db) from losslab's torch autograd path (in the inputs' dtype)."""
    ht, Wt = torch.tensor(h).requires_grad_(need[0]), torch.tensor(W).requires_grad_(need[1])
    bt = None if b is None else torch.tensor(b).requires_grad_(need[2])
    opts = {k: _t(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    out = linear_cross_entropy(ht, Wt, torch.as_tensor(t), bias=bt, reduction=reduction, **opts)
    (out if reduction != "none" else (out * torch.as_tensor(go, dtype=out.dtype)).sum()).backward()
    grads = [None if x is None or x.grad is None else x.grad.numpy() for x in (ht, Wt, bt)]
    return (out.detach().numpy(), *grads)


def _close(got, ref, rtol=1e-10, atol=1e-12):
    for g, r in zip(got, ref, strict=True):
        if r is None:
            assert g is None
            continue
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(r)))))


def _options(name, t, rng):
    cw = rng.random(V) + 0.2
    sw = rng.random(N) + 0.1
    return {
        "plain": {},
        "class_weight": {"class_weight": cw},
        "ignore_index": {"ignore_index": 2},
        "smoothing": {"label_smoothing": 0.2},
        "all": {"class_weight": cw, "label_smoothing": 0.3, "ignore_index": 4, "sample_weight": sw},
        "sample_weight": {"sample_weight": sw, "class_weight": cw},
        "soft": {},
        "soft_all": {"class_weight": cw, "label_smoothing": 0.1, "sample_weight": sw},
    }[name]


OPTIONS = ["plain", "class_weight", "ignore_index", "smoothing", "all", "sample_weight", "soft", "soft_all"]


@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_value_and_gradients_equal_the_materialised_logits(name, reduction):
    h, W, b, t = _case(soft=name.startswith("soft"))
    rng = np.random.default_rng(3)
    opts = _options(name, t, rng)
    go = rng.random(N) + 0.5  # a per-row grad_output for "none"
    ref = _reference(h, W, b, t, go, reduction, **opts)
    for chunk in (1, 3, N, N + 5):
        _close(_torch_path(h, W, b, t, go, reduction, chunk_rows=chunk, **opts), ref)
        loss, grads = linear_cross_entropy_and_grad(h, W, t, bias=b, reduction=reduction, chunk_rows=chunk, **opts)
        if reduction == "none":  # the gradient of the summed losses: the reference with grad_output 1
            ref1 = _reference(h, W, b, t, np.ones(N), reduction, **opts)
            _close((loss, *grads), ref1)
        else:
            _close((loss, *grads), ref)
        value = linear_cross_entropy(h, W, t, bias=b, reduction=reduction, chunk_rows=chunk, **opts)
        np.testing.assert_allclose(value, ref[0], rtol=1e-12, atol=1e-14)


def test_ignored_rows_cost_nothing_and_leave_the_mean():
    h, W, b, t = _case()
    t[[1, 5]] = -100
    got = _torch_path(h, W, b, t, ignore_index=-100, chunk_rows=2)
    assert np.all(got[1][[1, 5]] == 0)
    keep = [i for i in range(N) if i not in (1, 5)]
    ref = _reference(h[keep], W, b, t[keep])
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1][keep], ref[1], rtol=1e-10)
    _close(got[2:], ref[2:])
    h[1] = np.nan  # an ignored row's logits never reach the loss (its hidden still meets dW = G.T @ hidden)
    assert linear_cross_entropy(h, W, t, bias=b, ignore_index=-100) == pytest.approx(float(ref[0]), rel=1e-12)
    with pytest.raises(
        ValueError, match=re.escape("every target is `ignore_index` under reduction='mean', so the mean is undefined")
    ):
        linear_cross_entropy(h, W, np.full(N, -100), ignore_index=-100)
    assert linear_cross_entropy(h, W, np.full(N, -100), ignore_index=-100, reduction="sum") == 0


@pytest.mark.parametrize("bias", [True, False])
def test_batch_shape_bias_and_partial_requires_grad(bias):
    h, W, b, t = _case(batch=(2, 3))
    b = b if bias else None
    sw = np.random.default_rng(5).random((2, 3)) + 0.1
    ref = _reference(h, W, b, t, sample_weight=sw, label_smoothing=0.1)
    _close(_torch_path(h, W, b, t, sample_weight=sw, label_smoothing=0.1, chunk_rows=4), ref)
    # hidden (and bias) not requiring grad: only the weight's gradient is computed
    got = _torch_path(h, W, b, t, need=(False, True, False), sample_weight=sw, label_smoothing=0.1, chunk_rows=4)
    assert got[1] is None and got[3] is None
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-10)
    per_sample = np.array([0.5, 2.0])  # (n,): one weight per leading index, as cross_entropy takes it
    loss, grads = linear_cross_entropy_and_grad(h, W, t, bias=b, sample_weight=per_sample, chunk_rows=5)
    _close((loss, *grads), _reference(h, W, b, t, sample_weight=per_sample))
    assert grads[0].shape == (2, 3, H) and (grads[2] is None) == (not bias)


def test_a_single_row_and_an_empty_batch():
    h, W, b, t = _case()
    _close(_torch_path(h[0], W, b, t[0]), _reference(h[0], W, b, t[0]))
    loss, (dh, dW, db) = linear_cross_entropy_and_grad(h[:0], W, t[:0], bias=b, reduction="sum")
    assert loss == 0 and dh.shape == (0, H) and not dW.any() and not db.any()
    with pytest.raises(ValueError, match="the input is empty"):
        linear_cross_entropy(h[:0], W, t[:0])


def test_float32_within_1e_4_of_the_float64_truth():
    rng = np.random.default_rng(7)
    n, h_, v = 33, 16, 50
    h, W, b = (rng.normal(size=s).astype(np.float32) for s in ((n, h_), (v, h_), (v,)))
    t = rng.integers(0, v, n)
    cw = (rng.random(v) + 0.2).astype(np.float32)
    ref = _reference(h, W, b, t, class_weight=cw, label_smoothing=0.1)
    opts = {"class_weight": cw, "label_smoothing": 0.1, "chunk_rows": 8}
    got = _torch_path(h, W, b, t, **opts)
    assert got[0].dtype == np.float32 and got[1].dtype == np.float32
    _close(got, ref, rtol=1e-4, atol=1e-4)
    loss, grads = linear_cross_entropy_and_grad(h, W, t, bias=b, **opts)
    assert grads[1].dtype == np.float32
    _close((loss, *grads), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_half_precision_accumulates_in_float32(library):
    h, W, b, t = _case(batch=(12,), seed=4)
    ref = _reference(h, W, b, t)
    cast = (lambda x: x.astype(np.float16)) if library == "numpy" else (lambda x: torch.tensor(x, dtype=torch.float16))
    tt = t if library == "numpy" else torch.as_tensor(t)
    loss, (dh, dW, db) = linear_cross_entropy_and_grad(cast(h), cast(W), tt, bias=cast(b), chunk_rows=5)
    assert str(loss.dtype).endswith("float32") and str(dW.dtype).endswith("float16")
    _close([np.asarray(x, dtype=np.float64) for x in (loss, dh, dW, db)], ref, rtol=1e-2, atol=1e-2)
    none = linear_cross_entropy(cast(h), cast(W), tt, bias=cast(b), reduction="none")
    assert str(none.dtype).endswith("float16")


def test_numpy_equals_torch():
    h, W, b, t = _case(batch=(3, 4), seed=9)
    opts = {"class_weight": np.linspace(0.5, 2, V), "label_smoothing": 0.05, "ignore_index": 1}
    a_loss, a = linear_cross_entropy_and_grad(h, W, t, bias=b, chunk_rows=5, **opts)
    tt = {k: _t(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    b_loss, g = linear_cross_entropy_and_grad(
        *map(torch.tensor, (h, W)), torch.as_tensor(t), bias=torch.tensor(b), chunk_rows=5, **tt
    )
    _close((a_loss, *a), (b_loss.numpy(), *(x.numpy() for x in g)), rtol=1e-13, atol=1e-15)


def test_extremes_masked_classes_and_huge_logits():
    h, W, b, t = _case()
    b = b.copy()
    b[t[0]] = -np.inf  # masks the class of sample 0 (and of every sample with that label)
    free = t != t[0]
    ref = _reference(h[free], W, b, t[free])
    _close(_torch_path(h[free], W, b, t[free], chunk_rows=2), ref)
    with pytest.raises(
        ValueError, match=re.escape(f"the target class {t[0]} of sample 0 has logit -inf (probability 0)")
    ):
        linear_cross_entropy(h, W, t, bias=b)
    with pytest.raises(ValueError, match="`label_smoothing` puts probability on every class, but some logits are -inf"):
        linear_cross_entropy(h[free], W, t[free], bias=b, label_smoothing=0.1)
    with pytest.raises(
        ValueError, match=re.escape("row 0 of the logits `hidden @ weight.T + bias` is -inf for every class")
    ):
        linear_cross_entropy(h, W, t, bias=np.full(V, -np.inf))
    soft = _case(soft=True)[3]
    with pytest.raises(ValueError, match="`target` gives positive probability to a class whose logit is -inf in row 0"):
        linear_cross_entropy(h, W, soft, bias=b)
    # logits of +-1e4: exact log-sum-exp, and the gradient of a saturated softmax
    big = 2e3 * h
    zero = np.zeros(V)
    _close(_torch_path(big, W, zero, t, chunk_rows=3), _reference(big, W, zero, t), rtol=1e-9, atol=1e-12)
    loss, grads = linear_cross_entropy_and_grad(big.astype(np.float32), W.astype(np.float32), t, chunk_rows=3)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads[:2])


def test_non_finite_inputs_are_named():
    h, W, b, t = _case(batch=(2, 4))
    h[1, 2, 3] = np.nan
    with pytest.raises(
        ValueError, match=re.escape("`hidden` contains NaN at index (1, 2, 3); the loss is undefined there")
    ):
        linear_cross_entropy(h, W, t, bias=b)
    h, W, b, t = _case()
    W[2, 1] = np.inf
    with pytest.raises(ValueError, match=re.escape("`weight` contains inf at index (2, 1)")):
        linear_cross_entropy_and_grad(h, W, t)
    h32, W32 = np.full((N, H), 3e38, np.float32), np.ones((V, H), np.float32)  # logits of 1.5e39
    with pytest.raises(
        ValueError,
        match=re.escape("the logits `hidden @ weight.T + bias` overflowed float32 although every input is finite"),
    ):
        linear_cross_entropy(torch.tensor(h32), torch.tensor(W32), torch.as_tensor(t))


# fmt: off
BAD = [
    ({"weight": np.ones((V, H + 1))}, ValueError, "`weight` must have shape (V, 5) (classes x features, as torch.nn.Linear stores it) for `hidden` of shape (7, 5); got (6, 6)"),
    ({"bias": np.ones(V + 1)}, ValueError, "`bias` must have shape (6,) (one per class, the rows of `weight`); got (7,)"),
    ({"target": np.zeros(N + 1, dtype=int)}, ValueError, "`target` of class indices must have shape (7,) (the shape of `hidden` without its last axis); got (8,)"),
    ({"target": np.array([0, 1, 6, 0, 0, 0, 0])}, ValueError, "`target` must hold class indices in [0, 5]; got 6 at index 2"),
    ({"target": np.array([0, 1, -1, 0, 0, 0, 0]), "ignore_index": -100}, ValueError, "`target` must hold class indices in [0, 5] or ignore_index=-100; got -1 at index 2"),
    ({"target": np.zeros(N)}, TypeError, "`target` has a floating dtype (float64) but the shape of class indices (7,)"),
    ({"target": np.full((N, V), 0.5)}, ValueError, "`target` rows must sum to 1"),
    ({"weight": np.ones((V, H), dtype=np.float32)}, TypeError, "`weight` must have the dtype of `hidden` (float64); got float32: cast one to the other"),
    ({"hidden": np.ones((N, H), dtype=int)}, TypeError, "`hidden` must be a floating-point array; got dtype int64"),
    ({"class_weight": np.ones(V - 1)}, ValueError, "`class_weight` must have shape (6,) (one per class); got (5,)"),
    ({"class_weight": -np.ones(V)}, ValueError, "`class_weight` must be finite and non-negative; got -1.0 at index 0"),
    ({"sample_weight": np.ones(N + 1)}, ValueError, "`sample_weight` must have shape (7,) (one per loss element); got (8,)"),
    ({"sample_weight": np.zeros(N)}, ValueError, "the total weight is 0 under reduction='mean'"),
    ({"chunk_rows": 0}, ValueError, "`chunk_rows` must be a positive number of rows (or None for chunks of ~64 MiB); got 0"),
    ({"label_smoothing": 1.5}, ValueError, "`label_smoothing` must be in [0, 1]; got 1.5"),
    ({"reduction": "avg"}, ValueError, "`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'"),
    ({"target": None}, TypeError, "`target` is required; got None"),
]
# fmt: on


@pytest.mark.parametrize(("change", "error", "message"), BAD, ids=[m[:40] for _, _, m in BAD])
def test_bad_inputs_name_the_argument(change, error, message):
    h, W, b, t = _case()
    args = {"hidden": h, "weight": W, "target": t, "bias": b, **change}
    pos = [args.pop(k) for k in ("hidden", "weight", "target")]
    with pytest.raises(error, match=re.escape(message)):
        linear_cross_entropy(*pos, **args)


def test_torch_options_that_cannot_be_differentiated_are_refused():
    h, W, b, t = _case()
    cw = torch.ones(V, dtype=D, requires_grad=True)
    with pytest.raises(TypeError, match="`class_weight` requires grad, but linear_cross_entropy differentiates only"):
        linear_cross_entropy(torch.tensor(h), torch.tensor(W), torch.as_tensor(t), class_weight=cw)
    with pytest.raises(TypeError, match="`weight` is a torch array but `hidden` is a numpy array"):
        linear_cross_entropy(h, torch.tensor(W), t)


def test_backward_twice_with_a_retained_graph_and_a_scaled_loss():
    h, W, b, t = _case()
    ht, Wt, bt = (torch.tensor(x, requires_grad=True) for x in (h, W, b))
    loss = linear_cross_entropy(ht, Wt, torch.as_tensor(t), bias=bt, chunk_rows=3, label_smoothing=0.1)
    (3 * loss).backward(retain_graph=True)  # consumes the forward's gradients (scaled in place)
    loss.backward()  # recomputes the sweep
    ref = _reference(h, W, b, t, label_smoothing=0.1)
    _close((loss.detach().numpy(), ht.grad.numpy() / 4, Wt.grad.numpy() / 4, bt.grad.numpy() / 4), ref)
    with pytest.raises(RuntimeError):  # not twice differentiable
        g = torch.autograd.grad(linear_cross_entropy(ht, Wt, torch.as_tensor(t)), ht, create_graph=True)[0]
        g.sum().backward()


def test_the_module_equals_the_function():
    h, W, b, t = _case()
    t[3] = -100
    cw = torch.linspace(0.5, 1.5, V, dtype=D)
    mod = LT.LinearCrossEntropyLoss(class_weight=cw, label_smoothing=0.1, chunk_rows=2)
    assert repr(mod) == f"LinearCrossEntropyLoss(class_weight={cw!r}, label_smoothing=0.1, chunk_rows=2)"
    assert (
        LT.LinearCrossEntropyLoss.__module__ == "losslab.torch.own"
        and repr(LT.LinearCrossEntropyLoss()) == "LinearCrossEntropyLoss()"
    )
    ht, Wt, bt = (torch.tensor(x, requires_grad=True) for x in (h, W, b))
    got = mod(ht, Wt, torch.as_tensor(t), bt)
    ref = linear_cross_entropy(
        torch.tensor(h),
        torch.tensor(W),
        torch.as_tensor(t),
        bias=torch.tensor(b),
        class_weight=cw,
        label_smoothing=0.1,
        ignore_index=-100,
    )
    torch.testing.assert_close(got, ref, rtol=1e-14, atol=0)
    got.backward()
    _close(
        (got.detach().numpy(), ht.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()),
        _reference(h, W, b, t, class_weight=cw.numpy(), label_smoothing=0.1, ignore_index=-100),
    )
    soft = torch.tensor(_case(soft=True)[3])  # probability targets: the default -100 is not used
    sw = torch.rand(N, dtype=D)
    out = LT.LinearCrossEntropyLoss(reduction="none")(torch.tensor(h), torch.tensor(W), soft, sample_weight=sw)
    torch.testing.assert_close(out, losslab.cross_entropy(torch.tensor(h @ W.T), soft, reduction="none", weight=sw))
    with pytest.raises(ValueError, match="chunk_rows"):
        LT.LinearCrossEntropyLoss(chunk_rows=-1)


def test_chunks_keep_the_logits_out_of_memory():
    rng = np.random.default_rng(0)
    n, h_, v = 2000, 8, 1000  # logits: 16 MB in float64
    h, W, b = rng.normal(size=(n, h_)), rng.normal(size=(v, h_)), rng.normal(size=v)
    t = rng.integers(0, v, n)
    tracemalloc.start()
    try:
        linear_cross_entropy_and_grad(h, W, t, bias=b, chunk_rows=50, label_smoothing=0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < n * v * 8 / 4, peak  # the gradients (n x H, V x H) and a 50-row chunk: ~1 MB
    assert default_chunk_rows(32000, 4) == CHUNK_BYTES // (32000 * 4) and default_chunk_rows(10**9, 8) == 1


def test_exported():
    assert losslab.linear_cross_entropy is losslab.losses.linear_cross_entropy is linear_cross_entropy
    assert {"linear_cross_entropy", "linear_cross_entropy_and_grad"} <= set(losslab.__all__) & set(
        losslab.losses.__all__
    )
    assert math.isfinite(float(linear_cross_entropy([[0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [1])))


def test_other_array_libraries_are_refused_with_the_materialised_alternative():
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(
        TypeError, match=re.escape("runs on NumPy arrays and torch tensors; got a array_api_strict array")
    ):
        linear_cross_entropy(xps.ones((2, 3)), xps.ones((4, 3)), xps.asarray([0, 1]))
