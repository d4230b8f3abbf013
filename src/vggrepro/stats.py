"""Statistics of recorded runs: recipes, learning curves, and mean errors compared over seeds.

Every comparison in the book uses one rule: a difference of mean errors is "clear" when its
Student t statistic exceeds the two-sided 95 % critical value (``t_critical``).

``recipe_comparison`` sets a ``TrainConfig`` beside the paper's recipe; ``learning_curves``
flattens the per-epoch history of recorded runs; ``depth_effect`` measures how test error
changes with depth against the seed-to-seed spread, and ``depth_verdict`` turns that into one
line of text (or refuses, for smoke runs). Published figures below are quoted from the sources
named beside them (also collected in the project's REFERENCE.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from vggrepro.configs import PAPER_CLASSES, PAPER_FC_WIDTH, PAPER_RESOLUTION, weight_layers
from vggrepro.train import TrainConfig

if TYPE_CHECKING:
    from vggrepro.recorded import GridRecord

SMOKE_VERDICT = "not testable here: only smoke runs"
"""What every verdict says about smoke runs, whatever their numbers."""


class PaperSetting(NamedTuple):
    """One line of the paper's recipe (section 3.1) and why ours may differ."""

    setting: str
    paper: Any
    why: str


PAPER_RECIPE: dict[str, PaperSetting] = {
    "resolution": PaperSetting(
        "input (px)",
        PAPER_RESOLUTION,
        "CIFAR-10 images are 32 px; all five 2x2 pools still apply, ending in a 1x1 map",
    ),
    "channels": PaperSetting(
        "conv channels", "64..512", "width halved so that the depth grid fits a short GPU budget"
    ),
    "fc_width": PaperSetting(
        "FC width", PAPER_FC_WIDTH, "scaled with the net: at 4096 the head would hold most weights"
    ),
    "num_classes": PaperSetting("classes", PAPER_CLASSES, "CIFAR-10 has 10 classes"),
    "batch_size": PaperSetting("batch size", 256, ""),
    "lr": PaperSetting("learning rate", 1e-2, ""),
    "momentum": PaperSetting("momentum", 0.9, ""),
    "weight_decay": PaperSetting("weight decay", 5e-4, ""),
    "dropout": PaperSetting("dropout (FC-1, FC-2)", 0.5, ""),
    "lr_factor": PaperSetting("learning-rate factor at a drop", 0.1, ""),
    "schedule": PaperSetting(
        "when the learning rate drops",
        "when validation accuracy stops improving (patience not stated)",
        "the paper does not say how it decided that validation accuracy had stopped improving",
    ),
    "max_drops": PaperSetting("learning-rate drops", 3, ""),
    "epochs": PaperSetting(
        "epochs", 74, "a fixed budget for a short GPU loan; the drops happen within it"
    ),
    "init": PaperSetting(
        "initialisation",
        'N(0, 0.01²) as read here ("10⁻² variance") + warm start from A; Glorot later',
        "the ReLU default, no warm start needed; the init grid tests the paper's schemes",
    ),
    "crop": PaperSetting(
        "random crop",
        "224 px from the rescaled image",
        "CIFAR's usual equivalent: a 32 px crop of the image padded on every side",
    ),
    "flip": PaperSetting("horizontal flip", True, ""),
    "jitter": PaperSetting(
        "scale jittering",
        "none",
        "Table 3's S = 256 nets, compared here, had none; others jitter S in [256; 512]",
    ),
    "colour": PaperSetting("RGB colour shift", "yes (AlexNet's)", "not implemented"),
    "stall": PaperSetting(
        "stopping a run stuck at chance",
        "none",
        "a net whose training accuracy stays at chance for that long has answered whether it "
        "trains, and the rest of a short budget would be spent for nothing; a run that trains "
        "is never stopped by it",
    ),
    "precision": PaperSetting(
        "arithmetic of the training steps",
        "fp32",
        "bf16 autocast (weights and optimiser in fp32) on a GPU, where it is about twice as fast",
    ),
}
"""The paper's recipe (section 3.1, quoted in REFERENCE.md), keyed by what ``_ours`` reads;
``why`` explains the ``reduced`` (GPU) preset, ``WHY_CPU`` the ``cpu`` preset where it differs."""

WHY_CPU: dict[str, str] = {
    "channels": "width quartered: two CPU cores train the four depths, three seeds each, in about "
    "an hour and a half (training time grows with the square of the width)",
    "fc_width": "narrower than the paper's but wider than the last conv layer, so that dropout "
    "0.5 still leaves more active units than the conv features it reads; the head costs "
    "little compute",
    "batch_size": "256 trains a little faster per image on the CPU (benchmarks/cpu_tier.py) but "
    "halves the number of steps a short budget takes",
    "lr": "a higher rate per image than the paper's, for a short budget; batch norm keeps it "
    "stable",
    "schedule": "fixed drops at set fractions of the budget: a plateau rule spends its patience "
    "epochs noticing a plateau, which a short budget cannot spare, and fixed drops treat every "
    "run alike",
    "max_drops": "two drops in a short budget; a third would leave too few epochs at each rate",
    "epochs": "what lets the 12 runs of the batch-norm depth grid fit about 90 minutes of two "
    "CPU cores; the curves show whether they flattened",
    "precision": "bf16 autocast on the CPU too: this project's CPUs have AMX bf16 units, on which "
    "it trains faster than fp32 (benchmarks/cpu_tier.py); evaluation stays in fp32",
}
"""Why the ``cpu`` preset departs from the paper where it departs from the ``reduced`` one."""


def _ours(cfg: TrainConfig) -> dict[str, Any]:
    """The same settings read off a training configuration."""
    spec = cfg.spec()
    return {
        "resolution": spec.resolution,
        "channels": f"{spec.channels(64)}..{spec.channels(512)}",
        "fc_width": cfg.fc_width,
        "num_classes": spec.num_classes,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "momentum": cfg.momentum,
        "weight_decay": cfg.weight_decay,
        "dropout": cfg.dropout,
        "lr_factor": cfg.lr_factor,
        "schedule": (
            f"after epochs {' and '.join(map(str, cfg.drop_epochs()))} of {cfg.epochs}, "
            "fixed in advance"
            if cfg.schedule == "step"
            else f"after {cfg.patience} epochs without improvement"
        ),
        "max_drops": cfg.planned_drops(),
        "epochs": cfg.epochs,
        "init": cfg.init + (" + warm start" if cfg.warm_start else ""),
        "crop": f"{spec.resolution} px from the image padded by {cfg.crop_padding} px",
        "flip": cfg.flip,
        "jitter": "none" if cfg.jitter is None else f"S in [{cfg.jitter[0]}; {cfg.jitter[1]}]",
        "colour": "no",
        "stall": f"after {cfg.stall_epochs} epochs in a row at chance"
        if cfg.stall_epochs
        else "none",
        "precision": "bf16 autocast on a GPU; "
        + ("bf16 autocast on the CPU too" if cfg.cpu_bf16 else "fp32 on the CPU"),
    }


def recipe_comparison(cfg: TrainConfig) -> pd.DataFrame:
    """The paper's recipe beside ``cfg``: one row per setting, marked same or changed, and why."""
    ours = _ours(cfg)
    rows = []
    for key, p in PAPER_RECIPE.items():
        same = type(p.paper) is type(ours[key]) and p.paper == ours[key]
        rows.append(
            {
                "setting": p.setting,
                "paper": p.paper,
                "here": ours[key],
                "kept": same,
                "why": "" if same else WHY_CPU.get(key, p.why) if cfg.preset == "cpu" else p.why,
            }
        )
    return pd.DataFrame(rows)


CURVE_COLUMNS = (
    "run_id",
    "arch",
    "batch_norm",
    "init",
    "seed",
    "status",
    "epoch",
    "train_loss",
    "train_acc",
    "val_acc",
    "lr",
    "seconds",
)


def learning_curves(runs: Iterable[dict]) -> pd.DataFrame:
    """One row per run and epoch, from the runs' recorded history (columns ``CURVE_COLUMNS``)."""
    rows = []
    for r in runs:
        c = r["config"]
        for h in r["history"]:
            rows.append(
                {
                    "run_id": r["run_id"],
                    "arch": c["arch"],
                    "batch_norm": c["batch_norm"],
                    "init": c["init"] + ("+warm" if c.get("warm_start") else ""),
                    "seed": r["seed"],
                    "status": r["status"],
                    "epoch": h["epoch"],
                    "train_loss": h["train_loss"],
                    "train_acc": h["train_acc"],
                    "val_acc": h["val_acc"],
                    "lr": h["lr"],
                    "seconds": h.get("seconds", math.nan),
                }
            )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def mean_curves(curves: pd.DataFrame, by: Iterable[str] = ("arch", "batch_norm")) -> pd.DataFrame:
    """Mean over seeds of each curve per epoch, with ``runs``: how many runs reached that epoch."""
    keys = [*by, "epoch"]
    grouped = curves.groupby(keys, sort=True)
    out = grouped[["train_loss", "train_acc", "val_acc", "lr"]].mean()
    out.insert(0, "runs", grouped.size())
    return out.reset_index()


def lr_drops(history: list[dict]) -> list[int]:
    """Epochs that ran at a lower learning rate than the epoch before them."""
    return [b["epoch"] for a, b in zip(history, history[1:], strict=False) if b["lr"] < a["lr"]]


def run_table(runs: Iterable[dict]) -> pd.DataFrame:
    """One row per run: its schedule (epochs, learning-rate drops, best epoch) and timings."""
    rows = []
    for r in runs:
        c, h = r["config"], r["history"]
        drops = lr_drops(h)
        best = max(h, key=lambda e: e["val_acc"]) if h else None
        rows.append(
            {
                "run_id": r["run_id"],
                "arch": c["arch"],
                "batch_norm": c["batch_norm"],
                "seed": r["seed"],
                "status": r["status"],
                "diverged_epoch": r["diverged_epoch"],
                "epochs": c["epochs"],
                "epochs_run": len(h),
                "lr_drops": len(drops),
                "planned_drops": TrainConfig.from_dict(c).planned_drops(),
                "drop_epochs": ", ".join(map(str, drops)),
                "best_epoch": best["epoch"] if best else None,
                "best_val_acc": best["val_acc"] if best else math.nan,
                "wall_time_s": r["wall_time_s"],
                "train_time_s": r["train_time_s"],
                "images_per_s": r["images_per_s"],
                "device": r["provenance"]["device"],
            }
        )
    table = pd.DataFrame(rows)
    for column in ("diverged_epoch", "best_epoch"):
        if column in table:
            table[column] = table[column].astype("Int64")
    return table


def timing(runs: Iterable[dict]) -> pd.DataFrame:
    """Mean timings over the runs of each architecture, batch-norm setting and device."""
    table = run_table(runs)
    table["s_per_epoch"] = table["train_time_s"] / table["epochs_run"].where(
        table["epochs_run"] > 0
    )
    grouped = table.groupby(["arch", "batch_norm", "device"], sort=False)
    out = grouped[["epochs_run", "wall_time_s", "train_time_s", "s_per_epoch", "images_per_s"]]
    out = out.mean()
    out.insert(0, "runs", grouped.size())
    out.insert(0, "weight_layers", [weight_layers(a) for a, *_ in out.index])
    out = out.reset_index().sort_values(["batch_norm", "weight_layers"], kind="stable")
    return out.reset_index(drop=True)


def training_verdict(record: GridRecord, smoke: bool | None = None) -> str:
    """One line on whether the recorded runs trained and fitted their schedule in the budget."""
    if record.smoke if smoke is None else smoke:
        return SMOKE_VERDICT
    table = run_table(record.runs)
    if table.empty:
        return "not testable: no runs"
    done = table[table["status"] == "completed"]
    diverged = table[table["status"] == "diverged"]
    text = f"{len(done)} of {len(table)} runs completed"
    if len(diverged):
        where = ", ".join(f"{r.run_id} at epoch {r.diverged_epoch}" for r in diverged.itertuples())
        text += f" and {len(diverged)} diverged ({where})"
    if len(done):
        full = done["lr_drops"] >= done["planned_drops"]
        if full.all():
            text += "; every completed run made all its learning-rate drops within its epochs"
        else:
            text += (
                f"; {int((~full).sum())} of {len(done)} completed runs ended before their last "
                "learning-rate drop, so the epoch budget cut their schedule short"
            )
        lo, hi = done["best_val_acc"].min(), done["best_val_acc"].max()
        text += f"; best validation accuracy {100 * lo:.1f}% to {100 * hi:.1f}%"
    return text + "."


def final_fit(runs: Iterable[dict]) -> pd.DataFrame:
    """Per architecture and batch-norm setting, the mean over completed runs of the last
    epoch's training accuracy (on augmented batches, dropout on) and validation accuracy, in
    depth order: whether a deeper net that tests worse also fits its training data worse
    (it was still short of its optimum in the budget) or better (it overfits)."""
    curves = learning_curves(r for r in runs if r["status"] == "completed")
    last = curves[curves["epoch"] == curves.groupby("run_id")["epoch"].transform("max")]
    table = last.groupby(["arch", "batch_norm"], sort=False).agg(
        runs=("run_id", "size"), train_acc=("train_acc", "mean"), val_acc=("val_acc", "mean")
    )
    table = table.reset_index()
    table.insert(1, "weight_layers", table["arch"].map(weight_layers))
    table = table.sort_values(["batch_norm", "weight_layers"], kind="stable")
    return table.reset_index(drop=True)


def fit_note(table: pd.DataFrame) -> str:
    """One sentence per batch-norm setting from ``final_fit``: the deepest net's last training
    accuracy against the shallowest's."""
    sentences = []
    for bn, group in table.groupby("batch_norm", sort=True):
        if len(group) < 2:
            continue
        first, last = group.iloc[0], group.iloc[-1]
        gap = 100 * (last["train_acc"] - first["train_acc"])
        reading = (
            "fits its training data less well: within this budget the deeper net learned "
            "less, rather than overfitting"
            if gap < 0
            else "fits its training data at least as well: any higher test error is not for "
            "want of fitting"
        )
        sentences.append(
            f"{'With' if bn else 'Without'} batch norm, {last['arch']} ends training at "
            f"{100 * last['train_acc']:.1f} % training accuracy (augmented batches, dropout on) "
            f"against {100 * first['train_acc']:.1f} % for {first['arch']}: it {reading}."
        )
    return " ".join(sentences)


def by_depth(archs: Iterable[str]) -> list[str]:
    """Architecture names ordered by their number of weight layers."""
    return sorted(set(archs), key=weight_layers)


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


def _difference(stats: pd.DataFrame, pooled: float, a: str, b: str) -> tuple[float, float]:
    """Change of mean error from ``a`` to ``b``, and its t statistic (change / standard error)."""
    change = float(stats.at[b, "mean"] - stats.at[a, "mean"])
    n_a, n_b = stats.at[a, "count"], stats.at[b, "count"]
    se = pooled * math.sqrt(1 / n_a + 1 / n_b) if n_a and n_b else math.nan
    return change, change / se if se > 0 else math.nan


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
    column = f"{protocol}/{metric}"
    rows = []
    for bn, group in frame.groupby("batch_norm", sort=True):
        archs = by_depth(group["arch"])
        done = group[group["status"] == "completed"]
        values = done[column] if column in done else pd.Series(math.nan, index=done.index)
        stats = values.groupby(done["arch"]).agg(["mean", "std", "count"]).reindex(archs)
        stats["count"] = stats["count"].fillna(0).astype(int)
        pooled = pooled_std(stats["std"], stats["count"])
        dof = int(sum(n - 1 for n in stats["count"] if n >= 2))
        crit = t_critical(dof) if dof >= 1 else math.nan
        first, last = archs[0], archs[-1]
        change, t = _difference(stats, pooled, first, last)
        steps = [
            (a, b, *_difference(stats, pooled, a, b))
            for a, b in zip(archs, archs[1:], strict=False)
        ]
        last_change, last_t = steps[-1][2:] if steps else (math.nan, math.nan)
        row = {
            "batch_norm": bool(bn),
            "shallow": first,
            "deep": last,
            "shallow_error": float(stats.at[first, "mean"]),
            "deep_error": float(stats.at[last, "mean"]),
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
            "missing": ", ".join(a for a in archs if stats.at[a, "count"] == 0),
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


# --- comparing mean errors over seeds: Student's t ----------------------------------------

LEVEL = 0.95


def _t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t with ``df`` degrees of freedom (Simpson's rule on the density)."""
    if x < 0:
        return 1.0 - _t_cdf(-x, df)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    n = 2000  # even; the density is smooth, so this is accurate to ~1e-10 for |x| < 50
    grid = np.linspace(0.0, x, n + 1)
    density = np.exp(log_c - (df + 1) / 2 * np.log1p(grid**2 / df))
    weights = np.ones(n + 1)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    return 0.5 + float(weights @ density) * x / (3 * n)


def t_critical(df: int, level: float = LEVEL) -> float:
    """The two-sided critical value of Student's t: P(|T| > value) = 1 - ``level``."""
    if df < 1:
        raise ValueError(f"a t-test needs at least one degree of freedom, got {df}")
    target, lo, hi = 0.5 + level / 2, 0.0, 1.0
    while _t_cdf(hi, df) < target:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < target else (lo, mid)
    return (lo + hi) / 2


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
        if self.se > 0:
            return self.diff / self.se
        return 0.0 if self.diff == 0 else math.copysign(math.inf, self.diff)

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
            return (
                f"not testable: needs two completed runs per arm ({self.a}: {self.n_a} completed, "
                f"{self.diverged_a} diverged; {self.b}: {self.n_b} completed, "
                f"{self.diverged_b} diverged)"
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


def _smoke(frame: pd.DataFrame) -> bool:
    return bool(frame["smoke"].any()) if "smoke" in frame else False


def _column(protocol: str, metric: str) -> str:
    return protocol if "/" in protocol else f"{protocol}/{metric}"


def _std(values: np.ndarray) -> float:
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
    pooled = pooled_std([_std(va), _std(vb)], [na, nb]) if na >= 2 and nb >= 2 else math.nan
    mean_a = float(va.mean()) if na else math.nan
    mean_b = float(vb.mean()) if nb else math.nan
    return Comparison(
        a=a, b=b, metric=column, paired=False, smoke=_smoke(frame), n_a=na, n_b=nb,
        diverged_a=da, diverged_b=db, mean_a=mean_a, mean_b=mean_b, std_a=_std(va),
        std_b=_std(vb), diff=mean_b - mean_a, noise=pooled,
        se=pooled * math.sqrt(1 / na + 1 / nb) if na and nb else math.nan, df=df,
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
    noise = _std(d)
    return Comparison(
        a=a, b=b, metric=metric, paired=True, smoke=_smoke(frame), n_a=n, n_b=n,
        diverged_a=diverged, diverged_b=diverged, mean_a=float(va.mean()) if n else math.nan,
        mean_b=float(vb.mean()) if n else math.nan, std_a=_std(va), std_b=_std(vb),
        diff=float(d.mean()) if n else math.nan, noise=noise,
        se=noise / math.sqrt(n) if n else math.nan, df=n - 1,
    )  # fmt: skip


CLAIMS = ("lower", "higher", "not lower")
"""What a claim says about arm b's error against arm a's."""


def claim_verdict(c: Comparison, claim: str) -> str:
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
        status = "contradicted" if went_lower else "supported"
    elif (claim == "lower" and went_lower) or (claim == "higher" and went_higher):
        status = "supported"
    elif went_lower or went_higher:
        status = "contradicted"
    else:
        status = "inconclusive"
    return f"{status} ({c.verdict})"


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


def combine(verdicts: list[str]) -> str:
    """One status for a claim made of parts: smoke, contradicted, inconclusive or supported."""
    firsts = [v.split(" ", 1)[0] for v in verdicts]
    if any(v == SMOKE_VERDICT for v in verdicts):
        return SMOKE_VERDICT
    for status in ("contradicted", "not", "inconclusive"):
        if status in firsts:
            return "not testable" if status == "not" else status
    return "supported"


def tally(column: pd.Series) -> str:
    """'supported in 3, inconclusive in 1 of 4 configurations' (or ``SMOKE_VERDICT``)."""
    if (column == SMOKE_VERDICT).any():
        return SMOKE_VERDICT
    counts = column.str.split(" ", n=1).str[0].replace("not", "not testable").value_counts()
    parts = ", ".join(f"{status} in {n}" for status, n in counts.items())
    return f"{parts} of {len(column)} configurations"
