"""CPU fast paths: row blocks, in-place updates, fewer logs.

Each function here computes exactly what the plain array-API expression
would, but arranges the work for eager NumPy and PyTorch so that no
temporary is a fresh, page-faulting allocation as large as the input, and
no pass over memory is repeated that a cache-sized block can serve. The
measurements behind each choice are in the docstrings and BENCHMARKS.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._kinds import device_of, is_jax, is_numpy, is_torch

__all__ = ["blockwise", "by_rows", "subtract_at", "sum_blocks", "sum_log"]

_BLOCK = 1 << 21  # elements per block: 8 MiB of float32, reused by the allocator and cache


def blockwise(x: Any, axis: int) -> bool:
    """Process ``x`` in row blocks: large, class axis last, eager NumPy or PyTorch outside autograd.

    One call on a 500 MiB matrix makes every temporary a fresh 500 MiB
    allocation whose page faults cost more than the arithmetic (measured:
    torch.logsumexp on 4096 x 32000 float32 takes 207 ms whole, 80 ms in
    blocks of 64 rows). JAX and others fuse on their own.
    """
    if x.ndim < 2 or axis not in (-1, x.ndim - 1) or math.prod(tuple(x.shape)) < 2 * _BLOCK or x.shape[-1] > _BLOCK:
        return False
    if is_numpy(x):
        return True
    return is_torch(x) and not x.requires_grad


def by_rows(xp: Any, fn: Any, x: Any, keep_last: bool) -> Any:
    """``fn(block, axis=-1)`` over row blocks of ``x``, written into one preallocated output."""
    C = x.shape[-1]
    flat = xp.reshape(x, (-1, C))
    rows = flat.shape[0]
    step = max(1, _BLOCK // C)
    out = xp.empty((rows, C) if keep_last else (rows,), dtype=x.dtype, device=device_of(x))
    for i in range(0, rows, step):
        out[i : i + step, ...] = fn(xp, flat[i : i + step, ...], axis=-1)
    return xp.reshape(out, tuple(x.shape) if keep_last else tuple(x.shape[:-1]))


def sum_blocks(xp: Any, fn: Any, *arrays: Any) -> Any:
    """``fn(xp, *arrays)`` for a reduction that adds up over elements, computed in blocks.

    The arrays are 1-d and of one length; ``fn`` returns a 0-d sum. For eager
    NumPy/PyTorch above ``2 * _BLOCK`` elements the sum is taken block by
    block, so temporaries (a residual) are cache-sized and reused instead of
    fresh full-size allocations.
    """
    x = arrays[0]
    n = x.shape[0]
    eager = is_numpy(x) or (is_torch(x) and not any(a.requires_grad for a in arrays))
    if not eager or n < 2 * _BLOCK:
        return fn(xp, *arrays)
    total = fn(xp, *(a[:_BLOCK] for a in arrays))
    for i in range(_BLOCK, n, _BLOCK):
        total = total + fn(xp, *(a[i : i + _BLOCK] for a in arrays))
    return total


def subtract_at(xp: Any, g: Any, index: Any, value: Any) -> Any:
    """``g[..., index] -= value`` along the last axis, one entry per row.

    ``index`` has ``g.shape[:-1]``; ``value`` is a float or an array of that
    shape. In place on NumPy and on PyTorch tensors outside autograd (``g``
    must be a fresh array the caller owns), functional on JAX
    (``.at[].add``), and through a one-hot matrix elsewhere. This is how the
    cross-entropy gradient ``softmax - onehot`` avoids building the one-hot
    matrix: one write per row instead of a pass over every class.
    """
    if is_numpy(g):
        idx = np.expand_dims(index, -1)
        v = value if isinstance(value, float) else np.expand_dims(value, -1)
        np.put_along_axis(g, idx, np.take_along_axis(g, idx, axis=-1) - v, axis=-1)
        return g
    if is_torch(g):
        import torch

        src = (
            value if isinstance(value, torch.Tensor) else torch.full(index.shape, value, dtype=g.dtype, device=g.device)
        )
        src = -src.to(g.dtype).unsqueeze(-1)
        idx = index.unsqueeze(-1)
        return g.scatter_add(-1, idx, src) if g.requires_grad else g.scatter_add_(-1, idx, src)
    if is_jax(g):
        v = value if isinstance(value, float) else xp.expand_dims(value, axis=-1)
        picked = xp.take_along_axis(g, xp.expand_dims(index, axis=-1), axis=-1)
        import jax.numpy as jnp

        return jnp.put_along_axis(g, jnp.expand_dims(index, -1), picked - v, axis=-1, inplace=False)
    classes = xp.arange(g.shape[-1], dtype=index.dtype, device=device_of(index))
    onehot = xp.astype(xp.expand_dims(index, axis=-1) == classes, g.dtype)
    return g - onehot * (value if isinstance(value, float) else xp.expand_dims(value, axis=-1))


def sum_log(xp: Any, x: Any, floor: float) -> Any:
    """sum(log(x)) over a 1-d array whose entries all lie in [``floor``, 1], with fewer logs.

    Pairs are multiplied level by level before one log per block: a product of
    ``2**k`` numbers >= floor stays above the dtype's smallest normal for the
    ``k`` chosen here (4 in float64, 2 in float32 at floor = eps), so nothing
    underflows (and, the entries being <= 1, nothing overflows). The rounding
    of the products is that of perturbing each entry by at most ``2**k`` ulp:
    the absolute error is below ``2**k * n * eps`` plus the logs' own rounding
    (tested in ``tests/test_array.py``). A log costs ~10x a multiply, so this
    is ~2x faster than ``sum(log(x))`` on large inputs.
    """
    finfo = xp.finfo(x.dtype)
    levels = int(math.floor(math.log2(math.log(finfo.smallest_normal) / math.log(floor)))) if floor < 1 else 0
    total = 0.0
    for _ in range(max(levels, 0)):
        n = x.shape[0]
        if n < 2:
            break
        if n % 2:
            total = total + xp.log(x[n - 1])
            n -= 1
        x = x[: n // 2] * x[n // 2 : n]
    return xp.sum(xp.log(x)) + total
