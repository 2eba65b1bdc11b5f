"""``torch.nn.Module`` wrappers: configuration in ``__init__``, the losslab function in ``forward``.

>>> import torch
>>> from losslab.torch import CrossEntropyLoss
>>> loss = CrossEntropyLoss(label_smoothing=0.1)
>>> round(float(loss(torch.zeros(2, 3), torch.tensor([0, 2]))), 4)
1.0986
"""

from __future__ import annotations

from typing import Any

import torch

from . import losses as L

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "BrierScore",
    "CrossEntropyLoss",
    "DistillationLoss",
    "GaussianNLLLoss",
    "GeneralizedCrossEntropyLoss",
    "HuberLoss",
    "KLDivergence",
    "L1Loss",
    "LaplaceNLLLoss",
    "LogLoss",
    "MSELoss",
    "PinballLoss",
    "PoissonNLLLoss",
]


class _Loss(torch.nn.Module):
    """Holds keyword options; ``forward(pred, target, **per_call)`` calls the function.

    Array-valued options (``class_weight``, ``pos_weight``) are registered as
    buffers so that ``.to(device)`` and ``.to(dtype)`` move them. Per-call
    keyword options override those given at construction; ``pred`` and
    ``target`` are positional-only, so a loss option named ``target`` (the
    hard labels of :class:`DistillationLoss`) can be passed per call.
    """

    fn: Any = None

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self._options: dict[str, Any] = {}
        self._buffer_options: dict[str, str] = {}  # option name -> buffer attribute
        for key, value in options.items():
            if isinstance(value, torch.Tensor):
                attr = f"_{key}"
                self.register_buffer(attr, value)
                self._buffer_options[key] = attr
            else:
                self._options[key] = value

    def options(self) -> dict[str, Any]:
        """The construction options, tensors as they are now (after ``.to``)."""
        opts = dict(self._options)
        opts.update({k: getattr(self, attr) for k, attr in self._buffer_options.items()})
        return opts

    def forward(self, pred: torch.Tensor, target: torch.Tensor, /, **per_call: Any) -> torch.Tensor:
        opts = self.options()
        opts.update(per_call)
        return type(self).fn(pred, target, **opts)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options().items())


def _module(name: str, fn: Any, doc: str) -> type[_Loss]:
    return type(name, (_Loss,), {"fn": staticmethod(fn), "__doc__": doc, "__module__": __name__})


MSELoss = _module("MSELoss", L.mse, "Module form of :func:`losslab.mse`.")
L1Loss = _module("L1Loss", L.mae, "Module form of :func:`losslab.mae`.")
HuberLoss = _module("HuberLoss", L.huber, "Module form of :func:`losslab.huber` (``delta=``).")
PinballLoss = _module("PinballLoss", L.pinball, "Module form of :func:`losslab.pinball` (``quantile=``).")
GaussianNLLLoss = _module(
    "GaussianNLLLoss", L.gaussian_nll, "Module form of :func:`losslab.gaussian_nll`; pass a learned ``var=`` per call."
)
LaplaceNLLLoss = _module("LaplaceNLLLoss", L.laplace_nll, "Module form of :func:`losslab.laplace_nll`.")
PoissonNLLLoss = _module(
    "PoissonNLLLoss", L.poisson_nll, "Module form of :func:`losslab.poisson_nll` (log-rate input)."
)
BCELoss = _module("BCELoss", L.binary_cross_entropy, "Module form of :func:`losslab.binary_cross_entropy`.")
BCEWithLogitsLoss = _module(
    "BCEWithLogitsLoss",
    L.binary_cross_entropy_with_logits,
    "Module form of :func:`losslab.binary_cross_entropy_with_logits`.",
)
CrossEntropyLoss = _module("CrossEntropyLoss", L.cross_entropy, "Module form of :func:`losslab.cross_entropy`.")
GeneralizedCrossEntropyLoss = _module(
    "GeneralizedCrossEntropyLoss",
    L.generalized_cross_entropy,
    "Module form of :func:`losslab.generalized_cross_entropy` (``q=``; noisy labels).",
)
LogLoss = _module("LogLoss", L.log_loss, "Module form of :func:`losslab.log_loss`.")
BrierScore = _module("BrierScore", L.brier_score, "Module form of :func:`losslab.brier_score`.")
KLDivergence = _module("KLDivergence", L.kl_divergence, "Module form of :func:`losslab.kl_divergence` (``p`` first).")
DistillationLoss = _module(
    "DistillationLoss", L.distillation_loss, "Module form of :func:`losslab.distillation_loss` (student, teacher)."
)
