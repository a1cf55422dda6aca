"""The declarations a reproduction is made of: its groups of runs, its claims (each a
statistic and decision rules with their parameters) and its figures."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from iblab.claims import Verdict, all_of
from iblab.config import Config

Planned = list[tuple[dict, Config]]  # (tags: what the run is to the analysis, its config)


def resolve(value: Any, settings: Any) -> Any:
    """A declaration's field, fixed or depending on the settings.

    Args:
        value: The field: a value, or settings -> value.
        settings: The reproduction's settings.

    Returns:
        `value(settings)` when value is callable, else value.
    """
    return value(settings) if callable(value) else value


@dataclass(frozen=True)
class Group:
    """A named group of runs: one sweep of run configs.

    Attributes:
        name: The group's name (the analysis frame's `group` column); defined here once.
        runs: settings -> iterable of (tags, config): the sweep. Tags (a dict, possibly
            empty) are more columns of the run's analysis row; `group` is added.
    """

    name: str
    runs: Callable[[Any], Iterable[tuple[dict, Config]]]

    def plan(self, settings: Any) -> Planned:
        """The group's runs.

        Args:
            settings: The reproduction's settings.

        Returns:
            (tags with `group`, config) pairs.
        """
        return [({"group": self.name} | tags, c) for tags, c in self.runs(settings)]


@dataclass(frozen=True)
class Analysis:
    """What claims and figures read: the runs and their records, and what the
    reproduction derived from them once (fits, per-run checks).

    Attributes:
        runs: One row per planned run: its tags, then its stored row (arrays left out).
        history: One row per record of those runs.
        derived: Named results computed once from the runs (see `Reproduction.prepare`).
    """

    runs: pd.DataFrame
    history: pd.DataFrame
    derived: Mapping[str, Any] = field(default_factory=dict)

    def group(self, *names: str) -> pd.DataFrame:
        """The runs of the named groups.

        Args:
            *names: Group names.

        Returns:
            Their rows of `runs`, in plan order.
        """
        return self.runs[self.runs["group"].isin(names)]


@dataclass(frozen=True)
class Rule:
    """A decision rule and its thresholds.

    Attributes:
        judge: A rule of `iblab.claims` (or a composition of them): called as
            judge(*args, **params) with the args a statistic measured.
        params: The rule's parameters (its thresholds), or settings -> them.
    """

    judge: Callable[..., Any]
    params: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] = field(default_factory=dict)

    def __call__(self, args: Sequence | Mapping, settings: Any) -> Any:
        """The rule's finding.

        Args:
            args: What a statistic measured: positional (a sequence) or keywords (a
                mapping).
            settings: The settings (for parameters that depend on them).

        Returns:
            The rule's check (with `agrees` and `reason`).
        """
        params = resolve(self.params, settings)
        if isinstance(args, Mapping):
            return self.judge(**args, **params)
        return self.judge(*args, **params)

    def with_params(self, **params: Any) -> Rule:
        """The rule with some of its parameters replaced.

        Args:
            **params: The new values, by parameter name.

        Returns:
            A new rule.

        Raises:
            TypeError: The parameters depend on the settings.
        """
        if callable(self.params):
            raise TypeError("with_params: the parameters depend on the settings")
        return replace(self, params={**self.params, **params})


@dataclass(frozen=True)
class Measured:
    """What a statistic measured for one claim.

    Attributes:
        args: The arguments of each rule of the claim, in order: a tuple (positional) or a
            mapping (keywords, for what a rule takes by name, such as a measured floor).
        estimate: The estimate with its interval or range, short (a table cell).
        details: Everything measured, with counts (the claim's details).
        unresolved: Why the claim cannot be decided (a precondition not met); empty when
            it can. Overrides the rules' outcome.
    """

    args: tuple[tuple | Mapping[str, Any], ...]
    estimate: str
    details: str
    unresolved: str = ""


Text = str | Callable[[Any], str]


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of a reproduction, declared before measuring.

    Attributes:
        statement: The claim in a few words (<= ~80 characters), or settings -> it.
        paper: What the paper says, in a few words.
        groups: The groups whose runs the statistic reads; the claim is left out when none
            of them has runs.
        statistic: (analysis, settings) -> Measured, or None to leave the claim out.
        rules: The decision rules, one per tuple of `Measured.args`.
        criterion: The rules in words, with their thresholds (or settings -> it).
        combine: How the rules' outcomes combine (`iblab.claims.all_of` or `any_of`).
    """

    statement: Text
    paper: str
    groups: tuple[str, ...]
    statistic: Callable[[Analysis, Any], Measured | None]
    rules: tuple[Rule, ...]
    criterion: Text
    combine: Callable[..., Verdict] = all_of

    def judge(self, measured: Measured, settings: Any) -> Verdict:
        """The claim's outcome on what was measured.

        Args:
            measured: The statistic's output.
            settings: The reproduction's settings (for parameters that depend on them).

        Returns:
            The combined outcome of the rules, or not resolved when `measured.unresolved`.
        """
        if len(measured.args) != len(self.rules):
            raise ValueError(f"{self.paper}: {len(measured.args)} args for {len(self.rules)} rules")
        if measured.unresolved:
            return Verdict(None, measured.unresolved)
        checks = [
            rule(args, settings) for rule, args in zip(self.rules, measured.args, strict=True)
        ]
        return checks[0] if len(checks) == 1 else self.combine(*checks)

    def with_params(self, **params: Any) -> ClaimSpec:
        """The claim with parameters replaced in every rule that has them (e.g. a stricter
        bound, to see that the runs decide the outcome).

        Args:
            **params: The new values, by parameter name.

        Returns:
            A new claim.
        """
        rules = tuple(
            r.with_params(**{k: v for k, v in params.items() if k in r.params})
            if not callable(r.params) and set(params) & set(r.params)
            else r
            for r in self.rules
        )
        return replace(self, rules=rules)


@dataclass(frozen=True)
class Figure:
    """A figure, drawn from the analysis.

    Attributes:
        name: The file name (name.png, name.pdf).
        draw: (analysis, settings) -> a matplotlib figure, or None when there is nothing
            to draw.
    """

    name: str
    draw: Callable[[Analysis, Any], Any]


def plain_prepare(runs: pd.DataFrame, history: pd.DataFrame, settings: Any) -> Analysis:
    """The analysis of a reproduction that derives nothing.

    Args:
        runs: The analysis frame (tags and stored rows).
        history: The runs' records.
        settings: The settings (unused).

    Returns:
        The runs and records as stored.
    """
    return Analysis(runs, history)


@dataclass(frozen=True)
class Reproduction:
    """A paper's reproduction, or a researcher's conjecture: declarations only; the skeleton
    (`reproduce`) plans, trains, analyses, judges and draws from them.

    Attributes:
        name: Short name (the results folder's default name).
        title: The claims table's heading.
        full: The full settings (a dataclass: every choice, stored in settings.json).
        quick: The quick settings (minutes).
        groups: The groups of runs (or settings -> them), each a sweep; names unique.
        claims: The claims (or settings -> them), in table order.
        figures: The figures (or settings -> them).
        evaluate: result -> dict: more figures of each run, computed where it trained and
            stored with it (a module-level function, so that worker processes receive it).
        prepare: (runs, history, settings) -> Analysis: named columns and what is derived
            once for claims and figures.
        tables: Name -> (analysis -> DataFrame or None), each written as name.csv.
        about: A paragraph on what is run, for settings.md.
    """

    name: str
    title: str
    full: Any
    quick: Any
    groups: Sequence[Group] | Callable[[Any], Sequence[Group]]
    claims: Sequence[ClaimSpec] | Callable[[Any], Sequence[ClaimSpec]]
    figures: Sequence[Figure] | Callable[[Any], Sequence[Figure]] = ()
    evaluate: Callable[[Any], dict] | None = None
    prepare: Callable[..., Analysis] = plain_prepare
    tables: Mapping[str, Callable[[Analysis], pd.DataFrame | None]] = field(default_factory=dict)
    about: str = ""

    def plan(self, settings: Any) -> Planned:
        """Every run of every group, as (tags, config), group by group.

        Args:
            settings: The settings to plan.

        Returns:
            (tags, config) pairs; a config planned in two groups trains once.

        Raises:
            ValueError: Two groups share a name.
        """
        groups = resolve(self.groups, settings)
        names = [g.name for g in groups]
        if len(set(names)) < len(names):
            raise ValueError(f"{self.name}: repeated group names in {names}")
        return [run for g in groups for run in g.plan(settings)]

    def reproduce(
        self, out: Any, quick: bool = False, settings: Any = None, executor: Any = None,
        log: Callable[[str], None] = print,
    ) -> pd.DataFrame:  # fmt: skip
        """Train what is not yet stored in out, analyse the store; the claims table
        (`iblab.experiments.skeleton.reproduce` on this reproduction).

        Args:
            out: The store (created if missing; re-run to resume).
            quick: The quick settings instead of the full ones.
            settings: Settings to use instead of either (tests use a tiny one).
            executor: Where to train; in-process if None.
            log: Where progress lines go.

        Returns:
            The claims table (`iblab.claims.claims_frame`).
        """
        from ._run import reproduce

        return reproduce(self, out, quick, settings, executor, log)
