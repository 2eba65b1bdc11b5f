"""The ``losslab`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import __version__
from .registry import LOSSES


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="losslab")
def main() -> None:
    """losslab: MSE, cross-entropy and their relatives, as likelihoods."""


@main.command()
@click.option("--kind", type=click.Choice(sorted({s.kind for s in LOSSES.values()})), help="Only losses of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def losses(kind: str | None, as_json: bool) -> None:
    """List every loss with its likelihood, formula and closed-form gradient."""
    specs = [s for s in LOSSES.values() if kind is None or s.kind == kind]
    if as_json:
        rows = [
            {
                "name": s.name,
                "kind": s.kind,
                "input": s.input_space,
                "likelihood": s.likelihood,
                "loss": s.formula,
                "gradient": s.grad_formula,
            }
            for s in specs
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Formulas contain brackets ("[y = c]") that rich would read as markup: escape every cell.
    # The name column never wraps, so each name stays whole on one line (greppable).
    console = Console()
    title = escape(f"losslab {__version__}: {len(specs)} losses (p: prediction, t: target)")
    if console.width < 110:  # a table this wide would fold every formula: one block per loss
        console.print(title, style="bold")
        for s in specs:
            console.print()
            console.print(
                f"[bold]{escape(s.name)}[/bold]  ({escape(s.likelihood or 'no likelihood')}; "
                f"input: {escape(s.input_space)})",
                no_wrap=True,
                overflow="ignore",
                soft_wrap=True,
            )
            console.print(f"  loss      {escape(s.formula)}", soft_wrap=True)
            console.print(f"  gradient  {escape(s.grad_formula)}", soft_wrap=True)
        return
    table = Table(title=title)
    table.add_column("loss", no_wrap=True)
    for col in ("input", "likelihood", "per-element loss", "gradient w.r.t. input"):
        table.add_column(col, overflow="fold")
    for s in specs:
        table.add_row(*(escape(c) for c in (s.name, s.input_space, s.likelihood or "-", s.formula, s.grad_formula)))
    console.print(table)


@main.command()
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.option("--label-column", help="Column of true labels (a header-less text file: its number, 1..N; .npy: the "
              "last column; .npz: 'labels').")  # fmt: skip
@click.option("--score-columns", metavar="A,B,...", help="The score columns, in class order; every other column "
              "is left out. Default: every column but the labels, IDs and a pandas index.")  # fmt: skip
@click.option("--ignore-columns", metavar="A,B,...", help="Columns to leave out (an unnamed column is 'Unnamed: K', "
              "K from 0).")  # fmt: skip
@click.option("--classes", metavar="A,B,...", help="Class names in score-column order, for labels that are names "
              "(default: by the score columns' names, else sorted).")  # fmt: skip
@click.option("--header/--no-header", default=None, help="Whether line 1 of a .csv/.tsv file names the columns "
              "[default: detect].")  # fmt: skip
@click.option("--encoding", help="Text encoding of a .csv/.tsv file [default: its byte-order mark, else UTF-8].")
@click.option("--logits", "mode", flag_value="logits", help="The scores are logits (skip detection).")
@click.option("--probs", "mode", flag_value="probs", help="The scores are probabilities (skip detection): values "
              "within 0.01 of [0, 1] are clipped, rows renormalised to sum to 1.")  # fmt: skip
@click.option(
    "--calibrate",
    type=click.Choice(["temperature", "platt", "vector", "matrix", "dirichlet", "isotonic", "histogram"]),
    help="Fit this calibrator on --calibration-file and report every metric before and after.",
)
@click.option("--calibration-file", type=click.Path(dir_okay=False), help="Held-out predictions to fit the calibrator.")
@click.option("--n-bins", type=click.IntRange(min=1), default=15, show_default=True, help="Uniform confidence bins.")
@click.option("--out", "out", type=click.Path(file_okay=False), default="losslab-evaluate", show_default=True,
              help="Directory for metrics.json and report.html (replaced whole, all or nothing).")  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the bootstrap "
              "intervals (>= 0).")  # fmt: skip
@click.option("--n-resamples", type=click.IntRange(min=1), default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--chunk-rows", type=click.IntRange(min=1), default=None,
              help="Stream a .csv, .tsv, .parquet or .npy file this many rows at a time (bounded memory, same "
                   "metrics and intervals). Default: stream such files over 256 MiB.")  # fmt: skip
def evaluate(predictions, out, calibrate, **options) -> None:
    """Score PREDICTIONS (.csv, .tsv, also .gz/.bz2/.xz, .parquet, .npy, .npz): accuracy, log loss, Brier, ECE.

    Detects logits vs probabilities (override with --logits/--probs), prints a table and
    writes OUT/metrics.json and OUT/report.html. Bad input exits with code 2, writing nothing.
    """
    from rich.console import Console

    from .evaluation import run

    run(predictions, out=out, console=Console(), err_console=Console(stderr=True), calibrate_method=calibrate,
        **options)  # fmt: skip


@main.command()
@click.option(
    "--profile",
    type=click.Choice(["smoke", "quick", "full"]),
    default="quick",
    show_default=True,
    help="smoke: seconds (the tests); quick: at most 5 minutes on 2 cores; full: more seeds, epochs, data.",
)
@click.option(
    "--claims", "claims_spec", help="Only these claims: comma-separated numbers or names (e.g. 1,5,calibration)."
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, exists=True), help="Directory with MNIST / Fashion-MNIST IDX files."
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    help="Classification dataset(s) to use instead of the profile's; repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="losslab-lab",
    show_default=True,
    help="Directory for index.html, results.json, summary.md, figures/ and the cell cache.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for the experiment cells [default: the CPU count, at most 4].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the cells on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786) instead "
    "of --jobs local processes; every worker needs the same losslab (pip install 'losslab[dask,torch]').",
)
@click.option("--fresh", is_flag=True, help="Recompute every cell instead of reusing the cache in OUT/cells.")
@click.option("--list", "list_only", is_flag=True, help="List the claims and exit.")
def lab(profile, claims_spec, data_dir, datasets, out, device, jobs, scheduler, fresh, list_only) -> None:  # fmt: skip
    """Test every claim of the MSE-vs-cross-entropy literature on real data and write a report.

    Writes OUT/index.html (self-contained), OUT/results.json and OUT/summary.md. Finished
    experiment cells are cached in OUT/cells: interrupt the run and start it again to resume.
    Ctrl-C exits with code 130, SIGTERM with 143, both after stopping every worker.
    """
    import os
    import shlex
    import sys

    from rich.console import Console

    from .lab.profiles import get_profile
    from .lab.registry import select_claims

    console = Console()
    try:
        claims = select_claims(claims_spec)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if list_only:
        for c in claims:
            console.print(f"{c.number:>2}  [bold]{c.slug}[/bold]  {c.title}", highlight=False)
        return
    try:
        import torch  # noqa: F401  (the lab trains its models with PyTorch)
    except ImportError:
        raise click.ClickException(
            "`losslab lab` trains small models with PyTorch, which is not installed: "
            "pip install 'losslab[torch]' (or pip install -e '.[torch]' -c requirements/constraints.txt)"
        ) from None
    if scheduler is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise click.ClickException(
                f"`--scheduler {scheduler}` needs Dask's `distributed` package, which is not installed: "
                "pip install 'losslab[dask]'"
            ) from None
    from rich.markup import escape
    from rich.table import Table

    from .lab.report import VERDICT_COLOURS, headline
    from .lab.runner import run_lab
    from .lab.scheduler import Terminated

    jobs = jobs or max(1, min(4, os.cpu_count() or 1))
    try:
        results = run_lab(
            out=out,
            profile=get_profile(profile),
            claims=claims,
            datasets=datasets or None,
            data_dir=data_dir,
            device=device,
            jobs=jobs,
            fresh=fresh,
            console=console,
            command=" ".join(["losslab"] + [shlex.quote(a) for a in sys.argv[1:]]),
            scheduler=scheduler,
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM as Terminated: the workers are stopped by now
        cells = Path(out) / "cells"
        n = sum(1 for _ in cells.rglob("*.json")) if cells.is_dir() else 0
        how = " (SIGTERM)" if isinstance(e, Terminated) else ""
        console.print(f"[bold]interrupted{how}[/bold]: {n} cells finished and cached in {escape(str(cells))}; "
                      "run the same command again to resume", highlight=False, soft_wrap=True)  # fmt: skip
        sys.exit(143 if isinstance(e, Terminated) else 130)
    table = Table(title=f"losslab lab ({profile}): {len(results['claims'])} claims, {results['elapsed_s']:.0f} s")
    table.add_column("#", justify="right")
    table.add_column("claim")
    table.add_column("kind")
    table.add_column("verdict", no_wrap=True)
    table.add_column("effect")
    for c in results["claims"]:
        colour = VERDICT_COLOURS.get(c["verdict"], "white")
        table.add_row(str(c["number"]), escape(c["title"]), c["kind"], f"[bold {colour}]{escape(c['verdict'])}[/]",
                      escape(c["summary"]))  # fmt: skip
    console.print(table)
    console.print(escape(headline(results)), highlight=False)
    console.print(f"report: {escape(str(Path(out) / 'index.html'))}", highlight=False)
    if any(c["status"] == "error" for c in results["claims"]):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
