# ruff: noqa: E501 -- the tables of bad inputs keep one case per line
"""hinge, squared_hinge and multiclass_hinge: optax, Keras's formula, torch's multi_margin_loss, labels, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losslab
from conftest import numeric_grad
from losslab import grad as G

H, GH = losslab.hinge, G.hinge
SH, GSH = losslab.squared_hinge, G.squared_hinge
MH, GMH = losslab.multiclass_hinge, G.multiclass_hinge
REDUCTIONS = ("mean", "sum", "none")
N, C = 7, 4
CW = np.array([0.5, 2.0, 1.0, 3.0])


def _s(shape=(N, 3), seed=0):
    return np.random.default_rng(seed).normal(scale=1.5, size=shape)


def _pm(shape=(N, 3), seed=1):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=shape)


@pytest.fixture(scope="module")
def optax_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return pytest.importorskip("optax"), jax


def keras_hinge(y_true, y_pred, squared=False):
    """keras.losses.Hinge / SquaredHinge per element, transcribed: {0, 1} labels become {-1, 1}, others stay."""
    if np.all(np.isin(y_true, (0.0, 1.0))):
        y_true = 2.0 * y_true - 1.0
    h = np.maximum(1.0 - y_true * y_pred, 0.0)
    return h * h if squared else h


# ================================================================== binary
def test_hinge_matches_optax_on_plus_minus_one_labels(optax_jax):
    optax, jax = optax_jax
    s, y = _s(), _pm()
    np.testing.assert_array_equal(H(s, y, reduction="none"), np.asarray(optax.losses.hinge_loss(s, y)))
    np.testing.assert_array_equal(SH(s, y, reduction="none"), np.asarray(optax.losses.hinge_loss(s, y)) ** 2)
    auto = jax.grad(lambda x: jax.numpy.sum(optax.losses.hinge_loss(x, y)))(jax.numpy.asarray(s))
    np.testing.assert_array_equal(GH(s, y, reduction="sum"), np.asarray(auto))


@pytest.mark.parametrize("squared", [False, True])
def test_zero_one_labels_mean_minus_one_as_keras(squared):
    s, y = _s(), _pm()
    t01 = (y + 1) / 2
    fn = SH if squared else H
    np.testing.assert_array_equal(fn(s, t01, reduction="none"), fn(s, y, reduction="none"))
    np.testing.assert_allclose(fn(s, t01, reduction="none"), keras_hinge(t01, s, squared), rtol=0, atol=0)
    np.testing.assert_allclose(fn(s, y, reduction="none"), keras_hinge(y, s, squared), rtol=0, atol=0)
    np.testing.assert_array_equal(fn(s, t01.astype(bool), reduction="none"), fn(s, y, reduction="none"))
    np.testing.assert_array_equal(fn(s, y.astype(np.int8), reduction="none"), fn(s, y, reduction="none"))


def test_optax_silently_charges_zero_labels(optax_jax):
    """optax.hinge_loss with a 0 label gives max(0, 1 - 0) = 1 whatever the score; losslab reads 0 as -1."""
    optax, _ = optax_jax
    s = np.array([-3.0, 3.0])
    assert np.asarray(optax.losses.hinge_loss(s, np.zeros(2))).tolist() == [1.0, 1.0]
    assert H(s, np.zeros(2), reduction="none").tolist() == [0.0, 4.0]


@pytest.mark.parametrize("fn", [H, GH, SH, GSH], ids=["hinge", "hinge_grad", "squared", "squared_grad"])
@pytest.mark.parametrize(
    ("s", "t", "match"),
    [
        (np.zeros(3), np.array([1.0, 0.5, 0.0]), r"`target` must hold binary labels in \{-1, 1\} or \{0, 1\}; got 0.5 at index 1\. Hinge losses take hard labels"),
        (np.zeros(3), np.array([1.0, 2.0, 0.0]), r"got 2.0 at index 1"),
        (np.zeros(3), np.array([1.0, np.nan, 0.0]), r"got nan at index 1"),
        (np.zeros(3), np.array([-1.0, 0.0, 1.0]), r"`target` mixes the labels 0 \(at index 1\) and -1, which would both mean the negative class; use one convention"),
        (np.array([0.0, np.inf, 1.0]), np.array([1.0, 1.0, 0.0]), r"`pred` contains inf at index 1"),
        (np.array([0.0, np.nan, 1.0]), np.array([1.0, 1.0, 0.0]), r"`pred` contains NaN at index 1"),
        (np.array([0.0, -np.inf, 1.0]), np.array([1.0, 0.0, 0.0]), r"`pred` contains -inf at index 1"),
        (np.zeros(3), np.zeros(2), r"`target` must have the shape of `pred` \(3,\); got \(2,\)"),
    ],
)  # fmt: skip
def test_binary_bad_input(fn, s, t, match):
    with pytest.raises(ValueError, match=match):
        fn(s, t)


@pytest.mark.parametrize("fn,gfn", [(H, GH), (SH, GSH)], ids=["hinge", "squared"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_grads_match_central_differences_and_torch(fn, gfn, reduction):
    s, y = _s(), _pm()
    w = np.linspace(0.5, 1.5, N)
    g = gfn(s, y, reduction=reduction, weight=w)
    np.testing.assert_allclose(g, numeric_grad(lambda x: fn(x, y, reduction=reduction, weight=w), s), rtol=1e-6, atol=1e-9)
    st = torch.as_tensor(s).requires_grad_(True)
    fn(st, torch.as_tensor(y), reduction=reduction, weight=torch.as_tensor(w)).sum().backward()
    np.testing.assert_allclose(st.grad.numpy(), g, rtol=1e-14, atol=0)


def test_binary_kink_has_subgradient_zero_in_closed_form_and_autograd():
    s, y = np.array([1.0, -1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    assert GH(s, y, reduction="sum").tolist() == [0.0, 0.0, -1.0]
    st = torch.as_tensor(s).requires_grad_(True)
    H(st, torch.as_tensor(y), reduction="sum").backward()
    assert st.grad.tolist() == [0.0, 0.0, -1.0]
    assert H(np.array([1e300, -1e300]), np.array([1.0, 1.0]), reduction="none").tolist() == [0.0, 1e300]


def test_binary_under_jax_jit_maps_zero_to_minus_one():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    s, t = jnp.asarray([2.0, 0.5, -0.5]), jnp.asarray([0.0, 1.0, 0.0])
    assert jax.jit(lambda a, b: H(a, b, reduction="none"))(s, t).tolist() == [3.0, 0.5, 0.5]
    assert jax.jit(lambda a, b: GSH(a, b, reduction="sum"))(s, t).tolist() == [6.0, -1.0, 1.0]


# ============================================================== multiclass
def _scores(shape=(N, C), seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _labels(seed=1):
    y = np.random.default_rng(seed).integers(0, C, size=N)
    y[:C] = np.arange(C)
    return y


@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_crammer_singer_matches_optax(optax_jax, margin):
    optax, jax = optax_jax
    s, y = _scores(), _labels()
    if margin == 1.0:  # optax's margin is 1
        np.testing.assert_allclose(MH(s, y, reduction="none"), np.asarray(optax.losses.multiclass_hinge_loss(s, y)), rtol=1e-14, atol=1e-15)
        auto = jax.grad(lambda x: jax.numpy.sum(optax.losses.multiclass_hinge_loss(x, y)))(jax.numpy.asarray(s))
        np.testing.assert_allclose(GMH(s, y, reduction="sum"), np.asarray(auto), rtol=0, atol=0)
    # any margin: the scores scaled by 1 / m, times m
    np.testing.assert_allclose(MH(s, y, margin=margin, reduction="none"), margin * MH(s / margin, y, reduction="none"), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weston_watkins_is_torch_multi_margin_loss_times_num_classes(margin, reduction):
    s, y = _scores(), _labels()
    st, yt = torch.as_tensor(s), torch.as_tensor(y)
    want = C * F.multi_margin_loss(st, yt, margin=margin, reduction=reduction)
    got = MH(st, yt, margin=margin, form="weston_watkins", reduction=reduction)
    torch.testing.assert_close(got, want, rtol=1e-14, atol=1e-15)
    x = st.clone().requires_grad_(True)
    (C * F.multi_margin_loss(x, yt, margin=margin, reduction=reduction)).sum().backward()
    torch.testing.assert_close(GMH(st, yt, margin=margin, form="weston_watkins", reduction=reduction), x.grad, rtol=1e-14, atol=0)


def test_torch_multi_margin_weighted_mean_divides_by_the_batch():
    """torch's multi_margin_loss(weight=w, reduction="mean") divides by N; losslab (as cross_entropy) by sum w[y]."""
    s, y = torch.as_tensor(_scores()), torch.as_tensor(_labels())
    w = torch.as_tensor(CW)
    per = MH(s, y, form="weston_watkins", class_weight=w, reduction="none") / C
    torch.testing.assert_close(per, F.multi_margin_loss(s, y, weight=w, reduction="none"), rtol=1e-14, atol=0)
    torch.testing.assert_close(per.sum() / N, F.multi_margin_loss(s, y, weight=w), rtol=1e-14, atol=0)
    ours = MH(s, y, form="weston_watkins", class_weight=w) / C
    torch.testing.assert_close(ours, per.sum() / w[y].sum(), rtol=1e-14, atol=0)
    assert abs(float(ours) - float(F.multi_margin_loss(s, y, weight=w))) > 0.05  # a real difference, not rounding


def test_forms_agree_for_two_classes_and_differ_beyond():
    s2, y2 = _scores((N, 2)), np.random.default_rng(3).integers(0, 2, N)
    np.testing.assert_array_equal(MH(s2, y2, reduction="none"), MH(s2, y2, form="weston_watkins", reduction="none"))
    s, y = _scores() * 0.1, _labels()  # every class violates: the sum exceeds the max
    assert np.all(MH(s, y, form="weston_watkins", reduction="none") > MH(s, y, reduction="none"))


FORMS = ["crammer_singer", "weston_watkins"]
OPTION_SETS = [{}, {"margin": 0.5}, {"class_weight": CW}, {"ignore_index": 2}, {"weight": np.linspace(0.1, 2.0, N)},
               {"class_weight": CW, "ignore_index": 1, "margin": 2.0}]  # fmt: skip


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("opts", OPTION_SETS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multiclass_grad_matches_central_differences_torch_and_jax(form, opts, reduction):
    s, y = _scores(), _labels()
    g = GMH(s, y, form=form, reduction=reduction, **opts)
    np.testing.assert_allclose(g, numeric_grad(lambda x: MH(x, y, form=form, reduction=reduction, **opts), s), rtol=1e-6, atol=1e-9)
    st = torch.as_tensor(s).requires_grad_(True)
    topts = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    MH(st, torch.as_tensor(y), form=form, reduction=reduction, **topts).sum().backward()
    np.testing.assert_allclose(st.grad.numpy(), g, rtol=1e-14, atol=0)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    jopts = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
    auto = jax.grad(lambda x: jnp.sum(MH(x, jnp.asarray(y), form=form, reduction=reduction, **jopts)))(jnp.asarray(s))
    np.testing.assert_allclose(np.asarray(auto), g, rtol=1e-14, atol=0)
    jitted = jax.jit(lambda x: GMH(x, jnp.asarray(y), form=form, reduction=reduction, **jopts))(jnp.asarray(s))
    np.testing.assert_allclose(np.asarray(jitted), g, rtol=1e-14, atol=0)


def test_crammer_singer_ties_share_the_subgradient_as_autograd():
    s, y = np.array([[0.0, 0.5, 0.5, -3.0]]), np.array([0])
    g = GMH(s, y, reduction="sum")
    assert g.tolist() == [[-1.0, 0.5, 0.5, 0.0]]
    st = torch.as_tensor(s).requires_grad_(True)
    MH(st, torch.as_tensor(y), reduction="sum").backward()
    assert st.grad.tolist() == g.tolist()


@pytest.mark.parametrize("form", FORMS)
def test_exact_zero_beyond_the_margin_and_masked_classes(form):
    s = np.array([[0.1, 0.1 - 1.5, -np.inf], [3.3, 2.2, 1.1]])
    y = np.array([0, 0])
    per = MH(s, y, form=form, reduction="none")
    assert per.tolist() == [0.0, 0.0]  # d_y = 0 exactly: never a rounding of (s_y + m) - m - s_y
    assert np.all(GMH(s, y, form=form) == 0)


@pytest.mark.parametrize("fn", [MH, GMH], ids=["loss", "grad"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("s", "y", "kw", "exc", "match"),
    [
        (np.array([[0.0, -np.inf, 1.0]]), np.array([1]), {}, ValueError, r"the target class 1 of sample 0 has score -inf, so its multiclass hinge loss is infinite; unmask the target class"),
        (np.array([[0.0, np.nan, 1.0]]), np.array([0]), {}, ValueError, r"`scores` contains NaN at index \(0, 1\)"),
        (np.array([[0.0, np.inf, 1.0]]), np.array([0]), {}, ValueError, r"`scores` contains inf at index \(0, 1\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), {}, TypeError, r"`target` must hold integer class indices; got a floating dtype.*multiclass hinge loss is defined for hard labels"),
        (np.zeros((2, 3)), np.array([0, 3]), {}, ValueError, r"`target` must hold class indices in \[0, 2\]; got 3 at index 1"),
        (np.zeros((2, 3)), np.array([0, 1]), {"margin": -0.5}, ValueError, r"^`margin` must be finite and >= 0; got -0.5: margin = 0 is the multiclass perceptron loss$"),
        (np.zeros((2, 3)), np.array([0, 1]), {"margin": "1"}, TypeError, r"^`margin` must be a real number"),
        (np.zeros((2, 3)), np.array([0, 1]), {"form": "cs"}, ValueError, r"^`form` must be 'crammer_singer' \(the largest violation, optax's multiclass_hinge_loss\) or 'weston_watkins'.*got 'cs'$"),
    ],
)  # fmt: skip
def test_multiclass_bad_input(fn, form, s, y, kw, exc, match):
    with pytest.raises(exc, match=match):
        fn(s, y, **{"form": form, **kw})


def test_margin_zero_is_the_multiclass_perceptron(optax_jax):
    optax, _ = optax_jax
    s, y = _scores(), _labels()
    np.testing.assert_allclose(MH(s, y, margin=0.0, reduction="none"), np.asarray(optax.losses.multiclass_perceptron_loss(s, y)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("form", FORMS)
def test_axis1_layout_and_array_api_strict(form):
    s = np.random.default_rng(3).normal(size=(2, 3, 4))
    y = np.random.default_rng(4).integers(0, 3, size=(2, 4))
    np.testing.assert_allclose(MH(s, y, axis=1, form=form, reduction="none"), MH(np.moveaxis(s, 1, -1), y, form=form, reduction="none"), rtol=0)
    np.testing.assert_allclose(GMH(s, y, axis=1, form=form), np.moveaxis(GMH(np.moveaxis(s, 1, -1), y, form=form), -1, 1), rtol=0)
    xp = pytest.importorskip("array_api_strict")
    s2, y2 = _scores(), _labels()
    kw = {"form": form, "class_weight": CW, "ignore_index": 3}
    out = MH(xp.asarray(s2), xp.asarray(y2), **{**kw, "class_weight": xp.asarray(CW)})
    assert float(out) == pytest.approx(float(MH(s2, y2, **kw)), rel=1e-14)
    g = GMH(xp.asarray(s2), xp.asarray(y2), **{**kw, "class_weight": xp.asarray(CW)})
    np.testing.assert_allclose(np.from_dlpack(g), GMH(s2, y2, **kw), rtol=1e-14)


def test_public_api():
    from losslab.registry import LOSSES

    for name, fn, g in (("hinge", H, GH), ("squared_hinge", SH, GSH), ("multiclass_hinge", MH, GMH)):
        assert name in losslab.__all__ and name in G.__all__ and LOSSES[name].fn is fn and LOSSES[name].grad is g


def test_checkify_reports_bad_labels_in_always_mode():
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify

    jnp = jax.numpy
    s = jnp.asarray([0.5, -0.5, 2.0])
    with losslab.value_checks("always"):
        err, _ = checkify.checkify(jax.jit(lambda a, b: H(a, b)))(s, jnp.asarray([1.0, 0.5, 0.0]))
        assert "`target` must hold labels in {-1, 1} or {0, 1}" in err.get()
        err, _ = checkify.checkify(jax.jit(lambda a, b: SH(a, b)))(s, jnp.asarray([1.0, -1.0, 1.0]))
        assert err.get() is None
