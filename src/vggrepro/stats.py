"""Arithmetic behind the training and depth chapters: recipes, learning curves, depth verdicts.

``recipe_comparison`` sets a ``TrainConfig`` beside the paper's recipe; ``learning_curves``
flattens the per-epoch history of recorded runs; ``depth_effect`` measures how test error
changes with depth against the seed-to-seed spread, and ``depth_verdict`` turns that into one
line of text (or refuses, for smoke runs). Published figures below are quoted from the sources
named beside them (also collected in the project's REFERENCE.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from vggrepro.configs import PAPER_CLASSES, PAPER_FC_WIDTH, PAPER_RESOLUTION, weight_layers
from vggrepro.train import TrainConfig

if TYPE_CHECKING:
    from vggrepro.recorded import GridRecord

SMOKE_VERDICT = "not testable here: only smoke runs"
"""What every verdict says about smoke runs, whatever their numbers."""

THRESHOLD = 2.0
"""A change counts as clear at this many standard errors of a difference of means."""

# Simonyan & Zisserman (ICLR 2015), Table 3: ImageNet validation top-1 / top-5 error (%),
# single test scale, fixed training scale S = 256 (test scale Q = 256).
PAPER_TABLE3_S256: dict[str, tuple[float, float]] = {
    "vgg11": (29.6, 10.4),  # A
    "vgg13": (28.7, 9.9),  # B
    "vgg16": (27.0, 8.8),  # D
    "vgg19": (27.3, 9.0),  # E
}

# CIFAR-10 test accuracy (%) reported by other implementations, with their setups.
CIFAR10_REFERENCE: list[dict[str, Any]] = [
    *(
        {
            "source": "chengyangfu/pytorch-vgg-cifar10",
            "setup": "300 epochs, full conv widths, classifier 512-512-10",
            "arch": arch,
            "batch_norm": bn,
            "test_acc": acc,
        }
        for arch, bn, acc in (
            ("vgg11", False, 91.1),
            ("vgg11", True, 92.17),
            ("vgg13", False, 92.79),
            ("vgg13", True, 94.18),
            ("vgg16", False, 92.63),
            ("vgg16", True, 93.86),
            ("vgg19", False, 92.27),
            ("vgg19", True, 93.65),
        )
    ),
    {
        "source": "kuangliu/pytorch-cifar",
        "setup": "VGG16 with batch norm",
        "arch": "vgg16",
        "batch_norm": True,
        "test_acc": 92.64,
    },
]


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
    "lr_factor": PaperSetting("learning-rate factor on a plateau", 0.1, ""),
    "max_drops": PaperSetting("learning-rate drops", 3, ""),
    "patience": PaperSetting(
        "epochs without improvement before a drop",
        "not stated",
        "the paper does not say how it decided that validation accuracy had stopped improving",
    ),
    "epochs": PaperSetting(
        "epochs", 74, "a fixed budget for a short GPU loan; the drops happen within it"
    ),
    "init": PaperSetting(
        "initialisation",
        "N(0, 1e-2) + warm start from A; Glorot later",
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
}
"""The paper's recipe (section 3.1, quoted in REFERENCE.md), keyed by what ``_ours`` reads."""


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
        "max_drops": cfg.max_drops,
        "patience": cfg.patience,
        "epochs": cfg.epochs,
        "init": cfg.init + (" + warm start" if cfg.warm_start else ""),
        "crop": f"{spec.resolution} px from the image padded by {cfg.crop_padding} px",
        "flip": cfg.flip,
        "jitter": "none" if cfg.jitter is None else f"S in [{cfg.jitter[0]}; {cfg.jitter[1]}]",
        "colour": "no",
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
                "why": p.why,
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
                "max_drops": c["max_drops"],
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
        full = done["lr_drops"] >= done["max_drops"]
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
    """Change of mean error from ``a`` to ``b``, and that change in standard errors."""
    change = float(stats.at[b, "mean"] - stats.at[a, "mean"])
    n_a, n_b = stats.at[a, "count"], stats.at[b, "count"]
    se = pooled * math.sqrt(1 / n_a + 1 / n_b) if n_a and n_b else math.nan
    return change, change / se if se > 0 else math.nan


def depth_effect(
    frame: pd.DataFrame,
    protocol: str = "centre",
    metric: str = "top1",
    threshold: float = THRESHOLD,
) -> pd.DataFrame:
    """How test error changes with depth, per batch-norm setting, against the seed noise.

    ``frame`` is ``GridRecord.frame``. Only completed runs enter the means; diverged runs are
    counted. One row per ``batch_norm`` with: the shallowest and deepest architecture and their
    mean errors (percent); ``change`` (deepest minus shallowest, negative when error falls);
    ``pooled_std``, the seed-to-seed standard deviation pooled over depths; ``ratio``, change
    over pooled std; ``z``, change over its standard error pooled_std * sqrt(1/n1 + 1/n2);
    ``clear`` when |z| >= ``threshold`` (a rough rule, not a formal test); ``monotonic`` when
    every step to a deeper net lowers the mean error; the step changes as ``"a→b"`` columns;
    the last step's change and z (saturation); ``runs``, ``diverged``, and ``missing``
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
        first, last = archs[0], archs[-1]
        change, z = _difference(stats, pooled, first, last)
        steps = [
            (a, b, *_difference(stats, pooled, a, b))
            for a, b in zip(archs, archs[1:], strict=False)
        ]
        last_change, last_z = steps[-1][2:] if steps else (math.nan, math.nan)
        row = {
            "batch_norm": bool(bn),
            "shallow": first,
            "deep": last,
            "shallow_error": float(stats.at[first, "mean"]),
            "deep_error": float(stats.at[last, "mean"]),
            "change": change,
            "pooled_std": pooled,
            "ratio": change / pooled if pooled > 0 else math.nan,
            "z": z,
            "clear": bool(abs(z) >= threshold),
            "monotonic": bool(steps) and all(s[2] < 0 for s in steps),
            **{f"{a}→{b}": c for a, b, c, _ in steps},
            "last_step": f"{steps[-1][0]}→{steps[-1][1]}" if steps else "",
            "last_change": last_change,
            "last_z": last_z,
            "runs": len(group),
            "diverged": int((group["status"] == "diverged").sum()),
            "missing": ", ".join(a for a in archs if stats.at[a, "count"] == 0),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _setting_verdict(row: pd.Series, threshold: float) -> str:
    """The verdict for one batch-norm setting (a row of ``depth_effect``)."""
    name = "with batch norm" if row["batch_norm"] else "without batch norm"
    diverged = f"; {row['diverged']} of {row['runs']} runs diverged" if row["diverged"] else ""
    if row["missing"]:
        return f"{name}: not testable, no completed run of {row['missing']}{diverged}"
    if row["shallow"] == row["deep"]:
        return f"{name}: not testable, only one depth ({row['shallow']}) was run{diverged}"
    if not row["pooled_std"] > 0:
        return f"{name}: not testable, no seed-to-seed spread to compare with (too few seeds)"
    z, change = row["z"], row["change"]
    trend = "falls" if z <= -threshold else "rises" if z >= threshold else "shows no clear change"
    text = (
        f"{name}, top-1 error {trend} from {row['shallow']} to {row['deep']} "
        f"({change:+.2f} points, {abs(row['ratio']):.1f}x the seed-to-seed std of "
        f"{row['pooled_std']:.2f}, {abs(z):.1f} standard errors)"
    )
    if trend == "falls":
        text += ", monotonically" if row["monotonic"] else ", but not at every step"
        last = row["last_z"]
        if abs(last) < threshold:
            text += f"; {row['last_step']} is within the seed noise (saturation)"
        else:
            direction = "still falls" if last < 0 else "rises again"
            text += f"; it {direction} at {row['last_step']} ({row['last_change']:+.2f})"
    return text + diverged


def depth_verdict(
    data: GridRecord | pd.DataFrame,
    smoke: bool | None = None,
    protocol: str = "centre",
    threshold: float = THRESHOLD,
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
    effect = depth_effect(frame, protocol, "top1", threshold)
    clauses = [_setting_verdict(row, threshold) for _, row in effect.iterrows()]
    return " ".join(c[0].upper() + c[1:] + "." for c in clauses)
