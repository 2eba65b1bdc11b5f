"""The lab's outputs: ``results.json`` (every number), ``summary.md`` and a self-contained ``index.html``.

The HTML needs nothing but itself: CSS inline, figures as PNG ``data:`` URIs,
no script, no web font, so it reads offline and survives being mailed.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

__all__ = ["VERDICT_COLOURS", "jsonable", "parts_table", "render_html", "render_markdown", "statements_table", "tally",
           "headline"]

#: Verdict -> badge colour (Okabe-Ito: blue, vermillion, orange, grey), text always beside it.
VERDICT_COLOURS = {
    "supported": "#0072B2",
    "refuted": "#D55E00",
    "mixed": "#E69F00",
    "inconclusive": "#777777",
    "error": "#000000",
}


def jsonable(x: Any) -> Any:
    """``x`` as strict JSON: NumPy scalars and arrays to Python, NaN and infinities to None.

    >>> jsonable({"a": np.float32(1.5), "b": [float("nan"), np.arange(2)]})
    {'a': 1.5, 'b': [None, [0, 1]]}
    """
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def _table_html(t: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t["columns"])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in t["rows"])
    return f"<table><caption>{html.escape(t['caption'])}</caption><tr>{head}</tr>{body}</table>"


def _badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#000")
    return f'<span class="badge" style="background:{colour}">{html.escape(verdict)}</span>'


_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 62em;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-top: 1px solid #ccc; padding-top: 1em; }
h3 { font-size: 1.02em; margin-bottom: 0.2em; }
blockquote { margin: 0.5em 0; padding: 0.3em 1em; border-left: 4px solid #0072B2; background: #f4f8fb; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
caption { text-align: left; font-style: italic; padding-bottom: 0.3em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
.badge { color: #fff; padding: 0.1em 0.5em; border-radius: 0.3em; font-size: 0.9em; white-space: nowrap; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #444; }
.meta { color: #555; font-size: 0.9em; } code { background: #f2f2f2; padding: 0 0.2em; }
.error { background: #fff0f0; padding: 0.5em; white-space: pre-wrap; font-family: monospace; font-size: 0.85em; }
"""


def tally(results: dict[str, Any], kind: str | None = None) -> str:
    """``"7 supported, 2 refuted"``: how many claims (of ``kind``, or all) got each verdict."""
    claims = [c for c in results["claims"] if kind is None or c.get("kind") == kind]
    counts = [(v, sum(c["verdict"] == v for c in claims)) for v in VERDICT_COLOURS]
    return ", ".join(f"{n} {v}" for v, n in counts if n) or "none"


def _p(x: Any) -> str:
    return "-" if x is None else (f"{x:.2g}" if x >= 1e-4 else "<1e-4")


def _ci(part: dict[str, Any]) -> str:
    if part.get("ci") is None:
        return "-" if part.get("estimate") is None else f"{part['estimate']:.3g}"
    lo, hi = part["ci"]
    return f"{part['estimate']:.3g} [{lo:.3g}, {hi:.3g}]"


def parts_table(c: dict[str, Any]) -> dict[str, Any]:
    """The claim's parts as a report table: rule, what, effect [95% CI], p, Holm p, verdict, why."""
    rows = [
        [p["name"], p["rule"], _ci(p) + (f" {p['unit']}" if p.get("unit") else ""), _p(p.get("p_decision")),
         _p(p.get("p_holm")), p["verdict"], "; ".join(x for x in (p.get("detail"), p.get("note")) if x)]
        for p in c["parts"]
    ]  # fmt: skip
    return {"caption": "Parts of the claim, each decided by its rule (one-sided p-values; Holm across the run's "
                       "empirical parts)", "columns": ["part", "rule", "effect [95% CI]", "p", "Holm p", "verdict",
                                                      "why"], "rows": rows}  # fmt: skip


def _controls_table(c: dict[str, Any]) -> dict[str, Any]:
    rows = [[k["rule"], k["planted"], k["expected"], k["got"], "ok" if k["got"] == k["expected"] else "FAILED"]
            for k in c["controls"]]  # fmt: skip
    return {"caption": "Planted controls: inputs whose answer is known, run through the rule (and, for the claim's "
                       "own, through its measurement)", "columns": ["rule", "planted", "expected", "got", ""],
            "rows": rows}  # fmt: skip


def _published_table(c: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for p in c["published"]:
        iv = "-" if p["interval"] is None else f"[{p['interval'][0]:.4g}, {p['interval'][1]:.4g}]"
        inside = {True: "yes", False: "no", None: "-"}[p["in_interval"]]
        rows.append([p["source"], p["setting"], _cell(p["value"]), _cell(p["ours"]), iv, inside, p["why"]])
    return {"caption": "Published figures beside ours", "columns": ["source", "setting", "published", "ours",
                                                                     "our 95% CI", "inside?", "why"], "rows": rows}


def statements_table(results: dict[str, Any]) -> dict[str, Any]:
    """The seed-statement inventory as a report table."""
    rows = []
    for st in results["statements"]:
        what = f"claim {st['claim']}" if st["claim"] is not None else st["status"]
        verdict = st["verdict"] if st["claim"] is not None else "-"
        rows.append([st["seed"], f"\u201c{st['quote']}\u201d", what, verdict or "not run", st["why"]])
    return {"caption": "Seed statements and where they are tested", "columns": ["seed", "statement", "tested by",
                                                                                "verdict", "why not tested"],
            "rows": rows}  # fmt: skip


def headline(results: dict[str, Any]) -> str:
    n_emp = sum(c.get("kind") == "empirical" for c in results["claims"])
    n_id = sum(c.get("kind") == "identity" for c in results["claims"])
    return (f"{n_emp} empirical claims: {tally(results, 'empirical')}. {n_id} identities (mathematical facts, "
            f"checked by computation): {tally(results, 'identity')}.")  # fmt: skip


def render_html(results: dict[str, Any], figures: dict[str, str]) -> str:
    """The report page: ``figures`` maps each figure's file name to its PNG ``data:`` URI."""
    cfg = results["config"]
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="#claim-{c["number"]}">{c["number"]}</a></td><td>{e(c["title"])}</td>'
        f"<td>{e(c.get('kind', ''))}</td><td>{_badge(c['verdict'])}</td><td>{e(c['summary'])}</td></tr>"
        for c in results["claims"]
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>losslab lab report ({e(cfg['profile']['name'])})</title><style>{_CSS}</style></head><body>",
        "<h1>The claims lab: MSE, cross-entropy and their relatives, tested on real data</h1>",
        f'<p class="meta">Profile <b>{e(cfg["profile"]["name"])}</b> · {cfg["profile"]["seeds"]} seeds per cell · '
        f"datasets {e(', '.join(cfg['datasets']))} · device {e(cfg['device'])} · "
        f"losslab {e(results['losslab_version'])} · torch {e(str(results['versions'].get('torch')))} · "
        f"{e(results['created_utc'])} · {results['elapsed_s']:.0f} s</p>",
        "<p>Each section states a claim of the seed documents, how the lab tested it, the rule that turns the "
        "numbers into a verdict (declared in <code>losslab.lab.rules</code> before any data is seen), each part's "
        "effect with its 95% t-interval over seeds (every seed resamples the split and the initialisation), "
        "one-sided p-values Holm-adjusted across the run, the planted controls that show the rule can go either "
        "way, a figure, and the published figures beside ours.</p>",
        f"<p><b>{e(headline(results))}</b> Where a seed is wrong, the claim says <i>refuted</i> with the number "
        "that refutes it.</p>",
        f'<p class="meta">rules SHA-256 <code>{e(str(results.get("rules_sha256")))}</code> · '
        f"{results.get('holm_tests', 0)} empirical tests under Holm's correction at one-sided "
        f"{results.get('alpha', 0.025)}</p>",
        f"<table><caption>Verdicts</caption><tr><th>#</th><th>claim</th><th>kind</th><th>verdict</th>"
        f"<th>effect</th></tr>{rows}</table>",
    ]
    for c in results["claims"]:
        parts.append(f'<h2 id="claim-{c["number"]}">{c["number"]}. {e(c["title"])} {_badge(c["verdict"])}</h2>')
        parts.append(f"<blockquote>{e(c['statement'])}</blockquote>")
        parts.append(f"<h3>Method</h3>{_paragraphs(c['method'])}")
        parts.append(f"<h3>Verdict rule (written before the data)</h3>{_paragraphs(c['rule'])}")
        if c["status"] == "error":
            parts.append(f'<h3>Result</h3><div class="error">{e(c["error"] or "")}</div>')
        else:
            parts.append(f"<h3>Result</h3><p><b>{e(c['verdict'])}</b> ({e(c['kind'])}, parts combined by "
                         f"'{e(c['logic'])}'): {e(c['reason'])}</p>")
            parts.append(_table_html(parts_table(c)))
            parts.extend(_table_html(t) for t in c["tables"])
            for f in c["figures"]:
                parts.append(
                    f'<figure><img src="{figures[f["file"]]}" alt="{e(f["caption"])}">'
                    f"<figcaption>{e(f['caption'])}</figcaption></figure>"
                )
            if c["discussion"] or c["published"]:
                parts.append(f"<h3>Beside the published figures</h3>{_paragraphs(c['discussion'])}")
            if c["published"]:
                parts.append(_table_html(_published_table(c)))
            if c["controls"]:
                ok = "all as expected" if c["controls_ok"] else "SOME FAILED: the rule or its code has a bug"
                parts.append(f"<h3>Planted controls ({ok})</h3>{_table_html(_controls_table(c))}")
        refs = "".join(f"<li>{e(r)}</li>" for r in c["references"])
        parts.append(f"<h3>References</h3><ul>{refs}</ul>")
        parts.append(
            f'<p class="meta">{c["elapsed_s"]:.1f} s · cells computed {c["cells"]["computed"]}, '
            f"reused {c['cells']['cached']}</p>"
        )
    if results.get("statements"):
        parts.append("<h2 id=\"statements\">Every statement of the seeds</h2>")
        parts.append("<p>Each factual sentence of the four seed documents, the claim that tests it and that claim's "
                     "verdict in this run; definitions and untestable sentences are listed with the reason.</p>")
        parts.append(_table_html(statements_table(results)))
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    parts.append(f'<h2>Reproduce</h2><p><code>{e(cfg["command"])}</code></p><p class="meta">{e(versions)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(results: dict[str, Any]) -> str:
    """``summary.md``: the verdict table and each claim's result, figures linked from ``figures/``."""
    cfg = results["config"]
    lines = [
        "# losslab lab: summary",
        "",
        f"Profile **{cfg['profile']['name']}**, {cfg['profile']['seeds']} seeds per cell, datasets "
        f"{', '.join(cfg['datasets'])}, device {cfg['device']}, losslab {results['losslab_version']}, "
        f"{results['elapsed_s']:.0f} s. The full report is `index.html`; every number is in `results.json`.",
        "",
        f"**{headline(results)}**",
        "",
        f"Rules SHA-256 `{results.get('rules_sha256')}`; {results.get('holm_tests', 0)} empirical tests under "
        "Holm's correction.",
        "",
        "| # | claim | kind | verdict | effect |",
        "|---|---|---|---|---|",
    ]
    for c in results["claims"]:
        lines.append(f"| {c['number']} | {c['title']} | {c.get('kind', '')} | {c['verdict']} | "
                     f"{c['summary'].replace('|', '/')} |")  # fmt: skip
    for c in results["claims"]:
        lines += ["", f"## {c['number']}. {c['title']}: {c['verdict']}", "", f"> {c['statement']}", ""]
        if c["status"] == "error":
            lines += ["```", c["error"] or "", "```"]
            continue
        lines += [f"**Rule.** {c['rule']}", "", f"**Result.** {c['reason']}", ""]
        lines += [f"- {p['name']} ({p['rule']}): **{p['verdict']}**, {_ci(p)} {p.get('unit', '')}, "
                  f"p {_p(p.get('p_decision'))}, Holm p {_p(p.get('p_holm'))}" for p in c["parts"]]
        lines += [""]
        lines += [f"![{f['caption']}](figures/{f['file']})" for f in c["figures"]]
        if c["discussion"]:
            lines += ["", f"**Beside the published figures.** {c['discussion']}"]
    return "\n".join(lines) + "\n"
