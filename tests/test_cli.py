"""The ``losslab`` command line (``losslab.cli:main``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

import losslab
from losslab.cli import main
from losslab.registry import LOSSES

NAMES = list(LOSSES)
KINDS = sorted({s.kind for s in LOSSES.values()})


def _invoke(*args: str, columns: int = 200):
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": str(columns)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _first_column(output: str) -> list[str]:
    """Loss names: a table row starts with the box character and the name; in the narrow
    layout each block starts with the name at the start of a line, then its likelihood."""
    return re.findall(r"^(?:[│|] )?(\w+)\s+(?:[│|]|\()", output, flags=re.MULTILINE)


# ==================================================================== table
@pytest.mark.parametrize("columns", [80, 200])
def test_losses_lists_every_name(columns):
    result = _invoke("losses", columns=columns)
    assert result.exit_code == 0
    assert _first_column(result.output) == NAMES  # whole names, in registry order, even at 80 columns
    assert f"losslab {losslab.__version__}: {len(NAMES)} losses" in result.output


@pytest.mark.parametrize("columns", [80, 250])
def test_table_shows_formulas_verbatim(columns):
    out = _invoke("losses", columns=columns).output
    for spec in LOSSES.values():
        assert spec.formula in out, spec.name
        assert spec.grad_formula in out, spec.name
    # brackets are text, not rich markup
    assert "sum_c (p_c - [y = c])^2" in out


# ===================================================================== JSON
def test_json_is_valid_and_complete():
    result = _invoke("losses", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == NAMES
    for r in rows:
        spec = LOSSES[r["name"]]
        assert r == {
            "name": spec.name,
            "kind": spec.kind,
            "input": spec.input_space,
            "likelihood": spec.likelihood,
            "loss": spec.formula,
            "gradient": spec.grad_formula,
        }


@pytest.mark.parametrize("kind", KINDS)
def test_kind_filters(kind):
    expected = [s.name for s in LOSSES.values() if s.kind == kind]
    assert expected
    rows = json.loads(_invoke("losses", "--kind", kind, "--json").output)
    assert [r["name"] for r in rows] == expected
    assert {r["kind"] for r in rows} == {kind}
    table = _invoke("losses", "--kind", kind).output
    assert _first_column(table) == expected
    assert f"{len(expected)} losses" in table


def test_kind_regression():
    rows = json.loads(_invoke("losses", "--kind", "regression", "--json").output)
    names = {r["name"] for r in rows}
    assert {"mse", "mae", "huber", "pinball", "rmse"} <= names
    assert not names & {"cross_entropy", "kl_divergence", "entropy", "poisson_nll"}


def test_bad_kind_is_a_usage_error():
    result = _invoke("losses", "--kind", "bogus")
    assert result.exit_code == 2
    assert "Invalid value for '--kind'" in result.output
    assert "'bogus' is not one of" in result.output


# ================================================================ top level
def test_version():
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"losslab, version {losslab.__version__}"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    result = _invoke(flag)
    assert result.exit_code == 0
    assert "losses" in result.output and "Usage:" in result.output
    sub = _invoke("losses", flag)
    assert "--kind" in sub.output and "--json" in sub.output


def test_unknown_command():
    result = _invoke("nope")
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.output


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "losslab.cli", "losses", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert [r["name"] for r in json.loads(out.stdout)] == NAMES


# ================================================================ evaluate
def test_evaluate_help_lists_the_reading_options():
    out = " ".join(_invoke("evaluate", "--help").output.split())
    for option in ("--label-column", "--score-columns", "--ignore-columns", "--classes", "--header / --no-header",
                   "--encoding", "--probs", "--logits", "--seed"):  # fmt: skip
        assert option in out, option
    assert "values within 0.01 of [0, 1] are clipped, rows renormalised to sum to 1" in out


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--n-bins", "0"), ("--n-resamples", "0")])
def test_evaluate_bad_option_values_are_usage_errors(tmp_path, option, value):
    f = tmp_path / "p.csv"
    f.write_text("p,y\n0.2,1\n0.7,0\n")
    result = _invoke("evaluate", str(f), "--label-column", "y", option, value, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()
