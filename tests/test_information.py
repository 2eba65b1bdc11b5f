"""Entropy, KL divergence, the decomposition CE = H + KL, and knowledge distillation.

References are independent implementations: scipy.stats.entropy, scipy.special.rel_entr,
torch.nn.functional.kl_div / cross_entropy (and torch autograd), and central differences.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st
import torch
import torch.nn.functional as F

import losslab
from conftest import numeric_grad
from losslab import grad as G


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _probs(rng, n, C, floor=0.02):
    d = rng.dirichlet(np.full(C, 1.5), size=n)
    p = (1.0 - C * floor) * d + floor
    return p / p.sum(axis=-1, keepdims=True)


# =================================================================== entropy
class TestEntropy:
    def test_matches_scipy_per_row(self):
        p = _probs(_rng(0), 7, 5)
        got = losslab.entropy(p, reduction="none")
        np.testing.assert_allclose(got, st.entropy(p, axis=-1), rtol=1e-13)
        assert got.shape == (7,)

    def test_reductions(self):
        p = _probs(_rng(1), 6, 4)
        ref = st.entropy(p, axis=-1)
        np.testing.assert_allclose(losslab.entropy(p), ref.mean(), rtol=1e-13)
        np.testing.assert_allclose(losslab.entropy(p, reduction="sum"), ref.sum(), rtol=1e-13)

    def test_weights(self):
        p = _probs(_rng(2), 6, 4)
        w = np.array([0.0, 1.0, 2.0, 0.5, 3.0, 1.0])
        ref = st.entropy(p, axis=-1)
        np.testing.assert_allclose(losslab.entropy(p, weight=w), (w * ref).sum() / w.sum(), rtol=1e-13)
        np.testing.assert_allclose(losslab.entropy(p, weight=w, reduction="sum"), (w * ref).sum(), rtol=1e-13)
        np.testing.assert_allclose(losslab.entropy(p, weight=w, reduction="none"), w * ref, rtol=1e-13)

    def test_single_distribution_and_known_values(self):
        assert float(losslab.entropy(np.array([0.5, 0.5, 0.0]))) == pytest.approx(np.log(2), abs=1e-15)
        assert float(losslab.entropy(np.full(8, 1 / 8))) == pytest.approx(np.log(8), rel=1e-14)
        assert float(losslab.entropy(np.array([0.0, 1.0, 0.0]))) == 0.0  # a point mass

    def test_zero_log_zero(self):
        p = np.array([[0.0, 0.3, 0.7], [0.2, 0.0, 0.8]])
        got = losslab.entropy(p, reduction="none")
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, st.entropy(p, axis=-1), rtol=1e-14)

    def test_axis(self):
        p = _probs(_rng(3), 5, 4)
        np.testing.assert_allclose(
            losslab.entropy(p.T, axis=0, reduction="none"), losslab.entropy(p, reduction="none"), rtol=1e-15
        )
        x = _probs(_rng(4), 2 * 3, 4).reshape(2, 3, 4).transpose(0, 2, 1)  # classes on axis 1
        got = losslab.entropy(x, axis=1, reduction="none")
        assert got.shape == (2, 3)
        np.testing.assert_allclose(got, st.entropy(x, axis=1), rtol=1e-13)

    def test_dtypes(self):
        p = _probs(_rng(5), 4, 3)
        assert losslab.entropy(p.astype(np.float32)).dtype == np.float32
        assert losslab.entropy(p.astype(np.float32), reduction="none").dtype == np.float32
        # half precision accumulates (and returns the reduced value) in float32
        h = torch.tensor(p, dtype=torch.float16)
        assert losslab.entropy(h).dtype == torch.float32
        assert float(losslab.entropy(h)) == pytest.approx(st.entropy(p, axis=-1).mean(), rel=2e-3)

    def test_torch_matches_numpy_and_autograd(self):
        p = _probs(_rng(6), 5, 4)
        pt = torch.tensor(p, requires_grad=True)
        val = losslab.entropy(pt)
        assert isinstance(val, torch.Tensor)
        val.backward()
        np.testing.assert_allclose(val.detach().numpy(), losslab.entropy(p), rtol=1e-14)
        np.testing.assert_allclose(pt.grad.numpy(), G.entropy(p), rtol=1e-12)

    def test_autograd_finite_with_zero_probabilities(self):
        # the 0 log 0 branch must not leak NaN into autograd (PyTorch and JAX evaluate both branches)
        p = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]])
        pt = torch.tensor(p, requires_grad=True)
        losslab.entropy(pt).backward()
        assert torch.all(torch.isfinite(pt.grad))
        pos = p > 0
        np.testing.assert_allclose(pt.grad.numpy()[pos], G.entropy(p)[pos], rtol=1e-14)
        qt = torch.tensor(p, requires_grad=True)
        losslab.kl_divergence(qt, torch.full((2, 3), 1 / 3, dtype=torch.float64)).backward()
        assert torch.all(torch.isfinite(qt.grad))


class TestEntropyGrad:
    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    def test_central_differences(self, reduction):
        p = _probs(_rng(10), 4, 5, floor=0.05)
        w = np.array([1.0, 2.0, 0.5, 1.5])
        num = numeric_grad(lambda x: losslab.entropy(x, reduction=reduction, weight=w), p)
        np.testing.assert_allclose(G.entropy(p, reduction=reduction, weight=w), num, rtol=1e-6, atol=1e-9)

    def test_none_is_gradient_of_sum(self):
        p = _probs(_rng(11), 4, 3)
        np.testing.assert_allclose(G.entropy(p, reduction="none"), G.entropy(p, reduction="sum"), rtol=1e-15)
        np.testing.assert_allclose(G.entropy(p, reduction="none"), -(np.log(p) + 1.0), rtol=1e-14)

    def test_inf_at_zero(self):
        g = G.entropy(np.array([[1.0, 0.0], [0.5, 0.5]]), reduction="sum")
        assert g[0, 1] == np.inf
        assert g[0, 0] == -1.0
        np.testing.assert_allclose(g[1], -(np.log(0.5) + 1.0))

    def test_axis_and_shape(self):
        p = _probs(_rng(12), 5, 3)
        g = G.entropy(p.T, axis=0)
        assert g.shape == p.T.shape
        np.testing.assert_allclose(g, G.entropy(p).T, rtol=1e-15)


# ======================================================================== KL
class TestKLDivergence:
    def test_matches_scipy(self):
        rng = _rng(20)
        p, q = _probs(rng, 6, 5), _probs(rng, 6, 5)
        got = losslab.kl_divergence(p, q, reduction="none")
        np.testing.assert_allclose(got, st.entropy(p, q, axis=-1), rtol=1e-12)
        np.testing.assert_allclose(got, sps.rel_entr(p, q).sum(axis=-1), rtol=1e-12)
        np.testing.assert_allclose(losslab.kl_divergence(p, q), sps.rel_entr(p, q).sum(-1).mean(), rtol=1e-12)
        np.testing.assert_allclose(losslab.kl_divergence(p, q, reduction="sum"), sps.rel_entr(p, q).sum(), rtol=1e-12)

    def test_argument_order(self):
        p, q = np.array([0.9, 0.1]), np.array([0.5, 0.5])
        pq, qp = float(losslab.kl_divergence(p, q)), float(losslab.kl_divergence(q, p))
        assert pq == pytest.approx(0.9 * np.log(1.8) + 0.1 * np.log(0.2), rel=1e-14)
        assert qp == pytest.approx(0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1), rel=1e-14)
        assert abs(pq - qp) > 0.1
        assert pq == pytest.approx(st.entropy(p, q), rel=1e-14)

    def test_equals_torch_kl_div_batchmean(self):
        rng = _rng(21)
        p, q = _probs(rng, 8, 4), _probs(rng, 8, 4)
        # torch's kl_div takes log q first and the reference p second: KL(p || q)
        ref = F.kl_div(torch.tensor(np.log(q)), torch.tensor(p), reduction="batchmean")
        assert float(losslab.kl_divergence(p, q)) == pytest.approx(float(ref), rel=1e-12)
        assert float(losslab.kl_divergence(torch.tensor(p), torch.tensor(q))) == pytest.approx(float(ref), rel=1e-12)
        wrong = F.kl_div(torch.tensor(np.log(p)), torch.tensor(q), reduction="batchmean")
        assert float(losslab.kl_divergence(p, q)) != pytest.approx(float(wrong), rel=1e-3)

    def test_zeros_in_p(self):
        p = np.array([[0.0, 0.4, 0.6], [0.5, 0.5, 0.0]])
        q = np.array([[0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
        got = losslab.kl_divergence(p, q, reduction="none")
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, sps.rel_entr(p, q).sum(-1), rtol=1e-14)
        # 0 log(0/0) = 0 as well
        z = np.array([0.0, 1.0])
        assert float(losslab.kl_divergence(z, z)) == 0.0

    def test_inf_when_q_zero_where_p_positive(self):
        # returned, not raised, and without a RuntimeWarning (pytest turns those into errors here)
        p, q = np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[1.0, 0.0], [0.5, 0.5]])
        got = losslab.kl_divergence(p, q, reduction="none")
        assert got[0] == np.inf and got[1] == 0.0
        assert losslab.kl_divergence(p, q) == np.inf
        assert losslab.kl_divergence(p, q, reduction="sum") == np.inf
        assert float(losslab.kl_divergence(torch.tensor(p), torch.tensor(q))) == np.inf
        assert st.entropy(p[0], q[0]) == np.inf

    def test_self_divergence_is_zero(self):
        p = _probs(_rng(22), 5, 6)
        np.testing.assert_array_equal(losslab.kl_divergence(p, p, reduction="none"), 0.0)
        assert float(losslab.kl_divergence(p, p)) == 0.0

    def test_nonnegative(self):
        rng = _rng(23)
        for _ in range(20):
            p, q = _probs(rng, 3, 4, floor=0.0), _probs(rng, 3, 4, floor=0.0)
            assert np.all(losslab.kl_divergence(p, q, reduction="none") >= 0)

    def test_axis(self):
        rng = _rng(24)
        p, q = _probs(rng, 5, 4), _probs(rng, 5, 4)
        np.testing.assert_allclose(
            losslab.kl_divergence(p.T, q.T, axis=0, reduction="none"),
            losslab.kl_divergence(p, q, reduction="none"),
            rtol=1e-15,
        )
        assert float(losslab.kl_divergence(p.T, q.T, axis=0)) == pytest.approx(float(losslab.kl_divergence(p, q)))
        assert float(losslab.kl_divergence(p.T, q.T, axis=-2)) == pytest.approx(float(losslab.kl_divergence(p, q)))
        x = _probs(rng, 6, 3).reshape(2, 3, 3).transpose(0, 2, 1)
        y = _probs(rng, 6, 3).reshape(2, 3, 3).transpose(0, 2, 1)
        np.testing.assert_allclose(
            losslab.kl_divergence(x, y, axis=1, reduction="none"), st.entropy(x, y, axis=1), rtol=1e-12
        )

    def test_weights(self):
        rng = _rng(25)
        p, q = _probs(rng, 4, 3), _probs(rng, 4, 3)
        w = np.array([1.0, 0.0, 3.0, 2.0])
        ref = sps.rel_entr(p, q).sum(-1)
        np.testing.assert_allclose(losslab.kl_divergence(p, q, weight=w), (w * ref).sum() / w.sum(), rtol=1e-13)
        np.testing.assert_allclose(losslab.kl_divergence(p, q, weight=w, reduction="none"), w * ref, rtol=1e-13)


class TestKLDivergenceGrad:
    @pytest.mark.parametrize("reduction", ["mean", "sum"])
    def test_central_differences(self, reduction):
        rng = _rng(30)
        p, q = _probs(rng, 3, 4, floor=0.05), _probs(rng, 3, 4, floor=0.05)
        w = np.array([0.5, 1.0, 2.0])
        num = numeric_grad(lambda x: losslab.kl_divergence(x, q, reduction=reduction, weight=w), p)
        got = G.kl_divergence(p, q, reduction=reduction, weight=w)
        np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-9)

    def test_formula_and_torch_autograd(self):
        rng = _rng(31)
        p, q = _probs(rng, 4, 3), _probs(rng, 4, 3)
        np.testing.assert_allclose(G.kl_divergence(p, q, reduction="sum"), np.log(p) - np.log(q) + 1, rtol=1e-13)
        pt = torch.tensor(p, requires_grad=True)
        losslab.kl_divergence(pt, torch.tensor(q)).backward()
        np.testing.assert_allclose(pt.grad.numpy(), G.kl_divergence(p, q), rtol=1e-12)

    def test_boundary_values(self):
        p = np.array([[0.0, 0.5, 0.5, 0.0]])
        q = np.array([[0.5, 0.0, 0.5, 0.0]])
        g = G.kl_divergence(p, q, reduction="sum")
        assert g[0, 0] == -np.inf  # p = 0 < q
        assert g[0, 1] == np.inf  # q = 0 < p
        assert g[0, 2] == pytest.approx(1.0)
        assert g[0, 3] == np.inf  # q = 0 (and p = 0): documented as +inf, not NaN

    def test_axis(self):
        rng = _rng(32)
        p, q = _probs(rng, 5, 3), _probs(rng, 5, 3)
        np.testing.assert_allclose(G.kl_divergence(p.T, q.T, axis=0), G.kl_divergence(p, q).T, rtol=1e-15)


# ============================================================= decomposition
class TestDecomposition:
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_ce_is_entropy_plus_kl(self, reduction):
        rng = _rng(40)
        p = _probs(rng, 50, 7, floor=0.0)
        z = 3.0 * rng.standard_normal((50, 7))
        d = losslab.cross_entropy_decomposition(p, z, reduction=reduction)
        assert isinstance(d, losslab.Decomposition)
        np.testing.assert_allclose(d.cross_entropy, d.entropy + d.kl, rtol=0, atol=1e-12)
        assert np.all(np.asarray(d.kl) >= 0)

    def test_terms_against_references(self):
        rng = _rng(41)
        p = _probs(rng, 9, 4)
        z = rng.standard_normal((9, 4))
        d = losslab.cross_entropy_decomposition(p, z, reduction="none")
        q = sps.softmax(z, axis=-1)
        np.testing.assert_allclose(d.entropy, st.entropy(p, axis=-1), rtol=1e-12)
        np.testing.assert_allclose(d.kl, st.entropy(p, q, axis=-1), rtol=1e-10)
        np.testing.assert_allclose(d.cross_entropy, -(p * sps.log_softmax(z, axis=-1)).sum(-1), rtol=1e-12)
        np.testing.assert_allclose(d.cross_entropy, losslab.cross_entropy(z, p, reduction="none"), rtol=1e-13)
        tce = F.cross_entropy(torch.tensor(z), torch.tensor(p))
        d_mean = losslab.cross_entropy_decomposition(p, z)
        assert float(d_mean.cross_entropy) == pytest.approx(float(tce), rel=1e-13)
        assert float(d_mean.cross_entropy) == pytest.approx(float(losslab.cross_entropy(z, p)), rel=1e-13)

    def test_weights(self):
        rng = _rng(42)
        p = _probs(rng, 5, 3)
        z = rng.standard_normal((5, 3))
        w = np.array([1.0, 0.0, 2.0, 3.0, 0.5])
        none = losslab.cross_entropy_decomposition(p, z, reduction="none")
        mean = losslab.cross_entropy_decomposition(p, z, weight=w)
        total = losslab.cross_entropy_decomposition(p, z, weight=w, reduction="sum")
        unweighted = losslab.cross_entropy_decomposition(p, z, reduction="none")
        for name in ("entropy", "kl", "cross_entropy"):
            per = getattr(unweighted, name)
            np.testing.assert_allclose(getattr(mean, name), (w * per).sum() / w.sum(), rtol=1e-13)
            np.testing.assert_allclose(getattr(total, name), (w * per).sum(), rtol=1e-13)
        np.testing.assert_allclose(none.cross_entropy, losslab.cross_entropy(z, p, reduction="none"), rtol=1e-13)
        np.testing.assert_allclose(mean.cross_entropy, losslab.cross_entropy(z, p, weight=w), rtol=1e-13)

    def test_axis(self):
        rng = _rng(43)
        p = _probs(rng, 4, 5)
        z = rng.standard_normal((4, 5))
        a = losslab.cross_entropy_decomposition(p, z, reduction="none")
        b = losslab.cross_entropy_decomposition(p.T, z.T, axis=0, reduction="none")
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-14)

    def test_zero_probabilities_and_masked_logits(self):
        p = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
        z = np.array([[-np.inf, 2.0, 0.0], [1.0, 0.0, -np.inf]])
        d = losslab.cross_entropy_decomposition(p, z, reduction="none")
        assert np.all(np.isfinite(d.cross_entropy))
        np.testing.assert_allclose(d.cross_entropy, d.entropy + d.kl, atol=1e-14)

    def test_integer_one_hot_rows_are_probabilities(self):
        z = np.array([[1.0, 0.0, -1.0], [0.0, 0.5, 0.0]])
        onehot = np.array([[1, 0, 0], [0, 0, 1]])
        d = losslab.cross_entropy_decomposition(onehot, z, reduction="none")
        np.testing.assert_allclose(d.entropy, 0.0)
        np.testing.assert_allclose(d.cross_entropy, losslab.cross_entropy(z, np.array([0, 2]), reduction="none"))

    def test_bad_inputs(self):
        z = np.zeros((2, 3))
        with pytest.raises(TypeError, match=r"`target_probs` must hold class probabilities.*not class indices"):
            losslab.cross_entropy_decomposition(np.array([0, 2]), z)
        with pytest.raises(
            ValueError, match=r"^`target_probs` rows must sum to 1 \(within 0\.0001\); row 1 sums to 0\.8999"
        ):
            losslab.cross_entropy_decomposition(np.array([[0.2, 0.3, 0.5], [0.3, 0.3, 0.3]]), z)
        with pytest.raises(
            ValueError, match=r"^`target_probs` must hold class probabilities in \[0, 1\]; got 1\.2 at index \(0, 0\)"
        ):
            losslab.cross_entropy_decomposition(np.array([[1.2, -0.2, 0.0], [0.3, 0.3, 0.4]]), z)
        with pytest.raises(ValueError, match=r"`target_probs` must be class indices of shape \(2,\) or class prob"):
            losslab.cross_entropy_decomposition(np.full((2, 4), 0.25), z)


# ============================================================== distillation
def _torch_distill(s, t, T, y=None, alpha=0.5, weight=None):
    """Hinton et al.'s loss written with torch primitives (per-sample, then weighted mean)."""
    log_q = F.log_softmax(s / T, dim=-1)
    log_p = F.log_softmax(t / T, dim=-1)
    soft = T * T * F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1)
    if y is None:
        per = soft
    else:
        per = alpha * soft + (1 - alpha) * F.cross_entropy(s, y, reduction="none")
    if weight is None:
        return per.mean()
    return (weight * per).sum() / weight.sum()


class TestDistillation:
    @pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 7.0])
    def test_soft_term_is_T2_KL(self, T):
        rng = _rng(50)
        s, t = 2 * rng.standard_normal((6, 5)), 2 * rng.standard_normal((6, 5))
        p, q = sps.softmax(t / T, axis=-1), sps.softmax(s / T, axis=-1)
        ref = T**2 * st.entropy(p, q, axis=-1)
        got = losslab.distillation_loss(s, t, temperature=T, reduction="none")
        np.testing.assert_allclose(got, ref, rtol=1e-10)
        np.testing.assert_allclose(losslab.distillation_loss(s, t, temperature=T), ref.mean(), rtol=1e-10)
        # alpha is not applied without a target
        np.testing.assert_allclose(losslab.distillation_loss(s, t, temperature=T, alpha=0.2), ref.mean(), rtol=1e-10)

    def test_docstring_value_and_zero_at_teacher(self):
        s, t = np.array([[1.0, 0.0, -1.0]]), np.array([[2.0, 0.0, -2.0]])
        ref = st.entropy(sps.softmax(t[0]), sps.softmax(s[0]))
        assert float(losslab.distillation_loss(s, t, temperature=1.0)) == pytest.approx(ref, rel=1e-12)
        assert float(losslab.distillation_loss(t, t)) == 0.0
        # shift invariance of logits per row
        assert float(losslab.distillation_loss(s + 5.0, t - 3.0, temperature=1.0)) == pytest.approx(ref, rel=1e-10)

    @pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
    def test_with_target_mixes_soft_and_hard(self, alpha):
        rng = _rng(51)
        s, t = rng.standard_normal((8, 4)), rng.standard_normal((8, 4))
        y = rng.integers(0, 4, 8)
        T = 3.0
        soft = losslab.distillation_loss(s, t, temperature=T, reduction="none")
        hard = losslab.cross_entropy(s, y, reduction="none")
        got = losslab.distillation_loss(s, t, temperature=T, target=y, alpha=alpha, reduction="none")
        np.testing.assert_allclose(got, alpha * soft + (1 - alpha) * hard, rtol=1e-12)
        ref = _torch_distill(torch.tensor(s), torch.tensor(t), T, torch.tensor(y), alpha)
        assert float(losslab.distillation_loss(s, t, temperature=T, target=y, alpha=alpha)) == pytest.approx(
            float(ref), rel=1e-12
        )

    def test_weights_and_sum(self):
        rng = _rng(52)
        s, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
        y = rng.integers(0, 3, 5)
        w = np.array([1.0, 2.0, 0.0, 0.5, 1.5])
        per = losslab.distillation_loss(s, t, target=y, alpha=0.4, reduction="none")
        np.testing.assert_allclose(
            losslab.distillation_loss(s, t, target=y, alpha=0.4, weight=w), (w * per).sum() / w.sum(), rtol=1e-13
        )
        np.testing.assert_allclose(
            losslab.distillation_loss(s, t, target=y, alpha=0.4, weight=w, reduction="sum"), (w * per).sum()
        )
        ref = _torch_distill(torch.tensor(s), torch.tensor(t), 2.0, torch.tensor(y), 0.4, torch.tensor(w))
        assert float(losslab.distillation_loss(s, t, target=y, alpha=0.4, weight=w)) == pytest.approx(float(ref))

    @pytest.mark.parametrize("with_target", [False, True])
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_grad_vs_torch_autograd(self, with_target, reduction):
        rng = _rng(53)
        s, t = 2 * rng.standard_normal((6, 4)), 2 * rng.standard_normal((6, 4))
        y = rng.integers(0, 4, 6) if with_target else None
        w = rng.uniform(0.5, 2.0, 6)
        kw = dict(temperature=2.5, target=y, alpha=0.3, reduction=reduction, weight=w)
        st_ = torch.tensor(s, requires_grad=True)
        out = losslab.distillation_loss(
            st_, torch.tensor(t), **{**kw, "target": None if y is None else torch.tensor(y), "weight": torch.tensor(w)}
        )
        out.sum().backward()
        np.testing.assert_allclose(G.distillation_loss(s, t, **kw), st_.grad.numpy(), rtol=1e-10, atol=1e-14)
        # and against the loss written independently in torch
        if reduction == "mean":
            st2 = torch.tensor(s, requires_grad=True)
            yt = None if y is None else torch.tensor(y)
            _torch_distill(st2, torch.tensor(t), 2.5, yt, 0.3, torch.tensor(w)).backward()
            np.testing.assert_allclose(G.distillation_loss(s, t, **kw), st2.grad.numpy(), rtol=1e-10, atol=1e-14)

    def test_grad_central_differences(self):
        rng = _rng(54)
        s, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
        y = np.array([0, 3, 1])
        kw = dict(temperature=1.7, target=y, alpha=0.6)
        num = numeric_grad(lambda x: losslab.distillation_loss(x, t, **kw), s)
        np.testing.assert_allclose(G.distillation_loss(s, t, **kw), num, rtol=1e-6, atol=1e-10)

    def test_grad_axis(self):
        rng = _rng(55)
        s, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        y = rng.integers(0, 3, 4)
        np.testing.assert_allclose(
            G.distillation_loss(s.T, t.T, axis=0, target=y), G.distillation_loss(s, t, target=y).T, rtol=1e-14
        )
        assert float(losslab.distillation_loss(s.T, t.T, axis=0, target=y)) == pytest.approx(
            float(losslab.distillation_loss(s, t, target=y)), rel=1e-14
        )

    def test_high_temperature_limit(self):
        # Hinton et al. (2015), sec. 2.1: for large T and zero-mean logits the soft term's gradient
        # is (s - t) / C per sample (here / n for the mean over n samples).
        rng = _rng(56)
        n, C = 5, 6
        s, t = rng.standard_normal((n, C)), rng.standard_normal((n, C))
        s -= s.mean(-1, keepdims=True)
        t -= t.mean(-1, keepdims=True)
        limit = (s - t) / (C * n)
        err = {T: np.abs(G.distillation_loss(s, t, temperature=T) - limit).max() for T in (10.0, 100.0, 1e3)}
        assert err[1e3] < 1e-3 * np.abs(limit).max()
        assert err[1e3] < err[100.0] < err[10.0]  # it converges
        # the loss itself tends to the MSE of the logits / (2 C)
        loss = float(losslab.distillation_loss(s, t, temperature=1e3))
        assert loss == pytest.approx(((s - t) ** 2).sum(-1).mean() / (2 * C), rel=1e-3)

    @pytest.mark.parametrize("T", [0, -1.0, float("inf")])
    def test_bad_temperature(self, T):
        s = np.zeros((2, 3))
        with pytest.raises(ValueError, match=re.escape(f"`temperature` must be positive and finite; got {T!r}")):
            losslab.distillation_loss(s, s, temperature=T)
        with pytest.raises(ValueError, match="`temperature` must be positive"):
            G.distillation_loss(s, s, temperature=T)

    @pytest.mark.parametrize("alpha", [-0.1, 1.5])
    def test_bad_alpha(self, alpha):
        s = np.zeros((2, 3))
        with pytest.raises(ValueError, match=re.escape(f"`alpha` must be in [0, 1]; got {alpha!r}")):
            losslab.distillation_loss(s, s, target=np.array([0, 1]), alpha=alpha)
        with pytest.raises(ValueError, match=re.escape(f"`alpha` must be in [0, 1]; got {alpha!r}")):
            losslab.distillation_loss(s, s, alpha=alpha)

    def test_bad_shapes_and_targets(self):
        s = np.zeros((2, 3))
        with pytest.raises(
            ValueError, match=re.escape("`teacher_logits` must have the shape of `student_logits` (2, 3); got (2, 4)")
        ):
            losslab.distillation_loss(s, np.zeros((2, 4)))
        with pytest.raises(ValueError, match=re.escape("`teacher_logits` must have the shape of `student_logits`")):
            losslab.distillation_loss(s, np.zeros(3))
        with pytest.raises(ValueError, match=re.escape("`target` of class indices must have shape (2,)")):
            losslab.distillation_loss(s, s, target=np.array([0, 1, 2]))
        with pytest.raises(ValueError, match=re.escape("`target` must hold class indices in [0, 2]; got 3 at index 1")):
            losslab.distillation_loss(s, s, target=np.array([0, 3]))
        with pytest.raises(TypeError, match=re.escape("`target` must hold integer class indices of shape (2,)")):
            losslab.distillation_loss(s, s, target=np.full((2, 3), 1 / 3))
        with pytest.raises(ValueError, match="`student_logits` contains NaN at index"):
            losslab.distillation_loss(np.array([[0.0, np.nan]]), np.zeros((1, 2)))
        for t in (np.array([[0.0, np.inf]]), np.array([[np.nan, 0.0]])):
            with pytest.raises(ValueError, match=r"`teacher_logits` contains (inf|NaN) at index \(0, [01]\)"):
                losslab.distillation_loss(np.zeros((1, 2)), t)
            with pytest.raises(ValueError, match=r"`teacher_logits` contains"):
                G.distillation_loss(np.zeros((1, 2)), t)

    def test_masked_teacher_class(self):
        # a -inf teacher logit is a class of probability 0: a finite loss, 0 log 0 = 0
        s, t = np.array([[0.5, 0.0, -0.5]]), np.array([[-np.inf, 1.0, 0.0]])
        ref = st.entropy(sps.softmax(t[0] / 2.0), sps.softmax(s[0] / 2.0)) * 4.0
        assert float(losslab.distillation_loss(s, t)) == pytest.approx(ref, rel=1e-12)
        g = G.distillation_loss(s, t)
        assert np.all(np.isfinite(g))

    def test_torch_inputs(self):
        rng = _rng(57)
        s, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
        out = losslab.distillation_loss(torch.tensor(s, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
        assert out.dtype == torch.float32
        assert float(out) == pytest.approx(float(losslab.distillation_loss(s, t)), rel=1e-5)


# ================================================================ bad inputs
class TestBadInput:
    def test_rows_not_summing_to_one(self):
        p = np.array([[0.5, 0.5], [0.5, 0.6]])
        msg = re.escape("`p` rows must sum to 1 (within 0.0001); row 1 sums to 1.1")
        with pytest.raises(ValueError, match=msg):
            losslab.entropy(p)
        with pytest.raises(ValueError, match=msg):
            G.entropy(p)
        ok = np.array([[0.5, 0.5], [0.5, 0.5]])
        with pytest.raises(ValueError, match=msg):
            losslab.kl_divergence(p, ok)
        with pytest.raises(ValueError, match=re.escape("`q` rows must sum to 1 (within 0.0001); row 1 sums to 1.1")):
            losslab.kl_divergence(ok, p)
        with pytest.raises(ValueError, match=re.escape("`q` rows must sum to 1")):
            G.kl_divergence(ok, p)

    def test_rows_to_six_decimals_pass(self):
        p = np.array([0.333333, 0.333333, 0.333333])
        assert float(losslab.entropy(p)) == pytest.approx(np.log(3), rel=1e-5)

    def test_negative_and_above_one(self):
        with pytest.raises(ValueError, match=re.escape("`p` must hold probabilities in [0, 1]; got -0.5 at index 0")):
            losslab.entropy(np.array([-0.5, 1.5]))
        with pytest.raises(
            ValueError, match=re.escape("`q` must hold probabilities in [0, 1]; got -0.1 at index (1, 0)")
        ):
            losslab.kl_divergence(np.full((2, 2), 0.5), np.array([[0.5, 0.5], [-0.1, 1.1]]))
        with pytest.raises(ValueError, match=re.escape("`p` must hold probabilities in [0, 1]; got nan at index 1")):
            losslab.entropy(np.array([0.5, np.nan, 0.5]))

    def test_shapes(self):
        with pytest.raises(
            ValueError, match=re.escape("`q` must have the shape of `p` (2, 3); got (2, 4); losslab never broadcasts")
        ):
            losslab.kl_divergence(np.full((2, 3), 1 / 3), np.full((2, 4), 0.25))
        with pytest.raises(ValueError, match=re.escape("`q` must have the shape of `p` (2, 3); got (3,)")):
            losslab.kl_divergence(np.full((2, 3), 1 / 3), np.full(3, 1 / 3))
        with pytest.raises(ValueError, match=re.escape("`p` must have a class axis; got a 0-d array")):
            losslab.entropy(np.array(1.0))
        with pytest.raises(ValueError, match=re.escape("`axis` must be in [-2, 1] for 2-d `p`; got 2")):
            losslab.entropy(np.full((2, 2), 0.5), axis=2)
        with pytest.raises(
            ValueError, match=re.escape("`weight` must have shape (2,) (one per loss element); got (3,)")
        ):
            losslab.kl_divergence(np.full((2, 2), 0.5), np.full((2, 2), 0.5), weight=np.ones(3))

    def test_reduction_and_mixed_libraries(self):
        with pytest.raises(
            ValueError, match=re.escape("`reduction` must be one of 'mean', 'sum' or 'none'; got 'avg'")
        ):
            losslab.entropy(np.full(2, 0.5), reduction="avg")
        with pytest.raises(TypeError, match=r"`q` is a torch array but `p` is a numpy array"):
            losslab.kl_divergence(np.full(2, 0.5), torch.full((2,), 0.5))


# ======================================================================= JAX
class TestJax:
    jax = pytest.importorskip("jax")

    def test_kl_divergence_jit(self):
        import jax
        import jax.numpy as jnp

        rng = _rng(60)
        p, q = _probs(rng, 6, 4), _probs(rng, 6, 4)
        pj, qj = jnp.asarray(p, dtype=jnp.float32), jnp.asarray(q, dtype=jnp.float32)
        f = jax.jit(lambda a, b: losslab.kl_divergence(a, b))
        np.testing.assert_allclose(np.asarray(f(pj, qj)), losslab.kl_divergence(p, q), rtol=1e-5)
        fn = jax.jit(lambda a, b: losslab.kl_divergence(a, b, reduction="none", axis=0))
        np.testing.assert_allclose(np.asarray(fn(pj.T, qj.T)), losslab.kl_divergence(p, q, reduction="none"), rtol=1e-5)
        g = jax.jit(jax.grad(lambda a: losslab.kl_divergence(a, qj)))
        np.testing.assert_allclose(np.asarray(g(pj)), G.kl_divergence(p, q), rtol=1e-4)

    def test_distillation_jit(self):
        import jax
        import jax.numpy as jnp

        rng = _rng(61)
        s, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
        y = rng.integers(0, 4, 5)
        sj, tj, yj = (jnp.asarray(s, dtype=jnp.float32), jnp.asarray(t, dtype=jnp.float32), jnp.asarray(y))
        kw = dict(temperature=3.0, alpha=0.3)
        f = jax.jit(lambda a, b, c: losslab.distillation_loss(a, b, target=c, **kw))
        np.testing.assert_allclose(
            np.asarray(f(sj, tj, yj)), losslab.distillation_loss(s, t, target=y, **kw), rtol=1e-5
        )
        gj = jax.jit(lambda a, b, c: G.distillation_loss(a, b, target=c, **kw))
        ref = G.distillation_loss(s, t, target=y, **kw)
        np.testing.assert_allclose(np.asarray(gj(sj, tj, yj)), ref, rtol=1e-4, atol=1e-7)
        auto = jax.jit(jax.grad(lambda a, b, c: losslab.distillation_loss(a, b, target=c, **kw)))(sj, tj, yj)
        np.testing.assert_allclose(np.asarray(auto), ref, rtol=1e-4, atol=1e-7)

    # regression: a concrete JAX array closed over inside jax.jit gives traced comparisons, so the
    # class-index checks must not call bool() on them
    def test_distillation_jit_closed_over_target(self):
        import jax
        import jax.numpy as jnp

        s, t = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
        y = jnp.asarray([0, 2])
        f = jax.jit(lambda a: losslab.distillation_loss(a, jnp.asarray(t), target=y, alpha=0.5))
        np.testing.assert_allclose(
            np.asarray(f(jnp.asarray(s))), losslab.distillation_loss(s, t, target=np.array([0, 2])), rtol=1e-5
        )
