"""The command line: `iblab run`, `iblab reproduce`.

Bad input prints one line naming the field and value, and exits with status 2."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()


def fail(message: str) -> None:
    """One line on stderr, exit status 2."""
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Run config (YAML).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override: key.path=value (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for history and summary.")] = None,
) -> None:
    """Train one run; print its summary; write history.parquet and summary.json to OUT."""
    from iblab import engine
    from iblab.config import Config, ConfigError
    from iblab.data import make_problem
    from iblab.train import train

    try:
        cfg = Config.from_yaml(config, set_ or [])
        if out is not None and out.exists() and not out.is_dir():
            raise ConfigError(f"--out: {str(out)!r} exists and is not a directory")
        problem = make_problem(cfg)
    except ConfigError as e:
        fail(str(e))
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("step {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("training", total=max(cfg.train.steps, 1))
        remove = engine.on_progress(lambda t: bar.update(task, completed=t))
        try:
            result = train(cfg, problem)
        finally:
            remove()
    _print_summary(result.summary)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.history.to_parquet(out / "history.parquet", index=False)
        summary = {"config": cfg.to_dict(), "summary": result.summary}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        console.print(f"wrote {out / 'history.parquet'} and {out / 'summary.json'}")


def _print_summary(summary: dict) -> None:
    table = Table(title="summary", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    console.print(table)


@app.command()
def reproduce(
    name: Annotated[str, typer.Argument(help="lai2026 or frei2023.")],
    quick: Annotated[bool, typer.Option("--quick", help="Small version (minutes).")] = False,
    out: Annotated[Path | None, typer.Option(help="Output directory.")] = None,
) -> None:
    """Reproduce a paper's claims: figures, a Parquet table of runs, a claims table."""
    from iblab.experiments import REPRODUCTIONS

    if name not in REPRODUCTIONS:
        fail(f"name: unknown reproduction {name!r}; choose from {', '.join(REPRODUCTIONS)}")
    out = out or Path("results") / (name + ("-quick" if quick else ""))
    if out.exists() and not out.is_dir():
        fail(f"--out: {str(out)!r} exists and is not a directory")
    module = importlib.import_module(REPRODUCTIONS[name])
    module.reproduce(out=out, quick=quick)


def main() -> None:  # pragma: no cover
    sys.exit(app())
