"""The typed public API (PEP 561): mypy on a user's script passes correct calls and flags wrong ones.

The scripts are type-checked as a user's code would be: their own mypy configuration (not the
repository's), losslab found through the installed package and its ``py.typed`` marker, mypy's
cache in a fresh temporary folder (so every run is cold, as in CI: about 4 s).
"""

from __future__ import annotations

import re

import pytest

mypy_api = pytest.importorskip("mypy.api")

GOOD = """
from typing import Literal

import numpy as np
import torch

import losslab
import losslab.torch
from losslab.calibration import CalibrationState, TemperatureScaling, VectorScaling, ece, reliability_curve
from losslab.likelihoods import Categorical, Gaussian
from losslab.plotting import reliability_diagram

pred, target = np.array([0.5, 1.0]), np.array([0.0, 1.0])
logits, labels = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
r: Literal["mean", "sum", "none"] = "sum"

a = losslab.mse(pred, target)
b = losslab.mse(pred, target, reduction="none")
c = losslab.mse(pred, target, reduction=r)
d = losslab.cross_entropy(logits, labels, reduction="sum")
e = losslab.binary_cross_entropy_with_logits(pred, target, reduction="mean")
g = losslab.grad.mse(pred, target, reduction="sum")

loss_fn = losslab.torch.CrossEntropyLoss(weight=torch.ones(2), ignore_index=-100, reduction="mean")
value: torch.Tensor = loss_fn(torch.zeros(4, 2, requires_grad=True), torch.tensor([0, 1, 1, -100]))
mse_mod = losslab.torch.MSELoss(reduction="sum")
kind: str = mse_mod.reduction

ts: TemperatureScaling = TemperatureScaling().fit(logits, labels)
vs: VectorScaling = VectorScaling().fit(logits, labels, sample_weight=np.ones(2))
probs: np.ndarray = ts.predict_proba(logits)
report: dict[str, float] = ts.report(logits, labels)
err: float = ece(probs, labels, n_bins=10)
state = CalibrationState(n_bins=10).update(probs, labels)
total: float = state.compute()
ax, hist_ax = reliability_diagram(reliability_curve(probs, labels, n_bins=5))

nll = Gaussian(var=2.0).nll(pred, target)
scale: float = Categorical().scale
"""

# (call, the argument mypy must name); each on its own line of BAD, in order
WRONG = [
    ('losslab.mse(pred, target, reduction="avg")', "reduction"),
    ('losslab.cross_entropy(logits, labels, reduction="avg")', "reduction"),
    ('losslab.torch.CrossEntropyLoss(reduction="avg")', "reduction"),
    ('losslab.torch.MSELoss(reduction="avg")', "reduction"),
    ("TemperatureScaling().fit(logits, labels).predict_proba(logits).no_such_attribute", "no_such_attribute"),
    ('ece(pred, labels, n_bins="15")', "n_bins"),
]

BAD_HEAD = """
import numpy as np

import losslab
import losslab.torch
from losslab.calibration import TemperatureScaling, ece

pred, target = np.array([0.5, 1.0]), np.array([0.0, 1.0])
logits, labels = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
"""


# A user's plain configuration. What is checked is losslab's own annotations: the untyped scientific
# stack is Any (ignore_missing_imports), and the typed array and plotting libraries are not followed
# (their names are Any too): reading torch's stubs alone takes mypy 20 s cold, jax's and Dask's 10 s more,
# while with them skipped the whole test takes a few seconds. numpy's stubs are read (np.ndarray results).
MYPY_INI = """\
[mypy]
python_version = 3.11

[mypy-scipy.*,sklearn.*,threadpoolctl.*,mpl_toolkits.*]
ignore_missing_imports = True

[mypy-torch.*,jax.*,jaxlib.*,dask.*,distributed.*,matplotlib.*,array_api_strict.*]
follow_imports = skip
"""


BAD = BAD_HEAD + "".join(f"x{i} = {call}\n" for i, (call, _) in enumerate(WRONG))
FIRST = BAD_HEAD.count("\n") + 1  # the line of WRONG[0] in BAD


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """mypy's report on both scripts, from one cold run (about 4 s)."""
    tmp = tmp_path_factory.mktemp("typing")
    config = tmp / "mypy.ini"
    config.write_text(MYPY_INI)
    paths = []
    for name, text in (("user_good", GOOD), ("user_bad", BAD)):
        path = tmp / f"{name}.py"
        path.write_text(text)
        paths.append(str(path))
    stdout, stderr, status = mypy_api.run(
        ["--config-file", str(config), "--cache-dir", str(tmp / "mypy_cache"), "--no-color-output",
         "--show-error-codes", "--no-error-summary", *paths]
    )  # fmt: skip
    assert not stderr, stderr
    return stdout, status


def _errors(stdout: str, name: str) -> dict[int, list[str]]:
    """The error messages on each line of the script ``name``."""
    out: dict[int, list[str]] = {}
    for m in re.finditer(rf"^[^\n]*{name}\.py:(\d+): error: (.*)$", stdout, flags=re.M):
        out.setdefault(int(m.group(1)), []).append(m.group(2))
    return out


def test_mypy_passes_correct_calls(mypy_run: tuple[str, int]) -> None:
    stdout, _ = mypy_run
    assert "user_good.py" not in stdout, f"mypy rejects correct calls:\n{stdout}"


def test_mypy_flags_wrong_calls(mypy_run: tuple[str, int]) -> None:
    stdout, status = mypy_run
    flagged = _errors(stdout, "user_bad")
    problems = []
    for i, (call, argument) in enumerate(WRONG):
        msgs = " | ".join(flagged.get(FIRST + i, []))
        if not msgs:
            problems.append(f"not flagged: {call}")
        elif argument not in msgs:
            problems.append(f"{call}: the error does not name {argument!r}: {msgs}")
        elif argument == "reduction" and not ("Literal['avg']" in msgs and "Literal['mean', 'sum', 'none']" in msgs):
            # Argument "reduction" to "mse" has incompatible type "Literal['avg']";
            # expected "Literal['mean', 'sum', 'none']"  [arg-type]
            problems.append(f"{call}: the error does not show the Literal reductions: {msgs}")
    extra = set(flagged) - {FIRST + i for i in range(len(WRONG))}
    if extra:
        problems.append(f"errors on other lines {sorted(extra)}")
    assert not problems, "\n".join(problems) + f"\n\nmypy said:\n{stdout}"
    assert status == 1


def test_the_package_itself_type_checks(tmp_path):
    """``mypy`` with the project's own configuration (pyproject.toml) finds no error in ``src/losslab``.

    Cold, about 40 s on the 2-core CI machine (it reads torch's and numpy's types).
    """
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    stdout, stderr, status = mypy_api.run(
        ["--config-file", str(root / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"),
         "--no-color-output", str(root / "src" / "losslab")]
    )  # fmt: skip
    assert status == 0, stdout + stderr
