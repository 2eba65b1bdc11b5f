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

Every ``fit`` sets ``fit_warnings_``, the reasons the fit is not to be trusted
(each also a :class:`CalibrationWarning`; see :mod:`._fit`): the optimiser did
not converge, a parameter ended at a bound, the fit raised the NLL of its own
fitting set above the identity map's, or drove it to 0 on a set without
mistakes. Empty when the fit is fine.

Huge logits: softmax(z / T) is shift-invariant per row, so TemperatureScaling
predicts on ``z - max(z)``; vector and matrix scaling are not (``W (z + c 1)``
adds ``c W 1``, not a constant), but they are invariant under one global
rescaling ``z / s`` with ``W s`` in place of ``W``, so features beyond
``2**16`` in magnitude are fitted divided by a power of two (exact) and the
coefficients divided back; the fit then starts from whichever of the identity
and ``W = I / s`` (logits of order 1) has the lower objective, since from the
identity of logits near 1e300 no step of L-BFGS-B changes anything (before,
its gradients' squares overflowed into "`logits` contains NaN"). Their
``predict_proba`` refuses calibrated logits beyond float64, naming the reason.
TemperatureScaling's search for T in [0.01, 100] refuses logits whose
``z / 0.01`` would overflow float64, naming the reason too.

References: Platt (1999), "Probabilistic outputs for support vector machines";
Guo et al. (2017), "On calibration of modern neural networks" (temperature,
vector and matrix scaling); Kull et al. (2019), "Beyond temperature scaling:
obtaining well-calibrated multiclass probabilities with Dirichlet calibration"
(Dirichlet calibration, ODIR regularisation).
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from sklearn.utils.validation import check_is_fitted

from .. import grad
from .._validation import check_positive
from ..losses import cross_entropy
from ._base import Calibrator, as_columns, check_logits, check_probs, check_sample_weight, check_target, softmax_np
from ._fit import (
    CalibrationWarning,
    finish,
    nll_or_inf,
    nll_raised,
    no_mistakes,
    not_converged,
    overflow_refusal,
    temperature_at_bound,
)
from .platt import PlattScaling

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

__all__ = [
    "CalibrationWarning",
    "DirichletCalibration",
    "MatrixScaling",
    "PlattScaling",
    "TemperatureScaling",
    "VectorScaling",
]

_LOG_T_BOUNDS = (math.log(1e-2), math.log(1e2))
_AT_BOUND = 1e-3  # a fit this close to an end of the log-T range (relative to its width) ended there
_RESCALE_ABOVE = 2.0**16  # affine features larger than this are fitted divided by a power of two
_FMAX = float(np.finfo(np.float64).max)


def _check_reg(name: str, value: Any) -> float:
    if value == 0:
        return 0.0
    return check_positive(name, value)


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
    (True when the temperature ended at 0.01 or 100, the ends of its search),
    ``fit_warnings_`` (module docstring; empty when the fit is fine).

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
        largest = float(np.max(np.abs(X)))
        where = "X / T for T down to 0.01, and the gaps between its logits"
        if largest > _FMAX / 400.0:  # X / 0.01, and the gradient's sum of 2 |X / T|, must stay finite
            raise overflow_refusal("TemperatureScaling", largest, where)

        def nll(s):
            return float(cross_entropy(X * math.exp(-float(s)), y, weight=w))

        def nll_grad(s):
            s = float(np.asarray(s).reshape(-1)[0])
            Z = X * math.exp(-s)
            f = float(cross_entropy(Z, y, weight=w))
            G = grad.cross_entropy(Z, y, weight=w)
            return f, np.array([-float(np.sum(G * Z))])

        try:
            coarse = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-10})
            polish = minimize(
                nll_grad,
                np.array([coarse.x]),
                jac=True,
                method="L-BFGS-B",
                bounds=[_LOG_T_BOUNDS],
                options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 200},
            )
            before = nll(0.0)
        except ValueError as exc:  # the mean NLL of many huge logits overflows
            if "overflow" not in str(exc):
                raise
            raise overflow_refusal("TemperatureScaling", largest, where) from exc
        s = float(polish.x[0]) if polish.fun <= coarse.fun else float(coarse.x)
        self.temperature_ = math.exp(s)
        self.n_classes_ = X.shape[1]
        lo, hi = _LOG_T_BOUNDS
        self.at_bound_ = bool(min(s - lo, hi - s) <= _AT_BOUND * (hi - lo))
        msgs = []
        if self.at_bound_:
            msgs.append(temperature_at_bound(self.temperature_, "lower" if s - lo < hi - s else "upper", largest))
        elif not (coarse.success or polish.success):  # the bounded Brent search ran out of iterations
            msgs += not_converged("TemperatureScaling", polish, "Rescale the logits or fit on more data")
        msgs += nll_raised("TemperatureScaling", before, min(float(polish.fun), float(coarse.fun)))
        finish(self, msgs)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(X / temperature_)``, shape (n, C).

        Computed as ``softmax((X - max(X)) / temperature_)`` (the same map): a
        gap beyond float64 is ``-inf``, a probability of exactly 0."""
        check_is_fitted(self)
        X = check_logits(X, n_classes=self.n_classes_)
        with np.errstate(over="ignore"):
            return softmax_np((X - X.max(axis=1, keepdims=True)) / self.temperature_)

    def _uncalibrated(self, X: Any) -> np.ndarray:
        return softmax_np(check_logits(X))


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
        self, theta: np.ndarray, Z: np.ndarray, y: np.ndarray, w: np.ndarray | None, scale: float = 1.0
    ) -> tuple[float, np.ndarray]:
        """Objective and its gradient w.r.t. the packed parameters ``theta`` (W or diag(W), then b).

        ``scale``: ``Z`` is the features divided by it (huge logits), so the
        packed W is ``scale`` times the calibrator's and the penalty acts on ``W / scale``."""
        C = Z.shape[1]
        W, b = self._unpack(theta, C)
        L = self._logits(Z, W, b)
        f = float(cross_entropy(L, y, weight=w))
        G = grad.cross_entropy(L, y, weight=w)
        gW = np.sum(G * Z, axis=0) if self._diagonal else G.T @ Z
        gb = G.sum(axis=0)
        lam, mu = self._penalties()
        if lam and not self._diagonal:
            off = W * (1.0 - np.eye(C)) / scale
            f += lam / (C * (C - 1)) * float(np.sum(off * off))
            gW = gW + 2.0 * lam / (C * (C - 1)) * off / scale
        if mu:
            f += mu / C * float(b @ b)
            gb = gb + 2.0 * mu / C * b
        return f, np.concatenate([gW.ravel(), gb])

    def _fix(self) -> str:
        """What to do when the fit is not to be trusted (the regularisation to raise)."""
        return "use TemperatureScaling (one parameter) or MatrixScaling(reg=1e-2)"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        name = type(self).__name__
        self._penalties()  # validates the hyper-parameters
        Z = self._features(X)
        C = Z.shape[1]
        y = check_target(y, Z.shape[0], C)
        w = check_sample_weight(sample_weight, Z.shape[0])
        one = np.ones(C) if self._diagonal else np.eye(C)
        zero = np.zeros(C)
        before = nll_or_inf(lambda: cross_entropy(Z, y, weight=w))  # the identity map (W = I, b = 0)
        largest = float(np.max(np.abs(Z)))
        scale, F = 1.0, Z
        theta0 = np.concatenate([one.ravel(), zero])
        if largest > _RESCALE_ABOVE:  # fit softmax(F (s W)^T + b) on F = Z / s: the same map, well conditioned
            scale = math.ldexp(1.0, math.frexp(largest)[1] - 1)
            F = Z / scale
            unit = theta0.copy()  # s W = I: logits of order 1, a far better start than 1e300 when they are huge
            theta0 = np.concatenate([(scale * one).ravel(), zero])
            if self._loss_grad(unit, F, y, w, scale)[0] < before:
                theta0 = unit
        try:
            res = minimize(
                self._loss_grad,
                theta0,
                args=(F, y, w, scale),
                jac=True,
                method="L-BFGS-B",
                options={"gtol": 1e-9, "ftol": 1e-14, "maxiter": 2000, "maxcor": 20},
            )
        except ValueError as exc:
            if "overflow" not in str(exc):
                raise
            raise overflow_refusal(name, largest, "the calibrated logits X W^T + b") from exc
        W, b = self._unpack(res.x, C)
        after = float(cross_entropy(self._logits(F, W, b), y, weight=w))  # without the penalty
        self.coef_, self.intercept_ = W / scale, b.copy()
        self.n_classes_ = C
        self.n_iter_ = int(res.nit)
        msgs = not_converged(name, res, f"Rescale the inputs, fit on more data, or {self._fix()}")
        msgs += nll_raised(name, before, after)
        msgs += no_mistakes(name, after, float(np.max(np.abs(self.coef_))))
        finish(self, msgs)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        Z = self._features(X, self.n_classes_)
        with np.errstate(over="ignore", invalid="ignore"):
            L = self._logits(Z, self.coef_, self.intercept_)
        if not np.all(np.isfinite(L)):
            raise ValueError(
                f"{type(self).__name__}: the calibrated logits X W^T + b overflow float64 (largest |X| "
                f"{float(np.max(np.abs(Z))):.3g}, largest |W| {float(np.max(np.abs(self.coef_))):.3g}); rescale `X` "
                f"as for fit, or refit on inputs of the scale you predict on"
            )
        return softmax_np(L)

    def _uncalibrated(self, X: Any) -> np.ndarray:
        return softmax_np(self._features(X))


class VectorScaling(_AffineScaling):
    r"""Vector scaling (Guo et al. 2017): :math:`\mathrm{softmax}(w \odot z + b)`, a diagonal :math:`W`.

    ``X``: logits (n, C). Unregularised; starts at :math:`w = 1, b = 0`.
    Fitted attributes: ``coef_`` (C,) (the diagonal), ``intercept_`` (C,), ``n_classes_``, ``n_iter_``,
    ``fit_warnings_`` (module docstring).

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

    Fitted attributes: ``coef_`` (C, C) (row = output class), ``intercept_`` (C,), ``n_classes_``, ``n_iter_``,
    ``fit_warnings_`` (module docstring).

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

    def _fix(self) -> str:
        return f"raise `reg` (now {self.reg!r}; the diagonal of W stays free) or use TemperatureScaling"

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

    Fitted attributes: ``coef_`` (C, C), ``intercept_`` (C,), ``n_classes_``, ``n_iter_``,
    ``fit_warnings_`` (module docstring).

    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.6, 0.4]])
    >>> DirichletCalibration().fit(p, np.array([0, 1, 1, 0])).predict_proba(p).shape
    (4, 2)
    """

    def __init__(self, reg_lambda: float = 1e-3, reg_mu: float = 1e-3) -> None:
        self.reg_lambda = reg_lambda
        self.reg_mu = reg_mu

    def _penalties(self) -> tuple[float, float]:
        return _check_reg("reg_lambda", self.reg_lambda), _check_reg("reg_mu", self.reg_mu)

    def _fix(self) -> str:
        return (f"raise `reg_lambda` and `reg_mu` (now {self.reg_lambda!r}, {self.reg_mu!r}; the diagonal of W "
                f"stays free) or use TemperatureScaling on the log-probabilities")  # fmt: skip

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
