"""Invariances every registered loss must have: sample order, weights, input types, dtypes, reductions.

Each test runs over every registry entry it applies to (pytest ids are the
loss names), for every reduction the loss accepts, with and without weights.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from conftest import Case, call, make_case, reductions, specs_where

ALL = specs_where(lambda s: True)
REDUCIBLE = specs_where(lambda s: s.has("reducible"))
WEIGHTED = specs_where(lambda s: s.has("weighted"))

RTOL = 1e-12


def _close(actual, expected, rtol=RTOL, atol=1e-14):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _shapes(spec):
    """1-d samples, and for elementwise losses also 2-d (n, 3) with per-sample weights."""
    return [None, 3] if spec.has("elementwise") else [None]


# ------------------------------------------------------------------- registry
TAGS = {"elementwise", "weighted", "reducible", "nonnegative", "zero_at_target"}
INPUT_SPACES = {"real", "logits", "probabilities", "log-probabilities", "log-rate"}
TARGET_KINDS = {"real", "binary", "class", "probs", "log-probs", "counts", "logits", "none"}


@pytest.mark.parametrize("spec", ALL)
def test_registry_entry_uses_known_vocabulary(spec):
    """Tags and kinds that make_case and the property tests know how to exercise."""
    assert spec.tags <= TAGS
    assert spec.input_space in INPUT_SPACES
    assert spec.target_kind in TARGET_KINDS
    assert spec.formula and spec.grad_formula
    if spec.has("zero_at_target"):
        assert spec.has("nonnegative"), "a loss that is 0 at the target and can go below it is not a distance"


@pytest.mark.parametrize("spec", ALL)
def test_registry_entry_matches_signature(spec):
    params = inspect.signature(spec.fn).parameters
    assert spec.fn.__name__ == spec.name
    assert ("reduction" in params) == spec.has("reducible")
    assert ("weight" in params) == spec.has("weighted")
    assert set(spec.options) <= set(params), f"options {spec.options} not accepted by {spec.name}"
    for opt in spec.options:
        assert params[opt].kind is inspect.Parameter.KEYWORD_ONLY
        assert spec.options[opt] != params[opt].default, "registry options are meant to be non-default"
    if spec.grad is not None:
        assert list(inspect.signature(spec.grad).parameters) == list(params)
    positional = [p for p in params.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert len(positional) == (1 if spec.target_kind == "none" else 2)


@pytest.mark.parametrize("spec", REDUCIBLE)
def test_none_shape(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=5, cols=cols)
        out = call(spec, case, reduction="none")
        expected = case.pred.shape if spec.has("elementwise") else (case.n,)
        assert tuple(out.shape) == expected
        assert out.dtype == case.pred.dtype
    for reduction in ("mean", "sum"):
        assert np.ndim(call(spec, case, reduction=reduction)) == 0


def test_rmse_is_the_only_loss_without_reduction():
    assert [p.id for p in ALL if p not in REDUCIBLE] == ["rmse"]


# -------------------------------------------------------------- sample order
@pytest.mark.parametrize("spec", ALL)
def test_sample_order(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=7, cols=cols)
        w = rng.uniform(0.5, 2.0, size=case.n)
        perm = rng.permutation(case.n)
        for reduction in reductions(spec):
            for weight in (None, w) if spec.has("weighted") else (None,):
                base = call(spec, case, reduction=reduction, weight=weight)
                permuted = call(
                    spec, case.take(perm), reduction=reduction, weight=None if weight is None else weight[perm]
                )
                if reduction == "none":
                    _close(permuted, base[perm])
                else:
                    _close(permuted, base)


# ------------------------------------------------------------------- weights
@pytest.mark.parametrize("spec", WEIGHTED)
def test_unit_weights_equal_no_weights(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=6, cols=cols)
        for reduction in reductions(spec):
            _close(call(spec, case, reduction=reduction, weight=np.ones(case.n)), call(spec, case, reduction=reduction))


@pytest.mark.parametrize("spec", WEIGHTED)
def test_integer_weights_repeat_rows(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=6, cols=cols)
        w = rng.integers(1, 4, size=case.n)
        w[0] = 3  # at least one real repetition
        repeated = case.take(np.repeat(np.arange(case.n), w))
        for reduction in reductions(spec):
            weighted = call(spec, case, reduction=reduction, weight=w)
            plain = call(spec, repeated, reduction=reduction)
            if reduction == "none":
                _close(np.sum(weighted), np.sum(plain))
                _close(
                    weighted,
                    np.asarray(call(spec, case, reduction="none")) * w.reshape((-1,) + (1,) * (weighted.ndim - 1)),
                )
            else:
                _close(weighted, plain)


@pytest.mark.parametrize("spec", WEIGHTED)
def test_zero_weight_drops_row(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=6, cols=cols)
        k = int(rng.integers(case.n))
        w = np.ones(case.n)
        w[k] = 0.0
        kept = np.delete(np.arange(case.n), k)
        for reduction in reductions(spec):
            weighted = call(spec, case, reduction=reduction, weight=w)
            dropped = call(spec, case.take(kept), reduction=reduction)
            if reduction == "none":
                assert np.all(np.asarray(weighted)[k] == 0)
                _close(np.asarray(weighted)[kept], dropped)
            else:
                _close(weighted, dropped)


@pytest.mark.parametrize("spec", WEIGHTED)
def test_scaling_weights(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=6, cols=cols)
        w = rng.uniform(0.1, 3.0, size=case.n)
        for reduction in reductions(spec):
            base = np.asarray(call(spec, case, reduction=reduction, weight=w))
            scaled = np.asarray(call(spec, case, reduction=reduction, weight=7.0 * w))
            if reduction in ("mean", None):  # rmse is a mean too
                _close(scaled, base)
            else:
                _close(scaled, 7.0 * base)


# ------------------------------------------------------------ inputs, dtypes
@pytest.mark.parametrize("spec", ALL)
def test_list_input_equals_array_input(spec, rng):
    case = make_case(spec, rng, n=5)
    w = rng.uniform(0.5, 2.0, size=case.n)
    as_lists = Case(case.pred.tolist(), None if case.target is None else case.target.tolist(), case.options)
    for reduction in reductions(spec):
        for weight in (None, w):
            expected = call(spec, case, reduction=reduction, weight=weight)
            got = call(spec, as_lists, reduction=reduction, weight=None if weight is None else weight.tolist())
            assert isinstance(got, np.ndarray | np.generic)
            _close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("spec", ALL)
def test_float32_close_to_float64(spec, rng):
    case64 = make_case(spec, rng, n=8)
    case32 = case64.astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=case64.n)
    for reduction in reductions(spec):
        for weight in (None, w):
            r64 = call(spec, case64, reduction=reduction, weight=weight)
            r32 = call(spec, case32, reduction=reduction, weight=None if weight is None else weight.astype(np.float32))
            assert np.asarray(r32).dtype == np.float32, f"{reduction}: float32 input gave {np.asarray(r32).dtype}"
            assert np.asarray(r64).dtype == np.float64
            _close(r32, r64, rtol=2e-5, atol=1e-6)


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("spec", REDUCIBLE)
def test_sum_is_n_times_mean(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=7, cols=cols)
        n_elements = np.asarray(call(spec, case, reduction="none")).size
        _close(call(spec, case, reduction="sum"), n_elements * call(spec, case, reduction="mean"))


@pytest.mark.parametrize("spec", REDUCIBLE)
def test_none_summed_is_sum(spec, rng):
    for cols in _shapes(spec):
        case = make_case(spec, rng, n=7, cols=cols)
        w = rng.uniform(0.0, 2.0, size=case.n)
        for weight in (None, w):
            _close(
                np.sum(call(spec, case, reduction="none", weight=weight)),
                call(spec, case, reduction="sum", weight=weight),
            )
            if weight is not None:  # and the weighted mean divides by the total weight (per element)
                none = np.asarray(call(spec, case, reduction="none", weight=weight))
                total = np.sum(np.broadcast_to(weight.reshape((-1,) + (1,) * (none.ndim - 1)), none.shape))
                _close(call(spec, case, reduction="mean", weight=weight), none.sum() / total)
