"""losslab: mean squared error, cross-entropy and their relatives, as likelihoods.

Every loss takes the prediction first and the target second, then
keyword-only options, including ``reduction`` ("mean", "sum", "none") and
per-sample ``weight``. Its closed-form gradient is ``losslab.grad.<name>``.
The same code runs on NumPy, PyTorch and JAX arrays (the Python array API).
"""

from . import grad, likelihoods, registry
from ._checks import get_value_checks, set_value_checks, value_checks
from .losses import (
    Decomposition,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    brier_score,
    cross_entropy,
    cross_entropy_and_grad,
    cross_entropy_decomposition,
    distillation_loss,
    entropy,
    focal_loss,
    gaussian_nll,
    generalized_cross_entropy,
    hinge,
    huber,
    kl_divergence,
    kl_divergence_log,
    laplace_nll,
    linear_cross_entropy,
    linear_cross_entropy_and_grad,
    log_cosh,
    log_loss,
    mae,
    mse,
    multiclass_hinge,
    nll_loss,
    pinball,
    poisson_nll,
    poly1_cross_entropy,
    rmse,
    sigmoid_focal_loss,
    smooth_l1,
    smooth_labels,
    squared_hinge,
)

__version__ = "0.1.0"

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
    "get_value_checks",
    "grad",
    "hinge",
    "huber",
    "kl_divergence",
    "kl_divergence_log",
    "laplace_nll",
    "likelihoods",
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
    "registry",
    "rmse",
    "set_value_checks",
    "sigmoid_focal_loss",
    "smooth_l1",
    "smooth_labels",
    "squared_hinge",
    "value_checks",
]
