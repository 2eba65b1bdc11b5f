"""The ``losslab`` command line."""

from __future__ import annotations

import json

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


if __name__ == "__main__":  # pragma: no cover
    main()
