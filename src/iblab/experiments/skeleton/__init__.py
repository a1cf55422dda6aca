"""The skeleton every reproduction is declared on, and runs on.

A reproduction (a paper's, or a researcher's conjecture) is a `Reproduction` of
declarations: settings (full and quick), a table of `Group`s (each a sweep of run
configs), `ClaimSpec`s (a statement, what the paper says, the groups it reads, a statistic
giving `Measured`, and `Rule`s of `iblab.claims` with their parameters) and `Figure`s.
`reproduce` plans, trains into a store (resumable, on any executor), analyses, judges and
draws from them; `reanalyse` does the analysis again from a finished folder without
training; `add_groups` trains only some groups and joins them to a finished folder;
`limit_checks` judges each run's limits (`Limit`) from their trend, on its own clock
(flow time, log t for a flow on the log-time clock, or GD's steps);
`from_module` and `from_file` find a module's or a claims file's `REPRODUCTION`;
`with_settings` edits settings by `name=value` overrides (`iblab reproduce --set`), and
`plan_summary` counts what a call would train (`--dry-run`).
"""

from iblab.experiments.skeleton._declare import (
    Analysis,
    ClaimSpec,
    Figure,
    Group,
    Measured,
    Planned,
    Reproduction,
    Rule,
    plain_prepare,
    resolve,
)
from iblab.experiments.skeleton._limits import Limit, limit_checks
from iblab.experiments.skeleton._load import ClaimsFileError, FileEvaluate, from_file, from_module
from iblab.experiments.skeleton._run import (
    add_groups,
    analysis_frame,
    judge,
    plan_summary,
    reanalyse,
    reproduce,
    with_settings,
)

__all__ = [
    "Analysis",
    "ClaimSpec",
    "ClaimsFileError",
    "FileEvaluate",
    "Figure",
    "Group",
    "Limit",
    "Measured",
    "Planned",
    "Reproduction",
    "Rule",
    "add_groups",
    "analysis_frame",
    "from_file",
    "from_module",
    "judge",
    "limit_checks",
    "plain_prepare",
    "plan_summary",
    "reanalyse",
    "reproduce",
    "resolve",
    "with_settings",
]
