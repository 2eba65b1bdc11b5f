"""The fused cross-entropy kernel on CPU torch tensors, inside autograd.

``losslab.cross_entropy`` on a large CPU tensor that needs a gradient runs
the kernel (:mod:`.fused_ce`) once in the forward pass: the loss and the
gradient come from one read of the logits, the gradient is kept on the
autograd node and handed to the first backward (scaled by the incoming
gradient in place). Where nothing else can see the logits (a temporary that
autograd has not saved: ``cross_entropy(head(x), y)``), the gradient is
written into the logits' own buffer, as Liger-Kernel does, so the loss costs
no memory beyond its input; a logit tensor that the caller holds, a view, a
leaf or one saved by its producer (``exp``) gets a fresh buffer instead.

What this path does not do, it hands back (None) to the generic and
torch-kernel paths: graphs being compiled, exported or transformed, tensor
subclasses, half precision other than bfloat16, non-contiguous or class-axis
-not-last layouts, traced options, inputs below ``MIN_NUMEL`` elements (where
torch's own kernel is as fast), and any value the kernel flags (the generic
path then raises its error). Its one limit: the saved gradient is given away
to the first backward, so a second backward through the same loss
(``retain_graph=True``) is an error; ``losslab.kernels.torch_ce.enabled(False)``
switches the path off.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .._checks import _torch_graph_active
from ..losses import fused
from . import fused_ce

__all__ = ["MIN_NUMEL", "cross_entropy", "enabled", "value_and_grad"]

#: Below this many logits torch's own fused kernel (one call, no conversion) is as fast.
MIN_NUMEL = 1 << 16
_KINDS = (torch.float32, torch.float64, torch.bfloat16)
_PLAIN = (torch.Tensor, torch.nn.Parameter)
_on = True


@contextlib.contextmanager
def enabled(flag: bool) -> Iterator[None]:
    """Switch the fused CPU path on or off inside a ``with`` block (it is on by default)."""
    global _on
    before, _on = _on, bool(flag)
    try:
        yield
    finally:
        _on = before


def _np(t: torch.Tensor | None) -> Any:
    """A NumPy view of a CPU tensor (bfloat16 as its int16 bits), or the object itself when not a tensor."""
    if not isinstance(t, torch.Tensor):
        return t
    t = t.detach()
    return t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()


def _cpu(*ts: Any) -> bool:
    return all(t is None or (isinstance(t, torch.Tensor) and t.device.type == "cpu" and type(t) in _PLAIN) for t in ts)


def _plan(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight):
    if not (_on and fused_ce.AVAILABLE and type(logits) in _PLAIN and logits.dtype in _KINDS):
        return None
    if logits.device.type != "cpu" or not logits.is_contiguous() or not _cpu(target, class_weight, weight):
        return None
    if target.is_floating_point() and target.dtype == torch.bfloat16:
        return None
    return fused.plan(
        _np(logits), _np(target), axis, _np(class_weight), ignore_index, label_smoothing, reduction, _np(weight),
        bf16=logits.dtype == torch.bfloat16,
    )  # fmt: skip


def _threads() -> int:
    return max(1, torch.get_num_threads())


def _loss(p: fused.Plan, rows: np.ndarray, reduction: str, dtype: torch.dtype) -> torch.Tensor:
    value = fused.reduce_rows(p, rows, reduction)
    if reduction == "none":
        return torch.from_numpy(value).to(dtype)
    return torch.tensor(value, dtype=torch.float64 if dtype == torch.float64 else torch.float32)


def value_and_grad(
    logits: Any, target: Any, axis: Any, class_weight: Any, ignore_index: Any, label_smoothing: Any, reduction: str,
    weight: Any, out: Any,
) -> tuple[torch.Tensor, torch.Tensor] | None:  # fmt: skip
    """``cross_entropy_and_grad`` on CPU tensors (outside autograd), or None."""
    if _torch_graph_active(torch):
        return None
    p = _plan(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight)
    if p is None:
        return None
    g = torch.empty_like(logits, requires_grad=False) if out is None else out
    rows = fused.run(p, _np(g).reshape(p.z.shape), _threads())
    if rows is None:
        return None
    return _loss(p, rows, reduction, logits.dtype), g


class _Flagged(Exception):
    """The kernel flagged a value: the generic path reruns the call and names it."""


class _FusedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, p: fused.Plan, reduction: str, inplace: bool) -> torch.Tensor:
        g = logits if inplace else torch.empty_like(logits)
        rows = fused.run(p, _np(g).reshape(p.z.shape), _threads())
        if rows is None:
            raise _Flagged
        ctx.grad, ctx.reduction = g, reduction
        return _loss(p, rows, reduction, logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        g = ctx.grad
        if g is None:
            raise RuntimeError(
                "losslab.cross_entropy's fused CPU path gave its saved gradient to the first backward; a second "
                "backward through the same loss (retain_graph=True) needs the path off: wrap the forward in "
                "`with losslab.kernels.torch_ce.enabled(False):`"
            )
        ctx.grad = None  # given away: autograd may keep it as .grad without a copy
        if ctx.reduction == "none":
            g.mul_(go.to(g.dtype).unsqueeze(-1))
        elif go.ndim != 0 or bool(go != 1):
            g.mul_(go.to(g.dtype))
        return g, None, None, None


def _private(logits: torch.Tensor) -> bool:
    """Whether no other tensor shares the logits' memory (no view, no copy saved by autograd).

    The storage object made here holds one reference; the tensor holds the other.
    """
    return torch._C._storage_Use_Count(logits.untyped_storage()._cdata) == 2


def cross_entropy(
    logits: Any, target: Any, axis: Any, class_weight: Any, ignore_index: Any, label_smoothing: Any, reduction: str,
    weight: Any, temporary: bool,
) -> torch.Tensor | None:  # fmt: skip
    """``losslab.cross_entropy`` through the fused kernel, or None (see the module docstring).

    ``temporary``: the caller found no Python reference to ``logits`` but its own (a temporary).
    """
    if type(logits) not in _PLAIN or logits.numel() < MIN_NUMEL or _torch_graph_active(torch):
        return None
    train = logits.requires_grad and torch.is_grad_enabled()
    # Before the plan, whose NumPy view of the logits shares their memory too.
    inplace = train and temporary and logits.grad_fn is not None and _private(logits)
    p = _plan(logits, target, axis, class_weight, ignore_index, label_smoothing, reduction, weight)
    if p is None:
        return None
    if not train:
        rows = fused.run(p, None, _threads())  # the value alone: one read, no write
        return None if rows is None else _loss(p, rows, reduction, logits.dtype)
    try:
        return _FusedCrossEntropy.apply(logits, p, reduction, inplace)
    except _Flagged:
        return None


#: References a temporary argument holds in a callee's frame (measured, as it differs across Python versions).
def _probe(x: object) -> int:
    return sys.getrefcount(x)


TEMPORARY_REFS = _probe(object())
