"""The lab's machinery: statistics, the registry, cached cells and resume, the report files, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from conftest import check_results_schema
from losslab.cli import main
from losslab.lab import context as context_mod
from losslab.lab import rules as rules_mod
from losslab.lab.context import Context, atomic_write, cell_key
from losslab.lab.profiles import PROFILES, get_profile
from losslab.lab.registry import Claim, Finding, LabFigure, LabTable, select_claims
from losslab.lab.runner import resolve_datasets, resolve_device, run_lab
from losslab.lab.stats import Interval, mean_ci
from losslab.lab.style import new_figure
from losslab.lab.verdicts import ClaimRules, Rule, decide

QUIET = Console(quiet=True)


# ------------------------------------------------------------------ statistics
def test_mean_ci_brackets_the_mean_and_shrinks_with_agreement():
    rng = np.random.default_rng(0)
    wide = mean_ci(rng.normal(0.9, 0.05, 5))
    narrow = mean_ci(rng.normal(0.9, 0.005, 5))
    assert wide.low < wide.estimate < wide.high
    assert narrow.high - narrow.low < (wide.high - wide.low) / 3
    assert mean_ci([0.5, 0.5, 0.5]) == Interval(0.5, 0.5, 0.5, 3)
    assert mean_ci([0.7]) == Interval(0.7, 0.7, 0.7, 1)


def test_mean_ci_is_seeded_and_covers_at_about_the_stated_rate():
    assert mean_ci([1.0, 2.0, 4.0], seed=3) == mean_ci([1.0, 2.0, 4.0], seed=3)
    rng = np.random.default_rng(1)
    hits = sum(mean_ci(rng.normal(0.0, 1.0, 30), n_bootstrap=500, seed=k).excludes(0.0) is False for k in range(200))
    assert 0.88 <= hits / 200 <= 0.99  # percentile bootstrap, n = 30: close to 95%


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mean_ci([]), "`values` is empty"),
        (lambda: mean_ci([1.0, math.nan]), "non-finite values at positions [1]"),
        (lambda: mean_ci([1.0], level=1.5), "`level` must be in (0, 1); got 1.5"),
    ],
)
def test_statistics_reject_bad_input(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)


# ------------------------------------------------------------------ registry and profiles
def test_registry_selects_by_number_and_slug():
    claims = select_claims(None)
    numbers = [c.number for c in claims]
    assert numbers == sorted(numbers) and set(range(1, 13)) <= set(numbers)
    assert len({c.slug for c in claims}) == len(claims)
    assert [c.number for c in select_claims(" likelihood , 12,1")] == [1, 12]
    for c in claims:
        assert c.statement and c.method and c.rule and c.references and callable(c.run)
        assert c.kind in ("identity", "empirical") and c.rules.rules


@pytest.mark.parametrize("spec", ["99", "nope", " , "])
def test_registry_rejects_unknown_claims(spec):
    with pytest.raises(ValueError, match="`--claims`"):
        select_claims(spec)


def test_profiles_meet_the_issue():
    assert PROFILES["quick"].seeds >= 5 and PROFILES["full"].seeds > PROFILES["quick"].seeds
    assert PROFILES["full"].epochs > PROFILES["quick"].epochs > PROFILES["smoke"].epochs
    with pytest.raises(ValueError, match="`profile` must be one of"):
        get_profile("fast")


def test_finding_and_table_validate():
    with pytest.raises(ValueError, match="needs at least one decided part"):
        Finding([], "", "", {})
    with pytest.raises(ValueError, match="row 0 of table 't' has 1 cells; the table has 2 columns"):
        LabTable("t", ("a", "b"), ((1,),))


def test_datasets_and_device_resolution():
    quick = PROFILES["quick"]
    assert resolve_datasets(quick, ["wine"], None) == ("wine",)
    with pytest.raises(ValueError, match="regression dataset"):
        resolve_datasets(quick, ["diabetes"], None)
    with pytest.raises(ValueError, match="needs --data-dir"):
        resolve_datasets(quick, ["mnist"], None)
    with pytest.raises(ValueError, match="must be among"):
        resolve_datasets(quick, ["cifar"], None)
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="`device` must be"):
        resolve_device("tpu")


# ------------------------------------------------------------------ cells and resume
CALLS: list[int] = []


def square_cell(params):
    CALLS.append(params["x"])
    return {"y": params["x"] ** 2 / 3, "device": params["device"]}


def test_cells_are_cached_and_identical_when_reread(tmp_path):
    ctx = Context(profile=PROFILES["smoke"], datasets=("digits",), cache_dir=tmp_path).for_claim("demo")
    CALLS.clear()
    first = ctx.map(square_cell, [{"x": 1}, {"x": 2}])
    assert CALLS == [1, 2] and (ctx.computed, ctx.cached) == (2, 0)
    again = ctx.for_claim("demo")
    assert again.map(square_cell, [{"x": 2}, {"x": 1}, {"x": 3}]) == [first[1], first[0], {"y": 3.0, "device": "cpu"}]
    assert CALLS == [1, 2, 3] and (again.computed, again.cached) == (1, 2)
    files = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert len(files) == 3 and all(f.startswith("square_cell-") and f.endswith(".json") for f in files)
    stored = json.loads((tmp_path / "demo" / files[0]).read_text())
    assert set(stored) == {"params", "result"} and stored["params"]["data_dir"] is None


def test_a_corrupt_cell_file_is_recomputed(tmp_path):
    ctx = Context(profile=PROFILES["smoke"], datasets=("digits",), cache_dir=tmp_path).for_claim("demo")
    ctx.map(square_cell, [{"x": 4}])
    (path,) = (tmp_path / "demo").iterdir()
    path.write_text('{"params": {}, "res')
    CALLS.clear()
    assert ctx.map(square_cell, [{"x": 4}]) == [{"y": 16 / 3, "device": "cpu"}] and CALLS == [4]


def test_cell_key_depends_on_function_params_and_device():
    p = {"x": 1, "device": "cpu", "data_dir": None}
    assert cell_key(square_cell, p) == cell_key(square_cell, dict(reversed(p.items())))
    assert cell_key(square_cell, p) != cell_key(square_cell, p | {"device": "cuda"})
    assert cell_key(square_cell, p) != cell_key(test_cell_key_depends_on_function_params_and_device, p)


def test_worker_processes_give_the_same_cells(tmp_path):
    serial = Context(profile=PROFILES["smoke"], datasets=("digits",), cache_dir=tmp_path / "a").for_claim("d")
    parallel = Context(profile=PROFILES["smoke"], datasets=("digits",), cache_dir=tmp_path / "b", jobs=2)
    try:
        params = [{"x": x} for x in range(5)]
        assert parallel.for_claim("d").map(square_cell, params) == serial.map(square_cell, params)
    finally:
        parallel.close()


def test_atomic_write_leaves_old_file_or_new_never_a_temp(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "f.json"
    atomic_write(target, "old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(context_mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["f.json"]


# ------------------------------------------------------------------ the runner on made-up claims
def counting_cell(params):
    return {"value": 0.01 * params["seed"] + 5.0}  # clearly positive even for a t-interval of two seeds


FINE_RULE = Rule("c91.positive", "greater", "the values are positive", scale=0.1)


def _fine_run(ctx):
    cells = ctx.map(counting_cell, [{"seed": s} for s in ctx.seeds])
    values = [c["value"] for c in cells]
    iv = mean_ci(values, n_bootstrap=ctx.n_bootstrap)
    fig, ax = new_figure()
    ax.plot(values)
    ax.set_xlabel("seed")
    return Finding(
        parts=[decide(FINE_RULE, values, name="all seeds")],
        reason=f"mean {iv.format()}",
        summary="effect | with a pipe",
        numbers={"interval": iv.to_dict(), "nan": math.nan, "array": np.arange(2)},
        tables=[LabTable("values", ("seed", "value"), tuple((s, v) for s, v in zip(ctx.seeds, values, strict=True)))],
        figures=[LabFigure("the values <by seed>", fig)],
        discussion="First paragraph.\n\nSecond & last.",
    )


def _broken_run(ctx):
    raise ZeroDivisionError("the claim's bug")


FINE = Claim(91, "fine", "A fine claim", "It holds.", "Count.", ("Ref A",), _fine_run, source="a test")
BROKEN = Claim(92, "broken", "A broken claim", "It breaks.", "Divide.", ("Ref B",), _broken_run, source="a test")


@pytest.fixture(autouse=True)
def _made_up_rules(monkeypatch):
    """The made-up claims' rules, declared beside the real ones for the length of a test."""
    monkeypatch.setitem(rules_mod.RULES, "fine", ClaimRules("fine", "empirical", "all", "Supported if the CI is "
                                                            "above 0.", (FINE_RULE,)))  # fmt: skip
    monkeypatch.setitem(rules_mod.RULES, "broken", ClaimRules("broken", "empirical", "all", "n/a",
                                                              (Rule("c92.x", "greater", "n/a"),)))  # fmt: skip


def test_runner_writes_report_and_survives_a_broken_claim(tmp_path):
    out = tmp_path / "lab"
    results = run_lab(out=out, profile=PROFILES["smoke"], claims=[FINE, BROKEN], device="cpu", console=QUIET)
    check_results_schema(results)
    assert json.loads((out / "results.json").read_text()) == results
    fine, broken = results["claims"]
    assert fine["status"] == "ok" and fine["verdict"] == "supported" and fine["numbers"]["nan"] is None
    assert fine["numbers"]["array"] == [0, 1] and fine["cells"] == {"computed": 2, "cached": 0}
    assert broken["status"] == "error" and "ZeroDivisionError: the claim's bug" in broken["error"]
    assert (out / "figures" / "claim91-fine-1.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "index.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 1
    assert "the values &lt;by seed&gt;" in page and "<p>Second &amp; last.</p>" in page
    assert "the claim&#x27;s bug" in page
    summary = (out / "summary.md").read_text()
    assert "| 91 | A fine claim | empirical | supported | effect / with a pipe |" in summary
    assert "**2 empirical claims: 1 supported, 1 error." in summary
    assert "<b>2 empirical claims: 1 supported, 1 error." in page
    assert fine["parts"][0]["rule"] == "c91.positive" and fine["controls_ok"] is True
    assert results["holm_tests"] == 1 and results["tally"]["empirical"]["supported"] == 1
    assert "![the values <by seed>](figures/claim91-fine-1.png)" in summary
    assert not list(out.rglob("*.tmp"))
    again = run_lab(out=out, profile=PROFILES["smoke"], claims=[FINE], device="cpu", console=QUIET)
    assert again["claims"][0]["cells"] == {"computed": 0, "cached": 2}
    assert again["claims"][0]["numbers"] == fine["numbers"]


def test_resume_after_interruption_reuses_finished_cells(tmp_path, monkeypatch):
    real = context_mod.atomic_write
    written = []

    def interrupt_on_second(path, data):
        if len(written) == 1:
            raise KeyboardInterrupt
        written.append(path)
        real(path, data)

    monkeypatch.setattr(context_mod, "atomic_write", interrupt_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_lab(out=tmp_path, profile=PROFILES["quick"], claims=[FINE], device="cpu", console=QUIET)
    assert not (tmp_path / "results.json").exists()
    assert len(list((tmp_path / "cells" / "fine").iterdir())) == 1
    monkeypatch.setattr(context_mod, "atomic_write", real)
    resumed = run_lab(out=tmp_path, profile=PROFILES["quick"], claims=[FINE], device="cpu", console=QUIET)
    n = PROFILES["quick"].seeds
    assert resumed["claims"][0]["cells"] == {"computed": n - 1, "cached": 1}
    fresh = run_lab(out=tmp_path / "f", profile=PROFILES["quick"], claims=[FINE], device="cpu", console=QUIET)
    assert resumed["claims"][0]["numbers"] == fresh["claims"][0]["numbers"]
    refreshed = run_lab(out=tmp_path, profile=PROFILES["quick"], claims=[FINE], device="cpu", fresh=True, console=QUIET)
    assert refreshed["claims"][0]["cells"] == {"computed": n, "cached": 0}


# ------------------------------------------------------------------ the command
def test_cli_lab_list_and_usage_errors(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["lab", "--list"])
    assert listed.exit_code == 0 and "likelihood" in listed.output and "distillation" in listed.output
    bad = runner.invoke(main, ["lab", "--claims", "99", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown claim '99'" in bad.output
    bad = runner.invoke(main, ["lab", "--dataset", "mnist", "--claims", "1", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "needs --data-dir" in bad.output
    assert not (tmp_path / "x").exists()


def test_cli_lab_exits_non_zero_when_a_claim_breaks(tmp_path, monkeypatch):
    monkeypatch.setattr("losslab.lab.registry.select_claims", lambda spec: [FINE, BROKEN])
    r = CliRunner().invoke(main, ["lab", "--profile", "smoke", "--out", str(tmp_path), "--jobs", "1"])
    assert r.exit_code == 1, r.output
    assert "supported" in r.output and "error" in r.output
    assert Path(tmp_path / "index.html").exists()


def test_cli_lab_without_torch_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # makes `import torch` raise ImportError
    r = CliRunner().invoke(main, ["lab", "--claims", "1", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "pip install 'losslab[torch]'" in r.output
    assert not (tmp_path / "x").exists()


def test_borrowed_contexts_fix_the_seeds_and_count_into_the_borrower(tmp_path):
    """A planted control runs on the same seeds in every profile, and its cells count in the claim that ran it."""
    for name in ("smoke", "full"):
        ctx = Context(profile=get_profile(name), datasets=("digits",), cache_dir=tmp_path / name).for_claim("fine")
        with ctx.borrowed(seeds=5) as c_ctx:
            assert c_ctx.seeds == [0, 1, 2, 3, 4]
            c_ctx.map(counting_cell, [{"seed": s} for s in c_ctx.seeds])
        with ctx.borrowed(slug="other") as o_ctx:
            o_ctx.map(counting_cell, [{"seed": 0}])
        assert ctx.seeds == list(range(get_profile(name).seeds)) and ctx.slug == "fine"
        assert (ctx.computed, ctx.cached) == (6, 0)
        assert (tmp_path / name / "other").is_dir()


# ------------------------------------------------------------------ cell files that do not fit their schema
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[]", "(the file holds an array)"),
        ('{"x": 1}', '(no "params" key)'),
        ("3", "(the file holds a number)"),
        ("null", "(the file holds null)"),
        ({"result": 3}, '"result" is a number'),
        ({"result": [5.0]}, '"result" is an array'),
        ({"params": [], "result": {"value": 5.0}}, '"params" is an array'),
        ("[" * 100_000, "is unreadable (RecursionError"),
        (b"\xff\xfe{", "is unreadable (UnicodeDecodeError"),
    ],
)
def test_a_claim_recomputes_cell_files_of_the_wrong_shape_and_names_them(tmp_path, content, reason):
    """A cell file that is JSON of another shape fails no claim, on this run or the next: it is named and recomputed."""
    import io

    first = run_lab(out=tmp_path, profile=PROFILES["smoke"], claims=[FINE], device="cpu", console=QUIET)
    bad = sorted((tmp_path / "cells" / "fine").iterdir())[0]
    good = json.loads(bad.read_text())
    if isinstance(content, dict):
        content = json.dumps({"params": good["params"], **content})
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    log = io.StringIO()
    again = run_lab(out=tmp_path, profile=PROFILES["smoke"], claims=[FINE], device="cpu",
                    console=Console(file=log, width=500))  # fmt: skip
    (claim,) = again["claims"]
    assert claim["status"] == "ok" and claim["numbers"] == first["claims"][0]["numbers"]
    assert claim["cells"] == {"computed": 1, "cached": 1}
    (line,) = [line for line in log.getvalue().splitlines() if "cell file" in line]
    assert str(bad) in line and reason in line and line.endswith("computing the cell again"), line
    assert json.loads(bad.read_text()) == good  # repaired: the next run reads it
    third = run_lab(out=tmp_path, profile=PROFILES["smoke"], claims=[FINE], device="cpu", console=QUIET)
    assert third["claims"][0]["cells"] == {"computed": 0, "cached": 2}


def test_a_claim_failing_on_cached_cells_says_where_they_came_from(tmp_path):
    """A cell file of the right schema but edited contents: the claim's error names the cache and the way out."""
    run_lab(out=tmp_path, profile=PROFILES["smoke"], claims=[FINE], device="cpu", console=QUIET)
    for path in (tmp_path / "cells" / "fine").iterdir():
        stored = json.loads(path.read_text())
        path.write_text(json.dumps({"params": stored["params"], "result": {"value": "five"}}))
    (claim,) = run_lab(out=tmp_path, profile=PROFILES["smoke"], claims=[FINE], device="cpu", console=QUIET)["claims"]
    assert claim["status"] == "error" and "Traceback" in claim["error"]
    assert f"2 of the claim's cells were read from the cache in {tmp_path / 'cells'}" in claim["error"]
    assert "--fresh" in claim["error"]
