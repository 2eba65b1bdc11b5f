"""Real-valued options (hyperparameters) that may be arrays: a learned temperature, a jitted schedule.

Every real-valued option of a loss (``label_smoothing``, ``temperature``,
``delta``, ``quantile``, ``q``, ...) takes a Python number or a 0-d array of
the inputs' library: a JAX array (traced inside ``jax.jit`` / ``jax.grad`` /
``jax.vmap``), a torch tensor (with ``requires_grad``, or inside
``torch.compile``), or a NumPy 0-d array (read as a number). So

* a Python number is checked by the scalar checks of :mod:`losslab._validation`
  and returned as a float, as before (a float inside the domain returns after
  one comparison; anything else gets the scalar check and its message);
* a 0-d array whose value may be read (see :mod:`losslab._checks`) is checked
  on its value with the same messages and returned as it is, so autograd and
  ``jax.grad`` flow into it; a traced one is not read, and in "always" mode
  inside a JAX trace a ``checkify`` check is emitted instead;
* an array of any other shape is an error naming the option and the shape.

The losses branch in Python only on a Python number (``if alpha:``); for an
array they compute the general formula, which equals the special case.

>>> import numpy as np
>>> closed_unit("label_smoothing", 0.1), closed_unit("label_smoothing", np.asarray(0.25))
(0.1, 0.25)
>>> positive("delta", np.ones(2))
Traceback (most recent call last):
...
ValueError: `delta` must be a number or a 0-d array; got an array of shape (2,)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _validation as V
from ._array import _convert_hint, _library, _namespace, is_concrete
from ._checks import traced_check, wants_traced

__all__ = [
    "as_float",
    "at_least",
    "closed_unit",
    "half_open_unit",
    "in_namespace",
    "is_array_option",
    "nonzero",
    "open_unit",
    "positive",
    "same_library",
]


_INF = math.inf


def is_array_option(value: Any) -> bool:
    """True for an array given as an option (Python and NumPy scalars are numbers, not arrays)."""
    return type(value) is not float and hasattr(value, "shape") and not isinstance(value, np.generic)


def _array_option(name: str, value: Any, check: Callable[[Any], Any], ok: Callable[[Any], Any], what: str) -> Any:
    """A 0-d array option: a NumPy one becomes a number; others are checked when readable, else traced."""
    if value.ndim != 0:
        raise ValueError(f"`{name}` must be a number or a 0-d array; got an array of shape {tuple(value.shape)}")
    if isinstance(value, np.ndarray):
        return check(value.item())
    xp = _namespace([value])
    if not xp.isdtype(value.dtype, ("real floating", "integral")):
        raise TypeError(f"`{name}` must be a real number or a 0-d real array; got an array of dtype {value.dtype}")
    if is_concrete(value):
        check(as_float(value))  # the messages of the scalar check, with the value as a number
    elif wants_traced(value):
        traced_check(xp, ok(value), f"`{name}` {what}")
    return value


def positive(name: str, value: Any) -> Any:
    """A positive, finite option (``delta``, ``temperature``, ``scale``): a float or a 0-d array."""
    if type(value) is float and 0.0 < value < _INF:  # the common case, at the cost of one comparison
        return value
    if not is_array_option(value):
        return V.check_positive(name, value)
    ok = lambda v: (v > 0) & (v < math.inf)  # noqa: E731
    return _array_option(name, value, lambda v: V.check_positive(name, v), ok, "must be positive and finite")


def open_unit(name: str, value: Any) -> Any:
    """An option in (0, 1) (a quantile): a float or a 0-d array."""
    if type(value) is float and 0.0 < value < 1.0:
        return value
    if not is_array_option(value):
        return V.check_open_unit(name, value)
    ok = lambda v: (v > 0) & (v < 1)  # noqa: E731
    return _array_option(name, value, lambda v: V.check_open_unit(name, v), ok, "must be in (0, 1)")


def half_open_unit(name: str, value: Any, *, below: str = "", above: str = "") -> Any:
    """An option in (0, 1] (GCE's ``q``): a float or a 0-d array."""
    if type(value) is float and 0.0 < value <= 1.0:
        return value
    if not is_array_option(value):
        return V.check_half_open_unit(name, value, below=below, above=above)
    return _array_option(
        name,
        value,
        lambda v: V.check_half_open_unit(name, v, below=below, above=above),
        lambda v: (v > 0) & (v <= 1),
        "must be in (0, 1]",
    )


def closed_unit(name: str, value: Any) -> Any:
    """An option in [0, 1] (``label_smoothing``, a mixing weight): a float or a 0-d array."""
    if type(value) is float and 0.0 <= value <= 1.0:
        return value
    if not is_array_option(value):
        return V.check_closed_unit(name, value)
    return _array_option(
        name, value, lambda v: V.check_closed_unit(name, v), lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]"
    )


def at_least(name: str, value: Any, low: float, check: Callable[[str, Any], float]) -> Any:
    """A finite option ``>= low`` (``gamma``, ``epsilon``, a margin); ``check(name, number)`` is the
    scalar check (and its message), e.g. ``lambda n, v: check_at_least(n, v, 0.0, fix=...)``."""
    if type(value) is float and low <= value < _INF:
        return value
    if not is_array_option(value):
        return check(name, value)
    return _array_option(
        name, value, lambda v: check(name, v), lambda v: (v >= low) & (v < math.inf), f"must be finite and >= {low:g}"
    )


def in_namespace(xp: Any, value: Any, like: Any, name: str) -> Any:
    """A checked option ready for the arithmetic: a float as it is, an array in ``like``'s dtype.

    An array of another library than the inputs' (a torch scalar next to NumPy
    inputs) is read as a number when its value is readable, as before; a traced
    one is an error naming both libraries.
    """
    if type(value) is float:
        return value
    if not same_library(value, like):
        if is_concrete(value):
            return as_float(value)
        lib = _library(like)
        raise TypeError(
            f"`{name}` is a {_library(value)} array but the inputs are {lib} arrays; an array option must "
            f"come from the inputs' library: convert it with {_convert_hint(lib)}, or pass a number"
        )
    return value if value.dtype == like.dtype else xp.astype(value, like.dtype)


def same_library(a: Any, b: Any) -> bool:
    """True when two arrays come from one library (a JAX tracer and a JAX array do)."""
    return _library(a) == _library(b)


def nonzero(value: Any) -> bool:
    """False only for the number 0: an array option always takes the general formula."""
    return type(value) is not float or value != 0.0


def as_float(value: Any) -> float:
    """The value of a concrete option, for a message or a decision made only while values are readable."""
    return float(value.detach() if hasattr(value, "detach") else value)
