"""``losslab.torch``: the ``nn.Module`` wrappers give their function's value and gradient."""

from __future__ import annotations

import copy
import inspect
import pickle
import warnings
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
    """(constructor options, extra forward args, the function's options, pred, target); pred is float64."""
    real = lambda: torch.randn(N, 2, generator=g, dtype=torch.float64)  # noqa: E731
    if name in ("MSELoss", "L1Loss"):
        return {}, (), {}, real(), real()
    if name == "HuberLoss":
        return {"delta": 0.7}, (), {"delta": 0.7}, real(), real()
    if name == "PinballLoss":
        return {"quantile": 0.3}, (), {"quantile": 0.3}, real(), real()
    if name == "GaussianNLLLoss":
        var = torch.rand(N, 2, generator=g, dtype=torch.float64) + 0.5  # above eps: the clamp is inactive
        return {"full": True}, (var,), {"var": var, "full": True}, real(), real()
    if name == "LaplaceNLLLoss":
        return {"scale": 2.0, "full": True}, (), {"scale": 2.0, "full": True}, real(), real()
    if name == "PoissonNLLLoss":
        eta = 0.5 * real()
        return {"full": True}, (), {"full": True}, eta, torch.poisson(torch.exp(eta), generator=g)
    if name == "BCELoss":
        p = torch.rand(N, 2, generator=g, dtype=torch.float64) * 0.9 + 0.05
        return {}, (), {}, p, torch.randint(0, 2, (N, 2), generator=g).double()
    if name == "BCEWithLogitsLoss":
        pw = torch.tensor([2.0, 0.5], dtype=torch.float64)
        t = torch.randint(0, 2, (N, 2), generator=g).double()
        return {"pos_weight": pw}, (), {"pos_weight": pw}, 2 * real(), t
    if name == "CrossEntropyLoss":
        cw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        fn_opts = {"class_weight": cw, "label_smoothing": 0.1, "ignore_index": -100, "axis": 1}
        return {"weight": cw, "label_smoothing": 0.1}, (), fn_opts, z, torch.randint(0, C, (N,), generator=g)
    if name == "GeneralizedCrossEntropyLoss":
        cw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        opts = {"class_weight": cw, "q": 0.4}
        return opts, (), opts, z, torch.randint(0, C, (N,), generator=g)
    if name in ("LogLoss", "BrierScore"):
        return {}, (), {}, _probs(g, N, C), torch.randint(0, C, (N,), generator=g)
    if name == "KLDivergence":
        return {}, (), {}, _probs(g, N, C), _probs(g, N, C)
    if name == "DistillationLoss":
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        opts = {"temperature": 3.0}
        return opts, (), opts, z, torch.randn(N, C, generator=g, dtype=torch.float64)
    if name in ("SmoothL1Loss",):
        return {"beta": 0.7}, (), {"beta": 0.7}, real(), real()
    if name in ("LogCoshLoss",):
        return {}, (), {}, real(), real()
    if name in ("HingeLoss", "SquaredHingeLoss"):
        return {}, (), {}, real(), 2.0 * torch.randint(0, 2, (N, 2), generator=g).double() - 1.0
    if name == "SigmoidFocalLoss":
        opts = {"alpha": 0.3, "gamma": 1.5}
        return opts, (), opts, 2 * real(), torch.randint(0, 2, (N, 2), generator=g).double()
    if name in ("NLLLoss", "FocalLoss", "Poly1CrossEntropyLoss", "MulticlassHingeLoss"):
        cw = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
        z = torch.randn(N, C, generator=g, dtype=torch.float64)
        own = {"FocalLoss": {"gamma": 1.5}, "Poly1CrossEntropyLoss": {"epsilon": 0.5}}.get(name, {})
        own = {"margin": 0.8, "form": "weston_watkins"} if name == "MulticlassHingeLoss" else own
        z = torch.log_softmax(z, dim=1) if name == "NLLLoss" else z
        fn_opts = {"class_weight": cw, "ignore_index": -100, "axis": 1, **own}
        return {"weight": cw, **own}, (), fn_opts, z, torch.randint(0, C, (N,), generator=g)
    if name == "MultiMarginLoss":  # torch's mean of class-weighted samples is tested against torch
        opts = {"margin": 0.8, "form": "weston_watkins"}
        return {"margin": 0.8}, (), opts, real(), torch.randint(0, 2, (N,), generator=g)
    if name == "KLDivLoss":  # torch's order: the model's log q, then the reference p
        return {}, (), {}, torch.log(_probs(g, N, C)), _probs(g, N, C)
    raise NotImplementedError(f"no test case for losslab.torch.{name}: add one")


# torch's KLDivLoss has no "none" here (the parametrised "none" runs its "batchmean")
_REDUCTION = {"KLDivLoss": {"none": "batchmean"}}


def _reduction(name, reduction):
    return _REDUCTION.get(name, {}).get(reduction, reduction)


def _reference(name, mod, pred, target, fn_opts, reduction, weight=None):
    """The module's value from its function: the function itself, but for the two torch peers whose
    value is the function's rescaled (torch's conventions)."""
    if name == "MultiMarginLoss":
        return mod.fn(pred, target, **fn_opts, reduction=reduction, weight=weight) / pred.shape[-1]
    if name == "KLDivLoss":
        fn_red = {"batchmean": "mean", "mean": "mean", "sum": "sum"}[reduction]
        out = mod.fn(torch.log(target), pred, **fn_opts, reduction=fn_red, weight=weight)
        return out / pred.shape[-1] if reduction == "mean" else out
    return mod.fn(pred, target, **fn_opts, reduction=reduction, weight=weight)


# exactly the function's (rtol=0) but where the module divides the function's value (to rounding)
_RTOL = {"MultiMarginLoss": 1e-15, "KLDivLoss": 1e-14}


MODULES = list(LT.__all__)
TORCH_NAMED = ["MSELoss", "L1Loss", "HuberLoss", "GaussianNLLLoss", "PoissonNLLLoss", "BCELoss"]
TORCH_NAMED += ["BCEWithLogitsLoss", "CrossEntropyLoss", "SmoothL1Loss", "NLLLoss", "MultiMarginLoss", "KLDivLoss"]


def _np(opts):
    return {k: v.numpy() if torch.is_tensor(v) else v for k, v in opts.items()}


def test_the_package_imports_the_top_level_torch():
    import losslab.torch._base
    import losslab.torch.own
    import losslab.torch.shared

    for module in (losslab.torch._base, losslab.torch.shared):
        assert module.torch is torch and module.torch.nn.Module is torch.nn.Module
    assert losslab.torch.own.Tensor is torch.Tensor
    assert set(LT.__all__) == set(losslab.torch.shared.__all__) | set(losslab.torch.own.__all__)
    assert sorted(LT.__all__) == LT.__all__ and all(getattr(LT, n).__name__ == n for n in LT.__all__)


def test_every_module_is_covered_and_wraps_a_losslab_function():
    g = torch.Generator().manual_seed(0)
    for name in MODULES:
        cls = getattr(LT, name)
        assert issubclass(cls, torch.nn.Module)
        assert cls.fn is getattr(losslab, cls.fn.__name__), name
        assert hasattr(G, cls.fn.__name__), name  # a closed-form gradient exists
        home = "losslab.torch.shared" if name in TORCH_NAMED else "losslab.torch.own"
        assert cls.__module__ == home and cls.__doc__ and cls.fn.__name__ in cls.__doc__, name
        _case(name, g)  # raises for a module without a case
    assert set(TORCH_NAMED) <= set(MODULES)
    assert all(hasattr(torch.nn, name) for name in TORCH_NAMED)


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_value_equals_function(name, reduction):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    ctor, args, fn_opts, pred, target = _case(name, g)
    reduction = _reduction(name, reduction)
    mod = getattr(LT, name)(**ctor, reduction=reduction)
    assert mod.reduction == reduction
    got = mod(pred, target, *args)
    ref = _reference(name, mod, pred, target, fn_opts, reduction)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, ref, rtol=_RTOL.get(name, 0), atol=0)
    if name in _RTOL:
        return
    ref_np = mod.fn(pred.numpy(), target.numpy(), **_np(fn_opts), reduction=reduction)
    np.testing.assert_allclose(got.numpy(), ref_np, rtol=1e-12)


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sample_weight_is_the_functions_weight(name, reduction):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 2)
    ctor, args, fn_opts, pred, target = _case(name, g)
    w = torch.rand(N, generator=g, dtype=torch.float64) + 0.1  # one per sample
    reduction = _reduction(name, reduction)
    mod = getattr(LT, name)(**ctor, reduction=reduction)
    got = mod(pred, target, *args, sample_weight=w)
    ref = _reference(name, mod, pred, target, fn_opts, reduction, w)
    torch.testing.assert_close(got, ref, rtol=_RTOL.get(name, 0), atol=0)


@pytest.mark.parametrize("name", MODULES)
def test_autograd_equals_closed_form_gradient(name):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1)
    ctor, args, fn_opts, pred, target = _case(name, g)
    mod = getattr(LT, name)(**ctor)
    x = pred.clone().requires_grad_(True)
    loss = mod(x, target, *args)
    assert loss.ndim == 0 and loss.requires_grad
    loss.backward()
    if name == "KLDivLoss":  # w.r.t. the model's log q: -p (G.kl_divergence_log's is w.r.t. log p), torch's mean
        closed = -target / target.numel()
    else:
        closed = getattr(G, mod.fn.__name__)(pred, target, **fn_opts)
        closed = closed / pred.shape[-1] if name == "MultiMarginLoss" else closed
    torch.testing.assert_close(x.grad, closed, rtol=1e-10, atol=1e-12)


def test_known_values_against_torch():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (5,), generator=g)
    cw = torch.tensor([1.0, 0.5, 2.0, 1.5], dtype=torch.float64)
    torch.testing.assert_close(
        LT.CrossEntropyLoss(weight=cw, label_smoothing=0.2)(z, y),
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
    mod = LT.CrossEntropyLoss(weight=cw, label_smoothing=0.1)
    bufs = dict(mod.named_buffers())
    assert list(bufs) == ["weight"]
    torch.testing.assert_close(bufs["weight"], cw)
    assert list(mod.state_dict()) == ["weight"]
    assert list(mod.parameters()) == []
    assert mod.to(torch.float64) is mod
    assert mod.weight.dtype == torch.float64
    assert mod.label_smoothing == 0.1 and mod.ignore_index == -100 and mod.reduction == "mean"
    z = torch.randn(4, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(mod(z, y), losslab.cross_entropy(z, y, class_weight=cw.double(), label_smoothing=0.1))
    mod.half()
    assert mod.weight.dtype == torch.float16
    pw = LT.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0])).double()
    assert pw.pos_weight.dtype == torch.float64 and pw.weight is None
    assert list(dict(pw.named_buffers())) == ["pos_weight"]  # None buffers are registered, not listed
    assert "weight" in pw._buffers and "pos_weight" in pw._buffers
    gce = LT.GeneralizedCrossEntropyLoss(class_weight=torch.tensor([1.0, 2.0])).double()
    assert list(gce.state_dict()) == ["class_weight"] and gce.class_weight.dtype == torch.float64
    lap = LT.LaplaceNLLLoss(scale=torch.full((2,), 2.0)).double()
    assert list(lap.state_dict()) == ["scale"] and lap.scale.dtype == torch.float64


def test_buffers_round_trip_through_state_dict():
    a = LT.CrossEntropyLoss(weight=torch.tensor([1.0, 1.0, 1.0]))
    b = LT.CrossEntropyLoss(weight=torch.tensor([5.0, 1.0, 0.2]))
    z, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    assert not torch.allclose(a(z, y), b(z, y))
    a.load_state_dict(b.state_dict())
    torch.testing.assert_close(a(z, y), b(z, y))
    c = LT.CrossEntropyLoss()  # no weight: the checkpoint's is taken
    c.load_state_dict(b.state_dict())
    torch.testing.assert_close(c(z, y), b(z, y))
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "weight"'):
        b.load_state_dict(LT.CrossEntropyLoss().state_dict())  # as torch's


def test_buffers_follow_to_device():
    mod = LT.BCEWithLogitsLoss(weight=torch.ones(3), pos_weight=torch.ones(3)).to("meta")
    assert mod.weight.is_meta and mod.pos_weight.is_meta
    assert LT.CrossEntropyLoss().to("meta").weight is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_buffers_move_to_cuda():
    mod = LT.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5])).cuda()
    assert mod.weight.is_cuda
    z, y = torch.randn(4, 3, device="cuda"), torch.tensor([0, 1, 2, 1], device="cuda")
    out = mod(z, y)
    assert out.is_cuda
    ref = losslab.cross_entropy(z.cpu(), y.cpu(), class_weight=torch.tensor([1.0, 2.0, 0.5]))
    torch.testing.assert_close(out.cpu(), ref)
    bce = LT.BCEWithLogitsLoss(weight=torch.tensor([1.0, 2.0]), pos_weight=torch.tensor([3.0, 0.5])).cuda()
    x, t = torch.randn(4, 2, device="cuda"), torch.randint(0, 2, (4, 2), device="cuda").float()
    torch.testing.assert_close(
        bce(x, t).cpu(), torch.nn.BCEWithLogitsLoss(weight=bce.weight, pos_weight=bce.pos_weight)(x, t).cpu()
    )


def test_repr_shows_options():
    assert repr(LT.HuberLoss(delta=0.7)) == "HuberLoss(delta=0.7)"
    assert repr(LT.MSELoss()) == "MSELoss()"
    assert repr(LT.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(LT.CrossEntropyLoss(ignore_index=-100, reduction="mean")) == "CrossEntropyLoss()"  # defaults
    assert repr(LT.DistillationLoss(temperature=4.0, alpha=0.3)) == "DistillationLoss(temperature=4.0, alpha=0.3)"
    assert repr(LT.PinballLoss(quantile=[0.1, 0.9])) == "PinballLoss(quantile=[0.1, 0.9])"
    r = repr(LT.CrossEntropyLoss(torch.tensor([1.0, 2.0]), label_smoothing=0.1, reduction="sum"))
    assert r == "CrossEntropyLoss(weight=tensor([1., 2.]), reduction='sum', label_smoothing=0.1)"
    assert repr(LT.PoissonNLLLoss(log_input=False)) == "PoissonNLLLoss(log_input=False)"
    assert LT.MSELoss.__module__ == "losslab.torch.shared" and LT.FocalLoss.__module__ == "losslab.torch.own"
    assert "losslab.mse" in LT.MSELoss.__doc__


# ================================================================ options
def test_options_are_attributes_read_at_each_call():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(5, generator=g), torch.randn(5, generator=g)
    mod = LT.HuberLoss(delta=0.7)
    torch.testing.assert_close(mod(a, b), losslab.huber(a, b, delta=0.7))
    mod.delta, mod.reduction = 2.0, "none"  # torch's modules allow this too
    torch.testing.assert_close(mod(a, b), losslab.huber(a, b, delta=2.0, reduction="none"))
    w = torch.rand(5, generator=g)
    torch.testing.assert_close(mod(a, b, sample_weight=w), losslab.huber(a, b, delta=2.0, reduction="none", weight=w))


def test_gaussian_nll_learned_variance_per_call():
    g = torch.Generator().manual_seed(5)
    mean = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(8, generator=g, dtype=torch.float64)
    raw = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    mod = LT.GaussianNLLLoss()
    loss = mod(mean, target, F.softplus(raw))
    loss.backward()
    mean2, raw2 = mean.detach().clone().requires_grad_(), raw.detach().clone().requires_grad_()
    ref = F.gaussian_nll_loss(mean2, target, F.softplus(raw2))
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(mean.grad, mean2.grad)
    torch.testing.assert_close(raw.grad, raw2.grad)
    # a fixed variance as a number
    torch.testing.assert_close(mod(mean, target, 0.5), losslab.gaussian_nll(mean, target, var=0.5))


def test_laplace_scale_per_call_replaces_the_constructors():
    g = torch.Generator().manual_seed(7)
    m, t = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    mod = LT.LaplaceNLLLoss(scale=2.0)
    torch.testing.assert_close(mod(m, t), losslab.laplace_nll(m, t, scale=2.0))
    s = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    torch.testing.assert_close(mod(m, t, s), losslab.laplace_nll(m, t, scale=s))


def test_distillation_hard_labels_per_call():
    g = torch.Generator().manual_seed(6)
    s, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    y = torch.tensor([0, 2, 1, 1])
    mod = LT.DistillationLoss(temperature=2.0, alpha=0.4)
    got = mod(s, t, target=y)
    torch.testing.assert_close(got, losslab.distillation_loss(s, t, temperature=2.0, alpha=0.4, target=y))
    torch.testing.assert_close(mod(s, t, y), got)
    soft = losslab.distillation_loss(s, t, temperature=2.0)
    torch.testing.assert_close(got, 0.4 * soft + 0.6 * F.cross_entropy(s, y))


def test_errors_surface_with_their_message():
    with pytest.raises(ValueError, match="`delta` must be positive and finite; got -1"):
        LT.HuberLoss(delta=-1)  # at construction
    with pytest.raises(ValueError, match="`label_smoothing` must be in \\[0, 1\\]; got 1.5"):
        LT.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'"):
        LT.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match=r"`target` must have the shape of `pred` \(2,\); got \(3,\)"):
        LT.MSELoss()(torch.zeros(2), torch.zeros(3))
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        LT.MSELoss(bogus=1)


@pytest.mark.parametrize("name", MODULES)
def test_modules_pickle_and_deepcopy(name):
    g = torch.Generator().manual_seed(8)
    ctor, args, _, pred, target = _case(name, g)
    mod = getattr(LT, name)(**ctor, reduction="sum")
    for back in (pickle.loads(pickle.dumps(mod)), copy.deepcopy(mod)):
        assert type(back) is type(mod) and repr(back) == repr(mod) and back.reduction == "sum"
        torch.testing.assert_close(back(pred, target, *args), mod(pred, target, *args), rtol=0, atol=0)


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
    ce = LT.CrossEntropyLoss(torch.tensor([1.0, 1.0, 1.0]), label_smoothing=0.05)
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


# ============================================================ the modules added with the new losses
_W = torch.tensor([1.0, 2.0, 0.5])
_KW = inspect.Parameter.KEYWORD_ONLY
NEW = {  # name: its parameters (name, default, keyword-only) in order
    "SmoothL1Loss": [("reduction", "mean", True), ("beta", 1.0, True)],
    "NLLLoss": [("weight", None, False), ("ignore_index", -100, True), ("reduction", "mean", True)],
    "MultiMarginLoss": [("p", 1, False), ("margin", 1.0, False), ("weight", None, False), ("reduction", "mean", True)],
    "KLDivLoss": [("reduction", "mean", True), ("log_target", False, True), ("axis", -1, True)],
    "SigmoidFocalLoss": [("alpha", 0.25, True), ("gamma", 2.0, True), ("reduction", "mean", True)],
    "FocalLoss": [("weight", None, False), ("ignore_index", -100, True), ("reduction", "mean", True),
                  ("gamma", 2.0, True)],
    "Poly1CrossEntropyLoss": [("weight", None, False), ("ignore_index", -100, True), ("reduction", "mean", True),
                              ("epsilon", 1.0, True)],
    "HingeLoss": [("reduction", "mean", True)],
    "SquaredHingeLoss": [("reduction", "mean", True)],
    "MulticlassHingeLoss": [("margin", 1.0, True), ("form", "crammer_singer", True), ("weight", None, True),
                            ("ignore_index", -100, True), ("reduction", "mean", True)],
    "LogCoshLoss": [("reduction", "mean", True)],
}  # fmt: skip


@pytest.mark.parametrize("name", list(NEW))
def test_new_modules_signatures_show_the_named_arguments(name):
    cls = getattr(LT, name)
    assert name in LT.__all__
    params = inspect.signature(cls).parameters
    assert [(p.name, p.default, p.kind == _KW) for p in params.values()] == NEW[name]
    assert "reduction: 'Reduction'" in str(inspect.signature(cls)) or name == "KLDivLoss"
    assert list(inspect.signature(cls.forward).parameters) == ["self", "input", "target", "sample_weight"]
    defaults = cls()
    for p, default, _ in NEW[name]:
        assert getattr(defaults, p) == default if default is not None else getattr(defaults, p) is None
    assert repr(defaults) == f"{name}()"


@pytest.mark.parametrize(
    ("name", "typo"),
    [("SmoothL1Loss", "bta"), ("SmoothL1Loss", "delta"), ("NLLLoss", "ignore_indx"), ("NLLLoss", "class_weight"),
     ("MultiMarginLoss", "marign"), ("KLDivLoss", "logtarget"), ("SigmoidFocalLoss", "alpah"),
     ("FocalLoss", "gama"), ("FocalLoss", "class_weight"), ("Poly1CrossEntropyLoss", "eps"),
     ("HingeLoss", "margin"), ("SquaredHingeLoss", "reduce"), ("MulticlassHingeLoss", "frm"),
     ("LogCoshLoss", "size_average")],
)  # fmt: skip
def test_new_modules_typos_are_type_errors(name, typo):
    with pytest.raises(TypeError, match=typo):
        getattr(LT, name)(**{typo: 1})


def test_new_modules_positional_use():
    assert LT.MultiMarginLoss(1, 0.5, _W).margin == 0.5  # torch's positional order
    with pytest.raises(TypeError):
        LT.NLLLoss(_W, None)  # torch's second positional is the deprecated size_average
    with pytest.raises(TypeError):
        LT.FocalLoss(_W, 2.0)  # gamma is keyword-only
    with pytest.raises(TypeError):
        LT.SmoothL1Loss("sum")  # torch's first positional is size_average


@pytest.mark.parametrize(
    ("name", "ctor", "keys"),
    [("NLLLoss", {"weight": _W}, ["weight"]), ("NLLLoss", {}, []), ("MultiMarginLoss", {"weight": _W}, ["weight"]),
     ("MultiMarginLoss", {}, []), ("FocalLoss", {"weight": _W}, ["weight"]), ("FocalLoss", {}, []),
     ("Poly1CrossEntropyLoss", {"weight": _W}, ["weight"]), ("MulticlassHingeLoss", {"weight": _W}, ["weight"]),
     ("SmoothL1Loss", {"beta": 0.5}, []), ("KLDivLoss", {"log_target": True}, []),
     ("SigmoidFocalLoss", {"alpha": None}, []), ("HingeLoss", {}, []), ("SquaredHingeLoss", {}, []),
     ("LogCoshLoss", {}, [])],
)  # fmt: skip
def test_new_modules_state_dict_keys(name, ctor, keys):
    mod = getattr(LT, name)(**ctor)
    assert list(mod.state_dict()) == keys and list(mod.parameters()) == []
    if "weight" in mod._buffers:  # class weights: a buffer (registered also when None), following .to()
        assert mod.double().weight is None or mod.weight.dtype == torch.float64
        fresh = getattr(LT, name)()
        fresh.load_state_dict(getattr(LT, name)(**ctor).state_dict(), strict=True)  # taken over when None
        assert (fresh.weight is None) == ("weight" not in keys)


def test_new_modules_repr_and_options():
    assert repr(LT.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(beta=0.5)"
    assert repr(LT.FocalLoss(gamma=1.0, reduction="sum")) == "FocalLoss(reduction='sum', gamma=1.0)"
    assert repr(LT.SigmoidFocalLoss(alpha=None)) == "SigmoidFocalLoss(alpha=None)"
    assert repr(LT.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"
    assert repr(LT.MulticlassHingeLoss(form="weston_watkins")) == "MulticlassHingeLoss(form='weston_watkins')"
    r = repr(LT.MultiMarginLoss(margin=0.5, weight=torch.tensor([1.0, 2.0])))
    assert r == "MultiMarginLoss(margin=0.5, weight=tensor([1., 2.]))"
    mod = LT.FocalLoss(gamma=1.0)
    z, y = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 2, 1, 0])
    mod.gamma, mod.reduction = 0.0, "none"  # options are read at each call
    torch.testing.assert_close(mod(z, y), losslab.cross_entropy(z, y, reduction="none"), rtol=1e-14, atol=0)


def test_new_modules_check_their_options_at_construction():
    for make, match in [
        (lambda: LT.SmoothL1Loss(beta=-1.0), "`beta` must be finite and >= 0"),
        (lambda: LT.SigmoidFocalLoss(alpha=1.5), "`alpha` must be in \\[0, 1\\] or None"),
        (lambda: LT.SigmoidFocalLoss(gamma=-1.0), "`gamma` must be finite and >= 0"),
        (lambda: LT.FocalLoss(gamma=-0.5), "`gamma`"),
        (lambda: LT.Poly1CrossEntropyLoss(epsilon=-2.0), "`epsilon` must be finite and >= -1"),
        (lambda: LT.MulticlassHingeLoss(margin=-1.0), "`margin`"),
        (lambda: LT.MulticlassHingeLoss(form="ww"), "`form` must be 'crammer_singer'"),
        (lambda: LT.MultiMarginLoss(margin=-1.0), "`margin`"),
        (lambda: LT.MultiMarginLoss(p=2), "p=2 .*no losslab counterpart.*torch.nn.MultiMarginLoss"),
        (lambda: LT.MultiMarginLoss(p=3), "torch takes p=1 or p=2 only"),
        (lambda: LT.KLDivLoss(reduction="none"), "'none' gives per-element terms.*'batchmean'.*'sum'"),
        (lambda: LT.KLDivLoss(reduction="avg"), "one of 'batchmean', 'sum' or 'mean'; got 'avg'"),
        (lambda: LT.HingeLoss(reduction="batchmean"), "`reduction` must be one of 'mean', 'sum' or 'none'"),
    ]:
        with pytest.raises(ValueError, match=match):
            make()


def test_class_index_modules_follow_cross_entropys_layout():
    """Classes on axis 1 for (N, C, d1), axis 0 unbatched, ignore_index -100 by default, as CrossEntropyLoss."""
    g = torch.Generator().manual_seed(11)
    z = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (3, 5), generator=g)
    y[0, 1] = y[2, 3] = -100
    w = torch.rand(4, generator=g, dtype=torch.float64) + 0.5
    pairs = [(LT.FocalLoss(w, gamma=1.0), losslab.focal_loss, {"gamma": 1.0}),
             (LT.Poly1CrossEntropyLoss(w), losslab.poly1_cross_entropy, {}),
             (LT.MulticlassHingeLoss(weight=w), losslab.multiclass_hinge, {}),
             (LT.NLLLoss(w), losslab.nll_loss, {})]  # fmt: skip
    for mod, fn, opts in pairs:
        x = torch.log_softmax(z, 1) if fn is losslab.nll_loss else z
        ref = fn(x, y, axis=1, class_weight=w, ignore_index=-100, **opts)
        torch.testing.assert_close(mod(x, y), ref, rtol=0, atol=0)
        x0 = x[:, :, 0][0]
        torch.testing.assert_close(mod(x0, y[0, 0]), fn(x0, y[0, 0], axis=0, class_weight=w, **opts), rtol=0, atol=0)
    # probability targets (Poly-1 only): a negative ignore_index is not used, another is an error
    t = torch.softmax(torch.randn(3, 4, 5, generator=g, dtype=torch.float64), 1)
    torch.testing.assert_close(LT.Poly1CrossEntropyLoss()(z, t), losslab.poly1_cross_entropy(z, t, axis=1))
    with pytest.raises(ValueError, match="`ignore_index` applies to integer class targets only"):
        LT.Poly1CrossEntropyLoss(ignore_index=1)(z, t)
    with pytest.raises(TypeError, match="cross_entropy"):  # focal loss refuses probabilities, naming the fix
        LT.FocalLoss()(z, t)
    x = z.clone().requires_grad_(True)
    LT.FocalLoss(w)(x, y).backward()
    assert x.grad[0, :, 1].eq(0).all() and x.grad[2, :, 3].eq(0).all() and x.grad[1].ne(0).all()


# ============================================================ graphs
@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample_weight"])
@pytest.mark.parametrize("name", MODULES)
def test_module_compiles_in_one_graph_and_equals_eager(name, weighted):
    """The module on its losslab function (not a stub): torch.compile(fullgraph=True) through dynamo and
    AOTAutograd, no graph break, the eager value and gradient, no warning."""
    import torch._dynamo as dynamo

    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 3)
    ctor, args, _, pred, target = _case(name, g)
    mod = getattr(LT, name)(**ctor)
    kw = {"sample_weight": torch.rand(N, generator=g, dtype=torch.float64) + 0.1} if weighted else {}
    dynamo.reset()
    try:
        explained = dynamo.explain(mod)(pred, target, *args, **kw)
        assert explained.graph_break_count == 0, explained.break_reasons
        dynamo.reset()
        p0, p1 = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
        eager = mod(p0, target, *args, **kw)
        (g0,) = torch.autograd.grad(eager, p0)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            compiled = torch.compile(mod, fullgraph=True, backend="aot_eager")(p1, target, *args, **kw)
            (g1,) = torch.autograd.grad(compiled, p1)
        assert not [str(w.message) for w in seen]
    finally:
        dynamo.reset()
    torch.testing.assert_close(compiled, eager, rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(g1, g0, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_exports_and_traces_to_its_eager_value(name):
    """torch.export and torch.jit.trace of every module give the eager value (issue 10: MSELoss once
    traced to the sum)."""
    import warnings

    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    ctor, args, _, pred, target = _case(name, g)
    mod = getattr(LT, name)(**ctor)
    inputs = (pred, target, *args)
    eager = mod(*inputs)
    torch.testing.assert_close(torch.export.export(mod, inputs).module()(*inputs), eager)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: shapes recorded as constants
        traced = torch.jit.trace(mod, inputs, check_trace=False)
    torch.testing.assert_close(traced(*inputs), eager)
