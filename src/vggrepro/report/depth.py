"""Does test error fall with depth? The depth chapter's analysis, against the seed spread.

``depth_effect`` measures how test error changes with depth, per batch-norm setting, against
the seed-to-seed spread pooled over depths, with the book's one decision rule
(``significance``); ``depth_verdict`` turns that into one line of text (or refuses, for smoke
runs); ``depth_by_tier`` asks the same at every tier the grid is recorded at.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from vggrepro.arch.configs import weight_layers
from vggrepro.report.significance import SMOKE_VERDICT, pooled_std, t_critical, t_statistic

if TYPE_CHECKING:
    from vggrepro.results.recorded import GridRecord


def by_depth(archs: Iterable[str]) -> list[str]:
    """Architecture names ordered by their number of weight layers."""
    return sorted(set(archs), key=weight_layers)


def _difference(per_arch: pd.DataFrame, pooled: float, a: str, b: str) -> tuple[float, float]:
    """Change of mean error from ``a`` to ``b``, and its t statistic (change / standard error;
    NaN without a seed spread to measure it by)."""
    change = float(per_arch.at[b, "mean"] - per_arch.at[a, "mean"])
    n_a, n_b = per_arch.at[a, "count"], per_arch.at[b, "count"]
    se = pooled * math.sqrt(1 / n_a + 1 / n_b) if n_a and n_b else math.nan
    return change, t_statistic(change, se) if se > 0 else math.nan


def depth_effect(
    frame: pd.DataFrame,
    protocol: str = "centre",
    metric: str = "top1",
) -> pd.DataFrame:
    """How test error changes with depth, per batch-norm setting, against the seed noise.

    ``frame`` is ``GridRecord.frame``. Only completed runs enter the means; diverged runs are
    counted. One row per ``batch_norm`` with: the shallowest and deepest architecture and their
    mean errors (percent); ``change`` (deepest minus shallowest, negative when error falls);
    ``pooled_std``, the seed-to-seed standard deviation pooled over depths; ``ratio``, change
    over pooled std; ``t``, change over its standard error pooled_std * sqrt(1/n1 + 1/n2);
    ``t_crit``, the two-sided 95 % critical value of Student's t with the pooled degrees of
    freedom (the same rule as every other comparison in the book); ``clear`` when
    |t| > t_crit; ``monotonic`` when every step to a deeper net lowers the mean error; the step
    changes as ``"a→b"`` columns; the last step's change and t (saturation); ``runs``,
    ``diverged``, ``stalled`` (stopped at chance, tested but not in the means), and ``missing``
    (architectures without a completed run).
    """
    # Long for its one table row of many named columns, each documented above.
    column = f"{protocol}/{metric}"
    rows = []
    for bn, group in frame.groupby("batch_norm", sort=True):
        archs = by_depth(group["arch"])
        done = group[group["status"] == "completed"]
        values = done[column] if column in done else pd.Series(math.nan, index=done.index)
        per_arch = values.groupby(done["arch"]).agg(["mean", "std", "count"]).reindex(archs)
        per_arch["count"] = per_arch["count"].fillna(0).astype(int)
        pooled = pooled_std(per_arch["std"], per_arch["count"])
        dof = int(sum(n - 1 for n in per_arch["count"] if n >= 2))
        crit = t_critical(dof) if dof >= 1 else math.nan
        first, last = archs[0], archs[-1]
        change, t = _difference(per_arch, pooled, first, last)
        steps = [
            (a, b, *_difference(per_arch, pooled, a, b))
            for a, b in zip(archs, archs[1:], strict=False)
        ]
        last_change, last_t = steps[-1][2:] if steps else (math.nan, math.nan)
        row = {
            "batch_norm": bool(bn),
            "shallow": first,
            "deep": last,
            "shallow_error": float(per_arch.at[first, "mean"]),
            "deep_error": float(per_arch.at[last, "mean"]),
            "change": change,
            "pooled_std": pooled,
            "ratio": change / pooled if pooled > 0 else math.nan,
            "t": t,
            "t_crit": crit,
            "clear": bool(abs(t) > crit),
            "monotonic": bool(steps) and all(s[2] < 0 for s in steps),
            **{f"{a}→{b}": c for a, b, c, _ in steps},
            "last_step": f"{steps[-1][0]}→{steps[-1][1]}" if steps else "",
            "last_change": last_change,
            "last_t": last_t,
            "runs": len(group),
            "diverged": int((group["status"] == "diverged").sum()),
            "stalled": int((group["status"] == "stalled").sum()),
            "missing": ", ".join(a for a in archs if per_arch.at[a, "count"] == 0),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _setting_verdict(row: pd.Series) -> str:
    """The verdict for one batch-norm setting (a row of ``depth_effect``)."""
    name = "with batch norm" if row["batch_norm"] else "without batch norm"
    diverged = f"; {row['diverged']} of {row['runs']} runs diverged" if row["diverged"] else ""
    if row.get("stalled", 0):
        diverged += f"; {row['stalled']} of {row['runs']} runs stalled at chance and were stopped"
    if row["missing"]:
        return f"{name}: not testable, no completed run of {row['missing']}{diverged}"
    if row["shallow"] == row["deep"]:
        return f"{name}: not testable, only one depth ({row['shallow']}) was run{diverged}"
    if not row["pooled_std"] > 0:
        return f"{name}: not testable, no seed-to-seed spread to compare with (too few seeds)"
    t, change, crit = row["t"], row["change"], row["t_crit"]
    trend = "falls" if t < -crit else "rises" if t > crit else "shows no clear change"
    text = (
        f"{name}, top-1 error {trend} from {row['shallow']} to {row['deep']} "
        f"({change:+.2f} points, {abs(row['ratio']):.1f}x the seed-to-seed std of "
        f"{row['pooled_std']:.2f}; |t| = {abs(t):.1f} against {crit:.2f})"
    )
    if trend == "falls":
        text += ", monotonically" if row["monotonic"] else ", but not at every step"
        last = row["last_t"]
        if abs(last) <= crit:
            text += f"; {row['last_step']} is within the seed noise (saturation)"
        else:
            direction = "still falls" if last < 0 else "rises again"
            text += f"; it {direction} at {row['last_step']} ({row['last_change']:+.2f})"
    return text + diverged


def depth_verdict(
    data: GridRecord | pd.DataFrame,
    smoke: bool | None = None,
    protocol: str = "centre",
) -> str:
    """One line on "error falls with depth", computed from a ``GridRecord`` or its frame.

    ``smoke`` defaults to the record's (or the frame's) own flag; smoke runs get
    ``SMOKE_VERDICT``. Otherwise one clause per batch-norm setting, from ``depth_effect``.
    """
    is_frame = isinstance(data, pd.DataFrame)
    frame = data if is_frame else data.frame
    if smoke is None:
        smoke = bool(frame["smoke"].any()) if is_frame else data.smoke
    if smoke:
        return SMOKE_VERDICT
    if frame.empty:
        return "not testable: no runs"
    effect = depth_effect(frame, protocol, "top1")
    clauses = [_setting_verdict(row) for _, row in effect.iterrows()]
    clauses += [
        f"{'with' if bn else 'without'} batch norm: not testable, no runs recorded"
        for bn in (False, True)
        if bn not in set(effect["batch_norm"])
    ]
    return " ".join(c[0].upper() + c[1:] + "." for c in clauses)


def depth_by_tier(records: Iterable[GridRecord], protocol: str = "centre") -> pd.DataFrame:
    """The depth effect at each tier the grid is recorded at, one row per tier and batch-norm
    setting, with its verdict: does the answer change with the scale of the runs?"""
    rows = [
        {
            "tier": record.tier_name,
            "scale": record.scale,
            "batch_norm": bool(row["batch_norm"]),
            "runs": int(row["runs"]),
            "shallow_error": row["shallow_error"],
            "deep_error": row["deep_error"],
            "change": row["change"],
            "t": row["t"],
            "t_crit": row["t_crit"],
            "verdict": _setting_verdict(row),
        }
        for record in records
        for _, row in depth_effect(record.frame, protocol).iterrows()
    ]
    return pd.DataFrame(rows)
