"""The distributions behind the losses, and the exact affine map from each NLL to its loss.

Each likelihood works on its *natural parameter* :math:`\\eta` (the logit for
Bernoulli, the logits for Categorical, the log-rate for Poisson,
:math:`\\mu/\\sigma^2` for a Gaussian of known variance). It knows

* ``nll(eta, target)``: the per-element negative log-likelihood, all constants kept;
* ``link(mean)`` and ``mean(eta)``: the canonical link and its inverse;
* ``natural_grad(eta, target)``: :math:`\\partial\\,\\mathrm{nll}/\\partial\\eta`
  in closed form, which for every exponential family with its canonical link
  is ``mean(eta) - target`` (Bishop 2006, sec. 4.3.6);
* ``loss``, ``scale`` and ``offset(target)``: the losslab loss it equals,
  ``nll(link(m), t) == scale * loss(m_or_eta, t, reduction="none") + offset(t)``.

Laplace is not an exponential family in its location, so it has no
canonical link; it is here because it is the likelihood behind MAE.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

from . import losses as L
from ._array import as_arrays, lgamma, log_softmax, sigmoid, softmax, softplus, to_float
from ._types import Array
from ._validation import check_positive

__all__ = ["Bernoulli", "Categorical", "Gaussian", "Laplace", "Likelihood", "Poisson"]


class Likelihood(abc.ABC):
    """Common interface; see the module docstring.

    >>> import numpy as np
    >>> sorted(c.__name__ for c in Likelihood.__subclasses__())
    ['Bernoulli', 'Categorical', 'Gaussian', 'Laplace', 'Poisson']
    """

    canonical = True
    loss_name: str = ""
    loss_argument: str = "natural"  # the loss takes "natural" (eta) or "mean" as first argument

    @abc.abstractmethod
    def nll(self, eta: Array, target: Array) -> Array:
        """Per-element negative log-likelihood, every constant kept."""

    @abc.abstractmethod
    def mean(self, eta: Array) -> Array:
        """Inverse canonical link: the mean of the distribution."""

    @abc.abstractmethod
    def link(self, mean: Array) -> Array:
        """Canonical link: the natural parameter of a mean."""

    @abc.abstractmethod
    def natural_grad(self, eta: Array, target: Array) -> Array:
        """d nll / d eta in closed form."""

    @abc.abstractmethod
    def loss(self, pred: Array, target: Array) -> Array:
        """The equivalent losslab loss, per element (``reduction="none"``)."""

    @property
    def scale(self) -> float:
        return 1.0

    def offset(self, target: Array) -> Array:
        return 0.0


@dataclass(frozen=True)
class Gaussian(Likelihood):
    r"""Normal with known variance: :math:`-\log N(t; \mu, \sigma^2)`, :math:`\eta = \mu/\sigma^2`.

    ``nll == mse / (2 var) + log(2 pi var) / 2``.

    >>> import numpy as np
    >>> g = Gaussian(var=1.0)
    >>> float(g.nll(np.array([0.0]), np.array([1.0]))[0])  # (1 + log 2 pi) / 2
    1.4189385332046727
    """

    var: float = 1.0
    loss_name = "mse"
    loss_argument = "mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "var", check_positive("var", self.var))

    def nll(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        r = t - self.var * eta
        return 0.5 * r * r / self.var + 0.5 * math.log(2.0 * math.pi * self.var)

    def mean(self, eta: Array) -> Array:
        xp, eta = as_arrays(eta, names=("eta",))
        return self.var * eta

    def link(self, mean: Array) -> Array:
        xp, m = as_arrays(mean, names=("mean",))
        return m / self.var

    def natural_grad(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        return self.mean(eta) - t

    def loss(self, pred: Array, target: Array) -> Array:
        return L.mse(pred, target, reduction="none")

    @property
    def scale(self) -> float:
        return 0.5 / self.var

    def offset(self, target: Array) -> float:
        return 0.5 * math.log(2.0 * math.pi * self.var)


@dataclass(frozen=True)
class Laplace(Likelihood):
    r"""Laplace with scale ``b``: :math:`|t - \mu|/b + \log 2b`, parameterised by the mean.

    ``nll == mae / b + log(2 b)``. Not canonical: its gradient is
    ``sign(mu - t) / b``, not ``mean - target``.

    >>> import numpy as np
    >>> lap = Laplace(scale_b=2.0)
    >>> float(lap.nll(np.array([0.0]), np.array([3.0]))[0])  # 3/2 + log 4
    2.886294361119891
    >>> float(lap.natural_grad(np.array([0.0]), np.array([3.0]))[0])
    -0.5
    """

    scale_b: float = 1.0
    canonical = False
    loss_name = "mae"
    loss_argument = "mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_b", check_positive("scale_b", self.scale_b))

    def nll(self, mean: Array, target: Array) -> Array:
        xp, m, t = as_arrays(mean, target, names=("mean", "target"))
        return xp.abs(t - m) / self.scale_b + math.log(2.0 * self.scale_b)

    def mean(self, eta: Array) -> Array:
        xp, eta = as_arrays(eta, names=("eta",))
        return eta

    def link(self, mean: Array) -> Array:
        xp, m = as_arrays(mean, names=("mean",))
        return m

    def natural_grad(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        return xp.sign(eta - t) / self.scale_b

    def loss(self, pred: Array, target: Array) -> Array:
        return L.mae(pred, target, reduction="none")

    @property
    def scale(self) -> float:
        return 1.0 / self.scale_b

    def offset(self, target: Array) -> float:
        return math.log(2.0 * self.scale_b)


@dataclass(frozen=True)
class Bernoulli(Likelihood):
    r"""Bernoulli with logit :math:`\eta`: :math:`-t\log\sigma(\eta) - (1-t)\log\sigma(-\eta)`.

    ``nll == binary_cross_entropy_with_logits`` exactly (scale 1, offset 0).

    >>> import numpy as np
    >>> float(Bernoulli().natural_grad(np.array([0.0]), np.array([1.0]))[0])
    -0.5
    """

    loss_name = "binary_cross_entropy_with_logits"

    def nll(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        return t * softplus(xp, -eta) + (1.0 - t) * softplus(xp, eta)

    def mean(self, eta: Array) -> Array:
        xp, eta = as_arrays(eta, names=("eta",))
        return sigmoid(xp, eta)

    def link(self, mean: Array) -> Array:
        xp, p = as_arrays(mean, names=("mean",))
        return xp.log(p) - xp.log1p(-p)

    def natural_grad(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        return self.mean(eta) - t

    def loss(self, pred: Array, target: Array) -> Array:
        return L.binary_cross_entropy_with_logits(pred, target, reduction="none")


@dataclass(frozen=True)
class Categorical(Likelihood):
    r"""Categorical with logits :math:`\eta` along ``axis``: :math:`-\log\mathrm{softmax}(\eta)_y`.

    ``target`` holds class indices; ``natural_grad`` is ``softmax(eta) - onehot(y)``.
    ``nll == cross_entropy`` exactly. The natural parameter is defined up to a
    constant shift per row, which changes neither.

    >>> import numpy as np
    >>> cat = Categorical()
    >>> cat.natural_grad(np.array([[0.0, 0.0]]), np.array([1])).tolist()  # softmax - onehot
    [[0.5, -0.5]]
    """

    axis: int = -1
    loss_name = "cross_entropy"

    def nll(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        logp = log_softmax(xp, to_float(xp, eta, "eta"), axis=self.axis)
        picked = xp.take_along_axis(logp, xp.expand_dims(t, axis=self.axis), axis=self.axis)
        return -xp.squeeze(picked, axis=self.axis)

    def mean(self, eta: Array) -> Array:
        xp, eta = as_arrays(eta, names=("eta",))
        return softmax(xp, eta, axis=self.axis)

    def link(self, mean: Array) -> Array:
        xp, p = as_arrays(mean, names=("mean",))
        return xp.log(p)

    def natural_grad(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        C = eta.shape[self.axis]
        classes = xp.arange(C, dtype=t.dtype, device=getattr(t, "device", None))
        shape = [1] * eta.ndim
        shape[self.axis] = C
        onehot = xp.astype(xp.expand_dims(t, axis=self.axis) == xp.reshape(classes, tuple(shape)), eta.dtype)
        return self.mean(eta) - onehot

    def loss(self, pred: Array, target: Array) -> Array:
        return L.cross_entropy(pred, target, axis=self.axis, reduction="none")


@dataclass(frozen=True)
class Poisson(Likelihood):
    r"""Poisson with log-rate :math:`\eta`: :math:`e^\eta - t\eta + \log t!`.

    ``nll == poisson_nll(eta, t) + log Gamma(t + 1)`` (the offset depends on
    the target only, so it does not move the minimum).

    >>> import numpy as np
    >>> poi = Poisson()
    >>> round(float(poi.nll(np.array([0.0]), np.array([2.0]))[0]), 6)  # 1 - 0 + log 2
    1.693147
    >>> float(poi.natural_grad(np.array([0.0]), np.array([2.0]))[0])  # rate - count
    -1.0
    """

    loss_name = "poisson_nll"

    def nll(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        return xp.exp(eta) - t * eta + lgamma(xp, t + 1.0)

    def mean(self, eta: Array) -> Array:
        xp, eta = as_arrays(eta, names=("eta",))
        return xp.exp(eta)

    def link(self, mean: Array) -> Array:
        xp, m = as_arrays(mean, names=("mean",))
        return xp.log(m)

    def natural_grad(self, eta: Array, target: Array) -> Array:
        xp, eta, t = as_arrays(eta, target, names=("eta", "target"))
        return self.mean(eta) - t

    def loss(self, pred: Array, target: Array) -> Array:
        return L.poisson_nll(pred, target, reduction="none")

    def offset(self, target: Array) -> Array:
        xp, t = as_arrays(target, names=("target",))
        return lgamma(xp, to_float(xp, t, "target") + 1.0)
