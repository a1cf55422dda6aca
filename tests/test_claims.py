"""The claims library: each rule on synthetic data whose answer is known, the combinations,
and the claims table."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

import iblab
from iblab import claims
from iblab.claims import (
    Bound,
    Claim,
    Verdict,
    above,
    all_of,
    any_of,
    at_least,
    at_most,
    below,
    claims_frame,
    fit_power_law,
    judge_asymptotic_exponent,
    judge_every_run,
    judge_fraction,
    judge_limit,
    judge_power_law,
    judge_value,
    quantile_line,
    within,
    write_claims,
)

X = np.geomspace(1e-8, 1e-1, 8)  # 8 values of x over 7 decades


def _law(exponent: float, per_x: int, noise: str, scale: float, seed: int):
    """y = 0.3 x^exponent e^eps at per_x points per value of X, eps heavy-tailed: normal
    (y log-normal) or Student-t with 3 degrees of freedom, of standard deviation `scale`."""
    rng = np.random.default_rng(seed)
    x = np.repeat(X, per_x)
    if noise == "lognormal":
        eps = rng.standard_normal(x.size)
    else:
        eps = rng.standard_t(3, x.size) / math.sqrt(3)
    return x, 0.3 * x**exponent * np.exp(scale * eps)


def _judge(x, y, **kw):
    rule = dict(floor=1e-12, target=0.5, tol=0.15, high_max=1.0, n_boot=300)
    return judge_power_law(x, y, **(rule | kw))


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_power_law_recovers_exponent(seed):
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(1e-4, 1e-1, 8), 6)
    y = 3.0 * x**0.5 * np.exp(0.1 * rng.standard_normal(x.size))
    fit = fit_power_law(x, y, n_boot=300, seed=seed)
    assert abs(fit.exponent - 0.5) < 0.05
    assert fit.low <= fit.exponent <= fit.high
    assert fit.low - 0.02 <= 0.5 <= fit.high + 0.02  # a 95% interval may just miss the truth
    assert fit.high - fit.low < 0.1
    assert fit.n_points == x.size


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("noise", ["lognormal", "student_t"])
@pytest.mark.parametrize(
    "exponent, per_x, expected",
    [
        (0.5, 40, True),  # 320 points: the interval is narrow and holds 1/2
        (1.0, 40, False),  # the same noise, the wrong law: resolved, and it disagrees
        (0.5, 1, None),  # 8 points: fewer than the 10 the rule needs
    ],
)
def test_judge_power_law_decides_a_known_exponent(exponent, per_x, expected, noise, seed):
    """An exponent of 1/2 under noise of standard deviation 2 in log y (a factor e^2):
    agrees with enough points, not resolved with too few; an exponent of 1 contradicts."""
    x, y = _law(exponent, per_x, noise, 2.0, seed)
    check = _judge(x, y)
    assert check.agrees is expected
    if expected is None:
        assert "fewer than 10 usable points" in check.reason
    else:
        assert abs(check.high.exponent - exponent) < 0.1 and check.reason == ""


@pytest.mark.parametrize("noise", ["lognormal", "student_t"])
def test_judge_power_law_leaves_a_wide_interval_unresolved(noise):
    """16 points (above the count the rule needs) under noise of standard deviation 6: the
    95% interval is wider than 0.2, so the exponent is not resolved whatever it is."""
    x, y = _law(0.5, 2, noise, 6.0, seed=0)
    check = _judge(x, y)
    assert check.agrees is None and "interval wider than 0.2" in check.reason
    assert check.high.high - check.high.low > 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_judge_power_law_sees_the_floor(seed):
    """Synthetic gaps c (n/d)^0.5 with heavy-tailed noise, plus a floor: the high-dimensional
    fit recovers 1/2 when the floor is far below the gaps, and is "not resolved" when the
    floor reaches them; the full-range fit (including n/d near 1) is reported beside it."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(1e-6, 0.1, 6), 16)
    law = 0.3 * x**0.5 * np.exp(0.5 * rng.standard_normal(x.size))
    judge = dict(target=0.5, tol=0.15, high_max=0.01, n_boot=300)
    clean = judge_power_law(x, law + 1e-9, floor=1e-9, **judge)
    assert clean.agrees is True and abs(clean.high.exponent - 0.5) < 0.1
    assert clean.high.high - clean.high.low < 0.2 and clean.full.n_points == x.size
    floored = judge_power_law(x, law + 1e-3, floor=1e-3, **judge)  # above the gaps below 1e-5
    assert floored.agrees is None and "floor" in floored.reason
    assert floored.high.exponent < 0.4  # what a fit without the floor check would report
    wrong = 0.3 * x**0.2 * np.exp(0.5 * rng.standard_normal(x.size))
    assert judge_power_law(x, wrong, floor=1e-9, **judge).agrees is False
    few = judge_power_law(x[::16], law[::16], floor=1e-9, **judge)
    assert few.agrees is None and "usable points" in few.reason


def _seeded_law(exponent, x_values, seeds=24, scale=0.3, seed=0, bend_above=math.inf):
    """log y = exponent log x + scale * Student-t(2) noise, at every x for each of `seeds`
    seeds; above x = bend_above the law flattens to exponent 0.1 (outside the window)."""
    rng = np.random.default_rng(seed)
    x = np.tile(x_values, seeds)
    groups = np.repeat(np.arange(seeds), len(x_values))
    slope = np.where(x <= bend_above, exponent, 0.1)
    kink = np.minimum(x, bend_above)
    log_y = exponent * np.log(kink) + slope * np.log(x / kink) + scale * rng.standard_t(2, x.size)
    return x, np.exp(log_y), groups


EXPONENT_RULE = dict(target=0.5, tol=0.1, decades=3, floor=1e-12, n_boot=200)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_judge_asymptotic_exponent_agrees_with_a_known_half(seed):
    """log gap = 0.5 log(n/d) + Student-t(2) noise over 6 decades, the law bending to 0.1
    above 1e-3: the median fit over the three decades nearest 0 holds 1/2 and agrees; the
    full-range fit, bent by the top decades, is reported beside it."""
    x, y, groups = _seeded_law(0.5, np.geomspace(1e-7, 1e-1, 13), seed=seed, bend_above=1e-3)
    check = judge_asymptotic_exponent(x, y, groups, key=f"half{seed}", **EXPONENT_RULE)
    assert check.agrees is True and check.reason == ""
    assert check.low <= 0.5 <= check.high and 0.4 <= check.low and check.high <= 0.6
    assert check.window == pytest.approx((1e-7, 1e-4)) and check.n_groups == 24
    assert check.decades == pytest.approx(6.0) and check.full < 0.45
    assert abs(check.log_mean - 0.5) < 0.15 and check.upper > 0.3
    med, lo, hi, cells = check.ratio
    assert cells == 13 and lo <= med <= hi


@pytest.mark.parametrize("seed", [0, 1])
def test_judge_asymptotic_exponent_contradicts_a_wrong_exponent(seed):
    x, y, groups = _seeded_law(0.8, np.geomspace(1e-7, 1e-1, 13), seed=seed)
    check = judge_asymptotic_exponent(x, y, groups, key="wrong", **EXPONENT_RULE)
    assert check.agrees is False and check.low > 0.6 and abs(check.exponent - 0.8) < 0.1


def test_judge_asymptotic_exponent_needs_three_decades():
    """Two decades of x (n from 16 to 1600 at one d, say): not resolved, and says why."""
    x, y, groups = _seeded_law(0.5, np.geomspace(1e-4, 1e-2, 9))
    check = judge_asymptotic_exponent(x, y, groups, key="short", **EXPONENT_RULE)
    assert check.agrees is None and math.isnan(check.exponent)
    assert check.reason == "the sweep spans 2 decades, the rule needs 3"


def test_judge_asymptotic_exponent_sees_the_floor_and_is_reproducible():
    """Gaps at a floor far above the law: not resolved, not contradicts; the same key gives
    the same interval, another key another resampling."""
    x, y, groups = _seeded_law(0.5, np.geomspace(1e-7, 1e-1, 13), scale=0.1)
    floored = judge_asymptotic_exponent(x, y, groups, key="a", **(EXPONENT_RULE | {"floor": 1e-3}))
    assert floored.agrees is None and "floor" in floored.reason and floored.high < 0.4
    again = judge_asymptotic_exponent(x, y, groups, key="a", **EXPONENT_RULE)
    same = judge_asymptotic_exponent(x, y, groups, key="a", **EXPONENT_RULE)
    other = judge_asymptotic_exponent(x, y, groups, key="b", **EXPONENT_RULE)
    assert (again.low, again.high) == (same.low, same.high) != (other.low, other.high)


@pytest.mark.parametrize(
    "per_decade, noise, expected",
    [(-0.05, 0.02, True), (0.05, 0.02, False), (0.0, 0.02, None), (-0.05, 3.0, None)],
)
def test_judge_trend_decides_a_known_slope(per_decade, noise, expected):
    """A share falling (or rising) 0.05 per decade of d under heavy-tailed noise over 5
    decades and 12 seeds; flat, or drowned in noise: not resolved."""
    rng = np.random.default_rng(11)
    d = np.repeat(10.0 ** np.arange(3, 9), 12)
    seeds = np.tile(np.arange(12), 6)
    y = 0.5 + per_decade * np.log10(d / 1e3) + noise * rng.standard_t(2, d.size)
    check = claims.judge_trend(d, y, seeds, slope=claims.below(0.0), key="trend")
    assert check.agrees is expected
    assert check.low <= check.slope <= check.high and len(check.medians) == 6
    if expected is not None:
        assert check.slope == pytest.approx(per_decade, abs=0.01)
    few = claims.judge_trend(d[d < 1e5], y[d < 1e5], seeds[d < 1e5], slope=claims.below(0.0))
    assert few.agrees is None and few.reason == "2 values of x; the rule needs 3"
    one = claims.judge_trend(d[seeds == 0], y[seeds == 0], seeds[seeds == 0],
                             slope=claims.below(0.0))  # fmt: skip
    assert one.agrees is None and one.reason == "1 seeds; the rule needs 3"
    if noise > 1:  # an interval that holds the whole band: open, not "contradicts"
        band = claims.judge_trend(d, y, seeds, slope=claims.within(0.0, 1e-4))
        assert band.low < -1e-4 and band.high > 1e-4 and band.agrees is None


def test_quantile_line_matches_scikit_learn():
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(3)
    lx = rng.uniform(-10, 0, 60)
    ly = 0.5 * lx + rng.standard_t(2, 60)
    for q in (0.5, 0.9):
        ref = QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(lx[:, None], ly)
        slope, intercept = quantile_line(lx, ly, q)
        assert slope == pytest.approx(ref.coef_[0], abs=1e-6)
        assert intercept == pytest.approx(ref.intercept_, abs=1e-6)


@pytest.mark.parametrize(
    "limit, c, last_switch, planned, expected",
    [
        (0.01, 0.5, 1.0, 1e30, True),  # settled, end and limit below tol
        (0.2, 0.5, 1.0, 1e30, False),  # settled, end and limit above tol
        (0.0, 5.0, 1.0, 1e30, None),  # end above tol, limit below: crosses beyond the end
        (0.1, -5.0, 1.0, 1e30, None),  # end below tol, limit above: approached from below
        (0.01, 0.5, 1e25, 1e30, None),  # still switching inside the window
        (0.01, 0.5, 1.0, 1e40, None),  # stopped before its planned time
    ],
)
def test_judge_limit_reads_the_trend(limit, c, last_switch, planned, expected):
    """q(t) = limit + c / log(t / t_0) to t = 1e30, judged against tol 0.05: the fit on the
    last 10 decades recovers the limit, and the outcome follows the end value and it."""
    t = np.concatenate([[0.0], np.logspace(-3, 30, 67)])
    with np.errstate(divide="ignore"):
        q = limit + c / np.log(t / t[1])  # inf at t[1], nan at 0: not in the window
    check = judge_limit(t, q, 0.05, planned=planned, last_switch=last_switch)
    assert check.agrees is expected
    if check.reason == "" or "crosses" in check.reason:
        assert abs(check.limit - limit) < 1e-9


def test_judge_limit_reads_log_times_alike():
    """Given log t (a run past float64's range of t), the same records judge alike; the
    window is still the last decades of t."""
    t = np.concatenate([[0.0], np.logspace(-3, 30, 67)])
    with np.errstate(divide="ignore"):
        q, lt = 0.01 + 0.5 / np.log(t / t[1]), np.log(t)
    for switch in (1.0, 1e25):
        plain = judge_limit(t, q, 0.05, planned=1e30, last_switch=switch)
        logged = judge_limit(lt, q, 0.05, planned=np.log(1e30), last_switch=np.log(switch),
                             log=True)  # fmt: skip
        assert logged.agrees is plain.agrees
        np.testing.assert_allclose([logged.end, logged.limit], [plain.end, plain.limit])
    far = np.linspace(600.0, 10_000.0, 2000)  # log t to 1e4: t = inf in float64
    with np.errstate(divide="ignore"):
        q = 0.01 + 3.0 / (far - far[0])
    check = judge_limit(far, q, 0.05, planned=1e4, last_switch=-np.inf, log=True)
    assert check.agrees is True and abs(check.limit - 0.01) < 1e-9


@pytest.mark.parametrize("switch, expected", [(2000.0, True), (8000.0, None)])
def test_judge_limit_window_as_the_last_share_of_log_t(switch, expected):
    """A known limit 0.01 approached like 1/log t, to log t = 1e4 (records 60 per decade of
    log t past 690): the last third in log t recovers it and agrees; a switch inside that
    third leaves it open. On a run to t = 1e30 the last third is the last 10 decades."""
    lt = np.concatenate([np.linspace(-5.0, 690.0, 300), 690.0 * 10 ** (np.arange(1, 71) / 60)])
    q = 0.01 + 2.0 / (lt - lt[0] + 1.0)
    check = judge_limit(lt, q, 0.05, planned=lt[-1], last_switch=switch, log=True,
                        window_log_share=1 / 3)  # fmt: skip
    assert check.agrees is expected
    if expected:
        assert abs(check.limit - 0.01) < 2e-4
    narrow = judge_limit(lt, q, 0.05, planned=lt[-1], last_switch=switch, log=True)
    assert narrow.agrees is None and "fewer than 4 records" in narrow.reason
    t = np.concatenate([[0.0], np.logspace(-3, 30, 67)])
    with np.errstate(divide="ignore"):
        q30 = 0.01 + 0.5 / np.log(t / t[1])
    share = judge_limit(t, q30, 0.05, planned=1e30, last_switch=1.0, window_log_share=1 / 3)
    decades = judge_limit(t, q30, 0.05, planned=1e30, last_switch=1.0)
    assert share.agrees is decades.agrees is True
    assert share.limit == pytest.approx(decades.limit, abs=1e-9)


def test_judge_limit_needs_records_in_the_window():
    t = np.logspace(-3, 30, 34)  # one record a decade: 10 in the last 10 decades
    q = 0.01 + 0.5 / np.log(t / t[0] + 1.0)
    assert judge_limit(t, q, 0.05, planned=1e30, last_switch=0.0, min_records=10).agrees
    sparse = judge_limit(t, q, 0.05, planned=1e30, last_switch=0.0, min_records=12)
    assert sparse.agrees is None and "fewer than 12 records" in sparse.reason


def test_judge_run_limit_passes_log_through_and_guards_by_its_init_share():
    """On log t the run is judged as judge_limit judges it; ||W_0|| > max_init_share ||W -
    W_0|| leaves it open, and max_init_share = inf never does."""
    lt = np.log(np.logspace(-3, 30, 67))
    with np.errstate(divide="ignore"):
        q = 0.01 + 0.5 / (lt - lt[0])  # inf at the first record, which the rule leaves out
    trend = {"planned": lt[-1], "last_switch": -np.inf, "tol": 0.05, "window_decades": 10.0,
             "log": True}  # fmt: skip
    plain = judge_limit(lt, q, 0.05, planned=lt[-1], last_switch=-np.inf, log=True)
    check = claims.judge_run_limit(lt, q, init_share=0.01, max_init_share=0.1, **trend)
    assert check == plain and check.agrees is True
    held = claims.judge_run_limit(lt, q, init_share=5.0, max_init_share=0.1, **trend)
    assert held.agrees is None and "init still dominates" in held.reason
    free = claims.judge_run_limit(lt, q, init_share=np.inf, max_init_share=math.inf, **trend)
    assert free == plain


@pytest.mark.parametrize(
    "bound, good, bad",
    [
        (below(1e-8), 1e-12, 2e-8),
        (at_most(0.1), 0.1, 0.1000001),
        (above(3.0), 3.5, 3.0),
        (at_least(0.9), 0.9, 0.89),
        (within(1.0, 0.25), 1.25, 1.3),
    ],
    ids=str,
)
def test_judge_every_run_is_missed_by_one_run(bound, good, bad):
    """Ten runs at `good` meet the bound; one of them moved to `bad` misses it, and is the
    worst run reported. NaN runs (not measured) are left out."""
    runs = np.full(10, good)
    met = judge_every_run(np.append(runs, np.nan), bound)
    assert met.agrees is True and met.n == 10 and met.value == good
    runs[3] = bad
    missed = judge_every_run(runs, bound)
    assert missed.agrees is False and missed.value == bad and missed.reason == ""


def test_judge_every_run_without_runs_is_not_resolved():
    for values in ([], [np.nan, np.nan]):
        check = judge_every_run(values, below(1e-8))
        assert check.agrees is None and check.n == 0 and math.isnan(check.value)
        assert check.reason == "no measured runs"


def test_judge_every_run_with_reasons_keeps_unmeasured_runs_open():
    """With reasons, a run not measured leaves the outcome open (and says why), unless a
    measured run already misses the bound."""
    reasons = ["", "", "pattern still switching"]
    check = judge_every_run([0.1, 0.2, np.nan], at_most(1.0), reasons)
    assert check.agrees is None and check.n == 2 and check.value == 0.2
    assert check.reason == "1 of 3 runs not measured: pattern still switching (1)"
    assert judge_every_run([0.1, 2.0, np.nan], at_most(1.0), reasons).agrees is False
    assert judge_every_run([0.1, 0.2, 0.3], at_most(1.0), reasons).agrees is True


@pytest.mark.parametrize(
    "share, expected",
    [
        (at_least(0.9), True),  # 9 of 10
        (at_least(0.95), False),
        (above(0.0), True),  # some run
        (at_most(0.5), False),
    ],
    ids=str,
)
def test_judge_fraction_counts_the_runs(share, expected):
    """Runs at 0..9; the condition value < 9 holds in 9 of 10."""
    values = np.arange(10.0)
    check = judge_fraction(below(9.0).met(values), share)
    assert check.value == 0.9 and check.n == 10 and check.agrees is expected


def test_judge_fraction_without_runs_is_not_resolved():
    assert judge_fraction([], at_least(0.5)).agrees is None
    assert judge_fraction(np.zeros(4, bool), above(0.0)).agrees is False  # no run


def test_judge_value_judges_one_number():
    assert judge_value(0.05, at_most(0.1)) == judge_value(0.05, at_most(0.1))
    assert judge_value(0.05, at_most(0.1)).agrees is True
    assert judge_value(0.2, at_most(0.1)).agrees is False
    missing = judge_value(math.nan, at_most(0.1))
    assert missing.agrees is None and missing.reason == "not measured"


def test_bound_text_and_validation():
    assert [str(b) for b in (below(1e-8), at_most(0.1), at_least(1e3))] == [
        "< 1e-8",
        "<= 0.1",
        ">= 1000",
    ]
    assert str(within(0.5, 0.15)) == "within 0.5 +- 0.15"
    assert within(1.0, 0.25).worst([0.9, 1.2, 1.0]) == 1.2
    assert not below(1.0).met(np.nan) and not at_least(1.0).met(np.nan)
    with pytest.raises(ValueError, match="op"):
        Bound("==", 1.0)
    with pytest.raises(ValueError, match="tol"):
        Bound("<", 1.0, tol=0.1)


AGREE, CONTRA, OPEN = Verdict(True), Verdict(False), Verdict(None, "too few runs")


@pytest.mark.parametrize(
    "parts, every, some",
    [
        ((AGREE, AGREE), True, True),
        ((AGREE, CONTRA), False, True),
        ((CONTRA, CONTRA), False, False),
        ((AGREE, OPEN), None, True),
        ((CONTRA, OPEN), False, None),
        ((OPEN, OPEN), None, None),
    ],
)
def test_all_of_and_any_of_in_three_values(parts, every, some):
    assert all_of(*parts).agrees is every
    assert any_of(*parts).agrees is some
    for combined in (all_of(*parts), any_of(*parts)):
        assert combined.reason == ("too few runs" if combined.agrees is None else "")


def test_claims_table(tmp_path):
    rows = [
        Claim("a", "p", "m", True, "x < 1"),
        Claim("b", "p", "m | n", False),
        Claim("c", "p", "m", None, "", "too few runs"),
    ]
    frame = claims_frame(rows)
    assert list(frame.outcome) == ["agrees", "contradicts", "not resolved"]
    columns = ["claim", "paper", "estimate", "outcome", "measured", "criterion", "reason"]
    assert list(frame.columns) == columns
    written = write_claims(rows, tmp_path, "Title")
    read = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(read, written, check_dtype=False)
    md = (tmp_path / "claims.md").read_text()
    assert md.startswith("# Title\n") and "- measured: m | n" in md
    assert "- outcome: not resolved: too few runs" in md
    assert "1. x < 1 (claims 1)" in md  # each criterion once, with the claims it decides


def _table_cells(markdown: str) -> list[list[str]]:
    """The cells of the first Markdown table, pipes unescaped, header and rule left out."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    split = (re.split(r"(?<!\\)\|", row.strip()[1:-1]) for row in rows if "---" not in row)
    return [[c.strip().replace("\\|", "|") for c in cells] for cells in split]


def test_claims_table_cells_are_short(tmp_path):
    """The table a reader takes in at a glance: four short cells per claim; the long
    measurement goes to the details."""
    long = "a measurement " * 20
    rows = [Claim("c" * 120, "p | q", long, True, "x < 1", "", "0.5 [0.4, 0.6]")]
    write_claims(rows, tmp_path, "Title")
    md = (tmp_path / "claims.md").read_text()
    cells = _table_cells(md)
    assert len(cells) == 1 and len(cells[0]) == 4
    assert all(len(c) <= claims.CELL_MAX for c in cells[0])
    assert cells[0][1] == "p | q" and cells[0][2] == "0.5 [0.4, 0.6]"
    assert long.strip() in md  # whole, under Details


def test_claims_is_a_public_module():
    assert iblab.claims is claims and "claims" in dir(iblab)
