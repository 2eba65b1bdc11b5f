"""Closed-form gradients: ``losslab.grad.<loss>(...)`` takes the loss's own arguments.

Each returns the gradient of the (reduced) loss with respect to the loss's
first argument, with the first argument's shape and dtype. For
``reduction="none"`` it is the gradient of the sum of the returned
per-element losses. Every one is written next to its loss, in
``losslab.losses.<kind>``; this module only gives them their short names.
"""

from .losses.binary import binary_cross_entropy_grad as binary_cross_entropy
from .losses.binary import binary_cross_entropy_with_logits_grad as binary_cross_entropy_with_logits
from .losses.categorical import cross_entropy_grad as cross_entropy
from .losses.focal import focal_loss_grad as focal_loss
from .losses.focal import sigmoid_focal_loss_grad as sigmoid_focal_loss
from .losses.information import distillation_loss_grad as distillation_loss
from .losses.information import entropy_grad as entropy
from .losses.information import kl_divergence_grad as kl_divergence
from .losses.log_probs import kl_divergence_log_grad as kl_divergence_log
from .losses.log_probs import nll_loss_grad as nll_loss
from .losses.margin import hinge_grad as hinge
from .losses.margin import multiclass_hinge_grad as multiclass_hinge
from .losses.margin import squared_hinge_grad as squared_hinge
from .losses.nll import gaussian_nll_grad as gaussian_nll
from .losses.nll import laplace_nll_grad as laplace_nll
from .losses.nll import poisson_nll_grad as poisson_nll
from .losses.poly import poly1_cross_entropy_grad as poly1_cross_entropy
from .losses.regression import huber_grad as huber
from .losses.regression import mae_grad as mae
from .losses.regression import mse_grad as mse
from .losses.regression import pinball_grad as pinball
from .losses.regression import rmse_grad as rmse
from .losses.robust_categorical import generalized_cross_entropy_grad as generalized_cross_entropy
from .losses.scoring import brier_score_grad as brier_score
from .losses.scoring import log_loss_grad as log_loss
from .losses.smooth_regression import log_cosh_grad as log_cosh
from .losses.smooth_regression import smooth_l1_grad as smooth_l1

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "brier_score",
    "cross_entropy",
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
    "squared_hinge",
]
