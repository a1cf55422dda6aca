"""The command line: `iblab run`, `iblab reproduce`, `iblab check`, `iblab sweep`,
`iblab results`, `iblab query`, `iblab export`, `iblab plot`.

Bad input prints one line naming the field and value, and exits with status 2."""

# Each command imports what it needs (JAX, pandas, DuckDB) inside itself, so `iblab
# --version` and `--help` answer without loading them.

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from iblab.config import Config

app = typer.Typer(
    no_args_is_help=True,
    help=__doc__,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()


def _print_version(value: bool) -> None:
    if value:
        from iblab import __version__

        console.print(f"iblab {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """iblab: the implicit bias of gradient descent in two-layer networks."""
    ctx.with_resource(_one_line_warnings())


def _compile_cache() -> None:
    """JAX's persistent compilation cache on, for the commands that train (imports JAX)."""
    from iblab import compile_cache

    compile_cache.enable()


@contextlib.contextmanager
def _one_line_warnings():
    """While a command runs, each warning is one line on stderr (no file and line)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        Console(stderr=True).print(
            f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True
        )

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def fail(message: str, status: int = 2) -> None:
    """One line on stderr; exit status 2 (bad input) unless given."""
    text = f"[red]error:[/red] {escape(message)}"  # a message's [brackets] are text, not markup
    Console(stderr=True).print(text, highlight=False, soft_wrap=True)
    raise typer.Exit(status)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Run config (YAML).")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override: key.path=value (repeatable). Comma-separated values "
            "(data.d=1e3,1e4) make a grid of runs; commas inside brackets, braces or "
            "quotes do not split.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for history and summary; for a grid, the store."),
    ] = None,
) -> None:
    """Train one run; print its summary; write history.parquet and summary.json (and, for
    gradient flow, events.parquet) to OUT. A --set with comma-separated values makes a grid
    of runs instead, run into the store OUT like `iblab sweep` (the same run ids; finished
    runs are skipped)."""
    from iblab import store
    from iblab.config import Config, ConfigError, split_override, split_values
    from iblab.data import make_problem
    from iblab.training import check_problem, train

    try:
        grid = any(len(split_values(*split_override(item))) > 1 for item in set_ or [])
    except ConfigError as e:
        fail(str(e))
    if grid:
        _multirun(config, set_ or [], out)
        return
    try:
        cfg = Config.from_yaml(config, set_ or [])
        problem = make_problem(cfg)
        check_problem(cfg, problem)
        if out is not None:
            store.check_writable(out)
    except ConfigError as e:
        fail(str(e))
    _compile_cache()
    columns, total = _run_progress(cfg)
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("training", total=total)
        result = train(cfg, problem, on_progress=lambda k: bar.update(task, completed=k))
    _print_summary(result.summary)
    if out is None:
        return
    try:
        written = _write_run_files(out, cfg, result)
    except OSError as e:
        try:
            spill = Path(tempfile.mkdtemp(prefix="iblab-run-"))
            _write_run_files(spill, cfg, result)
        except OSError:
            fail(
                f"--out: writing to {str(out)!r} failed ({e.strerror or e}), and so did "
                "writing anywhere else",
                status=1,
            )
        fail(
            f"--out: writing to {str(out)!r} failed ({e.strerror or e}); wrote the run to "
            f"{spill} instead",
            status=1,
        )
    console.print(f"wrote {', '.join(str(out / name) for name in written)}")


def _multirun(config: Path, overrides: list[str], out: Path | None) -> None:
    """`iblab run` with comma-separated --set values: the grid they make, as a sweep."""
    from iblab import store
    from iblab.config import ConfigError, read_config
    from iblab.executors import Local
    from iblab.sweep import GROUP_SIZE, expand, from_overrides

    if out is None:
        fail("--out: comma-separated --set values make a grid of runs; give --out (a store)")
    try:
        configs = expand(from_overrides(read_config(config), overrides))
        store.check_writable(out)
    except ConfigError as e:
        fail(str(e))
    _compile_cache()
    _run_with_progress(configs, out, Local(), retry_failed=False, group_size=GROUP_SIZE)


def _write_run_files(out: Path, cfg, result) -> list[str]:
    """history.parquet, summary.json (config, summary, provenance) and (gradient flow)
    events.parquet; their names."""
    from iblab.store import provenance

    out.mkdir(parents=True, exist_ok=True)
    result.history.to_parquet(out / "history.parquet", index=False)
    summary = {"config": cfg.to_dict(), "summary": result.summary, "provenance": provenance()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    written = ["history.parquet", "summary.json"]
    if result.events is not None:  # gradient flow: every activation switch
        result.events.to_parquet(out / "events.parquet", index=False)
        written.append("events.parquet")
    from iblab.figures import history_figure

    history_figure(result.history, out / "history.png")
    return written + ["history.png"]


def _print_summary(summary: dict) -> None:
    table = Table(title="summary", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    console.print(table)


ExecutorOption = Annotated[str, typer.Option(help="local or dask.")]
WorkersOption = Annotated[
    int | None,
    typer.Option(help="local: worker processes (0: in-process); dask: LocalCluster workers."),
]
SchedulerOption = Annotated[
    str | None, typer.Option(help="dask: scheduler address (default: start a LocalCluster).")
]
PlanOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the settings and the runs by group; train nothing."),
]
SettingsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change a setting of the full (or --quick) settings: name=value, the value as "
        "YAML (seeds=24, dims=[1e4,1e6]); repeatable. settings.json records them all.",
    ),
]


@app.command()
def reproduce(
    name: Annotated[str, typer.Argument(help="lai2026, frei2023 or kou2023.")],
    quick: Annotated[bool, typer.Option("--quick", help="Small version (minutes).")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Results directory (a store; re-run to resume).")
    ] = None,
    set_: SettingsOption = None,
    dry_run: PlanOption = False,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Reproduce a paper's claims: its runs (a store: resumable, `iblab query` reads it),
    figures and a claims table."""
    from iblab.experiments import REPRODUCTIONS, skeleton

    if name not in REPRODUCTIONS:
        fail(f"name: unknown reproduction {name!r}; choose from {', '.join(REPRODUCTIONS)}")
    if set_ and out is None and not dry_run:
        fail("--out: required with --set (the default folder holds the unchanged settings)")
    out = out or Path("results") / (name + ("-quick" if quick else ""))
    _run_declared(skeleton.from_module(REPRODUCTIONS[name]), out, quick, set_, dry_run,
                  executor, workers, scheduler)  # fmt: skip


@app.command()
def check(
    claims_file: Annotated[
        Path, typer.Argument(help="Claims file (Python, declares REPRODUCTION).")
    ],
    out: Annotated[Path, typer.Option(help="Results directory (a store; re-run to resume).")],
    quick: Annotated[bool, typer.Option("--quick", help="Its quick settings.")] = False,
    set_: SettingsOption = None,
    dry_run: PlanOption = False,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Check your own claims: a Python file declaring a REPRODUCTION on the skeleton
    (settings, groups, claims, figures) runs as `iblab reproduce` runs a paper's."""
    from iblab.experiments import skeleton

    try:
        rep = skeleton.from_file(claims_file)
    except skeleton.ClaimsFileError as e:
        fail(str(e))
    _run_declared(rep, out, quick, set_, dry_run, executor, workers, scheduler)


def _run_declared(
    rep, out: Path, quick: bool, overrides, dry_run: bool, executor: str, workers, scheduler
) -> None:
    """Run a declared reproduction into the store out, at its full or quick settings edited
    by the overrides, on the executor the options name; or, for a dry run, print what it
    would train."""
    from iblab import store
    from iblab.config import ConfigError
    from iblab.experiments import skeleton

    try:
        base = rep.quick if quick else rep.full
        settings = skeleton.with_settings(base, overrides or [])
        if overrides:
            _plan(rep, settings)
        runner = _executor(executor, workers, scheduler)
        if dry_run and out.exists() and not out.is_dir():
            raise ConfigError(f"--out: {out} is a file, not a store")
        if not dry_run:
            store.check_writable(out)
    except ConfigError as e:
        fail(str(e))
    if dry_run:
        _print_plan(rep, settings, out)
        return
    _compile_cache()
    try:
        skeleton.reproduce(rep, out=out, quick=quick, executor=runner, changes=overrides or ())
    except store.StoreWriteError as e:
        fail(str(e), status=1)


def _print_plan(rep, settings, out: Path) -> None:
    """The settings, then runs by group (of them by the flow, and already stored in out)."""
    import dataclasses

    from iblab.experiments import skeleton

    values = ", ".join(f"{f.name}={getattr(settings, f.name)!r}"
                       for f in dataclasses.fields(settings))  # fmt: skip
    console.print(f"{rep.name} settings: {values}", highlight=False, soft_wrap=True)
    plan = skeleton.plan_summary(rep, settings, out)
    table = Table("group", "runs", "by the flow", f"stored in {out}")
    for row in plan.itertuples():
        table.add_row(row.group, str(row.runs), str(row.flow), str(row.stored))
    console.print(table)


def _plan(rep, settings) -> None:
    """Plan every run, so that settings giving a bad config fail before any work."""
    from iblab.config import ConfigError

    try:
        rep.plan(settings)
    except ConfigError as e:
        raise ConfigError(f"--set: the settings plan a bad run: {e}") from None


def _executor(kind: str, workers: int | None, scheduler: str | None):
    """The executor the options name; ConfigError (naming the option) on a bad value."""
    from iblab import executors
    from iblab.config import ConfigError

    if kind not in ("local", "dask"):
        raise ConfigError(f"--executor: expected local or dask, got {kind!r}")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers: must be >= 0, got {workers}")
    if kind == "dask":
        return executors.Dask(address=scheduler, workers=workers)
    return executors.Local(workers=workers or 0)


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (YAML): base, grid, zip, seeds.")],
    out: Annotated[Path, typer.Option(help="Results directory (one Parquet file per run).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the run count and a few configs; run nothing.")
    ] = False,
    executor: ExecutorOption = "local",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again the runs stored with status error.")
    ] = False,
    group_size: Annotated[int, typer.Option(help="Runs per unit of work (vmapped).")] = 32,
    force: Annotated[
        bool, typer.Option("--force", help="Run a sweep of more than 100,000 runs.")
    ] = False,
) -> None:
    """Run a sweep; runs with a result in OUT already are skipped (resume)."""
    from iblab import store
    from iblab.config import ConfigError
    from iblab.sweep import MAX_RUNS, expand_assignments, load_sweep

    try:
        runner = _executor(executor, workers, scheduler)
        if group_size < 1:
            raise ConfigError(f"--group-size: must be >= 1, got {group_size}")
        spec = load_sweep(sweep_file)
        pairs = expand_assignments(spec, limit=None if force else MAX_RUNS)
        if not dry_run:
            store.check_writable(out)
    except ConfigError as e:
        fail(str(e))
    if dry_run:
        repeats = len(spec) - len(pairs)
        console.print(f"{len(pairs)} runs" + (f" ({repeats} repeat a run)" if repeats else ""))
        for a, c in pairs[:3]:
            console.print(f"[bold]{a}[/bold]", highlight=False)
            console.print(json.dumps(c.to_dict()), highlight=False, soft_wrap=True)
        return
    _compile_cache()
    configs = [c for _, c in pairs]
    _run_with_progress(configs, out, runner, retry_failed=retry_failed, group_size=group_size)


def _run_progress(cfg: Config) -> tuple[list, int | None]:
    """The progress line of one run and its total: steps out of the step budget, or a
    flow's switches so far (a flow has no step budget; it ends at its time, tol or the exact
    limit: no total)."""
    if cfg.train.optimizer == "gradient_flow":
        switches = TextColumn("{task.completed:,.0f} switches")
        return [TextColumn("gradient flow"), SpinnerColumn(), switches, TimeElapsedColumn()], None
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("step {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
    ]
    return columns, max(cfg.train.steps, 1)


def _run_with_progress(configs, out: Path, runner, retry_failed: bool, group_size: int) -> None:
    """run_sweep with a progress bar, then a line of counts and the runs per status; exit
    status 1 when runs were lost or the store could not be written."""
    from iblab import store
    from iblab.sweep import run_sweep

    columns = [
        TextColumn("sweep"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} runs"),
        TextColumn("[red]{task.fields[failed]} failed[/red]"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("sweep", total=len(configs), failed=0, rate="")

        def update(p) -> None:
            bar.update(
                task,
                total=p.total,
                completed=p.done + p.in_flight,
                failed=p.failed,
                rate=f"{p.rate:.1f} runs/s",
            )

        try:
            result = run_sweep(
                configs,
                out,
                runner,
                retry_failed=retry_failed,
                group_size=group_size,
                on_progress=update,
            )
        except store.StoreWriteError as e:
            fail(str(e), status=1)
    console.print(
        f"{result.done} runs done in {result.elapsed_s:.1f} s ({result.rate:.1f} runs/s), "
        f"{result.skipped} already in {out}, {result.failed} failed"
        + (f", {result.lost} lost (re-run to resume)" if result.lost else "")
    )
    for status, count in sorted(result.statuses.items()):
        console.print(f"  {status}: {count}")
    if result.lost:
        raise typer.Exit(1)


@app.command()
def results(directory: Annotated[Path, typer.Argument(help="Results directory.")]) -> None:
    """Summarise a results directory: runs per status, and the last errors."""
    from iblab import store

    if not directory.is_dir():
        fail(f"directory: {str(directory)!r} is not a directory")
    counts = store.summarize(directory)
    table = Table(title=f"{int(counts.runs.sum())} runs in {directory}")
    table.add_column("status")
    table.add_column("runs", justify="right")
    for r in counts.itertuples():
        table.add_row(str(r.status), str(r.runs))
    console.print(table)
    errors = (
        store.query(directory, "SELECT run_id, message FROM runs WHERE status = 'error' LIMIT 5")
        if "error" in set(counts.status)
        else None
    )
    if errors is not None:
        for r in errors.itertuples():
            console.print(f"[red]{r.run_id}[/red] {r.message}", highlight=False)


@app.command()
def query(
    directory: Annotated[Path, typer.Argument(help="Results directory.")],
    sql: Annotated[str, typer.Argument(help="SQL over the views runs and history.")],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
) -> None:
    """Run SQL (DuckDB) over all runs: views `runs` (one row per run) and `history`."""
    import duckdb

    from iblab import store

    if not directory.is_dir():
        fail(f"directory: {str(directory)!r} is not a directory")
    try:
        df = store.query(directory, sql)
    except duckdb.Error as e:  # keep DuckDB's hints (candidates, line), on one line
        fail(f"sql: {' '.join(str(e).split())}")
    if csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    table = Table(show_header=True)
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Results directory.")],
    grid: Annotated[str, typer.Option(help="Config keys of the grid, comma-separated.")],
    to: Annotated[Path, typer.Option(help="NetCDF file to write.")],
) -> None:
    """Export a dense grid of runs to xarray / NetCDF (one dimension per grid key)."""
    from iblab import store

    if not directory.is_dir():
        fail(f"directory: {str(directory)!r} is not a directory")
    if not to.parent.is_dir():
        fail(f"--to: directory {str(to.parent)!r} does not exist")
    try:
        ds = store.to_xarray(directory, [k.strip() for k in grid.split(",") if k.strip()])
    except ImportError as e:
        fail(f"--to: {e}")
    except ValueError as e:
        fail(str(e))
    ds.to_netcdf(to)
    console.print(f"wrote {to}: {dict(ds.sizes)}")


@app.command()
def plot(
    directory: Annotated[Path, typer.Argument(help="Results directory.")],
    x: Annotated[str, typer.Option(help="Column on the x axis, e.g. data.d.")],
    y: Annotated[str, typer.Option(help="Numeric column on the y axis, e.g. loss.")],
    to: Annotated[Path, typer.Option(help="Image file to write (.png, .pdf, .svg).")],
    hue: Annotated[
        list[str] | None,
        typer.Option(
            help="Column(s), one colour per combination of values (repeatable or comma-separated)."
        ),
    ] = None,
    style: Annotated[str | None, typer.Option(help="Column, one line style per value.")] = None,
    facet: Annotated[
        str | None, typer.Option(help="Column, one panel per value (shared axes).")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep the runs for which this holds: SQL as in iblab query "
            "('\"config.train.lr\" = 0.1') or a pandas condition ('train.lr == 0.1'). "
            "Repeatable (all must hold)."
        ),
    ] = None,
    derive: Annotated[
        list[str] | None,
        typer.Option(
            help="A new column, 'name = expression' (pandas eval over the columns, "
            "e.g. 'ratio = gap / sqrt(n_over_d)'). Repeatable, in order."
        ),
    ] = None,
    band: Annotated[
        str,
        typer.Option(
            help="Over the runs at a point: iqr (quartiles), minmax or none (each run a dot)."
        ),
    ] = "iqr",
    logx: Annotated[
        bool | None,
        typer.Option(
            "--logx/--no-logx",
            help="Log or linear x axis (default: log when positive over more than two decades).",
        ),
    ] = None,
    logy: Annotated[
        bool | None,
        typer.Option("--logy/--no-logy", help="Log or linear y axis (default: as for x)."),
    ] = None,
) -> None:
    """Draw one metric of a sweep against one column: the median over the runs at each
    point a line, with a band where several runs share it (e.g. seeds). Columns are named as
    in `iblab query`; config keys may drop the `config.` prefix."""
    from iblab import store
    from iblab.figures import metric_figure, save
    from iblab.plotting import PlotError, pooled_keys, prepare, split_keys

    if not directory.is_dir():
        fail(f"directory: {str(directory)!r} is not a directory")
    if to.suffix.lower() not in (".png", ".pdf", ".svg"):
        fail(f"--to: expected a .png, .pdf or .svg file, got {str(to)!r}")
    if not to.parent.is_dir():
        fail(f"--to: directory {str(to.parent)!r} does not exist")
    runs = store.load(directory, arrays=False).runs
    if not len(runs):
        fail(f"directory: no runs in {str(directory)!r}")
    try:
        drawn, spec = prepare(
            runs,
            x,
            y,
            hue=split_keys(hue),
            style=style,
            facet=facet,
            conditions=where or [],
            definitions=derive or [],
            band=band,
            logx=logx,
            logy=logy,
        )
    except PlotError as e:
        fail(str(e))
    pooled = pooled_keys(drawn, spec)
    if pooled:
        warnings.warn(
            f"runs at one point differ in {', '.join(pooled)} (not only the seed), and the "
            "median pools them; give those keys to --hue, --style, --facet or --where",
            stacklevel=1,
        )
    save(metric_figure(drawn, spec), to)
    left = len(runs) - len(drawn)
    console.print(f"wrote {to} ({len(drawn)} runs" + (f"; {left} left out)" if left else ")"))


def main() -> None:  # pragma: no cover
    sys.exit(app())
