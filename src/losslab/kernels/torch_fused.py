"""torch's fused kernels behind losslab's checks, for the losses torch computes by the same formula.

On torch tensors, ``cross_entropy`` (class indices), ``mse`` and
``binary_cross_entropy_with_logits`` hand the arithmetic to
``torch.nn.functional``'s kernel for the identical formula: one autograd
node where the array-API composition records four to six, which is what a
small training step pays for (BENCHMARKS.md, per-call cost). Each function
here returns None, having computed nothing, unless it can give exactly the
generic path's answer; the generic path (``losses/``) then runs. So the
checks and messages stay losslab's:

* shapes, dtypes and options are checked by the generic path: anything
  unusual (a per-sample ``weight``, probability targets, int32 labels, a
  traced option, an empty input) goes there;
* value checks run where :func:`losslab._checks.readable` allows (eager,
  CPU), with one ``aminmax`` for the labels;
* a result that is not finite is handed back (None), and the generic path
  recomputes it to name the culprit or to return the infinity the
  mathematics gives.

The numerics are the same: log-softmax (no ``log(softmax)``) and log-sigmoid
forms, float32 accumulation for half precision (inputs are upcast first, so
reduced losses come back in float32, also under autocast, whose float32
list holds all three kernels). One deliberate addition: ignored targets'
logits are zeroed before the kernel, so that a row of -inf or NaN there
gets gradient exactly 0 (torch's own gives NaN).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._checks import _torch_graph_active
from .._checks import torch_readable as readable

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "mse"]

_FLOATS = (torch.float32, torch.float64)
_HALF = (torch.float16, torch.bfloat16)
# torch's reduction codes (torch.nn._reduction.get_enum), to call the kernels without F's wrappers.
_ENUM = {"none": 0, "mean": 1, "sum": 2}


def graph_active() -> bool:
    """Whether torch is building a graph (compile, export, jit trace, torch.func): no kernel of ours runs then."""
    return _torch_graph_active(torch)


def _compute(x: torch.Tensor) -> torch.Tensor | None:
    """``x`` in its compute dtype (half precision upcast to float32), or None for non-floating input."""
    if x.dtype in _FLOATS:
        return x
    if x.dtype in _HALF:
        return x.float()
    return None


def _finite(out: torch.Tensor, check: bool) -> bool:
    """False only when the result is checked (``check``: its inputs were readable) and not finite."""
    if not check:
        return True
    if out.ndim == 0:
        return math.isfinite(out.item())  # 0.5 us; isfinite().all() costs 10 us on a small tensor
    return bool(torch.isfinite(out).all())


def _out(out: torch.Tensor, reduction: str, dtype: torch.dtype) -> torch.Tensor:
    return out.to(dtype) if reduction == "none" and out.dtype != dtype else out


def cross_entropy(
    logits: Any, target: Any, axis: int, class_weight: Any, ignore_index: Any, label_smoothing: Any, reduction: str,
    weight: Any,
) -> torch.Tensor | None:  # fmt: skip
    """``losslab.cross_entropy`` with class-index targets, or None (see the module docstring)."""
    # Every test is a cheap Python one on the common path: this runs in every training step.
    if weight is not None or type(label_smoothing) not in (float, int) or not 0 <= label_smoothing <= 1:
        return None
    if not (isinstance(logits, torch.Tensor) and isinstance(target, torch.Tensor)) or target.dtype != torch.int64:
        return None
    enum = _ENUM.get(reduction)
    z = _compute(logits)
    nd = logits.ndim
    if enum is None or z is None or nd == 0 or type(axis) is not int or not -nd <= axis < nd:
        return None
    axis %= nd
    shape = logits.shape
    C = shape[axis]
    if C == 0 or target.shape != shape[:axis] + shape[axis + 1 :] or target.numel() == 0:
        return None
    cw = class_weight
    if cw is not None:
        if label_smoothing and torch._C._functorch.peek_interpreter_stack() is not None:
            return None  # torch's smoothed, class-weighted kernel uses masked_select, which vmap refuses
        if not isinstance(cw, torch.Tensor) or cw.shape != (C,) or not cw.is_floating_point():
            return None
        cw = cw.to(z.dtype)
        if readable(cw) and not bool(((cw >= 0) & (cw < math.inf)).all()):
            return None
    if ignore_index is not None and type(ignore_index) is not int:
        return None
    check = readable(target)
    if check:
        bounds = torch.aminmax(target)
        lo, hi = bounds.min.item(), bounds.max.item()
        if not (lo >= 0 and hi < C):
            if ignore_index is None:
                return None  # the generic path names the label
            if bool((((target < 0) | (target >= C)) & (target != ignore_index)).any()):
                return None
        elif ignore_index is not None and not lo <= ignore_index <= hi:
            ignore_index = None  # nothing to ignore (torch's -100 default): the plain kernel
    if ignore_index is not None:
        ignored = target == ignore_index
        if check and enum == 1 and bool(ignored.all()):
            return None  # every target ignored under "mean": the generic path's error (torch returns NaN)
        z = torch.where(ignored.unsqueeze(axis), torch.zeros((), dtype=z.dtype, device=z.device), z)
    class_axis = 1 if nd > 1 else 0
    if axis != class_axis:
        z = z.movedim(axis, class_axis)
    ii = -100 if ignore_index is None else ignore_index
    # torch's stub types the reduction as str; the binding takes the int enum (a str is a TypeError).
    out = torch._C._nn.cross_entropy_loss(z, target, cw, enum, ii, float(label_smoothing))  # type: ignore[arg-type]
    if not _finite(out, check):  # also a zero total class weight under "mean" (torch's NaN): the generic error
        return None
    return _out(out, reduction, logits.dtype)


def mse(pred: Any, target: Any, reduction: str, weight: Any) -> torch.Tensor | None:
    """``losslab.mse``, or None (see the module docstring)."""
    if weight is not None or not (isinstance(pred, torch.Tensor) and isinstance(target, torch.Tensor)):
        return None
    enum = _ENUM.get(reduction)
    p = _compute(pred)
    if enum is None or p is None or pred.shape != target.shape or pred.numel() == 0 or target.is_complex():
        return None
    out = torch._C._nn.mse_loss(p, target.to(p.dtype), enum)  # type: ignore[arg-type]  # int enum, as above
    return _out(out, reduction, pred.dtype) if _finite(out, readable(pred)) else None


def binary_cross_entropy_with_logits(
    logits: Any, target: Any, pos_weight: Any, label_smoothing: Any, reduction: str, weight: Any
) -> torch.Tensor | None:
    """``losslab.binary_cross_entropy_with_logits``, or None (see the module docstring)."""
    if weight is not None or type(label_smoothing) not in (float, int) or not 0 <= label_smoothing <= 1:
        return None
    if not (isinstance(logits, torch.Tensor) and isinstance(target, torch.Tensor)):
        return None
    enum = _ENUM.get(reduction)
    z = _compute(logits)
    if enum is None or z is None or logits.shape != target.shape or logits.numel() == 0 or target.is_complex():
        return None
    t = target if target.dtype == z.dtype else target.to(z.dtype)
    pw = pos_weight
    if pw is not None:
        if not isinstance(pw, torch.Tensor) or pw.shape not in ((), logits.shape[-1:], logits.shape):
            return None
        pw = pw.to(z.dtype)
        if readable(pw) and not bool(((pw > 0) & (pw < math.inf)).all()):
            return None
    check = readable(t)
    if check:
        lo, hi = torch.aminmax(t)
        if not (lo.item() >= 0.0 and hi.item() <= 1.0):  # NaN fails both
            return None
    if label_smoothing:
        t = (1.0 - label_smoothing) * t + 0.5 * label_smoothing
    out = torch.binary_cross_entropy_with_logits(z, t, None, pw, enum)
    return _out(out, reduction, logits.dtype) if _finite(out, check) else None
