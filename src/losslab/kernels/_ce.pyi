# Type stub of the C extension ``_ce.c`` (built at install time, optional).
import numpy as np

def ce_rows(
    z: np.ndarray,
    kind: int,
    target: np.ndarray,
    rowc: float | np.ndarray,
    class_weight: np.ndarray | None,
    alpha: float,
    ignore_index: int | None,
    tol: float,
    out: np.ndarray | None,
    loss_rows: np.ndarray,
    nthreads: int,
    /,
) -> tuple[int, int]: ...
def isa(name: str | None = None, /) -> str: ...
def _tune(prefetch: int, stream_min_bytes: int, /) -> tuple[int, int]: ...
