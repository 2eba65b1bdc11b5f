# Type stub of the C extension ``_native.c`` (built at install time, optional).
import numpy as np

def top_label_bins(
    probs: np.ndarray,
    target: np.ndarray,
    edges: np.ndarray,
    counts: np.ndarray,
    sum_conf: np.ndarray,
    correct: np.ndarray,
    tol: float,
    /,
) -> int: ...
def sum_log_true(probs: np.ndarray, target: np.ndarray, eps: float, tol: float, /) -> tuple[float, int]: ...
def sum_brier(probs: np.ndarray, target: np.ndarray, tol: float, /) -> tuple[float, int]: ...
