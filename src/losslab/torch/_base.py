"""The shared base classes of :mod:`losslab.torch` and the helpers their ``forward`` methods call."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._types import Reduction
from .._validation import check_reduction

__all__: list[str] = []  # private: the modules are re-exported by losslab.torch


def _number(check: Callable[[str, Any], float], name: str, value: Any) -> Any:
    """Check a scalar option at construction (a tensor is left to the function's own checks)."""
    return value if isinstance(value, Tensor) else check(name, value)


def _per_element(s: Tensor, x: Tensor) -> Tensor:
    """``sample_weight`` in either losslab form (``x``'s shape, or ``(n,)``), expanded to ``x``'s shape."""
    if s.shape == x.shape:
        return s
    if s.ndim == 1 and x.ndim > 1 and s.shape[0] == x.shape[0]:
        return s.reshape((-1,) + (1,) * (x.ndim - 1)).expand_as(x)
    raise ValueError(
        f"`sample_weight` must have shape {tuple(x.shape)} (one per loss element) or "
        f"({x.shape[0] if x.ndim else 1},) (one per sample); got {tuple(s.shape)}"
    )


def _rescaled(fn: Callable[..., Any], x: Tensor, t: Tensor, w: Tensor | None, s: Tensor | None, reduction: str, **kw):
    """torch's ``weight`` (a rescaling broadcast against the input; ``"mean"`` divides by the
    number of elements, not by the weights' sum) combined with losslab's ``sample_weight``."""
    if w is None:
        return fn(x, t, reduction=reduction, weight=s, **kw)
    w = w.expand_as(x)
    if s is not None:
        s = _per_element(s, x)
        w = w * s
    if reduction != "mean":
        return fn(x, t, reduction=reduction, weight=w, **kw)
    return fn(x, t, reduction="sum", weight=w, **kw) / (x.numel() if s is None else s.sum())


class _Loss(torch.nn.Module):
    """Options as attributes (``.reduction`` and torch's names), tensors as buffers; ``fn`` the losslab function."""

    fn: ClassVar[Any]  # the losslab function, a staticmethod
    _defaults: ClassVar[dict[str, Any]] = {}
    reduction: Reduction
    # Buffers of the subclasses that have them (declared for type checkers: Module.__getattr__ is untyped).
    weight: Tensor | None
    pos_weight: Tensor | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        cls._defaults = {p.name: p.default for p in params}

    def __init__(self, reduction: Reduction) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def extra_repr(self) -> str:
        """The options that differ from their defaults (tensors whenever given), in signature order."""
        shown = []
        for name, default in self._defaults.items():
            v = getattr(self, name)
            if isinstance(v, Tensor) or default is None:
                differs = v is not None
            else:  # by type first: a sequence or array is shown, never compared elementwise
                differs = not (type(v) is type(default) and v == default)
            if differs:
                shown.append(f"{name}={v!r}")
        return ", ".join(shown)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        # torch only loads into buffers that hold a tensor; here a buffer left None (``weight`` not given)
        # takes the checkpoint's, so torch's CrossEntropyLoss(weight=w).state_dict() loads strictly
        # into CrossEntropyLoss(). Buffers that hold a tensor load (copy) as in torch.
        for name, buf in self._buffers.items():
            if buf is None and prefix + name in state_dict and name not in self._non_persistent_buffers_set:
                self._buffers[name] = state_dict[prefix + name].detach().clone()
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class _Plain(_Loss):
    """A loss whose only option is ``reduction``."""

    def __init__(self, *, reduction: Reduction = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Tensor, *, sample_weight: Tensor | None = None) -> Tensor:
        return self.fn(input, target, reduction=self.reduction, weight=sample_weight)


class _Classes(_Loss):
    """A loss of class indices on torch's layout: classes on axis 1 (axis 0 for an unbatched ``(C,)``
    input), class weights in the buffer ``weight``, torch's ``ignore_index``."""

    def __init__(self, weight: Tensor | None, ignore_index: int, reduction: Reduction) -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = int(ignore_index)

    def _class_options(self, input: Tensor, target: Tensor) -> dict[str, Any]:
        """The function's ``axis``, ``class_weight``, ``ignore_index`` and ``reduction``, as torch's
        CrossEntropyLoss uses them: with probability targets a negative ``ignore_index`` is not used
        (another is an error), class indices take it whatever its sign."""
        ii = self.ignore_index
        return {
            "axis": 1 if input.ndim > 1 else 0,
            "class_weight": self.weight,
            "ignore_index": None if ii < 0 and target.is_floating_point() else ii,
            "reduction": self.reduction,
        }
