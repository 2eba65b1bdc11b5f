"""Every Python block in the README runs as written, and so does its `losslab evaluate` example."""

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from losslab.calibration import TemperatureScaling
from losslab.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(code, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files
    exec(compile(code, str(README), "exec"), {})


def test_readme_evaluate_example(tmp_path, monkeypatch):
    """The evaluate section: its Python block writes the files, its command scores them, and the
    table and the sentence below it quote what the command printed."""
    monkeypatch.chdir(tmp_path)
    section = TEXT[TEXT.index("### `losslab evaluate`") : TEXT.index("## The claims lab")]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    command = re.findall(r"```bash\n(losslab evaluate .*?)\n```", section, flags=re.S)[0]
    exec(compile(code, str(README), "exec"), {})
    r = CliRunner().invoke(main, shlex.split(command)[1:], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    shown = re.findall(r"```text\n(.*?)```", section, flags=re.S)[0]
    for line in shown.splitlines():
        if line.startswith("│"):
            assert line in r.output, line
    res = json.loads((tmp_path / "report" / "metrics.json").read_text())
    T = res["calibration"]["params"]["temperature_"]
    assert f"temperature is {T:.2f}" in section and T < 1
    val = np.loadtxt(tmp_path / "val.csv", delimiter=",", skiprows=1)
    assert TemperatureScaling().fit(val[:, :-1], val[:, -1].astype(int)).temperature_ == pytest.approx(T, rel=1e-9)
