"""Real-valued options as arrays: traced under jax.jit, differentiated by jax.grad and torch autograd.

Every case is a loss, its closed-form gradient, one option and a value inside the option's domain.
The reference is the same call with the option as a Python float on NumPy float64 inputs; the
derivative w.r.t. the option is checked against central differences of that reference.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import losslab
from losslab.losses.binary import binary_cross_entropy_with_logits_grad
from losslab.losses.categorical import cross_entropy_grad
from losslab.losses.information import distillation_loss_grad
from losslab.losses.nll import gaussian_nll_grad, laplace_nll_grad
from losslab.losses.regression import huber_grad, pinball_grad
from losslab.losses.robust_categorical import generalized_cross_entropy_grad

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")
jax.config.update("jax_enable_x64", True)  # float64 in JAX, as the backend tests set it

R = np.random.default_rng(20240611)
Z = R.standard_normal((6, 4))
Y = np.array([0, 3, 1, 2, 2, 0])
SOFT = R.dirichlet(np.ones(4), size=6)
TEACHER = R.standard_normal((6, 4)) * 1.5
P = R.standard_normal(8)
T = R.standard_normal(8) * 2.0
LABELS = (R.uniform(size=8) > 0.5).astype(np.float64)
CW = np.array([1.0, 2.0, 0.5, 1.5])


# (id, loss, its gradient, positional inputs, fixed options, option name, option value)
CASES = [
    ("ce-hard", losslab.cross_entropy, cross_entropy_grad, (Z, Y), {}, "label_smoothing", 0.1),
    ("ce-weighted", losslab.cross_entropy, cross_entropy_grad, (Z, np.where(Y == 2, -100, Y)),
     {"class_weight": CW, "ignore_index": -100}, "label_smoothing", 0.2),
    ("ce-soft", losslab.cross_entropy, cross_entropy_grad, (Z, SOFT), {}, "label_smoothing", 0.3),
    ("bce-logits", losslab.binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad, (P, LABELS),
     {"pos_weight": 2.0}, "label_smoothing", 0.15),
    ("distill-T", losslab.distillation_loss, distillation_loss_grad, (Z, TEACHER), {}, "temperature", 2.5),
    ("distill-T-hard", losslab.distillation_loss, distillation_loss_grad, (Z, TEACHER), {"target": Y, "alpha": 0.3},
     "temperature", 1.7),
    ("distill-alpha", losslab.distillation_loss, distillation_loss_grad, (Z, TEACHER), {"target": Y},
     "alpha", 0.35),
    ("huber", losslab.huber, huber_grad, (P, T), {}, "delta", 0.9),
    ("pinball", losslab.pinball, pinball_grad, (P, T), {}, "quantile", 0.3),
    ("gce", losslab.generalized_cross_entropy, generalized_cross_entropy_grad, (Z, Y), {}, "q", 0.6),
    ("gaussian", losslab.gaussian_nll, gaussian_nll_grad, (P, T), {"full": True}, "var", 0.7),
    ("laplace", losslab.laplace_nll, laplace_nll_grad, (P, T), {}, "scale", 1.3),
]  # fmt: skip
IDS = [c[0] for c in CASES]


def _jax(a):
    return jnp.asarray(a) if isinstance(a, np.ndarray) else a


def _torch(a):
    return torch.as_tensor(a) if isinstance(a, np.ndarray) else a


def _call(fn, inputs, fixed, name, value, convert=lambda a: a, **kw):
    options = {k: convert(v) for k, v in fixed.items()}
    return fn(*(convert(a) for a in inputs), **options, **{name: value}, **kw)


def central_difference(fn, inputs, fixed, name, value, h=1e-6):
    up = float(_call(fn, inputs, fixed, name, value + h))
    down = float(_call(fn, inputs, fixed, name, value - h))
    return (up - down) / (2 * h)


# ------------------------------------------------------------------ jax.jit
@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_traced_option_under_jit_equals_float_option(case, reduction):
    _, fn, gfn, inputs, fixed, name, value = case
    for f in (fn, gfn):
        expected = _call(f, inputs, fixed, name, value, reduction=reduction)
        traced = jax.jit(lambda v, f=f: _call(f, inputs, fixed, name, v, _jax, reduction=reduction))
        np.testing.assert_allclose(np.asarray(traced(jnp.asarray(value))), expected, rtol=1e-12, atol=1e-14)
        # an eager (concrete) 0-d JAX array too
        eager = _call(f, inputs, fixed, name, jnp.asarray(value), _jax, reduction=reduction)
        np.testing.assert_allclose(np.asarray(eager), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_vmap_over_option(case):
    _, fn, _, inputs, fixed, name, value = case
    values = jnp.asarray([value, value * 0.9])
    out = jax.vmap(lambda v: _call(fn, inputs, fixed, name, v, _jax))(values)
    expected = [_call(fn, inputs, fixed, name, float(v)) for v in values]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12)


# ----------------------------------------------------------------- jax.grad
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jax_grad_wrt_option_matches_central_differences(case):
    _, fn, _, inputs, fixed, name, value = case
    g = jax.jit(jax.grad(lambda v: _call(fn, inputs, fixed, name, v, _jax)))(jnp.asarray(value))
    np.testing.assert_allclose(float(g), central_difference(fn, inputs, fixed, name, value), rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------ torch autograd
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_0d_tensor_option_with_autograd(case):
    _, fn, gfn, inputs, fixed, name, value = case
    v = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    out = _call(fn, inputs, fixed, name, v, _torch)
    np.testing.assert_allclose(out.item(), _call(fn, inputs, fixed, name, value), rtol=1e-12)
    out.backward()
    np.testing.assert_allclose(v.grad.item(), central_difference(fn, inputs, fixed, name, value), rtol=1e-6, atol=1e-9)
    g = _call(gfn, inputs, fixed, name, v, _torch)  # the closed form takes the tensor too
    np.testing.assert_allclose(g.detach().numpy(), _call(gfn, inputs, fixed, name, value), rtol=1e-12, atol=1e-14)


def test_torch_func_grad_wrt_temperature():
    s, t = torch.as_tensor(Z), torch.as_tensor(TEACHER)
    T = torch.tensor(2.5, dtype=torch.float64)
    g = torch.func.grad(lambda T: losslab.distillation_loss(s, t, temperature=T))(T)
    np.testing.assert_allclose(
        g.item(), central_difference(losslab.distillation_loss, (Z, TEACHER), {}, "temperature", 2.5), rtol=1e-6
    )


# --------------------------------------------------- special cases as arrays
def test_zero_smoothing_array_equals_zero_on_masked_logits():
    """0 given as an array takes the general formula, which keeps 0 * inf = 0 on masked classes."""
    z = Z.copy()
    z[1, 2] = -np.inf  # not the target class of row 1 (3)
    for f in (losslab.cross_entropy, cross_entropy_grad):
        expected = f(z, Y, reduction="none", label_smoothing=0.0)
        assert np.all(np.isfinite(expected))
        out = jax.jit(lambda a, f=f: f(jnp.asarray(z), jnp.asarray(Y), reduction="none", label_smoothing=a))(0.0)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12)
        out = f(torch.as_tensor(z), torch.as_tensor(Y), reduction="none", label_smoothing=torch.tensor(0.0))
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_distillation_alpha_one_array_equals_number():
    for f in (losslab.distillation_loss, distillation_loss_grad):
        expected = f(Z, TEACHER, target=Y, alpha=1.0)
        out = jax.jit(lambda a, f=f: f(jnp.asarray(Z), jnp.asarray(TEACHER), target=jnp.asarray(Y), alpha=a))(1.0)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12, atol=1e-15)


def test_pinball_quantile_arrays_traced_and_differentiated():
    p = R.standard_normal((8, 3))
    qs = [0.1, 0.5, 0.8]
    expected = losslab.pinball(p, T, quantile=qs)
    f = jax.jit(lambda q: losslab.pinball(jnp.asarray(p), jnp.asarray(T), quantile=q))
    np.testing.assert_allclose(float(f(jnp.asarray(qs))), expected, rtol=1e-12)
    g = jax.grad(f)(jnp.asarray(qs))
    h = 1e-6
    for i in range(3):
        up, down = list(qs), list(qs)
        up[i] += h
        down[i] -= h
        fd = (losslab.pinball(p, T, quantile=up) - losslab.pinball(p, T, quantile=down)) / (2 * h)
        np.testing.assert_allclose(float(g[i]), fd, rtol=1e-6)
    # a sequence mixing traced 0-d arrays and numbers
    mixed = jax.jit(lambda a: losslab.pinball(jnp.asarray(p), jnp.asarray(T), quantile=[0.1, a, 0.8]))
    np.testing.assert_allclose(float(mixed(0.5)), expected, rtol=1e-12)
    np.testing.assert_allclose(float(jax.grad(mixed)(0.5)), float(g[1]), rtol=1e-12)
    # torch: a 1-d tensor with requires_grad
    q = torch.tensor(qs, dtype=torch.float64, requires_grad=True)
    losslab.pinball(torch.as_tensor(p), torch.as_tensor(T), quantile=q).backward()
    np.testing.assert_allclose(q.grad.numpy(), np.asarray(g), rtol=1e-12)


def test_smooth_labels_traced_alpha():
    expected = losslab.smooth_labels(Y, 4, 0.2)
    out = jax.jit(lambda a: losslab.smooth_labels(jnp.asarray(Y), 4, a))(jnp.asarray(0.2, dtype=jnp.float32))
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)


def test_gaussian_var_per_element_under_jit_and_grad():
    var = R.uniform(0.5, 2.0, size=8)
    expected = losslab.gaussian_nll(P, T, var=var)
    f = jax.jit(lambda v: losslab.gaussian_nll(jnp.asarray(P), jnp.asarray(T), var=v))
    np.testing.assert_allclose(float(f(jnp.asarray(var))), expected, rtol=1e-12)
    g = jax.grad(f)(jnp.asarray(var))
    np.testing.assert_allclose(np.asarray(g), 0.5 * (1.0 / var - (T - P) ** 2 / var**2) / 8, rtol=1e-10)


# ------------------------------------------------------ concrete validation
def _same(a):
    return a


LIBRARIES = {  # how to make a 0-d option, and how to convert the inputs to its library
    "jax": (jnp.asarray, _jax),
    "torch": (lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True), _torch),
    "numpy": (np.asarray, _same),
}


@pytest.mark.parametrize("library", list(LIBRARIES))
@pytest.mark.parametrize(
    "name,bad,message",
    [
        ("label_smoothing", 1.5, "`label_smoothing` must be in [0, 1]; got 1.5"),
        ("temperature", -2.0, "`temperature` must be positive and finite; got -2.0"),
        ("delta", 0.0, "`delta` must be positive and finite; got 0.0"),
        ("quantile", 1.0, "`quantile` must be in (0, 1); got 1.0"),
        ("q", 1.5, "`q` must be in (0, 1]; got 1.5: q = 1 already gives the bounded loss"),
        ("var", -1.0, "`var` must be positive and finite; got -1.0"),
        ("scale", float("inf"), "`scale` must be positive and finite; got inf"),
    ],
)
def test_concrete_array_option_checked_with_the_number_message(library, name, bad, message):
    fn, inputs, fixed = next((c[1], c[3], c[4]) for c in CASES if c[5] == name)
    make, convert = LIBRARIES[library]
    with pytest.raises(ValueError, match=re.escape(message)):
        _call(fn, inputs, fixed, name, make(bad), convert)


@pytest.mark.parametrize("name", ["label_smoothing", "temperature", "delta", "q", "alpha"])
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_non_0d_option_array_is_an_error_naming_it_and_its_shape(name, library):
    fn, inputs, fixed = next((c[1], c[3], c[4]) for c in CASES if c[5] == name)
    make, convert = LIBRARIES[library]
    expected = f"`{name}` must be a number or a 0-d array; got an array of shape (2,)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        _call(fn, inputs, fixed, name, make([0.5, 0.5]), convert)
    with pytest.raises(ValueError, match=re.escape(expected)):  # under jit too: a shape check is static
        jax.jit(lambda v: _call(fn, inputs, fixed, name, v, _jax))(jnp.ones(2))


def test_pinball_quantile_of_wrong_rank_and_values():
    p = R.standard_normal((8, 2))
    with pytest.raises(ValueError, match=re.escape("got an array of shape (2, 1)")):
        losslab.pinball(jnp.asarray(p), jnp.asarray(T), quantile=jnp.ones((2, 1)) * 0.5)
    with pytest.raises(ValueError, match=re.escape("`quantile[1]` must be in (0, 1); got 1.5")):
        losslab.pinball(jnp.asarray(p), jnp.asarray(T), quantile=jnp.asarray([0.5, 1.5]))
    with pytest.raises(ValueError, match=re.escape("`quantile[1]` must be in (0, 1); got 1.5")):
        losslab.pinball(torch.as_tensor(p), torch.as_tensor(T), quantile=torch.tensor([0.5, 1.5]))


def test_option_of_another_library():
    # a concrete one is read as a number, as a torch quantile next to NumPy inputs always was
    np.testing.assert_allclose(losslab.huber(P, T, delta=torch.tensor(0.9)), losslab.huber(P, T, delta=0.9))
    # a traced one cannot be: the error names both libraries
    with pytest.raises(TypeError, match="`delta` is a jax array but the inputs are numpy arrays"):
        jax.jit(lambda d: losslab.huber(P, T, delta=d))(0.9)


def test_bool_and_complex_option_arrays_are_refused():
    with pytest.raises(TypeError, match="`delta` must be a real number or a 0-d real array; got an array of dtype b"):
        losslab.huber(jnp.asarray(P), jnp.asarray(T), delta=jnp.asarray(True))
    with pytest.raises(TypeError, match="`temperature` must be a real number or a 0-d real array"):
        losslab.distillation_loss(torch.as_tensor(Z), torch.as_tensor(Z), temperature=torch.tensor(1 + 1j))
