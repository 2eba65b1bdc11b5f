"""``torch.nn.Module`` losses: drop-in replacements for ``torch.nn``'s, and modules for losslab's own losses.

Where ``torch.nn`` has the loss (``MSELoss``, ``L1Loss``, ``HuberLoss``, ``SmoothL1Loss``,
``GaussianNLLLoss``, ``PoissonNLLLoss``, ``BCELoss``, ``BCEWithLogitsLoss``, ``CrossEntropyLoss``,
``NLLLoss``, ``MultiMarginLoss``, ``KLDivLoss``; in :mod:`losslab.torch.shared`) the constructor takes
torch's arguments with torch's meaning and defaults (less the deprecated ``size_average`` and
``reduce``), ``forward`` takes torch's inputs, and tensor options are buffers under torch's names, so
``state_dict`` loads strictly either way. Each class says where its numbers differ from torch's.
losslab's own losses are in :mod:`losslab.torch.own`; their options keep their losslab names, and
the class-index ones (``FocalLoss``, ``Poly1CrossEntropyLoss``, ``MulticlassHingeLoss``) take
``CrossEntropyLoss``'s conventions (classes on axis 1, ``weight``, ``ignore_index=-100``).
Per-sample weights are ``forward(..., sample_weight=w)`` (losslab's ``weight=``: shape of the loss,
or ``(n,)`` one per sample; ``"mean"`` divides by their sum).
``forward`` is one call into the losslab function, adding no control flow on tensor values.

>>> import torch
>>> from losslab.torch import CrossEntropyLoss
>>> loss = CrossEntropyLoss(label_smoothing=0.1)
>>> round(float(loss(torch.zeros(2, 3), torch.tensor([0, -100]))), 4)  # -100: ignored, as in torch
1.0986
"""

from __future__ import annotations

from .own import (
    BrierScore,
    DistillationLoss,
    FocalLoss,
    GeneralizedCrossEntropyLoss,
    HingeLoss,
    KLDivergence,
    LaplaceNLLLoss,
    LogCoshLoss,
    LogLoss,
    MulticlassHingeLoss,
    PinballLoss,
    Poly1CrossEntropyLoss,
    SigmoidFocalLoss,
    SquaredHingeLoss,
)
from .own import LinearCrossEntropyLoss as LinearCrossEntropyLoss  # not in __all__ until the module tests cover it
from .shared import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    MultiMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
)

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "BrierScore",
    "CrossEntropyLoss",
    "DistillationLoss",
    "FocalLoss",
    "GaussianNLLLoss",
    "GeneralizedCrossEntropyLoss",
    "HingeLoss",
    "HuberLoss",
    "KLDivLoss",
    "KLDivergence",
    "L1Loss",
    "LaplaceNLLLoss",
    "LogCoshLoss",
    "LogLoss",
    "MSELoss",
    "MultiMarginLoss",
    "MulticlassHingeLoss",
    "NLLLoss",
    "PinballLoss",
    "PoissonNLLLoss",
    "Poly1CrossEntropyLoss",
    "SigmoidFocalLoss",
    "SmoothL1Loss",
    "SquaredHingeLoss",
]
