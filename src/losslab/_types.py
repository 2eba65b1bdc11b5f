"""Types shared by the public signatures, so that type checkers flag ``reduction="avg"``."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

__all__ = ["Array", "Reduction"]

Reduction: TypeAlias = Literal["mean", "sum", "none"]

# An array of any supported library (NumPy, PyTorch, JAX, array-api-strict) or a nested sequence of
# numbers. The array API standard has no common static type yet, so this stays ``Any``; the name
# documents what a parameter takes.
Array: TypeAlias = Any
