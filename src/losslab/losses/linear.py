"""Cross-entropy of a linear layer's logits without forming them: ``linear_cross_entropy``.

For a language-model head the logits ``hidden @ weight.T + bias`` are ``N x V`` (4096 tokens x
32000 classes: 500 MiB in float32, and as much again for their gradient), while everything the
loss and its gradients need is ``O(N + V)`` per row chunk. The rows are swept in chunks (see
:mod:`._linear_chunks`): each chunk's logits, log-sum-exp, losses and gradient rows live in one
buffer, and the gradients w.r.t. ``hidden``, ``weight`` and ``bias`` accumulate by matrix products.
The checks, options and reduction are those of :func:`losslab.cross_entropy`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from .._array import _library, as_arrays, compute_dtype, is_concrete, numel, prod, quiet
from .._checks import traced_check, wants_traced
from .._kinds import is_numpy, is_torch
from .._options import as_float
from .._reduction import coefficients, is_scalar, prepare_weight, reduce
from .._types import Reduction
from .._validation import (
    check_closed_unit,
    check_int,
    check_range,
    check_reduction,
    check_row_sums,
    dtype_name,
    finalize,
    fmt,
    overflow_error,
    position,
    row_sum_tolerance,
    value_at,
)
from ._classes import _as_indices, _label_range
from ._linear_chunks import Plan, default_chunk_rows, diagnose, sweep

__all__ = ["linear_cross_entropy", "linear_cross_entropy_and_grad"]

_NAMES = ("hidden", "weight", "target", "bias", "class_weight", "sample_weight")


def _smoothing(value: Any) -> float:
    """``label_smoothing`` as a number (a 0-d array is read; one that requires grad is refused)."""
    if getattr(value, "requires_grad", False):
        raise TypeError(
            "`label_smoothing` requires grad, but linear_cross_entropy takes it as a number: pass "
            "float(label_smoothing), or learn it with losslab.cross_entropy on the logits"
        )
    if hasattr(value, "shape") and not isinstance(value, (float, int)):
        if tuple(value.shape) != ():
            raise ValueError(f"`label_smoothing` must be a number or a 0-d array; got shape {tuple(value.shape)}")
        value = as_float(value)
    return check_closed_unit("label_smoothing", value)


def _check_chunk_rows(value: Any) -> int | None:
    if value is None:
        return None
    v = check_int("chunk_rows", value)
    if v < 1:
        raise ValueError(f"`chunk_rows` must be a positive number of rows (or None for chunks of ~64 MiB); got {v}")
    return v


def _check_target(xp, t, batch, V, ignore_index, cdt, dtype):
    """``(target, valid, hard)``: class indices (raw, ``ignore_index`` kept) or probabilities in ``cdt``."""
    if xp.isdtype(t.dtype, ("integral", "bool")):
        if tuple(t.shape) != batch:
            raise ValueError(
                f"`target` of class indices must have shape {batch} (the shape of `hidden` without its "
                f"last axis); got {tuple(t.shape)}"
            )
        t = _as_indices(xp, t)
        valid = None if ignore_index is None else t != ignore_index
        concrete = is_concrete(t)
        if numel(t) and (concrete or wants_traced(t)):
            bad = (t < 0) | (t >= V)
            bad = bad if valid is None else bad & valid
            if not concrete:
                traced_check(xp, ~bad, _label_range("target", V, ignore_index))
            elif bool(xp.any(bad)):
                pos = position(xp, bad)
                raise ValueError(f"{_label_range('target', V, ignore_index)}; got {int(t[pos])} at index {fmt(pos)}")
        if valid is not None and concrete and numel(t) and bool(xp.all(valid)):
            valid = None
        return t, valid, True
    if not xp.isdtype(t.dtype, "real floating"):
        raise TypeError(f"`target` must hold class indices or probabilities; got dtype {t.dtype}")
    if tuple(t.shape) == batch:
        raise TypeError(
            f"`target` has a floating dtype ({t.dtype}) but the shape of class indices {batch}: cast it "
            f"to an integer dtype, or pass class probabilities of shape {(*batch, V)}"
        )
    if tuple(t.shape) != (*batch, V):
        raise ValueError(
            f"`target` must be class indices of shape {batch} or class probabilities of shape "
            f"{(*batch, V)}; got {tuple(t.shape)}"
        )
    if ignore_index is not None:
        raise ValueError(
            "`ignore_index` applies to integer class targets only; for probability targets "
            "give the rows to skip sample_weight 0"
        )
    check_range(xp, "target", t, 0.0, 1.0, what="class probabilities")
    t = xp.astype(t, cdt) if t.dtype != cdt else t
    check_row_sums(xp, "target", xp.sum(t, axis=-1), row_sum_tolerance(xp, dtype, V))
    return t, None, False


def _check_class_weight(xp, cw, V, cdt):
    if cw is None:
        return None
    if tuple(cw.shape) != (V,):
        raise ValueError(f"`class_weight` must have shape ({V},) (one per class); got {tuple(cw.shape)}")
    cw = xp.astype(cw, cdt)
    bad = ~((cw >= 0) & (cw < math.inf))
    if is_concrete(bad) and bool(xp.any(bad)):
        pos = position(xp, bad)
        raise ValueError(
            f"`class_weight` must be finite and non-negative; got {value_at(cw, pos)!r} at index {fmt(pos)}"
        )
    return cw


def _sample_coefficients(xp, sw, batch, reduction, t, valid, cw, hard, cdt):
    """The reduction's coefficients, as :func:`losslab.losses._classes._coefficients` forms them."""
    try:
        w = prepare_weight(xp, sw, batch, cdt)
    except (TypeError, ValueError) as e:  # its messages name cross_entropy's `weight`
        raise type(e)(str(e).replace("`weight`", "`sample_weight`")) from None
    mask = None if valid is None else xp.astype(valid, cdt)
    if mask is not None:
        w = mask if w is None else w * mask
    total = None
    if reduction == "mean" and cw is not None and hard:
        tc = t if valid is None else xp.where(valid, t, xp.zeros_like(t))
        wy = xp.reshape(xp.take(cw, xp.reshape(tc, (-1,)), axis=0), batch)
        total = wy if w is None else wy * w
    zero = "the summed class weights of the targets are 0" if cw is not None and hard else "the total weight is 0"
    if reduction == "mean" and mask is not None and is_concrete(mask) and not bool(xp.any(mask > 0)):
        zero = "every target is `ignore_index`"
    return coefficients(xp, batch, reduction, w, total=total, zero_total=zero)


def _prepare(hidden, weight, target, bias, class_weight, ignore_index, label_smoothing, reduction, sample_weight,
             chunk_rows):  # fmt: skip
    """``(xp, plan, c, inputs)``: the checked plan, the reduction's coefficients and the converted inputs."""
    check_reduction(reduction)
    alpha = _smoothing(label_smoothing)
    ignore_index = None if ignore_index is None else check_int("ignore_index", ignore_index)
    chunk = _check_chunk_rows(chunk_rows)
    args = hidden, weight, target, bias, class_weight, sample_weight
    xp, h, W, t, b, cw, sw = inputs = as_arrays(*args, names=_NAMES, required=3)
    if not (is_numpy(h) or is_torch(h)):
        raise TypeError(
            f"linear_cross_entropy runs on NumPy arrays and torch tensors; got a {_library(h)} array: for another "
            f"library use losslab.cross_entropy(hidden @ weight.T + bias, target)"
        )
    if is_torch(h):
        import torch

        for name, v in (("target", t), ("class_weight", cw), ("sample_weight", sw)):
            if v is not None and v.requires_grad and torch.is_grad_enabled():
                raise TypeError(
                    f"`{name}` requires grad, but linear_cross_entropy differentiates only `hidden`, `weight` and "
                    f"`bias`: pass `{name}.detach()`, or use losslab.cross_entropy on the logits"
                )
        h, W, b = (None if x is None else x.detach() for x in (h, W, b))
    for name, x in (("hidden", h), ("weight", W), ("bias", b)):
        if x is not None and not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"`{name}` must be a floating-point array; got dtype {x.dtype}")
        if x is not None and x.dtype != h.dtype:
            raise TypeError(
                f"`{name}` must have the dtype of `hidden` ({dtype_name(h.dtype)}); got {dtype_name(x.dtype)}: "
                f"cast one to the other"
            )
    if h.ndim == 0:
        raise ValueError("`hidden` must have a trailing feature axis, shape (..., H); got a 0-d array")
    H, batch = h.shape[-1], tuple(h.shape[:-1])
    if W.ndim != 2 or W.shape[1] != H:
        raise ValueError(
            f"`weight` must have shape (V, {H}) (classes x features, as torch.nn.Linear stores it) for `hidden` "
            f"of shape {tuple(h.shape)}; got {tuple(W.shape)}"
        )
    V = W.shape[0]
    if V == 0:
        raise ValueError("`weight` has 0 rows: the loss needs at least one class")
    if b is not None and tuple(b.shape) != (V,):
        raise ValueError(f"`bias` must have shape ({V},) (one per class, the rows of `weight`); got {tuple(b.shape)}")
    cdt = compute_dtype(xp, h.dtype)
    t, valid, hard = _check_target(xp, t, batch, V, ignore_index, cdt, h.dtype)
    cw = _check_class_weight(xp, cw, V, cdt)
    c = _sample_coefficients(xp, sw, batch, reduction, t, valid, cw, hard, cdt)
    N = prod(batch)
    h2, t2 = xp.reshape(h, (N, H)), xp.reshape(t, (N,) if hard else (N, V))
    if is_numpy(h):  # NumPy multiplies in the compute dtype (it has no fast half-precision products)
        h2, W, b = (None if x is None else np.ascontiguousarray(x, dtype=cdt) for x in (h2, W, b))
    itemsize = cdt.itemsize if is_torch(h) else np.dtype(cdt).itemsize
    chunk = default_chunk_rows(V, itemsize) if chunk is None else chunk
    ii = ignore_index if valid is not None else None
    plan = Plan(h2, W, b, t2, hard, cw, ii, alpha, cdt, h.dtype, batch, chunk)
    return xp, plan, c, inputs


def _rowc(xp, c: Any, P: Plan) -> Any:
    """The coefficients as one per row (a number or a 0-d array kept as it is)."""
    if c is None or is_scalar(c):
        return c
    return xp.reshape(xp.broadcast_to(c, P.batch), (P.n,))


def _finish(xp, P: Plan, loss_rows, c, reduction):
    """Check the row losses (naming the culprit) and reduce them as cross_entropy does."""
    loss_rows = finalize(xp, loss_rows, lambda: diagnose(xp, P, loss_rows))
    out = reduce(xp, xp.reshape(loss_rows, P.batch), c, reduction, P.out_dtype)
    return finalize(xp, out, lambda: overflow_error("cross-entropy", P.out_dtype))


@functools.cache
def _autograd_function() -> Any:
    """The ``torch.autograd.Function`` (defined on first use: torch is optional)."""
    import torch
    from torch.autograd.function import once_differentiable

    class LinearCrossEntropyFunction(torch.autograd.Function):
        """forward: one sweep computing the loss and the gradients of the inputs that need them (for
        ``reduction="none"`` the loss alone); backward: those gradients times ``grad_output``. For
        ``"none"`` (a per-row ``grad_output``), and a second backward of a retained graph, the sweep
        runs again with the rows' coefficients times ``grad_output``."""

        @staticmethod
        def forward(ctx, hidden, weight, bias, state):
            xp, P, c, reduction = state
            need = (False,) * 3 if reduction == "none" else tuple(ctx.needs_input_grad[:3])
            with quiet(xp):
                loss_rows, *grads = sweep(P, _rowc(xp, c, P), need)
            out = _finish(xp, P, loss_rows, c, reduction)
            ctx.state, ctx.grads, ctx.shape = state, (grads if any(need) else None), hidden.shape
            ctx.save_for_backward(hidden, weight, bias)
            return out

        @staticmethod
        @once_differentiable
        def backward(ctx, go):
            xp, P, c, reduction = ctx.state
            grads, ctx.grads = ctx.grads, None  # consumed in place: a second backward recomputes
            if grads is None:
                hidden, weight, bias = ctx.saved_tensors
                P = dataclasses.replace(P, hidden=hidden.detach().reshape(P.n, -1), weight=weight.detach(),
                                        bias=None if bias is None else bias.detach())  # fmt: skip
                rowc = _rowc(xp, c, P)
                if reduction == "none":
                    go = go.reshape(P.n).to(P.cdt)
                    rowc = go if rowc is None else rowc * go
                with quiet(xp):
                    _, *grads = sweep(P, rowc, tuple(ctx.needs_input_grad[:3]))
            if reduction != "none" and not (go.device.type == "cpu" and float(go) == 1.0):  # loss.backward()
                grads = [None if g is None else g.mul_(go) for g in grads]
            dH, dW, db = grads
            return (None if dH is None else dH.reshape(ctx.shape)), dW, db, None

    return LinearCrossEntropyFunction


def linear_cross_entropy(
    hidden: Any,
    weight: Any,
    target: Any,
    *,
    bias: Any = None,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: Any = None,
    chunk_rows: int | None = None,
) -> Any:
    r"""Cross-entropy of the logits of a linear layer, :math:`z = h W^\top + b`, never forming them.

    .. math:: l_i = \log\sum_c e^{z_{ic}} - \sum_c t_{ic} z_{ic}, \qquad z_i = W h_i + b

    The value of ``cross_entropy(hidden @ weight.T + bias, target, ...)`` with the same options
    and semantics, in memory ``O(chunk_rows x V)`` instead of ``O(N x V)``.

    Parameters
    ----------
    hidden : array (..., H), the rows (NumPy or torch; any torch device)
    weight : array (V, H), as ``torch.nn.Linear`` stores it; the dtype of ``hidden``
    target : class indices of ``hidden``'s batch shape ``(...)``, or class probabilities ``(..., V)``
    bias : array (V,), optional; ``-inf`` masks a class (allowed unless the target needs it)
    class_weight, ignore_index, label_smoothing, reduction
        As in :func:`losslab.cross_entropy` (the class-weighted mean divides by the targets' summed
        class weights; ignored targets cost 0 and leave the denominator; all ignored under
        ``"mean"`` is an error). ``label_smoothing`` is a number.
    sample_weight : array of the batch shape (or ``(n,)``), optional
        :func:`losslab.cross_entropy`'s per-sample ``weight`` (``weight`` is the layer's here).
    chunk_rows : int, optional
        Rows per chunk; default: as many as keep one chunk of logits under 64 MiB (524 rows of
        32000 float32 logits). Peak extra memory: the gradients and one chunk.

    On torch tensors the result is differentiable w.r.t. ``hidden``, ``weight`` and ``bias`` (a
    ``torch.autograd.Function``: the forward sweep computes the gradients too, the backward scales
    them; not twice differentiable). Products run in the inputs' dtype; half precision
    accumulates in float32, and the reduced loss is float32 then.

    Numerics: as :func:`losslab.cross_entropy`: log-sum-exp with the row maximum subtracted
    (logits of +/-1e4 are exact), errors naming the input and row where the loss is not finite.

    >>> import numpy as np
    >>> from losslab import cross_entropy
    >>> h, W = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> y = np.array([0, 1])
    >>> round(float(linear_cross_entropy(h, W, y)), 4), round(float(cross_entropy(h @ W.T, y)), 4)
    (0.3955, 0.3955)
    """
    xp, P, c, (_, h, W, _, b, _, _) = _prepare(
        hidden, weight, target, bias, class_weight, ignore_index, label_smoothing, reduction, sample_weight, chunk_rows
    )
    if is_torch(h):
        import torch

        if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in (h, W, b)):
            return _autograd_function().apply(h, W, b, (xp, P, c, reduction))
    with quiet(xp):
        loss_rows, *_ = sweep(P, None, (False, False, False))
    return _finish(xp, P, loss_rows, c, reduction)


def linear_cross_entropy_and_grad(
    hidden: Any,
    weight: Any,
    target: Any,
    *,
    bias: Any = None,
    class_weight: Any = None,
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: Any = None,
    chunk_rows: int | None = None,
) -> tuple[Any, tuple[Any, Any, Any]]:
    r""":func:`linear_cross_entropy` and its gradients, in one sweep: ``(loss, (d_hidden, d_weight, d_bias))``.

    .. math:: G = c \odot (\mathrm{softmax}(z) \textstyle\sum_c w_c t'_c - w \odot t'), \quad
              \partial h = G W, \quad \partial W = G^\top h, \quad \partial b = \textstyle\sum_i G_i

    ``G`` never exists whole: chunk by chunk (``c``: the reduction's per-row coefficients, ``t'``
    the smoothed target). ``d_bias`` is None without a bias; for ``reduction="none"`` the
    gradients are those of the sum of the returned losses. NumPy arrays or torch tensors
    (no autograd); the gradients have the inputs' dtype.

    >>> import numpy as np
    >>> loss, (dh, dW, db) = linear_cross_entropy_and_grad(np.zeros((1, 2)), np.ones((2, 2)), np.array([0]))
    >>> round(float(loss), 4), dh.tolist(), dW.tolist(), db
    (0.6931, [[0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], None)
    """
    xp, P, c, inputs = _prepare(
        hidden, weight, target, bias, class_weight, ignore_index, label_smoothing, reduction, sample_weight, chunk_rows
    )
    with quiet(xp):
        loss_rows, dH, dW, db = sweep(P, _rowc(xp, c, P), (True, True, P.bias is not None))
    out = _finish(xp, P, loss_rows, c, reduction)
    return out, (xp.reshape(dH, tuple(inputs[1].shape)), dW, db)
