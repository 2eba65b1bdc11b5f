"""Reliability diagrams for :class:`~losslab.calibration.ReliabilityCurve` (matplotlib, headless).

matplotlib is an optional dependency: it is imported inside the functions, and
only through its object API (:class:`matplotlib.figure.Figure`), so no GUI
backend is ever selected and the functions work on servers and in CI.

Lines drawn for curve ``i`` carry ``gid="losslab-curve-{i}"`` (every class line
of a classwise curve too), the diagonal ``gid="losslab-diagonal"``, the gap
bars ``gid="losslab-gap"`` and the histogram steps ``gid="losslab-hist-{i}"``,
so callers and tests can find them again.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .calibration.metrics import ReliabilityCurve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["calibration_comparison", "figure_to_data_uri", "figure_to_svg", "reliability_diagram"]

#: Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008), black last; curve ``i`` gets ``OKABE_ITO[i % 8]``.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
_GAP_COLOUR = "#D55E00"


def _as_curves(curves: Any) -> list[ReliabilityCurve]:
    if isinstance(curves, ReliabilityCurve):
        return [curves]
    if isinstance(curves, Sequence) and not isinstance(curves, str):
        out = list(curves)
        if not out:
            raise ValueError("curves is empty: pass at least one ReliabilityCurve")
        for i, c in enumerate(out):
            if not isinstance(c, ReliabilityCurve):
                raise TypeError(f"curves[{i}] must be a ReliabilityCurve, got {type(c).__name__}")
        return out
    raise TypeError(f"curves must be a ReliabilityCurve or a sequence of them, got {type(curves).__name__}")


def _as_labels(labels: Any, n: int) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = [labels]
    labels = [str(lab) for lab in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but {n} curve(s) were given")
    return labels


def _edges_2d(curve: ReliabilityCurve, n_rows: int) -> np.ndarray:
    edges = np.asarray(curve.edges, dtype=float)
    return np.broadcast_to(edges, (n_rows, edges.shape[-1])) if edges.ndim == 1 else edges


def _points(conf: np.ndarray, acc: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mask of the non-empty bins (positive weight, finite statistics)."""
    return (counts > 0) & np.isfinite(conf) & np.isfinite(acc)


def reliability_diagram(
    curves: ReliabilityCurve | Sequence[ReliabilityCurve],
    *,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    hist_ax: Axes | None | bool = None,
    title: str | None = None,
) -> tuple[Axes, Axes | None]:
    """Draw accuracy against mean confidence for one or more reliability curves.

    ``curves``: one :class:`ReliabilityCurve` or a sequence (overlaid, e.g. before
    and after a calibrator). Only non-empty bins are drawn. The first curve's gap
    to the diagonal is shaded over each bin's width (top-label/binary curves only).
    Classwise ``(C, B)`` curves get one thin line per class in the curve's colour.

    ``ax``: where to draw; a new :class:`~matplotlib.figure.Figure` is made when
    ``None``. ``hist_ax``: where to draw the confidence histogram (each bin's
    weight as a fraction of the total, one step line per curve); ``None`` creates
    it beneath ``ax`` in the same figure, ``False`` skips it.

    Returns ``(ax, hist_ax)``, ``hist_ax`` being ``None`` when skipped.

    >>> import numpy as np
    >>> from losslab.calibration import reliability_curve
    >>> c = reliability_curve(np.array([0.2, 0.7, 0.9]), np.array([0, 1, 1]), n_bins=5, kind="binary")
    >>> ax, hist_ax = reliability_diagram(c, labels=["model"])
    >>> ax.get_xlabel(), hist_ax.get_ylabel()
    ('confidence', 'fraction of samples')
    """
    curves = _as_curves(curves)
    names = _as_labels(labels, len(curves))
    want_hist = hist_ax is not False
    given_hist = None if hist_ax is True or hist_ax is False else hist_ax
    if given_hist is not None and not hasattr(given_hist, "stairs"):
        raise TypeError(f"hist_ax must be a matplotlib Axes, None or False, got {type(given_hist).__name__}")
    if ax is not None and not hasattr(ax, "plot"):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")

    hist: Axes | None = given_hist
    if ax is None:
        from matplotlib.figure import Figure

        if not want_hist:
            ax = Figure(figsize=(5.0, 4.5), layout="constrained").add_subplot()
        elif given_hist is None:
            fig = Figure(figsize=(5.0, 6.0), layout="constrained")
            ax, hist = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        else:
            ax = given_hist.figure.add_subplot()
    elif want_hist and given_hist is None:
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        hist = make_axes_locatable(ax).append_axes("bottom", size="33%", pad=0.5, sharex=ax)

    ax.plot(
        [0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="perfect calibration", gid="losslab-diagonal"
    )
    show_legend = names is not None
    for i, curve in enumerate(curves):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        name = names[i] if names is not None else None
        conf = np.atleast_2d(np.asarray(curve.mean_confidence, dtype=float))
        acc = np.atleast_2d(np.asarray(curve.accuracy, dtype=float))
        counts = np.atleast_2d(np.asarray(curve.counts, dtype=float))
        classwise = np.ndim(curve.mean_confidence) == 2
        edges = _edges_2d(curve, conf.shape[0])
        for c in range(conf.shape[0]):
            m = _points(conf[c], acc[c], counts[c])
            if classwise:
                lab = f"{name + ' ' if name else ''}(per class, {conf.shape[0]} classes)" if c == 0 else "_nolegend_"
                show_legend = True
                kw: dict[str, Any] = {"linewidth": 0.8, "alpha": 0.7, "marker": "o", "markersize": 2.5}
            else:
                lab = name if name is not None else "_nolegend_"
                kw = {"linewidth": 1.5, "marker": "o", "markersize": 4}
            ax.plot(conf[c][m], acc[c][m], color=colour, label=lab, gid=f"losslab-curve-{i}", **kw)
            if i == 0 and not classwise and m.any():
                left, width = edges[c][:-1][m], np.diff(edges[c])[m]
                ax.bar(
                    left,
                    conf[c][m] - acc[c][m],
                    width=width,
                    bottom=acc[c][m],
                    align="edge",
                    color=_GAP_COLOUR,
                    alpha=0.2,
                    edgecolor=_GAP_COLOUR,
                    linewidth=0.5,
                    label="gap" if names else "_nolegend_",
                    gid="losslab-gap",
                )
        if hist is not None:
            shared = np.ndim(curve.edges) == 1
            rows = [counts.sum(axis=0)] if shared else list(counts)
            for r, row in enumerate(rows):
                total = row.sum()
                if not total > 0:
                    continue
                hist.stairs(
                    row / total,
                    edges[r],
                    color=colour,
                    linewidth=1.5 if shared else 0.8,
                    label=name if (name is not None and r == 0) else "_nolegend_",
                    gid=f"losslab-hist-{i}",
                )

    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("auto")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    if title is not None:
        ax.set_title(title)
    if show_legend:
        ax.legend(loc="upper left", fontsize="small", frameon=False)
    if hist is not None:
        hist.set_xlim(0, 1)
        hist.set_ylim(bottom=0)
        hist.set_xlabel("confidence")
        hist.set_ylabel("fraction of samples")
        if hist.get_shared_x_axes().joined(ax, hist):
            ax.xaxis.label.set_visible(False)
    return ax, hist


def calibration_comparison(
    before: ReliabilityCurve,
    after: ReliabilityCurve,
    *,
    labels: Sequence[str] = ("uncalibrated", "calibrated"),
    title: str | None = None,
) -> Figure:
    """Overlay the reliability diagrams of ``before`` and ``after`` (a calibrator) in a new Figure.

    >>> import numpy as np
    >>> from losslab.calibration import reliability_curve
    >>> c = reliability_curve(np.array([0.2, 0.7, 0.9]), np.array([0, 1, 1]), n_bins=5, kind="binary")
    >>> len(calibration_comparison(c, c).axes)
    2
    """
    for nm, c in (("before", before), ("after", after)):
        if not isinstance(c, ReliabilityCurve):
            raise TypeError(f"{nm} must be a ReliabilityCurve, got {type(c).__name__}")
    from matplotlib.figure import Figure

    ax, _ = reliability_diagram([before, after], labels=labels, title=title)
    fig = ax.figure
    assert isinstance(fig, Figure)  # reliability_diagram drew into a new Figure, never a SubFigure
    return fig


def _save(fig: Any, fmt: str, **kwargs: Any) -> bytes:
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **kwargs)
    return buf.getvalue()


def figure_to_data_uri(fig: Figure, *, dpi: int = 110) -> str:
    """The figure as a PNG ``data:`` URI, for self-contained HTML reports.

    >>> from matplotlib.figure import Figure
    >>> figure_to_data_uri(Figure(figsize=(1, 1))).startswith("data:image/png;base64,")
    True
    """
    return "data:image/png;base64," + base64.b64encode(_save(fig, "png", dpi=dpi)).decode("ascii")


def figure_to_svg(fig: Figure) -> str:
    """The figure as an SVG document (a string), for inlining into HTML.

    >>> from matplotlib.figure import Figure
    >>> "<svg" in figure_to_svg(Figure(figsize=(1, 1)))
    True
    """
    return _save(fig, "svg").decode("utf-8")
