"""The fused cross-entropy kernel (losslab.kernels._ce): the generic NumPy path's loss rows and gradient."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import losslab
from losslab.kernels import fused_ce as fc

if not fc.AVAILABLE:  # a failure where CI requires the kernels, else nothing to test
    if os.environ.get("LOSSLAB_REQUIRE_KERNELS"):
        pytest.fail("LOSSLAB_REQUIRE_KERNELS is set but losslab.kernels._ce did not build", pytrace=False)
    pytest.skip("the fused cross-entropy kernel did not build here (no compiler)", allow_module_level=True)


def _available_isas() -> list[str]:
    default = fc._ce.isa()
    found = []
    for name in ("avx512", "avx2", "scalar"):
        try:
            fc._ce.isa(name)
        except ValueError:
            continue
        found.append(name)
    fc._ce.isa(default)
    return found


ISAS = _available_isas()


@pytest.fixture(params=ISAS)
def isa(request):
    """Each instruction-set variant of the kernel this machine runs (the default restored afterwards)."""
    default = fc._ce.isa()
    fc._ce.isa(request.param)
    yield request.param
    fc._ce.isa(default)


TOL = {np.float32: dict(rtol=2e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def reference(z, t, rowc=1.0, **options):
    """The generic path: loss rows (reduction "none") and the gradient of the sum, times rowc per row."""
    loss = losslab.cross_entropy(z, t, reduction="none", **options)
    g = losslab.grad.cross_entropy(z, t, reduction="sum", **options)
    return np.asarray(loss), np.asarray(g) * np.asarray(rowc, dtype=g.dtype).reshape(-1, 1)


def kernel(z, t, rowc=1.0, out="fresh", **options):
    g = np.empty_like(z) if isinstance(out, str) else out
    r = fc.ce_rows(z, t, rowc=rowc, out=g, **options)
    assert r is not None
    loss, status, index = r
    return loss, g, status, index


def soft_rows(rng, n, C, dtype):
    t = rng.dirichlet(np.full(C, 0.5), size=n)
    return (t / t.sum(1, keepdims=True)).astype(dtype)


def to_bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (finite values)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


OPTIONS = [
    pytest.param({}, id="plain"),
    pytest.param({"label_smoothing": 0.1}, id="smooth0.1"),
    pytest.param({"label_smoothing": 1.0}, id="smooth1"),
    pytest.param({"class_weight": "w"}, id="weights"),
    pytest.param({"class_weight": "w", "label_smoothing": 0.1}, id="weights+smooth"),
]


def resolve(options, rng, C):
    options = dict(options)
    if options.get("class_weight") == "w":
        options["class_weight"] = rng.uniform(0.2, 2.0, size=C)
    return options


# ------------------------------------------------------------------ agreement with the generic path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [1, 2, 31, 100])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_agrees_with_the_generic_path(isa, dtype, C, options, soft):
    rng = np.random.default_rng(C)
    N = 37
    z = (rng.normal(size=(N, C)) * 3).astype(dtype)
    t = soft_rows(rng, N, C, dtype) if soft else rng.integers(0, C, N)
    options = resolve(options, rng, C)
    rowc = rng.uniform(0.1, 2.0, N)
    for rc in (1.0, rowc):
        loss, g, status, _ = kernel(z, t, rc, **options)
        ref_loss, ref_g = reference(z, t, rc, **options)
        assert status == fc.OK
        assert g.dtype == z.dtype
        np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
        np.testing.assert_allclose(g, ref_g, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ignore_index_rows_are_zero_whatever_they_hold(isa, dtype):
    rng = np.random.default_rng(5)
    N, C = 40, 33
    z = rng.normal(size=(N, C)).astype(dtype)
    y = rng.integers(0, C, N)
    y[[0, 7, 39]] = -100
    z[7] = np.nan  # never read
    z[39] = -np.inf
    for options in ({}, {"label_smoothing": 0.1, "class_weight": rng.uniform(0.5, 1.5, C)}):
        loss, g, status, _ = kernel(z, y, 0.5, ignore_index=-100, **options)
        assert status == fc.OK
        zs = np.where((y == -100)[:, None], 0.0, z).astype(dtype)  # the generic path ignores them too
        ref_loss, ref_g = reference(zs, y, 0.5, ignore_index=-100, **options)
        np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
        np.testing.assert_allclose(g, ref_g, **TOL[dtype])
        assert np.all(loss[[0, 7, 39]] == 0) and np.all(g[[0, 7, 39]] == 0)
    # an ignore_index inside [0, C) ignores that class's rows
    loss, g, status, _ = kernel(np.where(np.isfinite(z), z, 0).astype(dtype), np.abs(y) % C, ignore_index=3)
    assert status == fc.OK and np.all(loss[np.abs(y) % C == 3] == 0)


@pytest.mark.parametrize("options", OPTIONS[:3])
def test_bfloat16_is_the_float32_result_of_the_rounded_logits(isa, options):
    rng = np.random.default_rng(8)
    N, C = 29, 47
    bits = to_bf16_bits(rng.normal(size=(N, C)) * 4)
    z32 = from_bf16_bits(bits)
    for soft in (False, True):
        t = soft_rows(rng, N, C, np.float32) if soft else rng.integers(0, C, N)
        out = np.empty_like(bits)
        r = fc.ce_rows(bits, t, rowc=0.25, out=out, bfloat16=True, **options)
        assert r is not None and r[1] == fc.OK
        ref_loss, ref_g = reference(z32, t, 0.25, **options)
        np.testing.assert_allclose(r[0], ref_loss, rtol=2e-6, atol=1e-6)
        g = from_bf16_bits(out)
        # within one bfloat16 rounding (half an ulp: 2^-8 relative) of the float32 gradient
        np.testing.assert_allclose(g, ref_g, rtol=2.0**-8, atol=1e-6)
        # and exactly the rounding of the kernel's float32 result
        g32 = np.empty_like(z32)
        fc.ce_rows(z32, t, rowc=0.25, out=g32, **options)
        assert np.max(np.abs(out.astype(np.int32) - to_bf16_bits(g32).astype(np.int32))) <= 1


def test_bfloat16_dtypes_accepted():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(9)
    z32 = rng.normal(size=(5, 20)).astype(np.float32)
    zb = z32.astype(ml_dtypes.bfloat16)
    y = rng.integers(0, 20, 5)
    out = np.empty_like(zb)
    loss, status, _ = fc.ce_rows(zb, y, rowc=1.0, out=out)
    assert status == fc.OK
    bits16 = zb.view(np.int16).copy()
    out16 = np.empty_like(bits16)
    loss16, status16, _ = fc.ce_rows(bits16, y, rowc=1.0, out=out16, bfloat16=True)
    assert status16 == fc.OK
    np.testing.assert_array_equal(loss, loss16)
    np.testing.assert_array_equal(out.view(np.int16), out16)
    ref_loss, ref_g = reference(zb.astype(np.float32), y)
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-6)
    np.testing.assert_allclose(out.astype(np.float32), ref_g, rtol=2.0**-8, atol=1e-6)
    assert fc.ce_rows(bits16, y, rowc=1.0) is None  # int16 without bfloat16=True: not logits


# ------------------------------------------------------------------ extremes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_exact(isa, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([0, 1, 2])
    loss, g, status, _ = kernel(z, y)
    assert status == fc.OK
    np.testing.assert_allclose(loss, [0.0, np.log(3.0), 2e4 + np.log(2.0)], rtol=1e-7 if dtype == np.float32 else 1e-15)
    ref_loss, ref_g = reference(z, y)
    np.testing.assert_allclose(g, ref_g, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_classes(isa, dtype):
    rng = np.random.default_rng(3)
    N, C = 20, 37
    z = rng.normal(size=(N, C)).astype(dtype)
    y = rng.integers(0, C, N)
    mask = rng.random((N, C)) < 0.5
    mask[np.arange(N), y] = False
    z[mask] = -np.inf
    loss, g, status, _ = kernel(z, y)
    ref_loss, ref_g = reference(z, y)
    assert status == fc.OK
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    np.testing.assert_allclose(g, ref_g, **TOL[dtype])
    assert np.all(g[mask] == 0)
    # smoothing needs every class: those rows are not finite
    loss, g2, status, index = kernel(z, y, label_smoothing=0.1)
    assert status == fc.NONFINITE and index == int(np.flatnonzero(mask.any(1))[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", ["target_inf", "nan", "pos_inf", "all_neg_inf", "soft_needs_masked"])
def test_nonfinite_rows_are_left_alone(isa, dtype, bad):
    rng = np.random.default_rng(4)
    N, C = 9, 35
    z = rng.normal(size=(N, C)).astype(dtype)
    y = rng.integers(0, C, N)
    t = y
    rows = [2, 6]
    for i in rows:
        if bad == "target_inf":
            z[i, y[i]] = -np.inf
        elif bad == "nan":
            z[i, (y[i] + 1) % C] = np.nan
        elif bad == "pos_inf":
            z[i, 3] = np.inf
        elif bad == "all_neg_inf":
            z[i] = -np.inf
    if bad == "soft_needs_masked":
        t = soft_rows(rng, N, C, dtype)
        for i in rows:
            z[i, np.argmax(t[i])] = -np.inf
    before = z.copy()
    loss, status, index = fc.ce_rows(z, t, rowc=1.0, out=z)  # in place
    assert (status, index) == (fc.NONFINITE, rows[0])
    assert np.all(np.isnan(loss[rows]))
    np.testing.assert_array_equal(z[rows], before[rows])  # the logits survive
    good = np.setdiff1d(np.arange(N), rows)
    ref_loss, ref_g = reference(before[good], t[good])
    np.testing.assert_allclose(loss[good], ref_loss, **TOL[dtype])
    np.testing.assert_allclose(z[good], ref_g, **TOL[dtype])


def test_bad_label_writes_nothing(isa):
    rng = np.random.default_rng(6)
    z = rng.normal(size=(10, 5)).astype(np.float32)
    before = z.copy()
    for labels, first in (([0, 1, 2, 5, 4, -1, 0, 0, 0, 0], 3), ([0] * 9 + [-1], 9), ([-100] + [0] * 9, 0)):
        loss, status, index = fc.ce_rows(z, np.array(labels), rowc=1.0, out=z)
        assert (status, index) == (fc.BAD_LABEL, first)
        np.testing.assert_array_equal(z, before)
    # -100 is fine when it is the ignore_index
    assert fc.ce_rows(z, np.array([-100] + [0] * 9), rowc=1.0, ignore_index=-100)[1] == fc.OK


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_invalid_soft_rows(isa, dtype):
    rng = np.random.default_rng(7)
    N, C = 8, 19
    z = rng.normal(size=(N, C)).astype(dtype)
    for case in ("negative", "above_one", "nan", "sum"):
        t = soft_rows(rng, N, C, dtype)
        i = 5
        if case == "negative":
            t[i, :2] = [-0.1, t[i, 0] + t[i, 1] + 0.1]
        elif case == "above_one":
            t[i] = 0
            t[i, :2] = [1.5, -0.5]
        elif case == "nan":
            t[i, 3] = np.nan
        else:
            t[i] *= 1.01
        t[7, 0] = np.nan  # a later bad row: the first is reported
        z[1, 0] = np.nan  # a non-finite row is reported after the invalid target
        loss, g, status, index = kernel(z, t)
        assert (status, index) == (fc.BAD_SOFT_ROW, i), case
        assert np.isnan(loss[i])
    # an invalid target is reported before non-finite logits, in the same row too
    z[1, 0] = 0.0
    t = soft_rows(rng, N, C, dtype)
    t[4, 0] = -0.5
    z[4, 1] = np.nan
    assert kernel(z, t)[2:] == (fc.BAD_SOFT_ROW, 4)
    z[4, 1] = 0.0
    # a row sum within tol passes; the default tol is the generic path's
    t = soft_rows(rng, N, C, dtype)
    t[0] *= 1 + 5e-5
    assert kernel(z, t)[2] == fc.OK
    assert kernel(z, t, tol=1e-6)[2] == fc.BAD_SOFT_ROW


# ------------------------------------------------------------------ the same numbers however it is called
@pytest.mark.parametrize("kind", ["f32", "f64", "bf16"])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_in_place_loss_only_and_threads_agree_bitwise(isa, kind, soft):
    rng = np.random.default_rng(11)
    N, C = 23, 517
    z = rng.normal(size=(N, C)) * 5
    dtype = {"f32": np.float32, "f64": np.float64, "bf16": np.float32}[kind]
    t = soft_rows(rng, N, C, dtype) if soft else rng.integers(0, C, N)
    z = to_bf16_bits(z) if kind == "bf16" else z.astype(dtype)
    opts = dict(bfloat16=kind == "bf16", label_smoothing=0.1, class_weight=rng.uniform(0.5, 2, C))
    rowc = rng.uniform(0.5, 1.5, N)
    fresh = np.empty_like(z)
    loss1, s1, _ = fc.ce_rows(z, t, rowc=rowc, out=fresh, nthreads=1, **opts)
    for nt in (2, 3, 64):
        out = np.empty_like(z)
        loss, s, _ = fc.ce_rows(z, t, rowc=rowc, out=out, nthreads=nt, **opts)
        np.testing.assert_array_equal(out, fresh)
        np.testing.assert_array_equal(loss, loss1)
    loss_only, s2, _ = fc.ce_rows(z, t, rowc=rowc, nthreads=2, **opts)
    np.testing.assert_array_equal(loss_only, loss1)
    zz = z.copy()
    loss3, s3, _ = fc.ce_rows(zz, t, rowc=rowc, out=zz, nthreads=2, **opts)
    np.testing.assert_array_equal(zz, fresh)
    np.testing.assert_array_equal(loss3, loss1)
    assert s1 == s2 == s3 == fc.OK


def test_streaming_stores_give_the_same_numbers(isa):
    """Large separate outputs are written with streaming stores (aligned body, masked head and tail)."""
    rng = np.random.default_rng(12)
    prev = fc._ce._tune(-1, -1)
    try:
        for C in (1, 13, 37, 1003):
            for kind in ("f32", "bf16"):
                z = rng.normal(size=(5, C)).astype(np.float32)
                if kind == "bf16":
                    z = to_bf16_bits(z)
                y = rng.integers(0, C, 5)
                base = np.empty(z.size + 40, dtype=z.dtype)
                for off in (0, 1, 3):  # misaligned destinations
                    outs = []
                    for stream in (1 << 62, 0):
                        fc._ce._tune(-1, stream)
                        out = base[off : off + z.size].reshape(z.shape)
                        out[...] = 0
                        fc.ce_rows(z, y, rowc=1.0, out=out, bfloat16=kind == "bf16", label_smoothing=0.1)
                        outs.append(out.copy())
                    np.testing.assert_array_equal(outs[0], outs[1])
    finally:
        fc._ce._tune(*prev)


@pytest.mark.parametrize("N, C", [(1, 1), (1, 7), (3, 32000), (64, 4099)])
def test_shapes(isa, N, C):
    rng = np.random.default_rng(C)
    z = rng.normal(size=(N, C)).astype(np.float32) * 3
    y = rng.integers(0, C, N)
    loss, g, status, _ = kernel(z, y, nthreads=2)
    ref_loss, ref_g = reference(z, y)
    assert status == fc.OK
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(g, ref_g, rtol=2e-6, atol=1e-6)
    if C == 1:
        assert loss[0] == 0 and g[0, 0] == 0


@pytest.mark.parametrize("dtype, lo, rtol", [(np.float32, -87.0, 4e-7), (np.float64, -708.0, 2e-15)])
def test_exp_accuracy(isa, dtype, lo, rtol):
    """The kernel's own exp: one class at 0 and one at x, so s = e^x / (1 + e^x) exposes it."""
    x = np.linspace(lo, 0.0, 4001).astype(dtype)
    z = np.stack([np.zeros_like(x), x], axis=1)
    loss, g, status, _ = kernel(z, np.zeros(x.size, dtype=np.int64))
    e = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(g[:, 1], e / (1 + e), rtol=rtol, atol=0)
    np.testing.assert_allclose(loss, np.log1p(e), rtol=rtol, atol=2e-16 if dtype == np.float64 else 1e-15)
    # below the smallest normal number the kernel's exp is 0 (no subnormals in the sums)
    z = np.array([[0.0, lo - 30.0, -np.inf]], dtype=dtype)
    loss, g, status, _ = kernel(z, np.zeros(1, dtype=np.int64))
    assert status == fc.OK and g[0, 1] == 0 and g[0, 2] == 0 and loss[0] == 0


@settings(max_examples=25, deadline=None)
@given(
    N=st.integers(1, 6),
    C=st.integers(1, 70),
    alpha=st.sampled_from([0.0, 0.3]),
    scale=st.sampled_from([1.0, 30.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes(N, C, alpha, scale, seed):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(N, C)) * scale).astype(np.float32)
    y = rng.integers(0, C, N)
    loss, g, status, _ = kernel(z, y, label_smoothing=alpha)
    ref_loss, ref_g = reference(z, y, label_smoothing=alpha)
    assert status == fc.OK
    # the loss against float64 (the kernel's lse is double; float32's lse - z_y cancels at large logits)
    np.testing.assert_allclose(loss, reference(z.astype(np.float64), y, label_smoothing=alpha)[0], rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(g, ref_g, rtol=2e-6, atol=1e-6)


# ------------------------------------------------------------------ the gate
def test_inputs_it_does_not_take():
    z = np.zeros((4, 3), dtype=np.float32)
    y = np.array([0, 1, 2, 0])
    assert fc.ce_rows(z, y, rowc=1.0) is not None
    assert fc.ce_rows(z.astype(np.float16), y, rowc=1.0) is None
    assert fc.ce_rows(np.asfortranarray(np.zeros((4, 3), np.float32)), y, rowc=1.0) is None
    assert fc.ce_rows(z[:, :0], y, rowc=1.0) is None  # no classes
    assert fc.ce_rows(z[0], y[:1], rowc=1.0) is None  # 1-d
    assert fc.ce_rows(z, y[:3], rowc=1.0) is None
    assert fc.ce_rows(z, y.astype(np.float32), rowc=1.0) is None
    assert fc.ce_rows(z, np.full((4, 3), 1 / 3), rowc=1.0) is None  # float64 probabilities for float32 logits
    assert fc.ce_rows(z, np.full((4, 3), 1 / 3, np.float32), rowc=1.0, ignore_index=0) is None
    assert fc.ce_rows(z, y, rowc=1.0, label_smoothing=1.5) is None
    assert fc.ce_rows(z, y, rowc=1.0, class_weight=np.array([1.0, -1.0, 1.0])) is None
    assert fc.ce_rows(z, y, rowc=1.0, class_weight=np.ones(4)) is None
    assert fc.ce_rows(z, y, rowc=np.ones(3)) is None
    assert fc.ce_rows(z, y, rowc=1.0, out=np.empty((4, 3))) is None  # float64 out for float32 logits
    big = np.zeros((5, 3), np.float32)
    assert fc.ce_rows(big[:4], y, rowc=1.0, out=big[1:]) is None  # a shifted view of z
    assert fc.ce_rows(z, y.astype(np.int32), rowc=np.ones(4, np.float32)) is not None  # O(N) casts are fine
    with pytest.raises(TypeError):
        fc._ce.ce_rows(z, 1, y, 1.0, None, 0.0, None, 1e-4, None, np.empty(4), 1)  # float32 as float64
    with pytest.raises(ValueError):
        fc._ce.ce_rows(big[:4], 0, y, 1.0, None, 0.0, None, 1e-4, big[1:], np.empty(4), 1)
    with pytest.raises(ValueError):
        fc._ce.isa("sse9")


def test_threads(monkeypatch):
    monkeypatch.delenv("LOSSLAB_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert fc.threads(2**40) == cpus
    assert fc.threads(100) == 1
    assert fc.threads(3 * fc.MIN_WORK_PER_THREAD, requested=8) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert fc.threads(2**40) == 5
    monkeypatch.setenv("LOSSLAB_NUM_THREADS", "2")
    assert fc.threads(2**40) == 2
    assert fc.threads(2**40, requested=7) == 7
    monkeypatch.setenv("LOSSLAB_NUM_THREADS", "many")
    assert fc.threads(2**40) == 5
