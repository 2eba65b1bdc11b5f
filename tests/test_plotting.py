import base64
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from losslab.calibration import ReliabilityCurve, reliability_curve  # noqa: E402
from losslab.plotting import (  # noqa: E402
    OKABE_ITO,
    calibration_comparison,
    figure_to_data_uri,
    figure_to_svg,
    reliability_diagram,
)


def _binary(seed=0, n=400, n_bins=10):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 0.9, n)  # bins below 0.3 are empty
    y = (rng.uniform(size=n) < p**2).astype(int)
    return reliability_curve(p, y, n_bins=n_bins, kind="binary")


def _multiclass(kind, seed=1, n=300, k=4, binning="uniform"):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, k, n)
    return reliability_curve(p, y, n_bins=8, kind=kind, binning=binning)


def _curve_lines(ax, i):
    return [ln for ln in ax.lines if ln.get_gid() == f"losslab-curve-{i}"]


def _hist_steps(ax, i):
    return [p for p in ax.patches if p.get_gid() == f"losslab-hist-{i}"]


def test_returns_axes_in_one_figure_with_labels_and_limits():
    c = _binary()
    ax, hax = reliability_diagram(c, title="t")
    assert isinstance(ax, Axes) and isinstance(hax, Axes)
    assert isinstance(ax.figure, Figure) and ax.figure is hax.figure
    assert ax.get_xlabel() == "confidence" and ax.get_ylabel() == "accuracy"
    assert hax.get_xlabel() == "confidence" and hax.get_ylabel() == "fraction of samples"
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1) and hax.get_xlim() == (0, 1)
    assert ax.get_title() == "t"
    assert ax.get_legend() is None  # no labels, not classwise
    assert [ln.get_gid() for ln in ax.lines].count("losslab-diagonal") == 1


def test_line_data_are_the_non_empty_bins():
    c = _binary()
    assert np.isnan(c.accuracy).any()  # the fixture has empty bins
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax, _ = reliability_diagram(c, hist_ax=False)
    (line,) = _curve_lines(ax, 0)
    m = c.counts > 0
    np.testing.assert_allclose(line.get_xdata(), c.mean_confidence[m])
    np.testing.assert_allclose(line.get_ydata(), c.accuracy[m])
    assert line.get_color() == OKABE_ITO[0]
    gaps = [p for p in ax.patches if p.get_gid() == "losslab-gap"]
    assert len(gaps) == m.sum()
    # each gap bar spans its bin and runs from accuracy to confidence
    for rect, lo, w, a, cf in zip(
        gaps, c.edges[:-1][m], np.diff(c.edges)[m], c.accuracy[m], c.mean_confidence[m], strict=True
    ):
        assert rect.get_x() == pytest.approx(lo) and rect.get_width() == pytest.approx(w)
        assert rect.get_y() == pytest.approx(a) and rect.get_height() == pytest.approx(cf - a)


def test_histogram_fractions_sum_to_one_and_match_counts():
    c = _binary()
    ax, hax = reliability_diagram(c)
    (step,) = _hist_steps(hax, 0)
    values, edges, _ = step.get_data()
    assert values.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(values, c.counts / c.counts.sum())
    np.testing.assert_allclose(edges, c.edges)


def test_weighted_histogram_uses_weights():
    p = np.array([0.05, 0.15, 0.95])
    y = np.array([0, 0, 1])
    c = reliability_curve(p, y, n_bins=10, kind="binary", weight=np.array([1.0, 1.0, 2.0]))
    _, hax = reliability_diagram(c)
    values = _hist_steps(hax, 0)[0].get_data().values
    assert values[[0, 1, 9]] == pytest.approx([0.25, 0.25, 0.5])


def test_overlay_one_line_per_curve_with_legend():
    a, b = _binary(0), _binary(5)
    ax, hax = reliability_diagram([a, b], labels=["before", "after"])
    assert len(_curve_lines(ax, 0)) == 1 and len(_curve_lines(ax, 1)) == 1
    assert _curve_lines(ax, 1)[0].get_color() == OKABE_ITO[1]
    assert len(_hist_steps(hax, 0)) == 1 and len(_hist_steps(hax, 1)) == 1
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "before" in texts and "after" in texts and "perfect calibration" in texts
    # gap shading only for the first curve
    assert len([p for p in ax.patches if p.get_gid() == "losslab-gap"]) == (a.counts > 0).sum()


def test_given_ax_is_used_and_hist_false_gives_none():
    fig = Figure()
    ax0 = fig.add_subplot()
    ax, hax = reliability_diagram(_binary(), ax=ax0, hist_ax=False)
    assert ax is ax0 and hax is None
    assert fig.axes == [ax0]
    assert not [p for p in ax.patches if (p.get_gid() or "").startswith("losslab-hist")]


def test_given_ax_and_hist_ax_are_used():
    fig = Figure()
    ax0, hax0 = fig.subplots(2, 1)
    ax, hax = reliability_diagram(_binary(), ax=ax0, hist_ax=hax0)
    assert ax is ax0 and hax is hax0 and len(fig.axes) == 2
    assert len(_hist_steps(hax0, 0)) == 1


def test_given_ax_gets_a_histogram_beneath_in_the_same_figure():
    fig = Figure()
    ax0 = fig.add_subplot()
    ax, hax = reliability_diagram(_binary(), ax=ax0)
    assert ax is ax0 and hax.figure is fig and len(fig.axes) == 2


def test_classwise_one_thin_line_per_class():
    c = _multiclass("classwise")
    k = c.accuracy.shape[0]
    ax, hax = reliability_diagram(c, labels=["model"])
    lines = _curve_lines(ax, 0)
    assert len(lines) == k
    for line, conf, acc, cnt in zip(lines, c.mean_confidence, c.accuracy, c.counts, strict=True):
        m = cnt > 0
        np.testing.assert_allclose(line.get_xdata(), conf[m])
        np.testing.assert_allclose(line.get_ydata(), acc[m])
        assert line.get_linewidth() < 1
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"model (per class, {k} classes)" in texts
    assert sum("per class" in t for t in texts) == 1
    (step,) = _hist_steps(hax, 0)
    assert step.get_data().values.sum() == pytest.approx(1.0)


def test_classwise_quantile_edges_per_class_histograms():
    c = _multiclass("classwise", binning="quantile")
    assert c.edges.ndim == 2
    ax, hax = reliability_diagram(c)
    steps = _hist_steps(hax, 0)
    assert len(steps) == c.counts.shape[0]
    for s in steps:
        assert s.get_data().values.sum() == pytest.approx(1.0)
    assert ax.get_legend() is not None  # classwise says so even without labels


def test_top_label_multiclass():
    c = _multiclass("top-label")
    ax, _ = reliability_diagram(c, hist_ax=False)
    assert len(_curve_lines(ax, 0)) == 1


def test_all_bins_empty_draws_nothing_without_warnings():
    nan = np.full(3, np.nan)
    c = ReliabilityCurve(np.linspace(0, 1, 4), np.zeros(3), nan, nan, 3, "uniform")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax, hax = reliability_diagram(c)
    assert len(_curve_lines(ax, 0)[0].get_xdata()) == 0
    assert _hist_steps(hax, 0) == []


def test_calibration_comparison():
    fig = calibration_comparison(_binary(0), _binary(3), title="cmp")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_title() == "cmp"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "uncalibrated" in texts and "calibrated" in texts


def test_data_uri_is_png():
    fig = calibration_comparison(_binary(0), _binary(3))
    uri = figure_to_data_uri(fig, dpi=60)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri[len(prefix) :], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert 2_000 < len(png) < 2_000_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (300, 360)  # 5 x 6 inches at 60 dpi


def test_svg():
    ax, _ = reliability_diagram(_binary(), hist_ax=False)
    svg = figure_to_svg(ax.figure)
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")


@pytest.mark.parametrize(
    ("call", "exc", "msg"),
    [
        (
            lambda: reliability_diagram("curve"),
            TypeError,
            "curves must be a ReliabilityCurve or a sequence of them, got str",
        ),
        (
            lambda: reliability_diagram(np.zeros(3)),
            TypeError,
            "curves must be a ReliabilityCurve or a sequence of them, got ndarray",
        ),
        (lambda: reliability_diagram([_binary(), 3]), TypeError, "curves[1] must be a ReliabilityCurve, got int"),
        (lambda: reliability_diagram([]), ValueError, "curves is empty: pass at least one ReliabilityCurve"),
        (
            lambda: reliability_diagram([_binary(), _binary()], labels=["a"]),
            ValueError,
            "labels has 1 entries but 2 curve(s) were given",
        ),
        (lambda: reliability_diagram(_binary(), ax="x"), TypeError, "ax must be a matplotlib Axes or None, got str"),
        (
            lambda: reliability_diagram(_binary(), hist_ax=1),
            TypeError,
            "hist_ax must be a matplotlib Axes, None or False, got int",
        ),
        (lambda: calibration_comparison(_binary(), None), TypeError, "after must be a ReliabilityCurve, got NoneType"),
        (
            lambda: calibration_comparison(_binary(), _binary(), labels=("a", "b", "c")),
            ValueError,
            "labels has 3 entries but 2 curve(s) were given",
        ),
        (lambda: figure_to_data_uri(object()), TypeError, "fig must be a matplotlib Figure, got object"),
    ],
)
def test_bad_input(call, exc, msg):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value) == msg


def test_matplotlib_lazy_and_no_pyplot():
    code = (
        "import sys, numpy as np\n"
        "import losslab.plotting as P\n"
        "assert 'matplotlib' not in sys.modules, 'imported eagerly'\n"
        "from losslab.calibration import reliability_curve\n"
        "c = reliability_curve(np.array([0.2, 0.7]), np.array([0, 1]), n_bins=4, kind='binary')\n"
        "ax, _ = P.reliability_diagram(c)\n"
        "P.figure_to_data_uri(ax.figure)\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": ""})
