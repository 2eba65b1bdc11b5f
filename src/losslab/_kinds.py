"""Which library an array comes from, in tests cheap enough for every call.

array-api-compat's ``is_*_array`` go through an ``lru_cache`` that
torch.compile warns about on every trace; these ``isinstance`` tests are
read by dynamo as constants.
"""

from __future__ import annotations

import sys
from typing import Any

import array_api_compat as aac
import numpy as np

__all__ = ["device_of", "is_jax", "is_numpy", "is_torch"]


def is_numpy(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def is_jax(x: Any) -> bool:
    return type(x).__module__.startswith(("jax", "jaxlib"))


def device_of(x: Any) -> Any:
    """The array's device: ``x.device`` for torch and NumPy 2, array-api-compat's answer otherwise."""
    return x.device if is_torch(x) else aac.device(x)


