"""One look for every lab figure: the Okabe-Ito palette, labelled axes, light grids.

Okabe & Ito's eight colours stay distinguishable under the common colour-vision
deficiencies; series also differ by marker or line style, so a grey-scale print
still separates them. Figures use matplotlib's object API (no pyplot state),
so the lab can draw in worker threads and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["LINESTYLES", "MARKERS", "PALETTE", "band", "color", "new_figure"]

#: Okabe & Ito (2008), without the black, in the order the lab assigns them.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), "-", "--")


def color(i: int) -> str:
    """The i-th palette colour (cycling)."""
    return PALETTE[i % len(PALETTE)]


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 5.0, height: float = 3.6, **kwargs: Any):
    """A figure of ``nrows x ncols`` axes (``width`` x ``height`` inches each) and its axes, squeezed like pyplot's.

    >>> fig, ax = new_figure()
    >>> ax.get_xlabel()
    ''
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **kwargs)
    for ax in np.atleast_1d(axes).ravel():
        ax.grid(True, alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


def band(
    ax: Any,
    x: Sequence[float] | np.ndarray,
    runs: Sequence[Sequence[float] | np.ndarray] | np.ndarray,
    *,
    i: int,
    label: str,
    marker_every: int | None = None,
) -> None:
    """Plot the mean over runs (rows) as a line with a min-max band across them, in style ``i``."""
    r = np.asarray(runs, dtype=np.float64)
    if r.ndim == 1:
        r = r[None, :]
    x = np.asarray(x)
    ax.plot(x, r.mean(axis=0), color=color(i), linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % 8],
            markevery=marker_every or max(1, len(x) // 8), markersize=4, label=label)  # fmt: skip
    if r.shape[0] > 1:
        ax.fill_between(x, r.min(axis=0), r.max(axis=0), color=color(i), alpha=0.18, linewidth=0)
