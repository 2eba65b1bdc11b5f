"""Where the lab's cells run: a Dask cluster gives the local pool's numbers; killing the run kills its workers;
the progress; the cell cache's key and the validation of its files."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from losslab.cli import main
from losslab.lab import context as context_mod
from losslab.lab import scheduler as scheduler_mod
from losslab.lab.context import Context, cell_key, package_hash
from losslab.lab.profiles import PROFILES, get_profile
from losslab.lab.registry import select_claims
from losslab.lab.runner import run_lab

QUIET = Console(quiet=True)
LINUX = sys.platform.startswith("linux")


# ------------------------------------------------------------------ Dask
def test_a_dask_cluster_gives_the_numbers_of_the_local_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:  # fmt: skip
        args = ["--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")]
        r = CliRunner().invoke(main, ["lab", "--profile", "smoke", "--claims", "1,11", "--device", "cpu", *args])
        assert r.exit_code == 0, r.output
    local = run_lab(out=tmp_path / "local", profile=get_profile("smoke"), claims=select_claims("1,11"),
                    device="cpu", jobs=2, console=QUIET)  # fmt: skip
    on_dask = json.loads((tmp_path / "dask" / "results.json").read_text())
    assert [c["status"] for c in on_dask["claims"]] == ["ok"] * 2
    assert all(c["cells"]["computed"] > 0 for c in on_dask["claims"])
    assert [c["numbers"] for c in on_dask["claims"]] == [c["numbers"] for c in local["claims"]]


def test_an_unreachable_scheduler_is_a_usage_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(scheduler_mod, "CONNECT_TIMEOUT_S", 0.5)
    out = tmp_path / "x"
    r = CliRunner().invoke(main, ["lab", "--claims", "1", "--scheduler", "tcp://127.0.0.1:1", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "`--scheduler` 'tcp://127.0.0.1:1': no Dask scheduler answered" in r.output
    assert "leave --scheduler out" in r.output and not out.exists()
    r = CliRunner().invoke(main, ["lab", "--claims", "1", "--scheduler", "no port", "--out", str(out)])
    assert r.exit_code == 2 and "'no port'" in r.output and "Traceback" not in r.output


# ------------------------------------------------------------------ killing the run
def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines (Linux's /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", status, re.M):
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        return re.search(r"^State:\s+Z", Path(f"/proc/{pid}/status").read_text(), re.M) is None
    except OSError:
        return False


def _start_lab_and_wait_for_a_worker(out: Path) -> tuple[subprocess.Popen, dict[int, str]]:
    """``losslab lab`` in its own process group, its output in OUT.stdout / OUT.stderr (not pipes: a worker
    that outlived it would hold a pipe open, and reading it would hang instead of failing)."""
    cmd = [sys.executable, "-m", "losslab.cli", "lab", "--profile", "smoke", "--jobs", "2", "--claims", "5",
           "--device", "cpu", "--out", str(out)]  # fmt: skip
    with open(f"{out}.stdout", "w") as stdout, open(f"{out}.stderr", "w") as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        children = _children(proc.pid)
        if any("spawn_main" in c for c in children.values()):
            time.sleep(1.0)  # into the cells (or still starting: the initializer then finds its parent gone)
            return proc, children | _children(proc.pid)
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no worker process appeared: {Path(f'{out}.stderr').read_text()}")


def _assert_all_gone(pids, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for p in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    assert not left, f"processes still alive {within_s} s after the main one stopped: {left}"


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_sigkill_of_the_main_process_leaves_no_worker_alive(tmp_path):
    proc, children = _start_lab_and_wait_for_a_worker(tmp_path / "lab")
    proc.kill()
    proc.wait(timeout=30)
    assert any("resource_tracker" in c for c in children.values())  # it too must go
    _assert_all_gone(children)


@pytest.mark.skipif(not LINUX, reason="reads /proc")
@pytest.mark.parametrize(
    ("how", "code", "said"),
    [("sigterm", 143, r"interrupted \(SIGTERM\)"), ("ctrl-c", 130, "interrupted")],  # fmt: skip
)
def test_sigterm_and_ctrl_c_stop_the_workers_and_say_one_clean_line(tmp_path, how, code, said):
    out_dir = tmp_path / "lab"
    proc, children = _start_lab_and_wait_for_a_worker(out_dir)
    if how == "sigterm":
        proc.terminate()
    else:  # a terminal sends SIGINT to the whole foreground process group, the workers included
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    finally:
        _assert_all_gone([*children, proc.pid], within_s=5.0)
    out, err = Path(f"{out_dir}.stdout").read_text(), Path(f"{out_dir}.stderr").read_text()
    assert proc.returncode == code, (out, err)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and re.fullmatch(
        rf"{said}: \d+ cells finished and cached in {re.escape(str(out_dir / 'cells'))}; "
        "run the same command again to resume",
        lines[0],
    ), out  # fmt: skip
    assert "Traceback" not in err, err


def test_a_dask_worker_with_other_losslab_code_refuses_the_cell():
    with pytest.raises(RuntimeError, match="other losslab source code than the client"):
        scheduler_mod._run_on_dask(counting_cell, {"x": 1}, 1, "another hash")
    assert json.loads(scheduler_mod._run_on_dask(counting_cell, {"x": 1}, 1, package_hash())) == {"twice": 2}


# ------------------------------------------------------------------ progress
def test_progress_shows_claims_cells_and_time_but_no_hash(tmp_path):
    console = Console(record=True, width=100, force_terminal=False)
    run_lab(out=tmp_path, profile=PROFILES["smoke"], claims=select_claims("1"), device="cpu", console=console)
    shown = console.export_text()
    assert "claim 1/1" in shown and select_claims("1")[0].title[:30] in shown
    assert "1/1 cells of this batch" in shown and "elapsed" in shown and " left" in shown
    assert not re.search(r"[0-9a-f]{8}", shown), shown


# ------------------------------------------------------------------ the cache
def counting_cell(params):
    return {"twice": 2 * params["x"]}


@pytest.fixture
def fresh_hashes():
    context_mod.package_hash.cache_clear()
    context_mod._code_hash.cache_clear()
    yield
    context_mod.package_hash.cache_clear()
    context_mod._code_hash.cache_clear()


def test_the_cell_key_covers_the_losses_and_not_the_report(fresh_hashes, monkeypatch, tmp_path):
    names = set(context_mod._hashed_files())
    for name in ("losses/binary.py", "calibration/scaling.py", "kernels/_native.c", "lab/train.py", "lab/data.py"):
        assert name in names
    for name in ("lab/report.py", "lab/runner.py", "lab/style.py", "lab/scheduler.py", "lab/claims/c07_outliers.py"):
        assert name not in names
    p = {"x": 1, "device": "cpu", "data_dir": None}
    before = cell_key(counting_cell, p)
    edited = tmp_path / "binary.py"
    edited.write_bytes(context_mod._hashed_files()["losses/binary.py"].read_bytes() + b"\n# an edit\n")
    real = context_mod._hashed_files
    monkeypatch.setattr(context_mod, "_hashed_files", lambda: {**real(), "losses/binary.py": edited})
    context_mod.package_hash.cache_clear()
    context_mod._code_hash.cache_clear()
    assert cell_key(counting_cell, p) != before
    assert package_hash() == context_mod.package_hash()  # once per process: cached until cleared


def test_the_cell_key_covers_the_claim_modules_a_cell_module_imports(tmp_path, monkeypatch):
    (tmp_path / "borrowing_cells.py").write_text(
        "def cell(params):\n    from losslab.lab.claims.c01_likelihood import CLAIM\n    return {}\n"
    )  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    borrowing = __import__("borrowing_cells")
    assert context_mod._claim_modules("borrowing_cells") == ["borrowing_cells", "losslab.lab.claims.c01_likelihood"]
    assert context_mod._claim_modules(__name__) == [__name__]
    assert cell_key(borrowing.cell, {"x": 1}).startswith("cell-")


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ([1, 2], 'is not a JSON object with a "result" object'),
        ({"params": None, "result": [4]}, 'is not a JSON object with a "result" object'),
        ({"params": {"x": 3, "device": "cpu", "data_dir": None}, "result": {"twice": 6}}, "other parameters"),
        ('{"params": {}, "res', "is unreadable"),
    ],
)
def test_a_wrong_cell_file_is_recomputed_with_one_line_naming_it(tmp_path, stored, problem):
    notes: list[str] = []
    ctx = Context(profile=PROFILES["smoke"], datasets=("digits",), cache_dir=tmp_path, on_note=notes.append)
    ctx = ctx.for_claim("demo")
    (first,) = ctx.map(counting_cell, [{"x": 2}])
    (path,) = (tmp_path / "demo").iterdir()
    path.write_text(stored if isinstance(stored, str) else json.dumps(stored))
    again = ctx.for_claim("demo")
    assert again.map(counting_cell, [{"x": 2}]) == [first] and (again.computed, again.cached) == (1, 0)
    assert len(notes) == 1 and str(path) in notes[0] and problem in notes[0], notes
    assert ctx.for_claim("demo").map(counting_cell, [{"x": 2}]) == [first] and len(notes) == 1  # repaired
