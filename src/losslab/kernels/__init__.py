"""Fast paths: blockwise NumPy helpers (:mod:`.blocks`) and optional compiled one-pass kernels (:mod:`.native`)."""

from .blocks import blockwise, by_rows, subtract_at, sum_blocks, sum_log

__all__ = ["blockwise", "by_rows", "subtract_at", "sum_blocks", "sum_log"]
