"""Verdicts on the paper's ablations and test-time protocols, computed from recorded runs.

Every comparison is between mean top-1 (or top-5) test errors over seeds, judged against the
seed-to-seed spread with a two-sided Student t-test at the 95 % level: two independent arms
(``pairwise``: two architectures) or two protocols evaluated on the same runs (``paired``).
A difference inside that spread is reported as "no clear difference", never as a win.
Smoke runs (one epoch on a few hundred images) answer nothing: every verdict function returns
``SMOKE_VERDICT`` for them. Diverged runs have no test metrics; they are counted, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.initialisation import SCHEMES
from vggrepro.reference import PAPER_PROTOCOLS
from vggrepro.report.significance import (
    SMOKE_VERDICT,
    claim_verdict,
    combine,
    paired,
    sample_std,
    z_critical,
)
from vggrepro.results.recorded import GridRecord

CHANCE_TOP1 = 90.0
"""Top-1 error (percent) of guessing among CIFAR-10's ten classes."""
# --- the initialisation grid ------------------------------------------------------------------


def run_name(run_id: str) -> str:
    """The grid's name of a run: 'init/vgg19_paper-s0' -> 'vgg19_paper'."""
    return run_id.split("/")[-1].rsplit("-s", 1)[0]


def chance_margin(n_test: int, z: float | None = None, chance: float = CHANCE_TOP1) -> float:
    """``z`` binomial standard errors (points) of chance-level top-1 error on ``n_test`` images;
    by default the book's one decision rule (``significance.z_critical``)."""
    p = chance / 100
    z = z_critical() if z is None else z
    return z * 100 * math.sqrt(p * (1 - p) / n_test)


def init_outcomes(
    frame: pd.DataFrame, n_test: int, *, chance: float = CHANCE_TOP1, z: float | None = None
) -> pd.DataFrame:
    """One row per run: did it train?

    A run trained if it completed and its centre top-1 error is below chance by more than
    ``chance_margin(n_test, z)``; otherwise it diverged (with the epoch), stalled (stopped at
    chance by its stall rule) or stuck near chance.
    """
    margin = chance_margin(n_test, z, chance)
    rows = []
    for r in frame.to_dict("records"):
        err = r.get("centre/top1", math.nan)
        if r["status"] == "diverged":
            outcome, trained = f"diverged in epoch {int(r['diverged_epoch'])}", False
        elif r["status"] == "stalled":
            outcome, trained = f"stalled: stopped at chance after {r['epochs_run']} epochs", False
        elif not math.isnan(err) and err < chance - margin:
            outcome, trained = "trained", True
        else:
            outcome, trained = "stuck near chance", False
        rows.append(
            {
                "run": run_name(r["run_id"]),
                "arch": r["arch"],
                "init": r["init"],
                "seed": r["seed"],
                "status": r["status"],
                "diverged_epoch": r["diverged_epoch"],
                "epochs_run": r["epochs_run"],
                "best_val_acc": r["best_val_acc"],
                "centre/top1": err,
                "trained": trained,
                "outcome": outcome,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["chance_margin"] = margin
    return out


def init_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per run name: seeds, how many trained or diverged (and when), error of the trained ones."""
    rows = []
    for run, g in outcomes.groupby("run", sort=False):
        trained = g[g["trained"]]
        epochs = sorted(int(e) for e in g["diverged_epoch"].dropna())
        rows.append(
            {
                "run": run,
                "arch": g["arch"].iloc[0],
                "init": g["init"].iloc[0],
                "seeds": len(g),
                "trained": int(g["trained"].sum()),
                "diverged": int((g["status"] == "diverged").sum()),
                "stuck": int(
                    ((g["outcome"] == "stuck near chance") | (g["status"] == "stalled")).sum()
                ),
                "diverged in epochs": ", ".join(map(str, epochs)) or "–",
                "best val acc mean": float(g["best_val_acc"].mean()),
                "centre top-1 (trained) mean": float(trained["centre/top1"].mean())
                if len(trained)
                else math.nan,
                "centre top-1 (trained) std": sample_std(trained["centre/top1"].to_numpy(float)),
            }
        )
    return pd.DataFrame(rows)


def init_by_tier(records: Iterable[GridRecord]) -> pd.DataFrame:
    """The initialisation grid at every tier it is recorded at: per tier and start, the seeds
    and how many trained, stayed at chance (stuck or stalled) or diverged; ``verdicts`` in
    ``attrs`` holds each tier's verdict sentence (``init_verdict``)."""
    columns = ["run", "init", "seeds", "trained", "stuck", "diverged", "diverged in epochs"]
    frames, verdicts = [], {}
    for record in records:
        n_test = max(r["data"]["n_test"] for r in record.runs)
        table = init_table(init_outcomes(record.frame, n_test))
        frames.append(table[columns].assign(tier=record.tier_name))
        verdicts[record.tier_name] = init_verdict(table, record.smoke)
    out = (
        pd.concat(frames, ignore_index=True)[["tier", *columns]]
        if frames
        else pd.DataFrame(columns=["tier", *columns])
    )
    out.attrs["verdicts"] = verdicts
    return out


def seed_errors(
    record: GridRecord, arms: Iterable[str], column: str = "centre/top1"
) -> pd.DataFrame:
    """The single runs behind an ablation's means: one row per arm of ``record`` (its tier and
    grid named), the error of each seed's run in ``column`` (NaN for a run without one)."""
    frame = record.frame[record.frame["arch"].isin(list(arms))]
    table = frame.set_index(["arch", "seed"])[column].unstack("seed")
    table.columns = [f"seed {s}" for s in table.columns]
    table = table.reindex([a for a in arms if a in table.index])
    table = table.reset_index().assign(tier=record.tier_name, grid=record.grid)
    return table[["tier", "grid", "arch", *(c for c in table if c.startswith("seed "))]]


def trains(table: pd.DataFrame, run: str) -> str:
    """'trains', 'does not train' or 'trains in k of n seeds', for one run name of ``table``."""
    row = table[table["run"] == run]
    if row.empty:
        raise ValueError(f"no run {run!r}; found {list(table['run'])}")
    k, n = int(row["trained"].iloc[0]), int(row["seeds"].iloc[0])
    if k == n:
        return "trains"
    if k == 0:
        return "does not train"
    return f"trains in {k} of {n} seeds"


INIT_RUNS = {
    "vgg19_paper": "the paper's N(0, 0.01²) init",
    "vgg19_paper_literal": "the literal reading N(0, 0.1²)",
    "vgg19_glorot": "Glorot's init",
    "vgg19_kaiming": "Kaiming's init",
    "vgg19_warm": "the warm start from a trained vgg11",
}


def init_states(table: pd.DataFrame) -> dict[str, str]:
    """``trains`` for each run of ``INIT_RUNS`` the grid recorded (a tier recorded before a run
    joined the grid lacks it, as the GPU tier lacks the literal reading of the paper's init)."""
    return {run: trains(table, run) for run in INIT_RUNS if run in set(table["run"])}


WARM_SOURCE = "vgg11_paper"
"""The 11-layer net the warm start copies from (``grids.GRIDS["init"]``)."""


def init_verdict(table: pd.DataFrame, smoke: bool) -> str:
    """Does the paper's init train a 19-layer net without batch norm; do Glorot or the warm
    start fix it?"""
    if smoke:
        return SMOKE_VERDICT
    states = init_states(table)
    text = "; ".join(f"from {INIT_RUNS[run]} it {state}" for run, state in states.items())
    text = f"The 19-layer net without batch norm: {text}."
    if states["vgg19_paper"] == "trains":
        return text + " The paper's init needs no fix at this scale."
    fixes = [INIT_RUNS[r] for r in ("vgg19_glorot", "vgg19_warm") if states[r] == "trains"]
    if fixes:
        text += f" Fixed by {' and '.join(fixes)}."
    else:
        text += " Neither Glorot's init nor the warm start fixes it here."
    if states["vgg19_warm"] != "trains" and WARM_SOURCE in set(table["run"]):
        source = trains(table, WARM_SOURCE)
        if source != "trains":
            text += (
                f" The warm start copies its layers from {WARM_SOURCE}, which itself "
                f"{source} from the paper's init here, so it had nothing trained to pass on."
            )
    return text


def recipe_differences(
    runs_a: list[dict], runs_b: list[dict], ignore: tuple[str, ...] = ("arch", "seed")
) -> list[str]:
    """Training options (other than ``ignore``) that differ between two sets of runs: empty
    when runs of two grids can be compared as arms of one ablation."""
    configs = [r["config"] for r in (*runs_a, *runs_b)]
    keys = sorted({k for c in configs for k in c} - set(ignore))
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def relu_variance_gain(spec: VGGSpec, std: float) -> float:
    """Factor by which the variance of the conv pre-activations grows from the first conv layer
    to the last, for weights of standard deviation ``std``, zero biases and no batch norm.

    He et al. (2015): behind a ReLU, each conv layer multiplies the variance by
    k^2 C_in std^2 / 2 (k the kernel side, C_in the input channels).
    """
    convs = [ly for ly in spec.features() if ly.kind == "conv"]
    return math.prod(ly.kernel**2 * ly.in_channels * std**2 / 2 for ly in convs[1:])


def sampled_std(scheme: str, shape: tuple[int, ...] = (256, 256, 3, 3), seed: int = 0) -> float:
    """The standard deviation of weights drawn by ``initialisation.SCHEMES[scheme]``."""
    torch.manual_seed(seed)
    weights = torch.empty(shape)
    SCHEMES[scheme](weights)
    return float(weights.std())


def history_frame(runs: list[dict]) -> pd.DataFrame:
    """Validation accuracy per epoch of every run (long form), with its status."""
    rows = [
        {
            "run": run_name(r["run_id"]),
            "seed": r["seed"],
            "status": r["status"],
            "diverged_epoch": r["diverged_epoch"],
            "epoch": h["epoch"],
            "val_acc": h["val_acc"],
            "train_loss": h["train_loss"],
        }
        for r in runs
        for h in r["history"]
    ]
    columns = ["run", "seed", "status", "diverged_epoch", "epoch", "val_acc", "train_loss"]
    return pd.DataFrame(rows, columns=columns)


# --- test-time protocols ----------------------------------------------------------------------


def paper_protocol_table() -> pd.DataFrame:
    """``PAPER_PROTOCOLS`` as a table: one row per configuration and protocol."""
    rows = [
        {"config": c, "protocol": p, "top1": t1, "top5": t5}
        for c, by_protocol in PAPER_PROTOCOLS.items()
        for p, (t1, t5) in by_protocol.items()
    ]
    return pd.DataFrame(rows)


def _scale_key(protocol: str) -> tuple:
    """Sort key: centre, flip, dense@Q (+flip) by Q, dense multi-scale, multi-crop, both."""
    fixed = {"centre": 0, "flip": 1, "dense multi-scale": 3, "multi-crop": 4}
    if protocol.startswith("dense@"):
        q = protocol.removeprefix("dense@").removesuffix("+flip")
        return (2, int(q), protocol.endswith("+flip"))
    return (fixed.get(protocol, 5), 0, False)


def protocols(frame: pd.DataFrame) -> list[str]:
    """The protocols recorded in ``frame``, in the paper's order."""
    found = {c.rsplit("/", 1)[0] for c in frame.columns if c.endswith("/top1")}
    return sorted(found, key=_scale_key)


def protocol_table(
    frame: pd.DataFrame, by: tuple[str, ...] = ("arch", "batch_norm")
) -> pd.DataFrame:
    """Per configuration and protocol: mean and std of top-1/top-5 error over completed runs,
    and the gain over the centre view (centre error minus protocol error, per run; positive is
    better). ``diverged`` counts the configuration's runs that have no test metrics."""
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        done = g[g["status"] == "completed"]
        diverged = int((g["status"] == "diverged").sum())
        for p in protocols(frame):
            top1, top5 = done[f"{p}/top1"].to_numpy(float), done[f"{p}/top5"].to_numpy(float)
            gain = done["centre/top1"].to_numpy(float) - top1
            ok = ~np.isnan(gain)
            rows.append(
                {
                    **dict(zip(by, key, strict=True)),
                    "protocol": p,
                    "runs": int(ok.sum()),
                    "diverged": diverged,
                    "top1 mean": float(np.nanmean(top1)) if ok.any() else math.nan,
                    "top1 std": sample_std(top1[ok]),
                    "top5 mean": float(np.nanmean(top5)) if ok.any() else math.nan,
                    "top5 std": sample_std(top5[ok]),
                    "top1 gain over centre mean": float(gain[ok].mean()) if ok.any() else math.nan,
                    "top1 gain over centre std": sample_std(gain[ok]),
                }
            )
    return pd.DataFrame(rows)


def protocol_gains(
    frame: pd.DataFrame, by: tuple[str, ...] = ("arch", "batch_norm")
) -> pd.DataFrame:
    """Per configuration and protocol: the gain over the centre view (centre top-1 error minus
    the protocol's, run by run; positive helps), its spread over seeds, and the paired t-test's
    verdict on "the protocol beats the centre view" (supported only beyond the seed spread)."""
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for p in protocols(frame):
            if p == "centre":
                continue
            c = paired(g, "centre", p)
            rows.append(
                {
                    **dict(zip(by, key, strict=True)),
                    "protocol": p,
                    "runs": c.n_a,
                    "gain mean (points)": -c.diff,
                    "gain std (points)": c.noise,
                    "beats the centre view": claim_verdict(c, "lower"),
                }
            )
    return pd.DataFrame(rows)


def single_scale(frame: pd.DataFrame, train_size: int = 32) -> str:
    """The single-scale dense protocol at the training size, with flips (as multi-scale uses)."""
    name = f"dense@{train_size}+flip"
    if name not in protocols(frame):
        raise ValueError(f"no protocol {name!r}; recorded: {protocols(frame)}")
    return name


def protocol_claims(
    frame: pd.DataFrame, by: tuple[str, ...] = ("arch", "batch_norm"), train_size: int = 32
) -> pd.DataFrame:
    """Per configuration, the paper's two evaluation claims judged on its runs:
    multi-scale dense beats single-scale dense (Tables 3-4), and dense + multi-crop beats both
    dense multi-scale and multi-crop (Table 5)."""
    single = single_scale(frame, train_size)
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        multi = paired(g, single, "dense multi-scale")
        vs_dense = paired(g, "dense multi-scale", "dense + multi-crop")
        vs_crop = paired(g, "multi-crop", "dense + multi-crop")
        combined = combine([claim_verdict(vs_dense, "lower"), claim_verdict(vs_crop, "lower")])
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "multi-scale - single (points)": multi.diff,
                "multi-scale beats single scale": claim_verdict(multi, "lower"),
                "both - dense (points)": vs_dense.diff,
                "both - multi-crop (points)": vs_crop.diff,
                "dense + multi-crop beats both": combined,
            }
        )
    return pd.DataFrame(rows)
