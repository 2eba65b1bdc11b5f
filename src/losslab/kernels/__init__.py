"""Fast paths for the losses; see :mod:`losslab.kernels.blocks`."""

from .blocks import blockwise, by_rows, subtract_at, sum_blocks, sum_log

__all__ = ["blockwise", "by_rows", "subtract_at", "sum_blocks", "sum_log"]
