"""How the recorded runs trained: the recipe beside the paper's, learning curves, schedules,
timings, and whether each run fitted its schedule in its budget (the training chapter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from vggrepro.arch.configs import PAPER_CLASSES, PAPER_FC_WIDTH, PAPER_RESOLUTION, weight_layers
from vggrepro.engine.presets import TrainConfig
from vggrepro.report.significance import SMOKE_VERDICT
from vggrepro.results.io import init_label

if TYPE_CHECKING:
    from vggrepro.results.recorded import GridRecord


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
                    "init": init_label(c),
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
