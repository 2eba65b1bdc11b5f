"""Every loss with its formula, gradient, likelihood and property tags.

The registry drives ``losslab losses`` and the parametrised invariance tests:
a property stated here is a property tested for every loss that carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import grad as G
from . import losses as L

__all__ = ["LOSSES", "LossSpec", "get"]

# Property tags:
#   elementwise      per-element loss of (pred, target) of the same shape
#   weighted         accepts weight= (every loss here except the decomposition)
#   reducible        accepts reduction= (rmse is always reduced)
#   nonnegative      l >= 0 everywhere
#   zero_at_target   l(t, t) = 0, the target written in the prediction's space (0/1 labels for
#                    binary losses, one-hot rows for class indices)
#   target_kind      what the second argument is: "real", "binary" (0/1 labels), "class" (integer
#                    indices), "probs" (probability rows), "log-probs" (log-probability rows),
#                    "counts", "logits" (the teacher's), or "none" (a loss of one distribution: the entropy)
#   input_space      what the first argument is: "real", "logits" (also the real-valued scores of the
#                    margin losses: a score is a logit's stand-in, its minimiser at +-inf),
#                    "probabilities", "log-probabilities" (log-softmax rows), "log-rate"


@dataclass(frozen=True)
class LossSpec:
    name: str
    fn: Callable[..., Any]
    grad: Callable[..., Any] | None
    kind: str
    input_space: str
    target_kind: str
    formula: str
    grad_formula: str
    likelihood: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)
    options: dict[str, Any] = field(default_factory=dict)  # non-default options worth testing

    def has(self, tag: str) -> bool:
        return tag in self.tags


def _spec(name, kind, space, target, formula, grad_formula, likelihood="", tags=(), options=None):
    return LossSpec(
        name=name,
        fn=getattr(L, name),
        grad=getattr(G, name, None),
        kind=kind,
        input_space=space,
        target_kind=target,
        formula=formula,
        grad_formula=grad_formula,
        likelihood=likelihood,
        tags=frozenset(tags) | {"weighted"},
        options=options or {},
    )


_EW = ("elementwise", "reducible", "nonnegative")

LOSSES: dict[str, LossSpec] = {
    s.name: s
    for s in [
        _spec("mse", "regression", "real", "real", "(p - t)^2", "2 (p - t)", "Gaussian", (*_EW, "zero_at_target")),
        _spec("mae", "regression", "real", "real", "|p - t|", "sign(p - t)", "Laplace", (*_EW, "zero_at_target")),
        _spec(
            "rmse",
            "regression",
            "real",
            "real",
            "sqrt(mean (p - t)^2)",
            "(p - t) / (n rmse)",
            "",
            ("nonnegative", "zero_at_target"),
        ),
        _spec(
            "huber",
            "regression",
            "real",
            "real",
            "r^2/2 if |r| <= d else d (|r| - d/2)",
            "clip(p - t, -d, d)",
            "",
            (*_EW, "zero_at_target"),
            {"delta": 0.7},
        ),
        _spec(
            "pinball",
            "regression",
            "real",
            "real",
            "max(q (t - p), (q - 1)(t - p))",
            "-q if t > p else 1 - q",
            "asymmetric Laplace",
            (*_EW, "zero_at_target"),
            {"quantile": 0.3},
        ),
        _spec(
            "log_cosh",
            "regression",
            "real",
            "real",
            "log cosh(p - t)",
            "tanh(p - t)",
            "",
            (*_EW, "zero_at_target"),
        ),
        _spec(
            "smooth_l1",
            "regression",
            "real",
            "real",
            "r^2/(2 b) if |r| < b else |r| - b/2",
            "clip(p - t, -b, b) / b",
            "",
            (*_EW, "zero_at_target"),
            {"beta": 0.5},
        ),
        _spec(
            "gaussian_nll",
            "likelihood",
            "real",
            "real",
            "(log v + (t - m)^2 / v) / 2",
            "(m - t) / v",
            "Gaussian",
            ("elementwise", "reducible"),
            {"var": 0.5},
        ),
        _spec(
            "laplace_nll",
            "likelihood",
            "real",
            "real",
            "log b + |t - m| / b",
            "sign(m - t) / b",
            "Laplace",
            ("elementwise", "reducible"),
            {"scale": 2.0},
        ),
        _spec(
            "poisson_nll",
            "likelihood",
            "log-rate",
            "counts",
            "exp(eta) - t eta",
            "exp(eta) - t",
            "Poisson",
            ("elementwise", "reducible"),
        ),
        _spec(
            "binary_cross_entropy",
            "binary",
            "probabilities",
            "binary",
            "-(t log p + (1 - t) log(1 - p))",
            "-t/p + (1 - t)/(1 - p)",
            "Bernoulli",
            (*_EW, "zero_at_target"),
        ),
        _spec(
            "binary_cross_entropy_with_logits",
            "binary",
            "logits",
            "binary",
            "t softplus(-z) + (1 - t) softplus(z)",
            "sigmoid(z) - t",
            "Bernoulli",
            _EW,
            {"label_smoothing": 0.1},
        ),
        _spec(
            "sigmoid_focal_loss",
            "binary",
            "logits",
            "binary",
            "a_t (1 - p_t)^g (t softplus(-z) + (1 - t) softplus(z))",
            "a_t (1 - p_t)^g (g ce dlog(1 - p_t)/dz + sigmoid(z) - t)",
            "",
            _EW,
            {"gamma": 1.5, "alpha": 0.4},
        ),
        _spec(
            "hinge",
            "binary",
            "logits",
            "binary",
            "max(0, 1 - y s), y = 2t - 1",
            "-y if y s < 1 else 0",
            "",
            _EW,
        ),
        _spec(
            "squared_hinge",
            "binary",
            "logits",
            "binary",
            "max(0, 1 - y s)^2, y = 2t - 1",
            "-2 y max(0, 1 - y s)",
            "",
            _EW,
        ),
        _spec(
            "cross_entropy",
            "categorical",
            "logits",
            "class",
            "logsumexp(z) - z_y",
            "softmax(z) - onehot(y)",
            "Categorical",
            ("reducible", "nonnegative"),
            {"label_smoothing": 0.1},
        ),
        _spec(
            "generalized_cross_entropy",
            "categorical",
            "logits",
            "class",
            "(1 - softmax(z)_y^q) / q",
            "softmax(z)_y^q (softmax(z) - onehot(y))",
            "",
            ("reducible", "nonnegative"),
            {"q": 0.3},
        ),
        _spec(
            "focal_loss",
            "categorical",
            "logits",
            "class",
            "-(1 - softmax(z)_y)^g log softmax(z)_y",
            "(1 - p_y)^g (1 - g p_y log(p_y) / (1 - p_y)) (softmax(z) - onehot(y))",
            "",
            ("reducible", "nonnegative"),
            {"gamma": 0.5},
        ),
        _spec(
            "poly1_cross_entropy",
            "categorical",
            "logits",
            "class",
            "logsumexp(z) - z_y + e (1 - softmax(z)_y)",
            "(1 + e p_y) (softmax(z) - onehot(y))",
            "",
            ("reducible", "nonnegative"),
            {"epsilon": 2.0},
        ),
        _spec(
            "multiclass_hinge",
            "categorical",
            "logits",
            "class",
            "max(0, max_{k != y} (m + s_k - s_y))",
            "onehot(argmax) - onehot(y)",
            "",
            ("reducible", "nonnegative"),
            {"margin": 0.5},
        ),
        _spec(
            "nll_loss",
            "categorical",
            "log-probabilities",
            "class",
            "-lp_y",
            "-onehot(y)",
            "Categorical",
            ("reducible", "nonnegative", "zero_at_target"),
        ),
        _spec(
            "log_loss",
            "categorical",
            "probabilities",
            "class",
            "-log p_y",
            "-1/p_y at y",
            "Categorical",
            ("reducible", "nonnegative", "zero_at_target"),
        ),
        _spec(
            "brier_score",
            "categorical",
            "probabilities",
            "class",
            "sum_c (p_c - [y = c])^2",
            "2 (p - onehot(y))",
            "",
            ("reducible", "nonnegative", "zero_at_target"),
        ),
        _spec(
            "entropy",
            "information",
            "probabilities",
            "none",
            "-sum_c p_c log p_c",
            "-(log p + 1)",
            "",
            ("reducible", "nonnegative"),
        ),
        _spec(
            "kl_divergence",
            "information",
            "probabilities",
            "probs",
            "sum_c p_c log(p_c / q_c)",
            "log p - log q + 1",
            "",
            ("reducible", "nonnegative", "zero_at_target"),
        ),
        _spec(
            "kl_divergence_log",
            "information",
            "log-probabilities",
            "log-probs",
            "sum_c exp(lp_c) (lp_c - lq_c)",
            "exp(lp) (lp - lq + 1)",
            "",
            ("reducible", "nonnegative", "zero_at_target"),
        ),
        _spec(
            "distillation_loss",
            "information",
            "logits",
            "logits",
            "T^2 KL(softmax(t/T) || softmax(s/T))",
            "T (softmax(s/T) - softmax(t/T))",
            "Categorical",
            ("reducible", "nonnegative", "zero_at_target"),
            {"temperature": 3.0},
        ),
    ]
}


def get(name: str) -> LossSpec:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(sorted(LOSSES))}") from None
