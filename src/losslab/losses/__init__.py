"""The losses, grouped by kind; each module keeps every loss beside its gradient."""

from .binary import binary_cross_entropy, binary_cross_entropy_with_logits
from .categorical import cross_entropy, smooth_labels
from .focal import focal_loss, sigmoid_focal_loss
from .fused import cross_entropy_and_grad
from .information import (
    Decomposition,
    cross_entropy_decomposition,
    distillation_loss,
    entropy,
    kl_divergence,
)
from .linear import linear_cross_entropy, linear_cross_entropy_and_grad
from .log_probs import kl_divergence_log, nll_loss
from .margin import hinge, multiclass_hinge, squared_hinge
from .nll import gaussian_nll, laplace_nll, poisson_nll
from .poly import poly1_cross_entropy
from .regression import huber, mae, mse, pinball, rmse
from .robust_categorical import generalized_cross_entropy
from .scoring import brier_score, log_loss
from .smooth_regression import log_cosh, smooth_l1

__all__ = [
    "Decomposition",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "brier_score",
    "cross_entropy",
    "cross_entropy_and_grad",
    "cross_entropy_decomposition",
    "distillation_loss",
    "entropy",
    "focal_loss",
    "gaussian_nll",
    "generalized_cross_entropy",
    "hinge",
    "huber",
    "kl_divergence",
    "kl_divergence_log",
    "laplace_nll",
    "linear_cross_entropy",
    "linear_cross_entropy_and_grad",
    "log_cosh",
    "log_loss",
    "mae",
    "mse",
    "multiclass_hinge",
    "nll_loss",
    "pinball",
    "poisson_nll",
    "poly1_cross_entropy",
    "rmse",
    "sigmoid_focal_loss",
    "smooth_l1",
    "smooth_labels",
    "squared_hinge",
]
