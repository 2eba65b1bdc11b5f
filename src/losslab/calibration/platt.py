"""Platt scaling (Platt 1999): the binary calibrator :math:`\\sigma(a s + b)` (re-exported by :mod:`.scaling`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.utils.validation import check_is_fitted

from .. import grad
from .._array import sigmoid
from ..losses import binary_cross_entropy_with_logits
from ._base import XP, Calibrator, as_columns, as_float, check_finite, check_target, weight_scale
from ._fit import finish, nll_or_inf, nll_raised, not_converged

__all__ = ["PlattScaling"]


def _unscale(x: float, e: int) -> float:
    """``x * 2**e``, inf past float64."""
    try:
        return math.ldexp(x, e)
    except OverflowError:
        return math.inf


class PlattScaling(Calibrator):
    r"""Platt scaling (Platt 1999), binary: :math:`P(y = 1 \mid s) = \sigma(a s + b)`.

    ``X`` is a score or logit per sample, shape (n,), or two-class logits
    (n, 2), reduced to their difference :math:`s = z_1 - z_0`. ``a`` and
    ``b`` minimise the weighted mean binary cross-entropy
    (``losslab.binary_cross_entropy_with_logits``) against Platt's smoothed
    targets :math:`t_+ = (N_+ + 1)/(N_+ + 2)` for positives and
    :math:`t_- = 1/(N_- + 2)` for negatives (:math:`N_\pm` the summed weights
    of each class), as scikit-learn's ``CalibratedClassifierCV(method="sigmoid")``:
    L-BFGS-B with the closed-form gradient from the same start
    (:math:`a = 0`, :math:`b = \log\frac{N_+ + 1}{N_- + 1}`; scores with
    :math:`\max|s| \geq 30` or :math:`< 10^{-3}` are rescaled during the fit), then polished by
    Newton steps with the exact Hessian.

    ``predict_proba`` returns the layout of its input: (n,) probabilities
    of class 1 for 1-d scores, (n, 2) rows for two-class logits.

    Fitted attributes: ``coef_`` (a), ``intercept_`` (b), ``n_classes_`` (2),
    ``fit_warnings_`` (why the fit is not to be trusted, each also a
    :class:`CalibrationWarning`: the optimiser did not converge, or the fit
    raised the smoothed-target NLL above the identity map's :math:`\sigma(s)`;
    empty when the fit is fine). The smoothed targets keep the optimum
    finite, so a fitting set without mistakes does not send the slope to
    infinity; on such a set the hard-label NLL of the fit may exceed the
    identity's, by design (it is at most about :math:`1/N_\pm` per sample).

    >>> import numpy as np
    >>> s = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0])
    >>> p = PlattScaling().fit(s, np.array([0, 0, 1, 0, 1, 1])).predict_proba(s)
    >>> bool(np.all(np.diff(p) > 0)), p.shape
    (True, (6,))
    """

    def _scores(self, X: Any) -> np.ndarray:
        X = as_float("X", X)
        if not (X.ndim == 1 or (X.ndim == 2 and X.shape[1] == 2)):
            raise ValueError(
                f"`X` must be binary scores of shape (n_samples,) or two-class logits (n_samples, 2); got shape "
                f"{X.shape}. For more classes use TemperatureScaling, VectorScaling or MatrixScaling"
            )
        if X.shape[0] == 0:
            raise ValueError(f"`X` is empty (shape {X.shape}); a calibrator needs at least one sample")
        check_finite("X", X)
        if X.ndim == 1:
            return X
        with np.errstate(over="ignore"):
            d = X[:, 1] - X[:, 0]
        bad = ~np.isfinite(d)
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(
                f"PlattScaling: the two-class logits of row {i} ({float(X[i, 0])!r}, {float(X[i, 1])!r}) differ by "
                f"more than float64 holds; rescale `X` (divide both columns by the same constant)"
            )
        return d

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> PlattScaling:
        s = self._scores(X)
        y = check_target(y, s.shape[0], 2)
        w, e = weight_scale(sample_weight, s.shape[0])
        for cls in (0, 1):
            if np.all(y == cls):
                raise ValueError(
                    f"`y` holds only class {cls} (all {y.shape[0]} samples); Platt scaling needs both classes "
                    f"to fit a slope: calibrate on a held-out set with positives and negatives"
                )
        ww = np.ones_like(s) if w is None else w
        s_pos, s_neg = float(ww[y == 1].sum()), float(ww[y == 0].sum())  # of the weights divided by 2**e
        n_pos, n_neg = _unscale(s_pos, e), _unscale(s_neg, e)
        t_pos = (n_pos + 1.0) / (n_pos + 2.0) if n_pos < math.inf else 1.0  # the limits of summed weights past float64
        t = np.where(y == 1, t_pos, 1.0 / (n_neg + 2.0))
        m = float(np.max(np.abs(s)))
        scale = m if (m >= 30.0 or 0.0 < m < 1e-3) else 1.0  # the slope on F = s / scale is of order 1
        F = s / scale
        c = ww / ww.sum()

        def loss_grad(ab):
            z = ab[0] * F + ab[1]
            g = grad.binary_cross_entropy_with_logits(z, t, weight=w)
            return float(binary_cross_entropy_with_logits(z, t, weight=w)), np.array([g @ F, g.sum()])

        prior = (n_pos + 1.0) / (n_neg + 1.0) if max(n_pos, n_neg) < math.inf else s_pos / s_neg if s_neg else 1.0
        x0 = np.array([0.0, math.log(prior) if 0.0 < prior < math.inf else 0.0])
        res = minimize(loss_grad, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15})
        ab = res.x
        f, g = loss_grad(ab)
        for _ in range(20):  # Newton polish: the Hessian is sum_i c_i p_i (1 - p_i) [F_i, 1]^T [F_i, 1]
            p = sigmoid(XP, ab[0] * F + ab[1])
            h = c * p * (1.0 - p)
            H = np.array([[h @ (F * F), h @ F], [h @ F, h.sum()]])
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            f_new, g_new = loss_grad(ab - step)
            if not f_new <= f:
                break
            ab, f, g = ab - step, f_new, g_new
            if np.max(np.abs(step)) < 1e-14:
                break
        self.coef_ = float(ab[0]) / scale
        if not math.isfinite(self.coef_):
            raise ValueError(
                f"PlattScaling: the fitted slope {float(ab[0]):.4g} / {scale:.4g} overflows float64: the scores are "
                f"too small to calibrate (largest |score| {m:.3g}); rescale them (multiply by a constant)"
            )
        self.intercept_ = float(ab[1])
        self.n_classes_ = 2
        msgs = not_converged("PlattScaling", res, "Rescale the scores or fit on more data", grad=g)
        before = nll_or_inf(lambda: binary_cross_entropy_with_logits(s, t, weight=w))  # the identity a = 1, b = 0
        msgs += nll_raised("PlattScaling", before, f, what="smoothed-target NLL")
        finish(self, msgs)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """:math:`\\sigma(a s + b)`: (n,) for 1-d scores, (n, 2) for two-class logits."""
        check_is_fitted(self)
        s = self._scores(X)
        with np.errstate(over="ignore"):  # a logit beyond float64 is +-inf: probability 1 or 0, as it should be
            z = self.coef_ * s + self.intercept_
        p = sigmoid(XP, z)
        return p if np.ndim(X) == 1 else as_columns(p)

    def _uncalibrated(self, X: Any) -> np.ndarray:
        p = sigmoid(XP, self._scores(X))
        return p if np.ndim(X) == 1 else as_columns(p)
