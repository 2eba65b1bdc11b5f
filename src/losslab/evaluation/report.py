"""Report: the metrics table, the terminal summary and the self-contained ``report.html``.

Warnings (a calibrator at a bound of its parameters, calibration that raised the log loss, rows that
``--probs`` renormalised or clipped) are set apart: a highlighted box at the top of the report, and
``Warning:`` lines in the terminal, before the notes.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .score import CONFIDENCE


def _fmt(x: Any) -> str:
    if isinstance(x, dict) and "estimate" in x:
        if x["ci_low"] is None:
            return f"{x['estimate']:.4f} [no interval]"
        return f"{x['estimate']:.4f} [{x['ci_low']:.4f}, {x['ci_high']:.4f}]"
    if isinstance(x, float):
        return f"{x:.4f}"
    return str(x)


METRIC_ROWS = [
    ("n", "samples"),
    ("accuracy", "accuracy [95% CI]"),
    ("log_loss", "log loss (NLL) [95% CI]"),
    ("brier", "Brier score [95% CI]"),
    ("brier_decomposition.reliability", "  Brier reliability"),
    ("brier_decomposition.resolution", "  Brier resolution"),
    ("brier_decomposition.uncertainty", "  Brier uncertainty"),
    ("ece_top_label", "ECE top-label [95% CI]"),
    ("ece_classwise", "ECE classwise [95% CI]"),
    ("mce", "MCE (max bin gap)"),
]


def _get(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        d = d[part]
    return d


def metric_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column titles and rows of the metrics table (before/after when calibrated)."""
    cal = result.get("calibration")
    cols = ["metric", "uncalibrated" if cal else "value"] + ([f"{cal['method']} calibrated"] if cal else [])
    rows = []
    for key, title in METRIC_ROWS:
        row = [title, _fmt(_get(result["metrics"], key))]
        if cal:
            row.append(_fmt(_get(cal["metrics"], key)))
        rows.append(row)
    return cols, rows


_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
ul.assume li { margin: 0.2em 0; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
figure img { max-width: 100%; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; font-size: 0.9em; }
pre { padding: 0.6em; overflow-x: auto; }
div.warn { background: #fff3cd; border: 2px solid #d39e00; border-radius: 4px; padding: 0.4em 1em; margin: 1em 0; }
div.warn li { margin: 0.3em 0; }
"""


def _figures(curves: dict[str, Any]) -> list[tuple[str, str]]:
    """(caption, data URI) of every figure; matplotlib is imported only here."""
    from matplotlib.figure import Figure

    from ..plotting import calibration_comparison, figure_to_data_uri, reliability_diagram

    figs = []
    ax, _ = reliability_diagram(curves["before"], title="Reliability (top-label), uncalibrated")
    assert isinstance(ax.figure, Figure)  # reliability_diagram draws on a figure of its own, not a SubFigure
    figs.append(("Reliability diagram with confidence histogram (uncalibrated)", figure_to_data_uri(ax.figure)))
    if "after" in curves:
        ax, _ = reliability_diagram(curves["after"], title=f"Reliability (top-label), {curves['method']}")
        assert isinstance(ax.figure, Figure)
        figs.append((f"Reliability diagram after {curves['method']} calibration", figure_to_data_uri(ax.figure)))
        fig = calibration_comparison(
            curves["before"], curves["after"], labels=("uncalibrated", curves["method"]), title="Before / after"
        )
        figs.append(("Before/after overlay", figure_to_data_uri(fig)))
    return figs


def render_html(result: dict[str, Any], curves: dict[str, Any]) -> str:
    """A self-contained HTML page: inline CSS, figures as PNG data URIs, no external resources."""
    e = html.escape
    cols, rows = metric_rows(result)
    table = "<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>"
    for r in rows:
        table += f"<tr><td>{e(r[0].strip())}</td>" + "".join(f'<td class="num">{e(v)}</td>' for v in r[1:]) + "</tr>"
    table += "</table>"
    a = result["assumptions"]
    items = [f"input: <b>{e(a['input'])}</b> ({e(a['reason'])})", f"task: {e(a['task'])}; {e(a['layout'])}"]
    if a.get("classes"):
        items.append(f"classes: {e(', '.join(a['classes']))} ({e(a['class_mapping'])})")
    items += [e(n) for n in a["notes"]]
    assumptions = "<ul class='assume'>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    warns = a.get("warnings") or []
    warn_html = ("<div class='warn'><b>Warning</b><ul>" + "".join(f"<li>{e(w)}</li>" for w in warns) + "</ul></div>"
                 if warns else "")  # fmt: skip
    figs = "".join(
        f'<figure><img src="{uri}" alt="{e(cap)}"><figcaption>{e(cap)}</figcaption></figure>'
        for cap, uri in _figures(curves)
    )
    cal = result.get("calibration")
    cal_html = ""
    if cal:
        params = json.dumps(cal["params"], indent=1)
        if len(params) > 4000:
            params = params[:4000] + "\n... (full parameters in metrics.json)"
        cal_html = (
            f"<h2>Calibration</h2><p>{e(cal['method'])} fitted on <code>{e(cal['calibration_file'])}</code> "
            f"({cal['n_calibration']} samples), evaluated on <code>{e(result['predictions'])}</code>.</p>"
            f"<pre>{e(params)}</pre>"
        )
    o = result["options"]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>losslab evaluate: {e(result['predictions'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>losslab evaluate: <code>{e(result['predictions'])}</code></h1>"
        f"<p>losslab {e(result['losslab_version'])}; {o['n_bins']} uniform bins; "
        + f"{o['n_resamples']} bootstrap resamples (seed {o['seed']}), {int(CONFIDENCE * 100)}% percentile intervals"
        + (f"; streamed in chunks of {o['chunk_rows']} rows." if o.get("chunk_rows") else ".")
        + "</p>"
        f"{warn_html}<h2>Assumptions</h2>{assumptions}<h2>Metrics</h2>{table}{cal_html}<h2>Reliability</h2>{figs}"
        "</body></html>\n"
    )


def print_summary(result: dict[str, Any], console: Any, name: str) -> None:
    """The terminal summary: the assumption, the warnings (highlighted), the notes, the metrics table."""
    from rich.markup import escape
    from rich.table import Table

    a = result["assumptions"]
    console.print(f"Assumed {escape(a['input'])}: {escape(a['reason'])}.")
    if a.get("classes"):
        console.print(f"Classes: {escape(', '.join(a['classes']))} ({escape(a['class_mapping'])}).")
    for w in a.get("warnings") or []:
        console.print(f"[bold yellow]Warning:[/bold yellow] {escape(w)}")
    for note in a["notes"]:
        console.print(f"Note: {escape(note)}.")
    cols, rows = metric_rows(result)
    table = Table(title=escape(f"losslab evaluate: {name} ({a['task']})"))
    for i, c in enumerate(cols):
        table.add_column(escape(c), justify="left" if i == 0 else "right", no_wrap=i > 0)
    for r in rows:
        table.add_row(*(escape(v) for v in r))
    console.print(table)
    cal = result["calibration"]
    if cal:
        shown = {k: v for k, v in cal["params"].items() if not isinstance(v, (list, str)) or len(str(v)) < 80}
        console.print(f"{escape(cal['method'])} calibrator fitted parameters: {escape(json.dumps(shown))}")
