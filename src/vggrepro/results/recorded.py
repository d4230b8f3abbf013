"""What the book's results chapters read: recorded runs, labelled by the tier they came from.

There are three tiers of recorded runs, each in a folder of its own under ``results/``
(``results.TIERS``): the GPU reproduction (``runs/``, preset ``reduced``), the CPU tier
(``cpu/``, preset ``cpu``: trained to convergence on two CPU cores at a smaller scale) and
the CPU smoke runs (``smoke/``, tiny pipeline checks that are never a result). For a grid,
``load_grid`` takes the first tier that has runs, in that order; it only reads, and names the
command that records a grid when no tier has it (``make smoke``, the committed fallback).
Every record carries its tier and a scale description, for captions, CSV names and the
claims ledger.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pandas as pd

from vggrepro.files import project_root
from vggrepro.results.io import aggregate, export_csv, load_result, load_runs, runs_frame
from vggrepro.results.schema import TIERS, ResultError

ROOT = project_root()
RESULTS = Path(os.environ.get("VGGREPRO_RESULTS") or ROOT / "results")
TABLES = RESULTS / "tables"
TIER_NAMES = {"reduced": "GPU tier", "cpu": "CPU tier", "smoke": "CPU smoke runs"}
CSV_SUFFIX = {"reduced": "", "cpu": "-cpu", "smoke": "-smoke"}
"""A table's CSV name says its tier: ``depth.csv`` (GPU), ``depth-cpu.csv``, ``depth-smoke.csv``."""


@dataclass
class GridRecord:
    """The runs of one grid and the tier they came from (a key of ``results.TIERS``)."""

    grid: str
    runs: list[dict]
    tier: str
    source: str  # the folder they were read from, relative to the repository when possible

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"unknown tier {self.tier!r}; valid: {', '.join(TIERS)}")

    @property
    def smoke(self) -> bool:
        """Whether these are smoke runs, which decide nothing."""
        return self.tier == "smoke"

    @property
    def frame(self) -> pd.DataFrame:
        """One row per run (see ``results.runs_frame``)."""
        return runs_frame(self.runs)

    @property
    def devices(self) -> list[str]:
        return sorted({r["provenance"]["device"] for r in self.runs})

    @property
    def scale(self) -> str:
        """The scale the runs were trained at, e.g. 'conv widths 1/4, FC-256, 15 epochs, full
        CIFAR-10' (the values of every run, where runs differ)."""
        return scale(self.runs)

    def tested_with(self, protocols: tuple[str, ...]) -> bool:
        """Whether every completed run was tested with each of ``protocols``."""
        done = [r for r in self.runs if r["status"] == "completed"]
        return all(set(protocols) <= set(r["test"]) for r in done)

    @property
    def test_scales(self) -> list[int]:
        """The dense test scales the runs were tested at, in training or in a later retest."""
        scales: set[int] = set()
        for r in self.runs:
            scales |= set(r["config"]["eval_scales"]) | set(r.get("retest", {}).get("scales", ()))
        return sorted(scales)

    @property
    def tier_name(self) -> str:
        """'GPU tier', 'CPU tier' or 'CPU smoke runs'."""
        return TIER_NAMES[self.tier]

    @property
    def label(self) -> str:
        """The tier and scale, for captions: 'CPU tier (CPU scale: conv widths 1/4, ...)'."""
        if self.smoke:
            return "CPU smoke runs (not the reproduction)"
        where = "CPU" if self.tier == "cpu" else "GPU"
        return f"{self.tier_name} ({where} scale: {self.scale})"


def scale(runs: list[dict]) -> str:
    """Widths, FC width, epochs and training data of ``runs``, in words (every value that
    occurs, where runs differ)."""

    def values(show, items) -> str:
        return " or ".join(show(v) for v in sorted(set(items), key=lambda v: (v is None, v)))

    configs = [r["config"] for r in runs]
    width = values(lambda w: str(Fraction(w).limit_denominator(64)), (c["width"] for c in configs))
    fc = values(lambda f: f"FC-{f}", (c["fc_width"] for c in configs))
    epochs = values(str, (c["epochs"] for c in configs))
    epochs += " epoch" if epochs == "1" else " epochs"
    images = values(lambda n: f"{n:,}", (r["data"]["n_train"] for r in runs))
    held = values(lambda n: f"{n:,}", (r["data"]["n_val"] for r in runs))
    sources = values(str, (r["data"]["source"] for r in runs))
    if any(c.get("n_train") is not None for c in configs):
        data = f"a subset of {images} training images of {sources}"
    else:
        data = f"the full {sources} training set ({images} images, {held} held out)"
    return f"conv widths {width} of the paper's, {fc}, {epochs}, {data}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_tier(folder: Path, tier: str) -> list[dict]:
    """The runs under ``folder``, which must all come from preset ``tier``; an error names the
    files of any other tier found there."""
    paths = sorted(p for p in Path(folder).rglob("*.json")) if Path(folder).is_dir() else []
    runs = {p: load_result(p) for p in paths}
    wrong = [f"{_relative(p)} ({r['preset']})" for p, r in runs.items() if r["preset"] != tier]
    if wrong:
        raise ValueError(
            f"{_relative(Path(folder))} holds {tier} runs only, but these come from another "
            f"tier: {', '.join(wrong)}"
        )
    return sorted(runs.values(), key=lambda r: r["run_id"])


PROTOCOLS = ("dense multi-scale", "multi-crop", "dense + multi-crop")
"""The test protocols the evaluation chapter needs (``require=PROTOCOLS`` in ``load_grid``);
the CPU tier evaluates only the centre and flip protocols unless a grid asks for more."""


def load_grid(grid: str, results: Path = RESULTS, require: tuple[str, ...] = ()) -> GridRecord:
    """The best recorded runs of ``grid``: GPU tier, else CPU tier, else smoke runs. With
    ``require``, a tier counts only if every completed run was tested with each of those
    protocols. Raises ``ResultError`` when no tier qualifies; it never trains."""
    for tier, folder in TIERS.items():
        where = results / folder / grid
        record = GridRecord(grid, load_tier(where, tier), tier, _relative(where))
        if record.runs and record.tested_with(require):
            return record
    raise ResultError(
        f"no recorded runs of grid {grid!r} under {results}: record them with `make smoke` "
        f"(CPU smoke runs) or `python -m vggrepro run {grid}`"
    )


def recorded_tiers(grid: str, results: Path = RESULTS) -> list[GridRecord]:
    """``grid`` at every tier where it is recorded, GPU tier first; smoke runs never count."""
    records = []
    for tier, folder in TIERS.items():
        runs = load_tier(results / folder / grid, tier) if tier != "smoke" else []
        if runs:
            records.append(GridRecord(grid, runs, tier, _relative(results / folder / grid)))
    return records


def complete_tiers(grids: list[str], results: Path = RESULTS) -> list[dict[str, GridRecord]]:
    """For each tier (GPU first, smoke runs never) at which every grid of ``grids`` is
    recorded: the grids' records, and ``"protocols"``, the depth grid's record (its runs tested
    with every protocol or not: ``tested_with`` tells)."""
    found = []
    for tier, folder in TIERS.items():
        if tier == "smoke":
            continue
        runs = {grid: load_tier(results / folder / grid, tier) for grid in grids}
        if all(runs.values()):
            records = {
                grid: GridRecord(grid, r, tier, _relative(results / folder / grid))
                for grid, r in runs.items()
            }
            found.append(records | {"protocols": records["depth"]})
    return found


def status(grids: list[str], results: Path = RESULTS) -> str:
    """Which tier each grid is recorded at, in one sentence (nothing is trained or checked)."""
    by_tier: dict[str, list[str]] = {}
    for grid in grids:
        tier = next(
            (t for t, folder in TIERS.items() if any((results / folder / grid).glob("*.json"))),
            None,
        )
        by_tier.setdefault(tier, []).append(grid)
    parts = [f"{', '.join(by_tier[tier])}: {TIER_NAMES[tier]}" for tier in TIERS if tier in by_tier]
    if None in by_tier:
        parts.append(f"{', '.join(by_tier[None])}: nothing recorded")
    return "; ".join(parts)


def summary(record: GridRecord, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds of every metric, per configuration."""
    return aggregate(record.frame, by)


def export_table(frame: pd.DataFrame, name: str, record: GridRecord | None = None) -> Path:
    """Write a table the book cites to ``results/tables/<name><suffix>.csv``, the suffix
    naming the tier of ``record`` (``CSV_SUFFIX``), so that no table is mistaken for
    another tier's."""
    suffix = CSV_SUFFIX[record.tier] if record is not None else ""
    return export_csv(frame, TABLES / f"{name}{suffix}.csv")


def tier_note(record: GridRecord) -> str:
    """A MyST box saying where a chapter's runs came from: a warning for smoke runs, a note
    for the CPU tier and for the GPU tier."""
    if record.smoke:
        return (
            ":::{warning}\n"
            f"**Smoke numbers, not the reproduction.** `{record.source}` holds only CPU smoke "
            f"runs of the `{record.grid}` grid: {len(record.runs)} runs of a few hundred images "
            "for one epoch with tiny widths, recorded to prove the pipeline works. They say "
            "nothing about VGG. Record the grid at the CPU tier (`python -m vggrepro run "
            f"{record.grid} --preset cpu --workers 2`) or on a GPU (`python -m vggrepro run "
            f"{record.grid}`).\n:::"
        )
    if record.tier == "cpu":
        devices = "; ".join(record.devices)
        return (
            ":::{note}\n"
            f"**CPU tier.** These {len(record.runs)} runs of the `{record.grid}` grid were "
            f"trained to the end of their schedule on {devices}, at CPU scale: {record.scale}. "
            "They are real results at that scale, not the paper's full size; runs on a GPU "
            "(`results/runs/`) replace them when recorded.\n:::"
        )
    return (
        ":::{note}\n"
        f"**GPU tier.** These {len(record.runs)} runs of the `{record.grid}` grid were trained "
        f"on {'; '.join(record.devices)}, at GPU scale: {record.scale}.\n:::"
    )


def all_runs(results: Path = RESULTS) -> list[dict]:
    """Every recorded run, of every tier."""
    return [r for folder in TIERS.values() for r in load_runs(results / folder)]


def provenance_table(runs: list[dict]) -> pd.DataFrame:
    """One row per run: where, with what, from which data, how long."""
    return pd.DataFrame(
        {
            "run": r["run_id"],
            "tier": TIER_NAMES.get(r["preset"], r["preset"]),
            "device": r["provenance"]["device"],
            "torch": r["provenance"]["torch"],
            "CUDA": r["provenance"]["cuda"] or "—",
            "commit": r["provenance"]["git_commit"][:10]
            + {True: "+dirty", False: "", None: " (dirty?)"}[r["provenance"]["git_dirty"]],
            "data": f"{r['data']['source']} ({r['data']['checksum'][:12]})",
            "seed": r["seed"],
            "status": r["status"],
            "wall time (s)": r["wall_time_s"],
            "finished": r["finished"],
        }
        for r in runs
    )


def wall_times(runs: list[dict]) -> pd.DataFrame:
    """Per grid, tier and device: runs trained, runs shared with another grid (not trained
    again, so not timed again), total wall time and mean images/s of the trained ones."""
    frame = pd.DataFrame(
        {
            "grid": r["grid"],
            "tier": TIER_NAMES.get(r["preset"], r["preset"]),
            "device": r["provenance"]["device"],
            "shared": "shared_with" in r,
            "wall_time_s": r["wall_time_s"],
            "images_per_s": r["images_per_s"],
        }
        for r in runs
    )
    trained = frame[~frame["shared"]].groupby(["grid", "tier", "device"], sort=False)
    table = trained.agg(
        runs=("wall_time_s", "size"),
        wall_time_s=("wall_time_s", "sum"),
        images_per_s=("images_per_s", "mean"),
    )
    shared = frame[frame["shared"]].groupby(["grid", "tier", "device"], sort=False).size()
    table.insert(1, "shared", shared.reindex(table.index, fill_value=0))
    return table.reset_index()


def benchmarks(results: Path = RESULTS) -> pd.DataFrame:
    """One row per recorded benchmark output under ``results/benchmarks`` (``--json`` files):
    the path it measured, its images/s, and the baseline it was measured against in the same
    run, with their ratio."""
    rows = []
    for path in sorted((results / "benchmarks").glob("*.json")):
        b = json.loads(path.read_text())
        row = {"file": path.name, "benchmark": b["benchmark"], "device": b["device"]}
        row["measured"], row["torch"] = b["measured"], b["torch"]
        if b["benchmark"] == "throughput":
            row["images/s"] = b["fast"]["images_per_s"]
            row["against"] = "naive DataLoader"
            row["baseline images/s"] = b["naive"]["images_per_s"]
            row["ratio"] = b["ratio"]
        elif b["benchmark"] == "cpu_tier":
            row["images/s"] = b["variants"]["one process per core"]["images_per_s"]
            row["against"] = "old CPU path (NCHW, one process)"
            row["baseline images/s"] = b["variants"]["old"]["images_per_s"]
            row["ratio"] = b["ratio"]
        else:
            row["images/s"] = b["images_per_s"]
            row["model TFLOP/s"] = b["model_tflops"]
            row["MFU"] = b["mfu"]
        rows.append(row)
    return pd.DataFrame(rows)
