"""torch's fused kernels behind losslab's checks equal the generic array-API path, and defer to it.

``losslab.kernels.torch_fused`` serves ``cross_entropy``, ``mse`` and
``binary_cross_entropy_with_logits`` on torch tensors. Here every option it
takes is run both ways: through the public function (the fused path) and
through the generic computation it stands in for, on the same tensors;
values and autograd gradients must agree to rounding, and every input the
fused path declines must give the generic path's answer or error.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import losslab  # noqa: E402
from losslab.kernels import torch_fused  # noqa: E402
from losslab.losses import binary, categorical  # noqa: E402
from losslab.losses._common import elementwise_loss  # noqa: E402
from losslab.losses.regression import _mse_value  # noqa: E402

INF = float("inf")


def _generic_ce(z, y, axis=-1, class_weight=None, ignore_index=None, label_smoothing=0.0, reduction="mean"):
    return categorical._cross_entropy(z, y, axis, class_weight, ignore_index, label_smoothing, reduction, None, False)


def _value_and_grad(fn, x, *args, **kw):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, *args, **kw)
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), g


CE_CASES = {
    "plain": {},
    "class_weight": {"class_weight": torch.tensor([1.0, 2.0, 0.5, 0.0, 3.0], dtype=torch.float64)},
    "smoothing": {"label_smoothing": 0.3},
    "weight+smoothing": {"class_weight": torch.tensor([1.0, 2.0, 0.5, 0.1, 3.0], dtype=torch.float64),
                         "label_smoothing": 0.15},
    "ignore": {"ignore_index": -100},
    "ignore-in-range": {"ignore_index": 2},
    "ignore+weight+smoothing": {"ignore_index": -1, "label_smoothing": 0.1,
                                "class_weight": torch.tensor([1.0, 2.0, 0.5, 0.1, 3.0], dtype=torch.float64)},
}  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", CE_CASES.values(), ids=CE_CASES.keys())
@pytest.mark.parametrize("layout", ["(N,C)", "(N,C,d) axis=1", "(N,d,C) axis=-1", "(C,)"])
def test_cross_entropy_fused_equals_generic(layout, options, reduction):
    g = torch.Generator().manual_seed(1)
    shape, axis, batch = {"(N,C)": ((7, 5), -1, (7,)), "(N,C,d) axis=1": ((4, 5, 3), 1, (4, 3)),
                          "(N,d,C) axis=-1": ((4, 3, 5), -1, (4, 3)), "(C,)": ((5,), 0, ())}[layout]  # fmt: skip
    z = 3 * torch.randn(shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, batch, generator=g)
    ii = options.get("ignore_index")
    if ii is not None and y.ndim:
        y.view(-1)[::3] = ii
        # ignored positions holding -inf and NaN: gradient exactly 0 there, loss unaffected
        z_ign = z.movedim(axis, -1)
        z_ign[y == ii] = torch.tensor([-INF, torch.nan, 0.0, 1.0, 2.0], dtype=torch.float64)
    elif ii is not None:
        pytest.skip("a single ignored sample under mean is an error, tested elsewhere")
    kw = dict(options, axis=axis, reduction=reduction)
    fused = torch_fused.cross_entropy(z, y, axis, options.get("class_weight"), ii,
                                      options.get("label_smoothing", 0.0), reduction, None)  # fmt: skip
    assert fused is not None  # these inputs are the fused path's
    v1, g1 = _value_and_grad(losslab.cross_entropy, z, y, **kw)
    v0, g0 = _value_and_grad(_generic_ce, z, y, **kw)
    torch.testing.assert_close(v1, v0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, g0, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(g1).all()
    torch.testing.assert_close(g1, losslab.grad.cross_entropy(z, y, **kw), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_fused_dtypes_and_extremes(dtype, reduction):
    z = torch.tensor([[1e4, -1e4, 0.0], [-INF, 2.0, 3.0], [0.5, 0.25, -0.5]]).to(dtype)
    y = torch.tensor([0, 2, 1])
    got = losslab.cross_entropy(z, y, reduction=reduction)
    want = _generic_ce(z, y, reduction=reduction)
    assert got.dtype == want.dtype == (torch.float32 if reduction == "mean" else dtype)
    torch.testing.assert_close(got, want)


def test_cross_entropy_defers_to_the_generic_errors():
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\]; got 4 at index 1"):
        losslab.cross_entropy(z, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"or ignore_index=-100; got -7 at index 2"):
        losslab.cross_entropy(z, torch.tensor([0, -100, -7]), ignore_index=-100)
    with pytest.raises(ValueError, match="every target is `ignore_index`"):
        losslab.cross_entropy(z, torch.tensor([-100, -100, -100]), ignore_index=-100)
    with pytest.raises(ValueError, match="summed class weights of the targets are 0"):
        losslab.cross_entropy(z, torch.tensor([1, 1, 1]), class_weight=torch.tensor([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="has logit -inf"):
        losslab.cross_entropy(torch.tensor([[0.0, -INF]]), torch.tensor([1]))
    with pytest.raises(ValueError, match="`logits` contains NaN at index"):
        losslab.cross_entropy(torch.tensor([[0.0, torch.nan]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="`label_smoothing` must be in"):
        losslab.cross_entropy(z, torch.tensor([0, 1, 2]), label_smoothing=1.5)
    # the sum of the rows' own losses with every target ignored is 0, as the generic path says
    assert losslab.cross_entropy(z, torch.tensor([-100] * 3), ignore_index=-100, reduction="sum").item() == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_mse_fused_equals_generic(reduction, dtype):
    g = torch.Generator().manual_seed(2)
    p, t = torch.randn(5, 7, generator=g).to(dtype), torch.randn(5, 7, generator=g).to(dtype)
    v1, g1 = _value_and_grad(losslab.mse, p, t, reduction=reduction)
    v0, g0 = _value_and_grad(lambda a, b, **kw: elementwise_loss(_mse_value, a, b, weight=None, **kw), p, t,
                             reduction=reduction)  # fmt: skip
    assert v1.dtype == v0.dtype
    torch.testing.assert_close(v1, v0)
    torch.testing.assert_close(g1, g0)
    assert losslab.mse(p, t.to(torch.int64), reduction=reduction).dtype == v1.dtype  # integer targets cast


def test_mse_defers_to_the_generic_errors():
    with pytest.raises(ValueError, match="losslab never broadcasts"):
        losslab.mse(torch.zeros(3), torch.zeros(1))
    with pytest.raises(ValueError, match="`pred` contains inf"):
        losslab.mse(torch.tensor([INF, 0.0]), torch.zeros(2))
    with pytest.raises(ValueError, match="overflowed float32"):
        losslab.mse(torch.tensor([3e38, -3e38]), torch.zeros(2), reduction="sum")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options", [{}, {"label_smoothing": 0.2}, {"pos_weight": torch.tensor([0.5, 2.0, 1.0])}, {"pos_weight": 3.0}],
    ids=["plain", "smoothing", "pos_weight", "scalar pos_weight"],
)
def test_bce_with_logits_fused_equals_generic(reduction, options):
    g = torch.Generator().manual_seed(3)
    z = 4 * torch.randn(6, 3, generator=g, dtype=torch.float64)
    z[0, 0], z[1, 1] = 1e4, -1e4
    t = torch.rand(6, 3, generator=g, dtype=torch.float64).round()
    pw = options.get("pos_weight")
    if isinstance(pw, torch.Tensor):
        pw = pw.double()
    alpha = options.get("label_smoothing", 0.0)
    kw = {"pos_weight": pw, "label_smoothing": alpha, "reduction": reduction}
    v1, g1 = _value_and_grad(losslab.binary_cross_entropy_with_logits, z, t, **kw)
    def generic(a, b, **k):
        return binary._bce_logits(a, b, k["pos_weight"], k["label_smoothing"], k["reduction"], None, False)

    v0, g0 = _value_and_grad(generic, z, t, **kw)
    torch.testing.assert_close(v1, v0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, g0, rtol=1e-12, atol=1e-12)
    fused = torch_fused.binary_cross_entropy_with_logits(z, t, pw, alpha, reduction, None)
    assert (fused is not None) == (not isinstance(pw, float))  # a Python-number pos_weight takes the generic path


def test_bce_with_logits_defers_to_the_generic_errors():
    with pytest.raises(ValueError, match=r"`target` must hold labels or label probabilities in \[0, 1\]; got 2.0"):
        losslab.binary_cross_entropy_with_logits(torch.zeros(3), torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="`pos_weight` must be positive and finite"):
        losslab.binary_cross_entropy_with_logits(torch.zeros(2), torch.ones(2), pos_weight=torch.tensor([-1.0, 1.0]))
    with pytest.raises(ValueError, match="`logits` contains"):
        losslab.binary_cross_entropy_with_logits(torch.tensor([INF, 0.0]), torch.ones(2))


def test_declined_inputs_take_the_generic_path():
    z, y = torch.zeros(4, 3), torch.tensor([0, 1, 2, 0])
    assert torch_fused.cross_entropy(z, y.int(), -1, None, None, 0.0, "mean", None) is None  # int32 labels
    assert torch_fused.cross_entropy(z, y, -1, None, None, 0.0, "mean", torch.ones(4)) is None  # sample weights
    assert torch_fused.cross_entropy(z, torch.softmax(z, -1), -1, None, None, 0.0, "mean", None) is None
    assert torch_fused.cross_entropy(z, y, -1, None, None, torch.tensor(0.1), "mean", None) is None  # traced option
    assert torch_fused.mse(z, np.zeros((4, 3)), "mean", None) is None
    # ... and the public functions still answer them
    np.testing.assert_allclose(losslab.cross_entropy(z, y.int()).item(), np.log(3), rtol=1e-6)
    np.testing.assert_allclose(losslab.cross_entropy(z, y, weight=torch.ones(4)).item(), np.log(3), rtol=1e-6)
