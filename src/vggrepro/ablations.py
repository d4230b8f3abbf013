"""Verdicts on the paper's ablations and test-time protocols, computed from recorded runs.

Every comparison is between mean top-1 (or top-5) test errors over seeds, judged against the
seed-to-seed spread with a two-sided Student t-test at the 95 % level: two independent arms
(``pairwise``: two architectures) or two protocols evaluated on the same runs (``paired``).
A difference inside that spread is reported as "no clear difference", never as a win.
Smoke runs (one epoch on a few hundred images) answer nothing: every verdict function returns
``SMOKE`` for them. Diverged runs have no test metrics; they are counted, never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from vggrepro.configs import VGGSpec
from vggrepro.initialisation import SCHEMES

SMOKE = "not testable here: only smoke runs"
CHANCE_TOP1 = 90.0
"""Top-1 error (percent) of guessing among CIFAR-10's ten classes."""
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
            return SMOKE
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


PAPER_TABLE3: dict[str, tuple[float, float]] = {
    # Simonyan & Zisserman (ICLR 2015), Table 3, train and test scale 256: ImageNet validation
    # (top-1, top-5) error in percent, dense evaluation. Quoted, not ours.
    "A": (29.6, 10.4),
    "A-LRN": (29.7, 10.5),
    "B": (28.7, 9.9),
    "C": (28.1, 9.4),
    "D": (27.0, 8.8),
    "E": (27.3, 9.0),
}


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
    pooled = (
        math.sqrt(((na - 1) * va.var(ddof=1) + (nb - 1) * vb.var(ddof=1)) / df)
        if na >= 2 and nb >= 2
        else math.nan
    )
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
            raise ValueError(f"no column {c!r}; protocols recorded: {protocols(frame)}")
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
        return SMOKE
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
        return SMOKE
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


# --- the initialisation grid ------------------------------------------------------------------


def run_name(run_id: str) -> str:
    """The grid's name of a run: 'init/vgg19_paper-s0' -> 'vgg19_paper'."""
    return run_id.split("/")[-1].rsplit("-s", 1)[0]


def chance_margin(n_test: int, z: float = 3.0, chance: float = CHANCE_TOP1) -> float:
    """``z`` binomial standard errors (points) of chance-level top-1 error on ``n_test`` images."""
    p = chance / 100
    return z * 100 * math.sqrt(p * (1 - p) / n_test)


def init_outcomes(
    frame: pd.DataFrame, n_test: int, *, chance: float = CHANCE_TOP1, z: float = 3.0
) -> pd.DataFrame:
    """One row per run: did it train?

    A run trained if it completed and its centre top-1 error is below chance by more than
    ``chance_margin(n_test, z)``; otherwise it diverged (with the epoch) or stuck near chance.
    """
    margin = chance_margin(n_test, z, chance)
    rows = []
    for r in frame.to_dict("records"):
        err = r.get("centre/top1", math.nan)
        if r["status"] == "diverged":
            outcome, trained = f"diverged in epoch {int(r['diverged_epoch'])}", False
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
                "stuck": int((g["outcome"] == "stuck near chance").sum()),
                "diverged in epochs": ", ".join(map(str, epochs)) or "–",
                "best val acc mean": float(g["best_val_acc"].mean()),
                "centre top-1 (trained) mean": float(trained["centre/top1"].mean())
                if len(trained)
                else math.nan,
                "centre top-1 (trained) std": _std(trained["centre/top1"].to_numpy(float)),
            }
        )
    return pd.DataFrame(rows)


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
    "vgg19_paper": "the paper's init (normal, std 0.01)",
    "vgg19_glorot": "Glorot's init",
    "vgg19_kaiming": "Kaiming's init",
    "vgg19_warm": "the warm start from a trained vgg11",
}


def init_verdict(table: pd.DataFrame, smoke: bool) -> str:
    """Does the paper's init train a 19-layer net without batch norm; do Glorot or the warm
    start fix it?"""
    if smoke:
        return SMOKE
    states = {run: trains(table, run) for run in INIT_RUNS}
    text = "; ".join(f"from {INIT_RUNS[run]} it {state}" for run, state in states.items())
    text = f"The 19-layer net without batch norm: {text}."
    if states["vgg19_paper"] == "trains":
        return text + " The paper's init needs no fix at this scale."
    fixes = [INIT_RUNS[r] for r in ("vgg19_glorot", "vgg19_warm") if states[r] == "trains"]
    if fixes:
        return text + f" Fixed by {' and '.join(fixes)}."
    return text + " Neither Glorot's init nor the warm start fixes it here."


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

PAPER_PROTOCOLS: dict[str, dict[str, tuple[float, float]]] = {
    # Simonyan & Zisserman (ICLR 2015), ImageNet validation (top-1, top-5) error in percent of
    # D and E trained with jittered S in [256; 512]: Table 3 (single test scale Q = 384),
    # Table 4 (dense, Q = {256, 384, 512}) and Table 5 (multi-crop, and both combined).
    "D": {
        "single scale": (25.6, 8.1),
        "dense multi-scale": (24.8, 7.5),
        "multi-crop": (24.6, 7.5),
        "dense + multi-crop": (24.4, 7.2),
    },
    "E": {
        "single scale": (25.5, 8.0),
        "dense multi-scale": (24.8, 7.5),
        "multi-crop": (24.6, 7.4),
        "dense + multi-crop": (24.4, 7.1),
    },
}
"""The paper's ImageNet figures for the protocols it compares (quoted, not ours)."""


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
                    "top1 std": _std(top1[ok]),
                    "top5 mean": float(np.nanmean(top5)) if ok.any() else math.nan,
                    "top5 std": _std(top5[ok]),
                    "top1 gain over centre mean": float(gain[ok].mean()) if ok.any() else math.nan,
                    "top1 gain over centre std": _std(gain[ok]),
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


def combine(verdicts: list[str]) -> str:
    """One status for a claim made of parts: smoke, contradicted, inconclusive or supported."""
    firsts = [v.split(" ", 1)[0] for v in verdicts]
    if any(v == SMOKE for v in verdicts):
        return SMOKE
    for status in ("contradicted", "not", "inconclusive"):
        if status in firsts:
            return "not testable" if status == "not" else status
    return "supported"


def tally(column: pd.Series) -> str:
    """'supported in 3, inconclusive in 1 of 4 configurations' (or ``SMOKE``)."""
    if (column == SMOKE).any():
        return SMOKE
    counts = column.str.split(" ", n=1).str[0].replace("not", "not testable").value_counts()
    parts = ", ".join(f"{status} in {n}" for status, n in counts.items())
    return f"{parts} of {len(column)} configurations"
