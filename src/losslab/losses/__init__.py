"""The losses, grouped by kind; each module keeps every loss beside its gradient."""

from .binary import binary_cross_entropy, binary_cross_entropy_with_logits
from .categorical import cross_entropy, smooth_labels
from .information import (
    Decomposition,
    cross_entropy_decomposition,
    distillation_loss,
    entropy,
    kl_divergence,
)
from .nll import gaussian_nll, laplace_nll, poisson_nll
from .regression import huber, mae, mse, pinball, rmse
from .robust_categorical import generalized_cross_entropy
from .scoring import brier_score, log_loss

__all__ = [
    "Decomposition",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "brier_score",
    "cross_entropy",
    "cross_entropy_decomposition",
    "distillation_loss",
    "entropy",
    "gaussian_nll",
    "generalized_cross_entropy",
    "huber",
    "kl_divergence",
    "laplace_nll",
    "log_loss",
    "mae",
    "mse",
    "pinball",
    "poisson_nll",
    "rmse",
    "smooth_labels",
]
