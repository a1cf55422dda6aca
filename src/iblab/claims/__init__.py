"""Claims as data: the claim record, the claims table, and the rules that decide a claim.

A reproduction turns each claim of a paper into a `Claim`: what the paper states, what the
runs measured, the decision rule (fixed before measuring) and its outcome, one of three:
agrees (True), contradicts (False: resolved, and it disagrees) or not resolved (None: not
converged, below the method's floor, too few usable runs; the row says why).

Each rule is a function whose thresholds are its parameters; it returns a check with the
numbers it judged, `agrees` and `reason`:

* `judge_power_law`: an exponent, by an interval rule above the method's floor;
* `judge_asymptotic_exponent`: an exponent as x -> 0, by median regression over the
  decades of x nearest 0 and an interval from resampling seeds;
* `judge_trend`: the slope of y per decade of x (e.g. "falls with d"), by an interval from
  resampling seeds;
* `judge_limit`: a limit as t -> inf, from the trend of a flow's last decades;
* `judge_every_run`: a `Bound` every run must meet;
* `judge_fraction`: a bound on the fraction of runs that meet a condition;
* `judge_value`: a bound on one number (a median, a ratio of medians);
* `judge_run_limit`: one run's limit (`judge_limit`), not resolved while its init dominates;
* `tally_runs`: per-run outcomes combined (any contradicts: contradicts);
* `all_of`, `any_of`: checks combined (an unresolved part decides nothing the others have
  not).
"""

from iblab.claims._bounds import (
    Bound,
    BoundCheck,
    above,
    at_least,
    at_most,
    below,
    judge_every_run,
    judge_fraction,
    judge_value,
    within,
)
from iblab.claims._exponent import ExponentCheck, judge_asymptotic_exponent, quantile_line
from iblab.claims._limit import LimitCheck, judge_limit
from iblab.claims._power_law import LawCheck, PowerLawFit, fit_power_law, judge_power_law
from iblab.claims._record import (
    CELL_MAX,
    OUTCOMES,
    Claim,
    claims_frame,
    claims_markdown,
    print_claims,
    write_claims,
)
from iblab.claims._runs import counts_text, judge_run_limit, tally_runs
from iblab.claims._trend import TrendCheck, judge_trend
from iblab.claims._verdict import Verdict, all_of, any_of

__all__ = [
    "CELL_MAX",
    "OUTCOMES",
    "Bound",
    "BoundCheck",
    "Claim",
    "ExponentCheck",
    "LawCheck",
    "LimitCheck",
    "PowerLawFit",
    "TrendCheck",
    "Verdict",
    "above",
    "all_of",
    "any_of",
    "at_least",
    "at_most",
    "below",
    "claims_frame",
    "claims_markdown",
    "counts_text",
    "fit_power_law",
    "judge_asymptotic_exponent",
    "judge_every_run",
    "judge_fraction",
    "judge_limit",
    "judge_power_law",
    "judge_run_limit",
    "judge_trend",
    "judge_value",
    "print_claims",
    "tally_runs",
    "quantile_line",
    "within",
    "write_claims",
]
