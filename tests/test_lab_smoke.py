"""``losslab lab --profile smoke`` end to end: every claim runs, the report is complete and renders in Chromium."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import check_results_schema, render_in_chromium
from losslab.cli import main
from losslab.lab.registry import VERDICTS, all_claims


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    r = CliRunner().invoke(main, ["lab", "--profile", "smoke", "--out", str(out), "--jobs", "2"])
    assert r.exit_code == 0, r.output
    return out, r.output, json.loads((out / "results.json").read_text())


def test_every_claim_has_a_verdict_a_figure_and_references(smoke):
    out, output, results = smoke
    check_results_schema(results)
    numbers = [c.number for c in all_claims()]
    assert [c["number"] for c in results["claims"]] == numbers and len(numbers) >= 18
    for c in results["claims"]:
        assert c["status"] == "ok", c["error"]
        assert c["verdict"] in VERDICTS and c["reason"] and c["summary"] and c["discussion"]
        assert c["figures"] and c["references"] and c["source"] and c["parts"]
        assert c["controls_ok"] is True, [k for k in c["controls"] if k["got"] != k["expected"]]
        if c["kind"] == "empirical":  # its own planted controls, through its measurement, can go both ways
            own = {k["expected"] for k in c["controls"] if k["source"] == "claim"}
            assert {"supported", "refuted"} <= own, (c["number"], own)
        for f in c["figures"]:
            assert (out / "figures" / f["file"]).stat().st_size > 1000
    assert f"losslab lab (smoke): {len(numbers)} claims" in output
    # a fresh run computes each cell once; claims that share a comparison (5, 14, 17) reuse each other's
    assert sum(c["cells"]["computed"] for c in results["claims"]) == len(list((out / "cells").rglob("*.json")))
    assert {c["kind"] for c in results["claims"]} == {"identity", "empirical"}
    html = (out / "index.html").read_text()
    assert results["rules_sha256"] in html and "Every statement of the seeds" in html
    assert results["config"]["profile"]["name"] == "smoke" and results["config"]["jobs"] == 2


def test_summary_lists_every_verdict(smoke):
    out, _, results = smoke
    summary = (out / "summary.md").read_text()
    for c in results["claims"]:
        assert f"| {c['number']} | {c['title']} | {c['kind']} | {c['verdict']} |" in summary


def test_report_renders_in_chromium(smoke, tmp_path):
    out, _, results = smoke
    n_figures = sum(len(c["figures"]) for c in results["claims"])
    seen = render_in_chromium(out / "index.html", tmp_path)
    assert seen["images"] == seen["decoded"] == n_figures
    assert seen["external"] == [] and seen["errors"] == []
    assert seen["title"].startswith("losslab lab report")


def test_second_run_reuses_every_cell_and_reports_the_same_numbers(smoke, tmp_path):
    out, _, first = smoke
    r = CliRunner().invoke(main, ["lab", "--profile", "smoke", "--out", str(out), "--jobs", "1"])
    assert r.exit_code == 0, r.output
    second = json.loads((out / "results.json").read_text())
    for a, b in zip(first["claims"], second["claims"], strict=True):
        assert b["cells"]["computed"] == 0 and b["cells"]["cached"] == a["cells"]["computed"] + a["cells"]["cached"]
        assert b["numbers"] == a["numbers"] and b["verdict"] == a["verdict"]


def test_every_claim_runs_on_an_idx_dataset(tmp_path):
    """``--data-dir DIR --dataset mnist`` end to end, on IDX files written here (digits' 8x8 images as uint8)."""
    from sklearn.datasets import load_digits

    from test_lab_data import idx_bytes

    X, y = load_digits(return_X_y=True)
    images = (X.reshape(-1, 8, 8) * 16).clip(0, 255).astype("uint8")
    labels = y.astype("uint8")
    data = tmp_path / "idx"
    data.mkdir()
    for stem, arr in {
        "train-images-idx3-ubyte": images[:1400],
        "train-labels-idx1-ubyte": labels[:1400],
        "t10k-images-idx3-ubyte": images[1400:],
        "t10k-labels-idx1-ubyte": labels[1400:],
    }.items():
        (data / stem).write_bytes(idx_bytes(arr))  # decompressed files: no published checksum to match
    out = tmp_path / "lab"
    args = [
        "lab",
        "--profile",
        "smoke",
        "--data-dir",
        str(data),
        "--dataset",
        "mnist",
        "--out",
        str(out),
        "--jobs",
        "2",
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["datasets"] == ["mnist"] and results["config"]["data_dir"] == str(data.resolve())
    for c in results["claims"]:
        assert c["status"] == "ok", c["error"]
