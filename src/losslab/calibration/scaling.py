"""Parametric post-hoc calibration: temperature, Platt, vector, matrix and Dirichlet scaling.

Each calibrator is a scikit-learn estimator fitted on a held-out set by
minimising the (sample-weighted, mean) negative log-likelihood with SciPy,
with the closed-form gradients of :func:`losslab.cross_entropy` and
:func:`losslab.binary_cross_entropy_with_logits` (``losslab.grad``) pulled
back through the calibration map by the chain rule. Optimisation starts at
the identity map (T = 1, W = I, b = 0), so it is deterministic and an
already-calibrated model stays (nearly) put.

Inputs are NumPy-converted to float64. ``y`` holds integer class indices
(``0..C-1``, the columns of ``X``).

References: Platt (1999), "Probabilistic outputs for support vector machines";
Guo et al. (2017), "On calibration of modern neural networks" (temperature,
vector and matrix scaling); Kull et al. (2019), "Beyond temperature scaling:
obtaining well-calibrated multiclass probabilities with Dirichlet calibration"
(Dirichlet calibration, ODIR regularisation).
"""

from __future__ import annotations

import abc
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from sklearn.utils.validation import check_is_fitted

from .. import grad
from .._array import sigmoid
from .._validation import check_positive
from ..losses import binary_cross_entropy_with_logits, cross_entropy
from ._base import (
    XP,
    Calibrator,
    as_columns,
    as_float,
    check_finite,
    check_logits,
    check_probs,
    check_sample_weight,
    check_target,
    softmax_np,
)

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

__all__ = ["DirichletCalibration", "MatrixScaling", "PlattScaling", "TemperatureScaling", "VectorScaling"]

_LOG_T_BOUNDS = (math.log(1e-2), math.log(1e2))
_AT_BOUND = 1e-3  # a fit this close to an end of the log-T range (relative to its width) ended there


def _check_reg(name: str, value: Any) -> float:
    if value == 0:
        return 0.0
    return check_positive(name, value)


class CalibrationWarning(UserWarning):
    """A calibrator's fit is not to be trusted: it ended at a bound of its parameter space."""


# --------------------------------------------------------------- temperature
class TemperatureScaling(Calibrator):
    r"""Temperature scaling (Guo et al. 2017): :math:`\mathrm{softmax}(z / T)`, one scalar :math:`T > 0`.

    ``fit(X, y)`` takes logits ``X`` (n, C) and class indices ``y``. The
    temperature is parameterised as :math:`T = e^s`, so it stays positive,
    and :math:`s` minimises the weighted mean NLL
    ``losslab.cross_entropy(X / T, y, weight=sample_weight)`` over
    :math:`T \in [10^{-2}, 10^{2}]`: a bounded Brent search on :math:`s`,
    then polished by L-BFGS-B with the analytic derivative

    .. math:: \frac{d\,\mathrm{NLL}}{ds} = -\sum_{i,c} g_{ic}\, \frac{z_{ic}}{T},
       \qquad g = \texttt{losslab.grad.cross\_entropy}(z / T, y).

    :math:`T > 1` softens overconfident logits. The argmax, hence the
    accuracy, is unchanged.

    Fitted attributes: ``temperature_`` (float), ``n_classes_``, ``at_bound_``
    (True when the temperature ended at 0.01 or 100, the ends of its search).

    A fit that ends at a bound warns (:class:`CalibrationWarning`): at 0.01
    the fitting set held no mistake the temperature could soften (every
    prediction right, as on a small or training-like split), so the NLL fell
    towards 0 by sharpening without limit, and the first error on new data
    costs a hundred times its logit gap. Fit on held-out predictions that
    contain mistakes.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(3000, 3)) * 2.0
    >>> y = np.array([rng.choice(3, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])
    >>> round(float(TemperatureScaling().fit(z, y).temperature_), 1)  # the logits were 2x too confident
    2.0
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TemperatureScaling:
        X = check_logits(X)
        y = check_target(y, X.shape[0], X.shape[1])
        w = check_sample_weight(sample_weight, X.shape[0])

        def nll(s):
            return float(cross_entropy(X * math.exp(-float(s)), y, weight=w))

        def nll_grad(s):
            s = float(np.asarray(s).reshape(-1)[0])
            Z = X * math.exp(-s)
            G = grad.cross_entropy(Z, y, weight=w)
            return float(cross_entropy(Z, y, weight=w)), np.array([-float(np.sum(G * Z))])

        coarse = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-10})
        polish = minimize(
            nll_grad,
            np.array([coarse.x]),
            jac=True,
            method="L-BFGS-B",
            bounds=[_LOG_T_BOUNDS],
            options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 200},
        )
        s = float(polish.x[0]) if polish.fun <= coarse.fun else float(coarse.x)
        self.temperature_ = math.exp(s)
        self.n_classes_ = X.shape[1]
        lo, hi = _LOG_T_BOUNDS
        self.at_bound_ = bool(min(s - lo, hi - s) <= _AT_BOUND * (hi - lo))
        if self.at_bound_:
            end = "lower" if s - lo < hi - s else "upper"
            why = ("the fitting set has no mistakes to soften, so sharpening lowers its NLL without limit"
                   if end == "lower" else "the logits carry almost no information about the labels")  # fmt: skip
            warnings.warn(
                f"TemperatureScaling: the fitted temperature {self.temperature_:.4g} sits at the {end} bound of its "
                f"search [0.01, 100]: {why}; the calibrated probabilities may be far worse on new data. Fit on "
                f"held-out predictions that include mistakes (a larger or a different split)",
                CalibrationWarning,
                stacklevel=2,
            )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(X / temperature_)``, shape (n, C)."""
        check_is_fitted(self)
        X = check_logits(X, n_classes=self.n_classes_)
        return softmax_np(X / self.temperature_)

    def _uncalibrated(self, X: Any) -> np.ndarray:
        return softmax_np(check_logits(X))


# --------------------------------------------------------------------- Platt
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
    :math:`\max|s| \geq 30` are rescaled during the fit), then polished by
    Newton steps with the exact Hessian.

    ``predict_proba`` returns the layout of its input: (n,) probabilities
    of class 1 for 1-d scores, (n, 2) rows for two-class logits.

    Fitted attributes: ``coef_`` (a), ``intercept_`` (b), ``n_classes_`` (2).

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
        return X if X.ndim == 1 else X[:, 1] - X[:, 0]

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> PlattScaling:
        s = self._scores(X)
        y = check_target(y, s.shape[0], 2)
        w = check_sample_weight(sample_weight, s.shape[0])
        for cls in (0, 1):
            if np.all(y == cls):
                raise ValueError(
                    f"`y` holds only class {cls} (all {y.shape[0]} samples); Platt scaling needs both classes "
                    f"to fit a slope: calibrate on a held-out set with positives and negatives"
                )
        ww = np.ones_like(s) if w is None else w
        n_pos, n_neg = float(ww[y == 1].sum()), float(ww[y == 0].sum())
        t = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
        m = float(np.max(np.abs(s)))
        scale = m if m >= 30.0 else 1.0
        F = s / scale
        c = ww / ww.sum()

        def loss_grad(ab):
            z = ab[0] * F + ab[1]
            g = grad.binary_cross_entropy_with_logits(z, t, weight=w)
            return float(binary_cross_entropy_with_logits(z, t, weight=w)), np.array([g @ F, g.sum()])

        x0 = np.array([0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))])
        ab = minimize(loss_grad, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15}).x
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
        self.coef_ = float(ab[0] / scale)
        self.intercept_ = float(ab[1])
        self.n_classes_ = 2
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """:math:`\\sigma(a s + b)`: (n,) for 1-d scores, (n, 2) for two-class logits."""
        check_is_fitted(self)
        p = sigmoid(XP, self.coef_ * self._scores(X) + self.intercept_)
        return p if np.ndim(X) == 1 else as_columns(p)

    def _uncalibrated(self, X: Any) -> np.ndarray:
        p = sigmoid(XP, self._scores(X))
        return p if np.ndim(X) == 1 else as_columns(p)


# ---------------------------------------------------- vector / matrix / Dirichlet
class _AffineScaling(Calibrator, abc.ABC):
    r"""``softmax(x W^T + b)`` on features ``x`` (logits or log-probabilities), fitted by L-BFGS-B.

    Objective: weighted mean NLL
    :math:`+ \frac{\lambda}{C(C-1)}\sum_{i \neq j} W_{ij}^2 + \frac{\mu}{C}\sum_j b_j^2`
    (ODIR, Kull et al. 2019; the diagonal is never penalised). Its gradient
    is :math:`G^\top x` for :math:`W` and :math:`\sum_i G_i` for :math:`b`,
    with :math:`G` = ``losslab.grad.cross_entropy`` (already divided by the
    summed weights), plus the penalty's.
    """

    _diagonal = False

    def _penalties(self) -> tuple[float, float]:
        return 0.0, 0.0

    @abc.abstractmethod
    def _features(self, X: Any, n_classes: int | None = None) -> np.ndarray:
        """The inputs the affine map acts on: logits, or log-probabilities (Dirichlet)."""

    def _unpack(self, theta: np.ndarray, C: int) -> tuple[np.ndarray, np.ndarray]:
        if self._diagonal:
            return theta[:C], theta[C:]
        return theta[: C * C].reshape(C, C), theta[C * C :]

    def _logits(self, Z: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (Z * W if W.ndim == 1 else Z @ W.T) + b

    def _loss_grad(
        self, theta: np.ndarray, Z: np.ndarray, y: np.ndarray, w: np.ndarray | None
    ) -> tuple[float, np.ndarray]:
        """Objective and its gradient w.r.t. the packed parameters ``theta`` (W or diag(W), then b)."""
        C = Z.shape[1]
        W, b = self._unpack(theta, C)
        L = self._logits(Z, W, b)
        G = grad.cross_entropy(L, y, weight=w)
        f = float(cross_entropy(L, y, weight=w))
        gW = np.sum(G * Z, axis=0) if self._diagonal else G.T @ Z
        gb = G.sum(axis=0)
        lam, mu = self._penalties()
        if lam and not self._diagonal:
            off = W * (1.0 - np.eye(C))
            f += lam / (C * (C - 1)) * float(np.sum(off * off))
            gW = gW + 2.0 * lam / (C * (C - 1)) * off
        if mu:
            f += mu / C * float(b @ b)
            gb = gb + 2.0 * mu / C * b
        return f, np.concatenate([gW.ravel(), gb])

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        lam, mu = self._penalties()  # validates the hyper-parameters
        Z = self._features(X)
        C = Z.shape[1]
        y = check_target(y, Z.shape[0], C)
        w = check_sample_weight(sample_weight, Z.shape[0])
        W0 = np.ones(C) if self._diagonal else np.eye(C)
        theta0 = np.concatenate([W0.ravel(), np.zeros(C)])
        res = minimize(
            self._loss_grad,
            theta0,
            args=(Z, y, w),
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-9, "ftol": 1e-14, "maxiter": 2000, "maxcor": 20},
        )
        W, b = self._unpack(res.x, C)
        self.coef_, self.intercept_ = W.copy(), b.copy()
        self.n_classes_ = C
        self.n_iter_ = int(res.nit)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        Z = self._features(X, self.n_classes_)
        return softmax_np(self._logits(Z, self.coef_, self.intercept_))

    def _uncalibrated(self, X: Any) -> np.ndarray:
        return softmax_np(self._features(X))


class VectorScaling(_AffineScaling):
    r"""Vector scaling (Guo et al. 2017): :math:`\mathrm{softmax}(w \odot z + b)`, a diagonal :math:`W`.

    ``X``: logits (n, C). Unregularised; starts at :math:`w = 1, b = 0`.
    Fitted attributes: ``coef_`` (C,) (the diagonal), ``intercept_`` (C,), ``n_classes_``, ``n_iter_``.

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    >>> VectorScaling().fit(z, np.array([0, 1, 1, 0])).predict_proba(z).sum(axis=1).round(12).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    _diagonal = True

    def _features(self, X: Any, n_classes: int | None = None) -> np.ndarray:
        return check_logits(X, n_classes=n_classes)


class MatrixScaling(_AffineScaling):
    r"""Matrix scaling (Guo et al. 2017): :math:`\mathrm{softmax}(z W^\top + b)`, a full :math:`W`.

    ``X``: logits (n, C). Regularised as ODIR (Kull et al. 2019) with one
    strength ``reg`` for both terms:
    :math:`\frac{reg}{C(C-1)}\sum_{i \neq j} W_{ij}^2 + \frac{reg}{C}\sum_j b_j^2`
    added to the weighted mean NLL; the diagonal is free. ``reg=0`` is plain
    matrix scaling (which may not converge on separable data).

    Fitted attributes: ``coef_`` (C, C) (row = output class), ``intercept_`` (C,), ``n_classes_``, ``n_iter_``.

    >>> import numpy as np
    >>> z = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]])
    >>> MatrixScaling(reg=0.1).fit(z, np.array([0, 1, 1, 0])).coef_.shape
    (2, 2)
    """

    def __init__(self, reg: float = 1e-3) -> None:
        self.reg = reg

    def _penalties(self) -> tuple[float, float]:
        r = _check_reg("reg", self.reg)
        return r, r

    def _features(self, X: Any, n_classes: int | None = None) -> np.ndarray:
        return check_logits(X, n_classes=n_classes)


class DirichletCalibration(_AffineScaling):
    r"""Dirichlet calibration (Kull et al. 2019): :math:`\mathrm{softmax}(W \log p + b)`.

    ``X``: probabilities (n, C) with rows summing to 1, or (n,) binary
    probabilities of class 1 (then ``predict_proba`` returns (n,) as well).
    :math:`\log p` is clipped below at :math:`\log \epsilon` (float64 eps),
    so zero probabilities are allowed. ODIR regularisation: ``reg_lambda``
    on the off-diagonal of :math:`W`, ``reg_mu`` on the bias (objective in
    :class:`MatrixScaling`'s form). :math:`W = I, b = 0` returns ``X``
    unchanged and is where the fit starts.

    Fitted attributes: ``coef_`` (C, C), ``intercept_`` (C,), ``n_classes_``, ``n_iter_``.

    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    >>> DirichletCalibration().fit(p, np.array([0, 1, 1, 1])).predict_proba(p).shape
    (4, 2)
    """

    def __init__(self, reg_lambda: float = 1e-3, reg_mu: float = 1e-3) -> None:
        self.reg_lambda = reg_lambda
        self.reg_mu = reg_mu

    def _penalties(self) -> tuple[float, float]:
        return _check_reg("reg_lambda", self.reg_lambda), _check_reg("reg_mu", self.reg_mu)

    def _features(self, X: Any, n_classes: int | None = None) -> np.ndarray:
        P = as_columns(check_probs(X, n_classes=None))
        if n_classes is not None and P.shape[1] != n_classes:
            check_logits(P, n_classes=n_classes)  # raises the class-count message
        return np.log(np.maximum(P, np.finfo(np.float64).eps))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, in the layout of ``X``: (n, C), or (n,) of class 1 for 1-d input."""
        P = super().predict_proba(X)
        return P[:, 1] if np.ndim(X) == 1 else P

    def _uncalibrated(self, X: Any) -> np.ndarray:
        return check_probs(X)
