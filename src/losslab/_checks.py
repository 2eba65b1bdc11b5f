"""When value checks run: eagerly on host arrays, never inside a graph.

Every loss has one compute path. Shape, dtype and option checks are static
and always run. Value checks (NaN, ranges, out-of-range labels, zero total
weight) need to read values, which a compiled graph, a trace or a vmapped
function cannot do without breaking, and which on an accelerator costs a
device-to-host synchronisation per check. So a value check runs only where
reading a value is free and legal:

=========================================  ==========  ==========  =====
where                                      ``"auto"``  ``"always"``  ``"off"``
=========================================  ==========  ==========  =====
NumPy, CPU torch tensors, eager JAX (CPU)  run         run         skip
torch CUDA/MPS/XLA tensors, eager          skip        run (syncs)  skip
JAX arrays on an accelerator, eager        skip        run (syncs)  skip
``torch.compile`` / ``torch.export``,      skip        skip        skip
``torch.jit.trace``, ``torch.func``
(vmap, grad), fake and meta tensors
inside ``jax.jit`` / ``jax.grad`` /        skip        ``checkify``  skip
``jax.vmap`` traces
=========================================  ==========  ==========  =====

"auto" is the default. In "always" mode, JAX traces emit
``jax.experimental.checkify.check`` calls, so a function wrapped in
``checkify.checkify`` reports bad values as checkify errors (functionalised,
jit-compatible); without the wrapper JAX refuses such checks at trace time.
The traced checks cover class labels out of range, probabilities outside
[0, 1], rows not summing to 1, negative or non-finite weights, a zero total
weight under "mean", array options out of their domain, and a non-finite
result ("the loss is not finite: ..."), which stands in for the eager
diagnosis naming the culprit. The mode is read when a function is traced:
``jax.jit`` keeps the checks (or their absence) of the mode it first traced
a function in, so change the mode before the first call, or jit anew.

A skipped check never changes a value: NaN in, NaN out, as in every peer.
Out-of-range class labels are then what the library's indexing makes of
them: NumPy and torch raise their own ``IndexError`` for a label >= C
(torch for a negative one too), NumPy reads a negative label from the end
(-1 is the last class), and JAX clamps or fills under ``jit``.

>>> import losslab
>>> with losslab.value_checks("off"):
...     pass
>>> losslab.get_value_checks()
'auto'
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterator
from typing import Any, Literal, TypeAlias

__all__ = ["CheckMode", "get_value_checks", "set_value_checks", "value_checks"]

CheckMode: TypeAlias = Literal["auto", "always", "off"]
_MODES = ("auto", "always", "off")
_mode: contextvars.ContextVar[str] = contextvars.ContextVar("losslab_value_checks", default="auto")


def _checked(mode: Any) -> str:
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of 'auto', 'always' or 'off'; got {mode!r}")
    return mode


def get_value_checks() -> CheckMode:
    """The current value-check mode: "auto" (the default), "always" or "off"."""
    return _mode.get()  # type: ignore[return-value]


def set_value_checks(mode: CheckMode) -> CheckMode:
    """Set the value-check mode for this thread / context; returns the previous mode."""
    previous = _mode.get()
    _mode.set(_checked(mode))
    return previous  # type: ignore[return-value]


@contextlib.contextmanager
def value_checks(mode: CheckMode) -> Iterator[None]:
    """Context manager: value checks in ``mode`` inside the block (see the module docstring)."""
    token = _mode.set(_checked(mode))
    try:
        yield
    finally:
        _mode.reset(token)


# ------------------------------------------------------------------ torch
def _torch_graph_active(torch: Any) -> bool:
    """True while torch builds a graph: dynamo / export, jit tracing, or a torch.func transform."""
    if torch.compiler.is_compiling():  # first: dynamo reads it as a constant
        return True
    return torch._C._is_tracing() or torch._C._functorch.peek_interpreter_stack() is not None


def _torch_readable(a: Any, mode: str) -> bool:
    if mode == "off":
        return False
    torch = sys.modules["torch"]
    if type(a) is not torch.Tensor and not isinstance(a, torch.nn.Parameter):
        # FakeTensor (export), FunctionalTensor, other tensor subclasses: values may not be real.
        # (C++ functional wrappers only exist inside a torch.func transform, caught before.)
        return False
    if a.is_cpu:
        return True
    return mode == "always" and not a.is_meta


# -------------------------------------------------------------------- jax
def jax_tracing() -> bool:
    """True while JAX traces a function (``jit``, ``grad``, ``vmap``...).

    Inside a ``jax.jit`` trace even an operation on a concrete array closed
    over by the function returns a tracer, so no value can be read. When the
    (private) probe is missing in some JAX version, assume a trace: value
    checks are then skipped, never crashed into.
    """
    try:
        from jax._src.core import trace_state_clean
    except ImportError:  # pragma: no cover - depends on the JAX version
        return True
    return not trace_state_clean()


def _jax_readable(a: Any, mode: str) -> bool:
    if mode == "off":
        return False
    import jax

    if isinstance(a, jax.core.Tracer) or jax_tracing():
        return False
    if mode == "always":
        return True
    try:
        return all(d.platform == "cpu" for d in a.devices())
    except AttributeError:  # pragma: no cover - older JAX arrays
        return True


def torch_readable(a: Any) -> bool:
    """:func:`readable` for an argument known to be a torch tensor (the fused kernels' per-call test)."""
    torch = sys.modules["torch"]
    if _torch_graph_active(torch):
        return False
    return _torch_readable(a, _mode.get())


def readable(a: Any) -> bool:
    """True when a value check may read ``a``'s values under the current mode."""
    if a is None:
        return True
    torch = sys.modules.get("torch")
    # First, and without reading the mode: dynamo cannot trace a ContextVar.
    if torch is not None and _torch_graph_active(torch):
        return False
    module = type(a).__module__
    mode = _mode.get()
    if module.startswith("torch"):
        return _torch_readable(a, mode)
    if module.startswith(("jax", "jaxlib")):
        return _jax_readable(a, mode)
    if mode == "off":
        return False
    if module == "numpy":
        return True
    import array_api_compat

    return not array_api_compat.is_lazy_array(a)  # Dask's and other deferred arrays


def traced_check(xp: Any, ok: Any, message: str) -> None:
    """In "always" mode inside a JAX trace, a ``checkify.check`` that ``ok`` holds everywhere.

    Elsewhere a skipped check stays skipped; eager checks raise their own,
    more precise, errors before this is ever reached.
    """
    if _mode.get() != "always" or not type(ok).__module__.startswith(("jax", "jaxlib")):
        return
    from jax.experimental import checkify

    checkify.check(xp.all(ok), "losslab: " + message.replace("{", "{{").replace("}", "}}"))


def wants_traced(a: Any) -> bool:
    """True when a check skipped for ``a`` (not readable) should become a :func:`traced_check`.

    Only for JAX arrays in "always" mode, i.e. inside a JAX trace; the module
    test comes first, so torch graphs (where dynamo cannot read the mode)
    never get here, and the predicate is not even computed in "auto" mode.
    """
    return type(a).__module__.startswith(("jax", "jaxlib")) and _mode.get() == "always"
