"""``losslab.torch``: the ``nn.Module`` wrappers give their function's value and gradient."""

from __future__ import annotations

import pickle
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
import losslab.torch as LT
from losslab import grad as G

C = 3
N = 6


def _probs(g, n, c):
    x = torch.rand(n, c, generator=g, dtype=torch.float64) + 0.05
    return x / x.sum(-1, keepdim=True)


def _case(name: str, g: torch.Generator):
    """(constructor options, pred, target) for each module; pred is float64."""
    real = lambda: torch.randn(N, 2, generator=g, dtype=torch.float64)  # noqa: E731
    if name == "MSELoss":
        return {}, real(), real()
    if name == "L1Loss":
        return {}, real(), real()
    if name == "HuberLoss":
        return {"delta": 0.7}, real(), real()
    if name == "PinballLoss":
        return {"quantile": 0.3}, real(), real()
    if name == "GaussianNLLLoss":
        return {"var": 0.5}, real(), real()
    if name == "LaplaceNLLLoss":
        return {"scale": 2.0, "full": True}, real(), real()
    if name == "PoissonNLLLoss":
        eta = 0.5 * real()
        return {"full": True}, eta, torch.poisson(torch.exp(eta), generator=g)
    if name == "BCELoss":
        return (
            {},
            torch.rand(N, 2, generator=g, dtype=torch.float64) * 0.9 + 0.05,
            torch.randint(0, 2, (N, 2), generator=g).double(),
        )
    if name == "BCEWithLogitsLoss":
        pw = torch.tensor([2.0, 0.5], dtype=torch.float64)
        return {"pos_weight": pw}, 2 * real(), torch.randint(0, 2, (N, 2), generator=g).double()
    if name == "CrossEntropyLoss":
        cw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        return {"class_weight": cw, "label_smoothing": 0.1}, z, torch.randint(0, C, (N,), generator=g)
    if name == "GeneralizedCrossEntropyLoss":
        cw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        return {"class_weight": cw, "q": 0.4}, z, torch.randint(0, C, (N,), generator=g)
    if name in ("LogLoss", "BrierScore"):
        return {}, _probs(g, N, C), torch.randint(0, C, (N,), generator=g)
    if name == "KLDivergence":
        return {}, _probs(g, N, C), _probs(g, N, C)
    if name == "DistillationLoss":
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        return {"temperature": 3.0}, z, torch.randn(N, C, generator=g, dtype=torch.float64)
    raise NotImplementedError(f"no test case for losslab.torch.{name}: add one")


MODULES = list(LT.__all__)


def test_every_module_is_covered_and_wraps_a_losslab_function():
    g = torch.Generator().manual_seed(0)
    for name in MODULES:
        cls = getattr(LT, name)
        assert issubclass(cls, torch.nn.Module)
        assert cls.fn is getattr(losslab, cls.fn.__name__), name
        assert hasattr(G, cls.fn.__name__), name  # a closed-form gradient exists
        _case(name, g)  # raises for a module without a case


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_value_equals_function(name, reduction):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    opts, pred, target = _case(name, g)
    mod = getattr(LT, name)(**opts, reduction=reduction)
    got = mod(pred, target)
    ref = mod.fn(pred, target, **opts, reduction=reduction)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    ref_np = mod.fn(
        pred.numpy(),
        target.numpy(),
        **{k: v.numpy() if torch.is_tensor(v) else v for k, v in opts.items()},
        reduction=reduction,
    )
    np.testing.assert_allclose(got.numpy(), ref_np, rtol=1e-12)


@pytest.mark.parametrize("name", MODULES)
def test_autograd_equals_closed_form_gradient(name):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1)
    opts, pred, target = _case(name, g)
    mod = getattr(LT, name)(**opts)
    x = pred.clone().requires_grad_(True)
    loss = mod(x, target)
    assert loss.ndim == 0 and loss.requires_grad
    loss.backward()
    closed = getattr(G, mod.fn.__name__)(pred, target, **opts)
    torch.testing.assert_close(x.grad, closed, rtol=1e-10, atol=1e-12)


def test_known_values_against_torch():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=g)
    cw = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    torch.testing.assert_close(
        LT.CrossEntropyLoss(class_weight=cw, label_smoothing=0.2)(z, y),
        F.cross_entropy(z, y, weight=cw, label_smoothing=0.2),
    )
    a, b = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(LT.MSELoss()(a, b), F.mse_loss(a, b))
    torch.testing.assert_close(LT.L1Loss(reduction="sum")(a, b), F.l1_loss(a, b, reduction="sum"))
    torch.testing.assert_close(LT.HuberLoss(delta=0.5)(a, b), F.huber_loss(a, b, delta=0.5))
    t = torch.randint(0, 2, (5, 3), generator=g).double()
    pw = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(
        LT.BCEWithLogitsLoss(pos_weight=pw)(a, t), F.binary_cross_entropy_with_logits(a, t, pos_weight=pw)
    )
    p, q = F.softmax(a, -1), F.softmax(b, -1)
    torch.testing.assert_close(LT.KLDivergence()(p, q), F.kl_div(q.log(), p, reduction="batchmean"))


# ============================================================ tensor options
def test_tensor_options_are_buffers_and_follow_to_dtype():
    cw = torch.tensor([1.0, 2.0, 0.5])
    mod = LT.CrossEntropyLoss(class_weight=cw, label_smoothing=0.1)
    bufs = dict(mod.named_buffers())
    assert list(bufs) == ["_class_weight"]
    torch.testing.assert_close(bufs["_class_weight"], cw)
    assert "_class_weight" in mod.state_dict()
    assert list(mod.parameters()) == []
    assert mod.to(torch.float64) is mod
    assert mod.options()["class_weight"].dtype == torch.float64
    assert mod.options()["label_smoothing"] == 0.1
    z = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(mod(z, y), losslab.cross_entropy(z, y, class_weight=cw.double(), label_smoothing=0.1))
    mod.half()
    assert mod.options()["class_weight"].dtype == torch.float16
    pw = LT.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0])).double()
    assert pw.options()["pos_weight"].dtype == torch.float64


def test_buffers_round_trip_through_state_dict():
    a = LT.CrossEntropyLoss(class_weight=torch.tensor([1.0, 1.0, 1.0]))
    b = LT.CrossEntropyLoss(class_weight=torch.tensor([5.0, 1.0, 0.2]))
    z, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    assert not torch.allclose(a(z, y), b(z, y))
    a.load_state_dict(b.state_dict())
    torch.testing.assert_close(a(z, y), b(z, y))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_buffers_move_to_cuda():
    mod = LT.CrossEntropyLoss(class_weight=torch.tensor([1.0, 2.0, 0.5])).cuda()
    assert mod.options()["class_weight"].is_cuda
    z, y = torch.randn(4, 3, device="cuda"), torch.tensor([0, 1, 2, 1], device="cuda")
    out = mod(z, y)
    assert out.is_cuda
    ref = losslab.cross_entropy(z.cpu(), y.cpu(), class_weight=torch.tensor([1.0, 2.0, 0.5]))
    torch.testing.assert_close(out.cpu(), ref)


def test_repr_shows_options():
    assert repr(LT.HuberLoss(delta=0.7)) == "HuberLoss(delta=0.7)"
    assert repr(LT.MSELoss()) == "MSELoss()"
    assert repr(LT.DistillationLoss(temperature=4.0, alpha=0.3)) == "DistillationLoss(temperature=4.0, alpha=0.3)"
    r = repr(LT.CrossEntropyLoss(class_weight=torch.tensor([1.0, 2.0]), label_smoothing=0.1))
    assert r.startswith("CrossEntropyLoss(") and "label_smoothing=0.1" in r
    assert "class_weight=tensor([1., 2.])" in r
    assert LT.MSELoss.__module__ == "losslab.torch"
    assert "losslab.mse" in LT.MSELoss.__doc__


# ========================================================= per-call options
def test_per_call_options_override():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(5, generator=g), torch.randn(5, generator=g)
    mod = LT.HuberLoss(delta=0.7)
    torch.testing.assert_close(mod(a, b, delta=2.0), losslab.huber(a, b, delta=2.0))
    torch.testing.assert_close(mod(a, b, reduction="none"), losslab.huber(a, b, delta=0.7, reduction="none"))
    w = torch.rand(5, generator=g)
    torch.testing.assert_close(mod(a, b, weight=w), losslab.huber(a, b, delta=0.7, weight=w))
    assert mod.options() == {"delta": 0.7}  # per-call options do not stick


def test_gaussian_nll_learned_variance_per_call():
    g = torch.Generator().manual_seed(5)
    mean = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(8, generator=g, dtype=torch.float64)
    raw = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    var = F.softplus(raw)
    mod = LT.GaussianNLLLoss()
    loss = mod(mean, target, var=var)
    loss.backward()
    mean2, raw2 = mean.detach().clone().requires_grad_(), raw.detach().clone().requires_grad_()
    ref = F.gaussian_nll_loss(mean2, target, F.softplus(raw2), eps=0.0)
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(mean.grad, mean2.grad)
    torch.testing.assert_close(raw.grad, raw2.grad)
    # a fixed variance from the constructor, overridden per call
    fixed = LT.GaussianNLLLoss(var=0.5)
    torch.testing.assert_close(fixed(mean, target), losslab.gaussian_nll(mean, target, var=0.5))
    torch.testing.assert_close(fixed(mean, target, var=2.0), losslab.gaussian_nll(mean, target, var=2.0))


def test_distillation_hard_labels_per_call():
    g = torch.Generator().manual_seed(6)
    s, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    y = torch.tensor([0, 2, 1, 1])
    mod = LT.DistillationLoss(temperature=2.0, alpha=0.4)
    got = mod(s, t, target=y)
    torch.testing.assert_close(got, losslab.distillation_loss(s, t, temperature=2.0, alpha=0.4, target=y))
    soft = losslab.distillation_loss(s, t, temperature=2.0)
    torch.testing.assert_close(got, 0.4 * soft + 0.6 * F.cross_entropy(s, y))


def test_errors_surface_with_their_message():
    with pytest.raises(ValueError, match="`delta` must be positive and finite; got -1"):
        LT.HuberLoss(delta=-1)(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"`target` must have the shape of `pred` \(2,\); got \(3,\)"):
        LT.MSELoss()(torch.zeros(2), torch.zeros(3))
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        LT.MSELoss(bogus=1)(torch.zeros(2), torch.zeros(2))


def test_modules_pickle():
    mod = LT.CrossEntropyLoss(class_weight=torch.tensor([1.0, 2.0]), label_smoothing=0.1)
    back = pickle.loads(pickle.dumps(mod))
    assert type(back) is LT.CrossEntropyLoss
    z, y = torch.randn(3, 2), torch.tensor([0, 1, 1])
    torch.testing.assert_close(back(z, y), mod(z, y))


# ========================================================== training loops
def test_sgd_training_loop_reduces_mse():
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = X @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3 + 0.05 * torch.randn(64, 1)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = LT.MSELoss()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))  # monotone at this step size


def test_sgd_training_loop_cross_entropy_and_distillation():
    torch.manual_seed(1)
    X = torch.randn(128, 4)
    teacher = torch.nn.Linear(4, 3)
    with torch.no_grad():
        t_logits = 3.0 * teacher(X)
        y = t_logits.argmax(-1)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ce = LT.CrossEntropyLoss(label_smoothing=0.05, class_weight=torch.tensor([1.0, 1.0, 1.0]))
    kd = LT.DistillationLoss(temperature=2.0, alpha=0.5)
    first = last = None
    for _ in range(20):
        opt.zero_grad()
        out = model(X)
        loss = ce(out, y) + kd(out, t_logits, target=y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
    assert last < 0.7 * first
    with torch.no_grad():
        assert (model(X).argmax(-1) == y).float().mean() > 0.7
