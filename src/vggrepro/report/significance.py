"""The book's one decision rule, and the verdicts it gives.

A difference is "clear" when its test statistic exceeds the two-sided 95 % critical value
(``LEVEL``): Student's t for mean errors over a few seeds (``t_critical``), the normal
distribution where the standard errors come from many test images (``z_critical``). Every
comparison in the book goes through this module: arms of independent seeds (``pairwise``),
two protocols on the same runs (``paired``), a run against chance, a probe across stages.

A verdict is a sentence that carries its ``Status`` (``Verdict``): code reads the status,
readers the sentence. The distributions come from ``scipy.stats``; only the pooled spread over
several groups, which scipy lacks, is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats as distributions

LEVEL = 0.95
"""The confidence level of the one decision rule (two-sided)."""


class Status(StrEnum):
    """What a verdict decides, in order of precedence when parts are combined."""

    SMOKE = "smoke"  # only smoke runs: nothing to decide
    CONTRADICTED = "contradicted"
    NOT_TESTABLE = "not testable"
    INCONCLUSIVE = "inconclusive"
    PARTLY = "partly supported"
    SUPPORTED = "supported"


class Verdict(str):
    """A verdict sentence (it is the ``str``) that knows its ``status`` without being parsed."""

    status: Status

    def __new__(cls, status: Status, text: str) -> Verdict:
        verdict = super().__new__(cls, text)
        verdict.status = Status(status)
        return verdict


SMOKE_VERDICT = Verdict(Status.SMOKE, "not testable here: only smoke runs")
"""What every verdict says about smoke runs, whatever their numbers."""


def headline(verdict: Verdict) -> str:
    """What a table shows of a verdict: its status, or the smoke sentence in full."""
    return str(verdict) if verdict.status == Status.SMOKE else str(verdict.status)


def t_critical(df: int, level: float = LEVEL) -> float:
    """The two-sided critical value of Student's t: P(|T| > value) = 1 - ``level``."""
    if df < 1:
        raise ValueError(f"a t-test needs at least one degree of freedom, got {df}")
    return float(distributions.t.ppf(0.5 + level / 2, df))


def z_critical(level: float = LEVEL) -> float:
    """The two-sided critical value of the standard normal distribution (1.96 at 95 %)."""
    return float(distributions.norm.ppf(0.5 + level / 2))


def t_statistic(diff: float, se: float) -> float:
    """``diff`` in standard errors: infinite (with its sign) when the standard error is zero
    and the difference is not, zero when both are, NaN when either is unknown."""
    if se > 0:
        return diff / se
    if se == 0 and not math.isnan(diff):
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return math.nan


def pooled_std(stds: Iterable[float], counts: Iterable[int]) -> float:
    """Pooled standard deviation of several groups: sqrt(sum((n - 1) s^2) / sum(n - 1)).

    Groups of fewer than two values carry no spread and are skipped; NaN if none is left.
    """
    dof = total = 0.0
    for s, n in zip(stds, counts, strict=True):
        if n >= 2:
            dof += n - 1
            total += (n - 1) * s**2
    return math.sqrt(total / dof) if dof > 0 else math.nan


@dataclass(frozen=True)
class Comparison:
    """Arm ``b`` against arm ``a`` on one metric; ``diff`` is b - a in percentage points."""

    a: str
    b: str
    metric: str
    paired: bool  # the same runs under two protocols, rather than two sets of runs
    smoke: bool
    n_a: int  # completed runs with the metric
    n_b: int
    diverged_a: int
    diverged_b: int
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    diff: float
    noise: float  # pooled seed std (independent arms) or std of the per-run differences (paired)
    se: float  # standard error of ``diff``
    df: int

    @property
    def relative(self) -> float:
        """``diff`` as a percentage of arm ``a``'s mean error."""
        return 100 * self.diff / self.mean_a if self.mean_a else math.nan

    @property
    def testable(self) -> bool:
        return not self.smoke and self.df >= 1 and self.n_a >= 2 and self.n_b >= 2

    @property
    def t(self) -> float:
        return t_statistic(self.diff, self.se)

    @property
    def t_crit(self) -> float:
        return t_critical(self.df) if self.df >= 1 else math.nan

    @property
    def clear(self) -> bool:
        """Whether the difference is beyond seed-to-seed noise (|t| above the critical value)."""
        return self.testable and abs(self.t) > self.t_crit

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % confidence interval of ``diff``."""
        if not self.testable:
            return (math.nan, math.nan)
        half = self.t_crit * self.se
        return (self.diff - half, self.diff + half)

    @property
    def verdict(self) -> str:
        """What the numbers say about b against a, in one sentence."""
        if self.smoke:
            return SMOKE_VERDICT
        if not self.testable:
            return Verdict(
                Status.NOT_TESTABLE,
                f"not testable: needs two completed runs per arm ({self.a}: {self.n_a} "
                f"completed, {self.diverged_a} diverged; {self.b}: {self.n_b} completed, "
                f"{self.diverged_b} diverged)",
            )
        name = self.metric.split("/")[-1]
        numbers = (
            f"{self.b} − {self.a} = {self.diff:+.2f} points ({self.relative:+.1f} % relative), "
            f"|t| = {abs(self.t):.2f} against {self.t_crit:.2f}, seed noise {self.noise:.2f} points"
        )
        if not self.clear:
            return f"no clear difference in {name} error: {numbers}"
        side = "lower" if self.diff < 0 else "higher"
        return f"{self.b} has clearly {side} {name} error than {self.a}: {numbers}"

    def row(self) -> dict:
        """The comparison as a table row."""
        lo, hi = self.interval
        return {
            "a": self.a,
            "b": self.b,
            "metric": self.metric,
            "runs a": self.n_a,
            "runs b": self.n_b,
            "diverged a": self.diverged_a,
            "diverged b": self.diverged_b,
            "mean a": self.mean_a,
            "std a": self.std_a,
            "mean b": self.mean_b,
            "std b": self.std_b,
            "b - a (points)": self.diff,
            "b - a (% of a)": self.relative,
            "seed noise": self.noise,
            "95% CI low": lo,
            "95% CI high": hi,
            "verdict": self.verdict,
        }


def has_smoke(frame: pd.DataFrame) -> bool:
    """Whether any run of ``frame`` (``GridRecord.frame``) is a smoke run."""
    return bool(frame["smoke"].any()) if "smoke" in frame else False


def _column(protocol: str, metric: str) -> str:
    return protocol if "/" in protocol else f"{protocol}/{metric}"


def sample_std(values: np.ndarray) -> float:
    """The sample standard deviation (ddof 1); NaN for fewer than two values."""
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def pairwise(
    frame: pd.DataFrame,
    a: str,
    b: str,
    protocol: str = "centre",
    *,
    metric: str = "top1",
    key: str = "arch",
) -> Comparison:
    """Runs whose ``key`` is ``b`` against runs whose ``key`` is ``a`` (independent seeds)."""
    column = _column(protocol, metric)
    arms = []
    for arm in (a, b):
        rows = frame[frame[key] == arm]
        if rows.empty:
            raise ValueError(f"no runs with {key} == {arm!r}; found {sorted(frame[key].unique())}")
        values = rows[column].dropna().to_numpy(float) if column in rows else np.array([])
        arms.append((values, int((rows["status"] == "diverged").sum())))
    (va, da), (vb, db) = arms
    na, nb = len(va), len(vb)
    df = na + nb - 2
    noise = (
        pooled_std([sample_std(va), sample_std(vb)], [na, nb]) if na >= 2 and nb >= 2 else math.nan
    )
    return Comparison(
        a=a, b=b, metric=column, paired=False, smoke=has_smoke(frame), n_a=na, n_b=nb,
        diverged_a=da, diverged_b=db, mean_a=float(va.mean()) if na else math.nan,
        mean_b=float(vb.mean()) if nb else math.nan, std_a=sample_std(va),
        std_b=sample_std(vb), diff=float(vb.mean() - va.mean()) if na and nb else math.nan,
        noise=noise, se=noise * math.sqrt(1 / na + 1 / nb) if na and nb else math.nan, df=df,
    )  # fmt: skip


def paired(frame: pd.DataFrame, a: str, b: str, *, metric: str = "top1") -> Comparison:
    """Protocol ``b`` against protocol ``a`` on the same completed runs of ``frame``."""
    ca, cb = _column(a, metric), _column(b, metric)
    for c in (ca, cb):
        if c not in frame:
            raise ValueError(f"no column {c!r}; the frame has {[k for k in frame if '/' in k]}")
    both = frame[[ca, cb]].dropna()
    va, vb = both[ca].to_numpy(float), both[cb].to_numpy(float)
    n = len(both)
    d = vb - va
    diverged = int((frame["status"] == "diverged").sum())
    noise = sample_std(d)
    return Comparison(
        a=a, b=b, metric=metric, paired=True, smoke=has_smoke(frame), n_a=n, n_b=n,
        diverged_a=diverged, diverged_b=diverged, mean_a=float(va.mean()) if n else math.nan,
        mean_b=float(vb.mean()) if n else math.nan, std_a=sample_std(va), std_b=sample_std(vb),
        diff=float(d.mean()) if n else math.nan, noise=noise,
        se=noise / math.sqrt(n) if n else math.nan, df=n - 1,
    )  # fmt: skip


CLAIMS = ("lower", "higher", "not lower")
"""What a claim says about arm b's error against arm a's."""


def claim_verdict(c: Comparison, claim: str) -> Verdict:
    """Whether ``c`` supports the claim that b's error is ``claim`` than a's.

    "supported" and "contradicted" need a clear difference; a difference inside the seed noise
    leaves "lower"/"higher" inconclusive but is consistent with "not lower".
    """
    if claim not in CLAIMS:
        raise ValueError(f"unknown claim {claim!r}; valid: {', '.join(CLAIMS)}")
    if c.smoke:
        return SMOKE_VERDICT
    if not c.testable:
        return c.verdict
    went_lower = c.clear and c.diff < 0
    went_higher = c.clear and c.diff > 0
    if claim == "not lower":
        status = Status.CONTRADICTED if went_lower else Status.SUPPORTED
    elif (claim == "lower" and went_lower) or (claim == "higher" and went_higher):
        status = Status.SUPPORTED
    elif went_lower or went_higher:
        status = Status.CONTRADICTED
    else:
        status = Status.INCONCLUSIVE
    return Verdict(status, f"{status} ({c.verdict})")


def magnitude_verdict(c: Comparison, claimed: float, reading: str) -> str:
    """Whether a claimed difference (b - a) lies in the 95 % interval of the measured one.

    ``reading`` is "absolute" (``claimed`` in percentage points) or "relative" (in percent of
    arm a's error; the interval is scaled by a's mean error).
    """
    if reading not in ("absolute", "relative"):
        raise ValueError(f"reading must be 'absolute' or 'relative', got {reading!r}")
    if c.smoke:
        return SMOKE_VERDICT
    if not c.testable:
        return c.verdict
    lo, hi = c.interval
    value, unit = c.diff, "points"
    if reading == "relative":
        lo, hi, value = (100 * v / c.mean_a for v in (lo, hi, c.diff))
        unit = "%"
    where = "inside" if lo <= claimed <= hi else ("above" if claimed > hi else "below")
    return (
        f"{reading} reading: the claimed {claimed:+g} {unit} is {where} our 95 % interval "
        f"[{lo:+.2f}, {hi:+.2f}] {unit} (measured {value:+.2f} {unit})"
    )


def combine(verdicts: list[Verdict]) -> Verdict:
    """One verdict for a claim made of parts: the first of smoke, contradicted, not testable,
    inconclusive and supported that any part has (``Status`` lists them in that order)."""
    statuses = {v.status for v in verdicts}
    if Status.SMOKE in statuses:
        return SMOKE_VERDICT
    status = next((s for s in Status if s in statuses), Status.SUPPORTED)
    return Verdict(status, str(status))


def tally(column: pd.Series) -> str:
    """'supported in 3, inconclusive in 1 of 4 configurations' (or ``SMOKE_VERDICT``), from a
    column of ``Verdict``s."""
    statuses = pd.Series([v.status for v in column], dtype=object)
    if (statuses == Status.SMOKE).any():
        return SMOKE_VERDICT
    counts = statuses.map(str).value_counts()
    parts = ", ".join(f"{status} in {n}" for status, n in counts.items())
    return f"{parts} of {len(column)} configurations"
