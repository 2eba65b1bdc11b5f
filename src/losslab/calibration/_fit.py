"""Fit diagnostics shared by the calibrators: when a fit is not to be trusted, say so.

Every calibrator's ``fit`` ends with :func:`finish`, which stores the messages
in the fitted attribute ``fit_warnings_`` (a list of strings, empty when the
fit is fine) and issues each as a :class:`CalibrationWarning`. A message names
the calibrator, what happened and what to do. The conditions:

* the optimiser did not converge (SciPy's ``success`` is False and the
  gradient is not small: L-BFGS-B also reports an abnormal line search when it
  merely ran into rounding at the optimum) -- :func:`not_converged`;
* a parameter ended at a bound of its search (TemperatureScaling: T = 0.01
  or 100) -- :func:`temperature_at_bound`;
* the fitted map raised the NLL of its own fitting set above the identity
  map's (no calibration), which a fit that minimises it cannot do unless it
  failed -- :func:`nll_raised`;
* the fit drove that NLL to 0: the fitting set holds no mistake the map can
  soften, so the parameters grow without limit and the optimiser stops at an
  arbitrary, overconfident point -- :func:`no_mistakes`;
* histogram binning left bins without data (``binning.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CalibrationWarning", "finish", "nll_raised", "no_mistakes", "not_converged", "nll_or_inf"]

GRAD_TOL = 1e-6  # an unsuccessful L-BFGS-B stop whose largest gradient entry is below this has converged
NO_MISTAKES_NLL = 1e-6  # a fitted mean NLL below this: the fitting set is separated by the map


class CalibrationWarning(UserWarning):
    """A calibrator's fit is not to be trusted (``fit_warnings_`` lists why): it did not converge, ended at
    a bound of its parameter space, raised the NLL of its fitting set, drove it to 0 on a set without
    mistakes, or (histogram binning) left bins without data."""


def finish(est: Any, messages: list[str]) -> None:
    """Store ``messages`` as ``est.fit_warnings_`` and warn each (at the caller of ``fit``)."""
    est.fit_warnings_ = list(messages)
    for m in messages:
        warnings.warn(m, CalibrationWarning, stacklevel=3)


def nll_or_inf(f: Callable[[], Any]) -> float:
    """``float(f())``, or inf when the loss refuses because its value overflows float64
    (the identity map of logits near 1e308: their NLL is not representable)."""
    try:
        return float(f())
    except ValueError as exc:
        if "overflow" not in str(exc):
            raise
        return float("inf")


def not_converged(name: str, res: Any, fix: str, grad: Any = None) -> list[str]:
    """The message for an L-BFGS-B result that neither succeeded nor reached a small gradient."""
    g = np.asarray(res.jac if grad is None else grad, dtype=np.float64)
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    if res.success or gmax <= GRAD_TOL:
        return []
    msg = res.message.decode() if isinstance(res.message, bytes) else str(res.message)
    return [
        f"{name}: the optimiser (L-BFGS-B) did not converge after {int(res.nit)} iterations (SciPy: {msg}; "
        f"largest gradient entry {gmax:.3g}), so the fitted map may be far from the best one. {fix}"
    ]


def nll_raised(name: str, before: float, after: float, what: str = "NLL") -> list[str]:
    """The message when the fitted map's ``after`` exceeds the identity map's ``before`` on the fitting set."""
    if not after > before + 1e-9 * max(1.0, abs(before)):
        return []
    other = "" if name == "TemperatureScaling" else " or use TemperatureScaling"
    return [
        f"{name}: the fitted map raised the {what} of its own fitting set from {before:.6g} (the identity map, "
        f"no calibration) to {after:.6g}, which a successful fit cannot do: the fit failed. Do not use it; "
        f"check the inputs (scale, duplicated rows, labels){other}"
    ]


def no_mistakes(name: str, after: float, largest: float) -> list[str]:
    """The message when the fitted mean NLL fell to (almost) 0: a separable fitting set."""
    if not after < NO_MISTAKES_NLL:
        return []
    return [
        f"{name}: the fit drove the NLL of its fitting set to {after:.3g} with coefficients up to {largest:.4g}: "
        f"the set holds no mistake the map could soften, so sharpening lowers the NLL without limit and the "
        f"optimiser stopped at an arbitrary, overconfident point; the first error on new data will cost dearly. "
        f"Fit on held-out predictions that include mistakes (a larger or a different split); no regularisation "
        f"helps here: the diagonal of W, which does the sharpening, is never penalised"
    ]


def temperature_at_bound(temperature: float, end: str, largest: float) -> str:
    """TemperatureScaling's message at an end of its search [0.01, 100]."""
    if end == "lower":
        why = "the fitting set has no mistakes to soften, so sharpening lowers its NLL without limit"
    else:
        why = "the logits carry almost no information about the labels"
        if largest > 1e3:
            why += f", or are on a far larger scale than log-odds (largest |logit| {largest:.3g}: divide them first)"
    return (
        f"TemperatureScaling: the fitted temperature {temperature:.4g} sits at the {end} bound of its "
        f"search [0.01, 100]: {why}; the calibrated probabilities may be far worse on new data. Fit on "
        f"held-out predictions that include mistakes (a larger or a different split)"
    )


def overflow_refusal(name: str, largest: float, where: str) -> ValueError:
    """The error for logits whose fit overflows float64."""
    return ValueError(
        f"{name}: logits of magnitude {largest:.3g} overflow float64 in its fit ({where}); rescale them "
        f"(divide by a constant: a logit beyond about 1e4 is already a certainty)"
    )
