"""What `iblab plot` draws, as data: a store's runs with derived columns, narrowed by
conditions, and summarised as a median (and a band) at each point of each line.

Columns are named as `iblab query` names them: `run_id`, `status`, `draw_id`, the summary
figures, `config.*` and `provenance.*`; a config key may drop its `config.` prefix
(`train.lr`). A bad option value raises PlotError, one line naming the option.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iblab.config._fields import did_you_mean

# Band edges (quantiles of the runs at a point) per --band value; none: no band.
BANDS = {"iqr": (0.25, 0.75), "minmax": (0.0, 1.0), "none": None}
# The functions pandas.eval knows, the only calls an expression may make.
FUNCTIONS = frozenset(
    "sin cos tan exp log expm1 log1p sqrt sinh cosh tanh arcsin arccos arctan arccosh "
    "arcsinh arctanh abs log10 floor ceil arctan2".split()
)
COLOURS = 7  # the Okabe-Ito palette (iblab.figures.OKABE_ITO)
STYLES = 4  # line styles (iblab.figures.LINE_STYLES)
SEED = "config.seed"  # what several runs at one point may differ in


class PlotError(ValueError):
    """A bad option value of `iblab plot`; the message is one line naming the option."""


class _Unparsable(PlotError):
    """An expression that does not parse (as a pandas expression)."""


class _Unknown(PlotError):
    """A name that is not a column."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Plot:
    """What to draw, as columns of the runs table (resolved: `config.` prefixes added).

    Attributes:
        x: The column on the x axis.
        y: The metric drawn (its median over the runs at each point).
        hue: One colour per combination of these columns' values.
        style: One line style per value of this column.
        facet: One panel per value of this column.
        band: A key of BANDS: iqr, minmax or none.
        logx: Log x axis; None for automatic (log when the values are positive and span more
            than two decades).
        logy: Log y axis; None for automatic, likewise.
    """

    x: str
    y: str
    hue: tuple[str, ...] = ()
    style: str | None = None
    facet: str | None = None
    band: str = "iqr"
    logx: bool | None = None
    logy: bool | None = None

    @property
    def groups(self) -> list[str]:
        """The columns that split runs into lines and panels (x not included)."""
        return [c for c in (self.facet, *self.hue, self.style) if c is not None]


def split_keys(values: Iterable[str] | None) -> list[str]:
    """Repeated and comma-separated option values as one list, blanks dropped."""
    return [k.strip() for v in values or [] for k in v.split(",") if k.strip()]


def column(runs: pd.DataFrame, name: str, option: str) -> str:
    """The column `name` refers to (itself or `config.<name>`); PlotError naming the option,
    with the closest column, when there is none."""
    for candidate in (name, f"config.{name}"):
        if candidate in runs.columns:
            return candidate
    raise _Unknown(f"{option}: {name!r} is not a column of the runs{_hint(name, runs)}", name)


def _hint(name: str, runs: pd.DataFrame) -> str:
    """'; did you mean ...?' over the column names, config keys also without `config.`."""
    names = [str(c) for c in runs.columns]
    return did_you_mean(name, names + [c.removeprefix("config.") for c in names])


# ---------------------------------------------------------------- expressions

_QUOTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)""")
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_WORDS = frozenset({"and", "or", "not", "in", "is", "True", "False", "None"})
_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name,
    ast.Constant, ast.Load, ast.List, ast.Tuple, ast.boolop, ast.unaryop, ast.cmpop,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.BitAnd,
    ast.BitOr, ast.BitXor,
)  # fmt: skip


def evaluate(runs: pd.DataFrame, expression: str, option: str):
    """The value of a pandas expression over the runs' columns (`DataFrame.eval`): columns
    by name (dotted names bare or in backquotes, `config.` optional), numbers, strings,
    arithmetic, comparisons, `and`/`or`/`not`, `in [...]` and FUNCTIONS; nothing else (no
    attributes, no calls of other functions, no `@` variables), so it can run no code."""
    code, names = _placeholders(expression, runs, option)
    _check_nodes(code, expression, option)
    frame = pd.DataFrame({p: runs[c] for p, c in names.items()}, index=runs.index)
    try:
        with np.errstate(all="ignore"):
            return frame.eval(code, engine="python")
    except Exception as e:  # noqa: BLE001 (pandas raises many kinds; one line for all)
        raise PlotError(f"{option}: cannot evaluate {expression!r}: {_one_line(e)}") from None


def _placeholders(expression: str, runs: pd.DataFrame, option: str) -> tuple[str, dict]:
    """expression with each column reference (outside strings) replaced by a plain name
    `_0`, `_1`, ...; and those names -> columns. PlotError on a name that is not a column."""
    names: dict[str, str] = {}

    def place(name: str) -> str:
        col = column(runs, name, option)
        key = next((p for p, c in names.items() if c == col), f"_{len(names)}")
        names[key] = col
        return key

    def bare(m: re.Match) -> str:
        word, rest = m.group(), m.string[m.end() :].lstrip()
        if word in _WORDS or (word in FUNCTIONS and rest.startswith("(")):
            return word
        return place(word)

    parts = _QUOTED.split(expression)
    for i, part in enumerate(parts):
        if i % 2 == 0:  # outside quotes
            parts[i] = _NAME.sub(bare, part)
        elif part.startswith("`"):
            parts[i] = place(part[1:-1])
    return "".join(parts), names


def _check_nodes(code: str, expression: str, option: str) -> None:
    """PlotError unless code parses as an expression of the allowed kinds (see evaluate)."""
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        raise _Unparsable(f"{option}: cannot parse {expression!r}") from None
    for node in ast.walk(tree):
        bad = not isinstance(node, _NODES)
        if isinstance(node, ast.Call):
            f = node.func
            bad = not isinstance(f, ast.Name) or f.id not in FUNCTIONS or bool(node.keywords)
        if bad:
            raise PlotError(
                f"{option}: {expression!r} may use columns, numbers, strings, arithmetic, "
                f"comparisons and the functions {', '.join(sorted(FUNCTIONS))}, not "
                + _KINDS.get(type(node), type(node).__name__)
            )


_KINDS = {
    ast.Attribute: "attributes (.name)",
    ast.Subscript: "indexing ([...])",
    ast.Call: "other calls (methods, other functions, keyword arguments)",
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.MatMult: "@",
}


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


_ASSIGNMENT = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)(.*)", re.S)


def derive(runs: pd.DataFrame, definition: str) -> pd.DataFrame:
    """runs with one more column, from `name = expression` (see evaluate)."""
    m = _ASSIGNMENT.fullmatch(definition)
    if m is None:
        raise PlotError(f"--derive: {definition!r} is not of the form 'name = expression'")
    name, expression = m.group(1), m.group(2).strip()
    if name in runs.columns or f"config.{name}" in runs.columns:
        raise PlotError(f"--derive: {name!r} is a column already; give the new one another name")
    try:
        value = evaluate(runs, expression, "--derive")
    except PlotError as e:
        raise PlotError(f"{e} (in {definition!r})") from None
    if np.ndim(value) and len(value) != len(runs):
        raise PlotError(f"--derive: {definition!r} does not give one value per run")
    return runs.assign(**{name: value})


# ---------------------------------------------------------------- selection


def where(runs: pd.DataFrame, condition: str) -> pd.DataFrame:
    """The runs for which condition holds: SQL (DuckDB, as in `iblab query`: a dotted column
    in double quotes, "config.train.lr" = 0.1) or, when it is not SQL over these columns, a
    pandas condition (see evaluate: train.lr == 0.1)."""
    import duckdb

    try:
        return runs[_sql_mask(runs, condition)]
    except duckdb.Error as e:
        sql_error = e
    parsed_as_sql = not isinstance(sql_error, duckdb.ParserException)
    sql_failure = PlotError(f"--where: {condition!r}: {_sql_message(sql_error, runs)}")
    try:
        mask = evaluate(runs, condition, "--where")
    except _Unparsable:
        if parsed_as_sql:
            raise sql_failure from None
        raise _Unparsable(
            f"--where: cannot parse {condition!r} as SQL or as a pandas condition"
        ) from None
    except _Unknown as e:
        if parsed_as_sql and e.name.lower() in _SQL_WORDS:  # SQL, with an error
            raise sql_failure from None
        raise
    if np.ndim(mask) == 0:  # no column in it: meant as SQL, most likely
        if parsed_as_sql:
            raise sql_failure
        mask = pd.Series(bool(mask), index=runs.index)
    if not pd.api.types.is_bool_dtype(mask):
        raise PlotError(f"--where: {condition!r} is not a condition (true or false per run)")
    return runs[mask.fillna(False).astype(bool)]


def _sql_mask(runs: pd.DataFrame, condition: str) -> np.ndarray:
    """Which runs satisfy the SQL condition, in a DuckDB connection that can touch no file;
    PlotError when it is not boolean."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("_frame", runs.reset_index(drop=True))
        con.execute("CREATE TABLE runs AS SELECT * FROM _frame")
        con.unregister("_frame")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        kind = con.execute(f"DESCRIBE SELECT ({condition}) FROM runs").fetchall()[0][1]
        if kind not in ("BOOLEAN", '"NULL"'):
            raise PlotError(f"--where: {condition!r} is not a condition (true or false per run)")
        rows = con.execute(f"SELECT rowid FROM runs WHERE ({condition})").fetchnumpy()["rowid"]
    finally:
        con.close()
    return np.isin(np.arange(len(runs)), rows)


_SQL_WORDS = frozenset(
    "and or not in is null like ilike glob similar between case when then else end true "
    "false cast as distinct".split()
)


def _sql_message(e: Exception, runs: pd.DataFrame) -> str:
    """DuckDB's error on one line; an unknown column as such, with the closest column (in
    double quotes, as SQL needs a dotted name)."""
    m = re.search(r'Referenced column "?([^"\s]+)"? not found', str(e))
    if m is None:
        return _one_line(e)
    name, columns = m.group(1), [str(c) for c in runs.columns]
    close = [f"config.{name}"] if f"config.{name}" in columns else []
    close = close or difflib.get_close_matches(name, columns, n=1)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    return f"{name!r} is not a column of the runs{hint}"


# ---------------------------------------------------------------- what is drawn


def prepare(
    runs: pd.DataFrame,
    x: str,
    y: str,
    hue: Sequence[str] = (),
    style: str | None = None,
    facet: str | None = None,
    conditions: Sequence[str] = (),
    definitions: Sequence[str] = (),
    band: str = "iqr",
    logx: bool | None = None,
    logy: bool | None = None,
) -> tuple[pd.DataFrame, Plot]:
    """The runs to draw and the Plot, from `iblab plot`'s option values.

    Derived columns are added, then the conditions applied; runs without a finite y are
    left out. Columns may be named without their `config.` prefix.

    Args:
        runs: The runs table (e.g. the first of `iblab.load`'s pair).
        x: The column on the x axis.
        y: The metric drawn (numeric).
        hue: Columns whose value combinations get one colour each (at most 7).
        style: A column whose values get one line style each (at most 4).
        facet: A column whose values get one panel each.
        conditions: Conditions the runs must meet, each SQL (DuckDB) or a pandas condition
            (see `where`).
        definitions: Derived columns, each `name = expression` (see `derive`).
        band: iqr (quartiles), minmax or none (each run a dot).
        logx: Force a log x axis (True) or a linear one (False); None for automatic.
        logy: Likewise for y.

    Returns:
        The runs to draw (a DataFrame) and the Plot.

    Raises:
        PlotError: One line naming the first bad option: an unknown column or band, a
            column given two roles, a y that is not numeric, conditions that pick no run,
            no finite y, too many colours or styles, or a forced log axis with values <= 0.
    """
    if band not in BANDS:
        *rest, last = BANDS
        raise PlotError(f"--band: expected {', '.join(rest)} or {last}, got {band!r}")
    for definition in definitions:
        runs = derive(runs, definition)
    plot = Plot(
        x=column(runs, x, "--x"),
        y=column(runs, y, "--y"),
        hue=tuple(column(runs, k, "--hue") for k in hue),
        style=None if style is None else column(runs, style, "--style"),
        facet=None if facet is None else column(runs, facet, "--facet"),
        band=band,
        logx=logx,
        logy=logy,
    )
    _check_distinct(plot)
    if not _numeric(runs[plot.y]):
        raise PlotError(f"--y: {y!r} is not numeric")
    total = len(runs)
    for condition in conditions:
        runs = where(runs, condition)
    if not len(runs):
        raise PlotError(f"--where: {' and '.join(conditions)!r} picks none of the {total} runs")
    runs = runs[np.isfinite(runs[plot.y].to_numpy(float, na_value=np.nan))]
    if not len(runs):
        raise PlotError(f"--y: none of the runs drawn has a finite value of {y!r}")
    _check_counts(runs, plot)
    for option, col, forced in (("--logx", plot.x, logx), ("--logy", plot.y, logy)):
        if forced:
            _check_log(runs[col], option, col)
    return runs, plot


def _check_distinct(plot: Plot) -> None:
    """PlotError when a column takes two roles (x, hue, style, facet)."""
    seen: dict[str, str] = {}
    roles = [("--x", plot.x), *(("--hue", h) for h in plot.hue)]
    roles += [("--style", plot.style), ("--facet", plot.facet)]
    for option, col in roles:
        if col is None:
            continue
        if col in seen:
            raise PlotError(f"{option}: {_name(col)!r} is given to {seen[col]} already")
        seen[col] = option


def _check_counts(runs: pd.DataFrame, plot: Plot) -> None:
    """PlotError when there are more colours or line styles to draw than there are."""
    colours = len(runs[list(plot.hue)].drop_duplicates()) if plot.hue else 0
    if colours > COLOURS:
        raise PlotError(
            f"--hue: {colours} combinations of {', '.join(map(_name, plot.hue))}, but "
            f"{COLOURS} colours; give some of the keys to --style or --facet, or narrow the "
            "runs with --where"
        )
    styles = runs[plot.style].nunique(dropna=False) if plot.style else 0
    if styles > STYLES:
        raise PlotError(
            f"--style: {_name(plot.style)} takes {styles} values, but there are {STYLES} line "
            "styles"
        )


def _check_log(values: pd.Series, option: str, col: str) -> None:
    """PlotError unless a log axis can show every value (numbers, all positive)."""
    if not _numeric(values):
        raise PlotError(f"{option}: {_name(col)!r} is not numeric")
    v = values.dropna().to_numpy(float)
    if (v <= 0).any():
        raise PlotError(f"{option}: {int((v <= 0).sum())} values of {_name(col)!r} are <= 0")


def _name(col: str) -> str:
    """A column as options may name it (a config key without `config.`)."""
    return col.removeprefix("config.")


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def auto_log(values: pd.Series) -> bool:
    """A log axis for values that are all positive and span more than two decades."""
    v = pd.to_numeric(values, errors="coerce").dropna() if _numeric(values) else []
    return bool(len(v) and (v > 0).all() and v.max() / v.min() > 100)


def summarise(runs: pd.DataFrame, plot: Plot) -> pd.DataFrame:
    """One row per point drawn: the group columns, x, `median` of y, the band's `low` and
    `high` (NaN with band none or one run), and `runs` (how many runs share the point)."""
    keys = [*plot.groups, plot.x]
    grouped = runs.groupby(keys, dropna=False, sort=True)[plot.y]
    points = grouped.agg(median="median", runs="size")
    edges = BANDS[plot.band]
    points["low"] = grouped.quantile(edges[0]) if edges else np.nan
    points["high"] = grouped.quantile(edges[1]) if edges else np.nan
    points.loc[points["runs"] < 2, ["low", "high"]] = np.nan
    return points.reset_index()


def pooled_keys(runs: pd.DataFrame, plot: Plot) -> list[str]:
    """Config keys other than the seed whose values differ among runs drawn at one point
    (a median over them pools unlike runs)."""
    from iblab.store import varying_keys

    keys = [*plot.groups, plot.x]
    return [k for k in varying_keys(runs, keys) if f"config.{k}" != SEED]
