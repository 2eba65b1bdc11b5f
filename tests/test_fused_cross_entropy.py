"""``cross_entropy_and_grad`` and the fused kernel behind ``cross_entropy`` (NumPy, and torch autograd).

The reference is the generic two-call path (``categorical._cross_entropy``),
which the public functions take where the kernel does not apply.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from losslab.kernels import fused_ce, torch_ce
from losslab.losses import categorical

needs_kernel = pytest.mark.skipif(not fused_ce.AVAILABLE, reason="the fused kernel did not build")


def generic(z, t, grad, **kw):
    args = dict(axis=-1, class_weight=None, ignore_index=None, label_smoothing=0.0, reduction="mean", weight=None)
    args.update(kw)
    return categorical._cross_entropy(
        z, t, args["axis"], args["class_weight"], args["ignore_index"], args["label_smoothing"], args["reduction"],
        args["weight"], grad,
    )  # fmt: skip


def data(n=64, c=200, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (3 * rng.standard_normal((n, c))).astype(dtype), rng.integers(0, c, n)


OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.1},
    {"class_weight": "cw"},
    {"class_weight": "cw", "label_smoothing": 0.2, "reduction": "mean"},
    {"ignore_index": 3},
    {"ignore_index": 3, "class_weight": "cw", "reduction": "none"},
    {"weight": "w"},
    {"weight": "w", "ignore_index": 3, "label_smoothing": 0.3, "reduction": "sum"},
]


def resolve(kw, n, c, seed=1):
    rng = np.random.default_rng(seed)
    kw = dict(kw)
    if kw.get("class_weight") == "cw":
        kw["class_weight"] = rng.uniform(0.1, 2.0, c)
    if kw.get("weight") == "w":
        kw["weight"] = rng.uniform(0.0, 2.0, n)
    return kw


@pytest.mark.parametrize("kw", OPTIONS, ids=lambda k: ",".join(k) or "plain")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_equals_generic(kw, dtype):
    z, y = data(dtype=dtype)
    y[::5] = 3  # ignored where ignore_index=3
    kw = resolve(kw, *z.shape)
    if "ignore_index" in kw:
        z[5] = np.nan  # an ignored row may hold anything
    loss, g = losslab.cross_entropy_and_grad(z, y, **kw)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(loss, generic(z, y, False, **kw), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(g, generic(z, y, True, **kw), rtol=rtol, atol=rtol * 1e-2)
    assert g.dtype == z.dtype
    assert np.asarray(loss).dtype == (z.dtype if kw.get("reduction") == "none" else np.dtype(dtype))
    # The public one-call functions agree with the fused pair.
    np.testing.assert_allclose(losslab.cross_entropy(z, y, **kw), loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(losslab.grad.cross_entropy(z, y, **kw), g, rtol=rtol, atol=rtol * 1e-2)


def test_soft_targets_and_out_in_place():
    z, _ = data()
    rng = np.random.default_rng(3)
    t = rng.dirichlet(np.ones(z.shape[1]) * 0.3, size=z.shape[0])
    loss, g = losslab.cross_entropy_and_grad(z, t, label_smoothing=0.1)
    np.testing.assert_allclose(loss, generic(z, t, False, label_smoothing=0.1), rtol=1e-12)
    np.testing.assert_allclose(g, generic(z, t, True, label_smoothing=0.1), rtol=1e-12, atol=1e-15)
    zz = z.copy()
    loss2, g2 = losslab.cross_entropy_and_grad(zz, t, label_smoothing=0.1, out=zz)
    assert g2 is zz and loss2 == loss
    np.testing.assert_array_equal(zz, g)


def test_extremes_exact():
    z, y = data(n=8, c=4096)
    z[0] *= 1e4
    z[1, :100] = -np.inf
    y[1] = 200
    loss, g = losslab.cross_entropy_and_grad(z, y, reduction="none")
    np.testing.assert_allclose(loss, generic(z, y, False, reduction="none"), rtol=1e-12)
    np.testing.assert_allclose(g, generic(z, y, True, reduction="none"), rtol=1e-12, atol=1e-300)
    assert np.all(g[1, :100] == 0)


@needs_kernel
def test_bad_values_raise_the_generic_errors_and_spare_the_named_rows():
    z, y = data(n=16, c=512)
    y[4] = 512
    zz = z.copy()
    with pytest.raises(ValueError, match=r"class indices in \[0, 511\]; got 512 at index 4"):
        losslab.cross_entropy_and_grad(zz, y, out=zz)
    np.testing.assert_array_equal(zz, z)  # labels are checked before anything is written
    y[4] = 0
    z[7, 0] = np.nan
    zz = z.copy()
    with pytest.raises(ValueError, match="NaN"):
        losslab.cross_entropy_and_grad(zz, y, out=zz)
    np.testing.assert_array_equal(zz[7], z[7])
    z[7, 0] = 0.0
    z[9, y[9]] = -np.inf
    with pytest.raises(ValueError, match="has logit -inf"):
        losslab.cross_entropy_and_grad(z, y)


def test_out_is_checked():
    z, y = data(n=8, c=16)
    with pytest.raises(ValueError, match=r"`out` must have the logits' shape \(8, 16\) and dtype float64"):
        losslab.cross_entropy_and_grad(z, y, out=np.empty((8, 16), np.float32))
    with pytest.raises(ValueError, match="overlaps `logits` without being it"):
        big = np.empty((9, 16))
        losslab.cross_entropy_and_grad(big[:8], y, out=big[1:])
    ro = np.empty_like(z)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="`out` must be writable"):
        losslab.cross_entropy_and_grad(z, y, out=ro)
    with pytest.raises(TypeError, match="`out` must be a NumPy array like `logits`; got Tensor"):
        losslab.cross_entropy_and_grad(z, y, out=torch.empty(8, 16))


def test_without_the_kernel_the_same_numbers(monkeypatch):
    z, y = data(dtype=np.float32)
    with_kernel = losslab.cross_entropy_and_grad(z, y, label_smoothing=0.1)
    monkeypatch.setattr(fused_ce, "AVAILABLE", False)
    loss, g = losslab.cross_entropy_and_grad(z, y, label_smoothing=0.1)
    np.testing.assert_allclose(loss, with_kernel[0], rtol=2e-6)
    np.testing.assert_allclose(g, with_kernel[1], rtol=2e-6, atol=1e-9)
    zz = z.copy()
    loss, g = losslab.cross_entropy_and_grad(zz, y, label_smoothing=0.1, out=zz)
    assert g is zz
    np.testing.assert_allclose(zz, with_kernel[1], rtol=2e-6, atol=1e-9)


# ---------------------------------------------------------------------- torch
class Head(torch.autograd.Function):
    """A producer of logits that records the gradient buffer it receives."""

    seen: dict = {}

    @staticmethod
    def forward(ctx, x):
        out = x * 1.0
        Head.seen["out"] = out.data_ptr()
        return out

    @staticmethod
    def backward(ctx, g):
        Head.seen["grad"] = g.data_ptr()
        return g


def torch_data(n=256, c=512, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, c, generator=g, dtype=dtype), torch.randint(0, c, (n,), generator=g)


@needs_kernel
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_intermediate_lends_its_buffer(reduction):
    z, y = torch_data()
    x = z.clone().requires_grad_(True)
    loss = losslab.cross_entropy(Head.apply(x), y, reduction=reduction, label_smoothing=0.1)
    (loss.sum() * 3 if reduction == "none" else loss * 3).backward()
    assert Head.seen["grad"] == Head.seen["out"]  # the gradient lives in the logits' buffer
    ref = z.clone().requires_grad_(True)
    (F.cross_entropy(ref, y, reduction=reduction, label_smoothing=0.1).sum() * 3).backward()
    torch.testing.assert_close(x.grad, ref.grad, rtol=2e-5, atol=1e-8)
    torch.testing.assert_close(loss.detach(), F.cross_entropy(z, y, reduction=reduction, label_smoothing=0.1))


@needs_kernel
def test_torch_held_saved_or_viewed_logits_are_not_overwritten():
    z, y = torch_data()
    x = z.clone().requires_grad_(True)
    held = x * 1.0
    before = held.detach().clone()
    losslab.cross_entropy(held, y).backward()
    torch.testing.assert_close(held.detach(), before, rtol=0, atol=0)
    ref = z.clone().requires_grad_(True)
    F.cross_entropy(ref, y).backward()
    torch.testing.assert_close(x.grad, ref.grad, rtol=2e-5, atol=1e-9)
    for make in (lambda x: torch.exp(x / 8), lambda x: (x * 1.0).view(z.shape)):
        x.grad, ref.grad = None, None
        losslab.cross_entropy(make(x), y).backward()  # exp saves its result; a view shares its base
        F.cross_entropy(make(ref), y).backward()
        torch.testing.assert_close(x.grad, ref.grad, rtol=2e-5, atol=1e-9)


@needs_kernel
def test_torch_leaf_bf16_and_second_backward():
    z, y = torch_data(dtype=torch.bfloat16)
    x = z.clone().requires_grad_(True)
    loss = losslab.cross_entropy(x, y)
    assert loss.dtype == torch.float32
    loss.backward(retain_graph=True)
    ref = z.clone().requires_grad_(True)
    F.cross_entropy(ref.float(), y).backward()
    torch.testing.assert_close(x.grad.float(), ref.grad.float(), rtol=1e-2, atol=1e-5)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
    with torch_ce.enabled(False):
        loss = losslab.cross_entropy(x, y)
    loss.backward(retain_graph=True)
    loss.backward()


@needs_kernel
def test_torch_value_and_grad_and_errors():
    z, y = torch_data(c=300)
    loss, g = losslab.cross_entropy_and_grad(z, y, ignore_index=5)
    ref = z.clone().requires_grad_(True)
    F.cross_entropy(ref, y, ignore_index=5).backward()
    torch.testing.assert_close(g, ref.grad, rtol=2e-5, atol=1e-9)
    torch.testing.assert_close(loss, F.cross_entropy(z, y, ignore_index=5))
    zz = z.clone()
    _, g2 = losslab.cross_entropy_and_grad(zz, y, ignore_index=5, out=zz)
    assert g2 is zz
    torch.testing.assert_close(zz, g, rtol=0, atol=0)
    y[3] = 300
    x = z.clone().requires_grad_(True)
    with pytest.raises(ValueError, match=r"got 300 at index 3"):
        losslab.cross_entropy(Head.apply(x), y)
    with pytest.raises(ValueError, match="must not require grad"):
        losslab.cross_entropy_and_grad(z, y, out=x)


@needs_kernel
def test_torch_inference_value():
    z, y = torch_data()
    with torch.no_grad():
        torch.testing.assert_close(losslab.cross_entropy(z, y, label_smoothing=0.2),
                                   F.cross_entropy(z, y, label_smoothing=0.2))  # fmt: skip
