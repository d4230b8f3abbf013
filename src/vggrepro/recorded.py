"""What the book's results chapters read: recorded runs, labelled by where they came from.

For a grid, ``load_grid`` takes the GPU reproduction under ``results/runs/<grid>`` if it is
there; else the recorded CPU smoke runs under ``results/smoke/<grid>``; else it runs the smoke
grid now on the CPU (into ``_build/smoke``; this needs a data source, see ``vggrepro.data``).
Smoke numbers always come back marked ``smoke=True`` so that chapters can warn and the claims
ledger can refuse them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vggrepro.results import aggregate, export_csv, load_runs, runs_frame

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("VGGREPRO_RESULTS", ROOT / "results"))
TABLES = RESULTS / "tables"


@dataclass
class GridRecord:
    """The runs of one grid and where they came from."""

    grid: str
    runs: list[dict]
    smoke: bool
    source: str  # the folder they were read from, relative to the repository when possible

    @property
    def frame(self) -> pd.DataFrame:
        """One row per run (see ``results.runs_frame``)."""
        return runs_frame(self.runs)

    @property
    def devices(self) -> list[str]:
        return sorted({r["provenance"]["device"] for r in self.runs})

    @property
    def label(self) -> str:
        """'GPU reproduction' or 'CPU smoke run', for captions."""
        return "CPU smoke runs (not the reproduction)" if self.smoke else "recorded runs"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_grid(grid: str, results: Path = RESULTS) -> GridRecord:
    """The best available runs of ``grid``: reproduction, else recorded smoke, else live smoke."""
    for kind, smoke in (("runs", False), ("smoke", True)):
        folder = results / kind / grid
        runs = load_runs(folder)
        if runs:
            if any(r["smoke"] != smoke for r in runs):
                raise ValueError(f"{folder} mixes smoke and full runs")
            return GridRecord(grid, runs, smoke, _relative(folder))
    from vggrepro.data import load_cifar10
    from vggrepro.grids import run_grid

    out = ROOT / "_build" / "smoke"
    runs = run_grid(
        grid, load_cifar10(progress=False), out=out, checkpoints=out / "checkpoints",
        smoke=True, progress=False,
    )  # fmt: skip
    return GridRecord(grid, runs, True, _relative(out / grid))


def summary(record: GridRecord, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds of every metric, per configuration."""
    return aggregate(record.frame, by)


def export_table(frame: pd.DataFrame, name: str, record: GridRecord | None = None) -> Path:
    """Write a table the book cites to ``results/tables/<name>.csv`` (smoke tables get a
    ``-smoke`` suffix so that a smoke table is never mistaken for the reproduction)."""
    suffix = "-smoke" if record is not None and record.smoke else ""
    return export_csv(frame, TABLES / f"{name}{suffix}.csv")


def smoke_warning(record: GridRecord) -> str:
    """A MyST warning box for chapters that only have smoke runs (empty otherwise)."""
    if not record.smoke:
        return ""
    return (
        ":::{warning}\n"
        f"**Smoke numbers, not the reproduction.** `{record.source}` holds only CPU smoke runs "
        f"of the `{record.grid}` grid: {len(record.runs)} runs of a few hundred images for one "
        "epoch with tiny widths, recorded to prove the pipeline works. They say nothing about "
        "VGG. The reproduction needs the GPU grid: `python -m vggrepro run "
        f"{record.grid} --out results/runs`.\n:::"
    )


def all_runs(results: Path = RESULTS) -> list[dict]:
    """Every recorded run, the reproduction's and the smoke runs'."""
    return load_runs(results / "runs") + load_runs(results / "smoke")


def provenance_table(runs: list[dict]) -> pd.DataFrame:
    """One row per run: where, with what, from which data, how long."""
    return pd.DataFrame(
        {
            "run": r["run_id"],
            "kind": "smoke" if r["smoke"] else "reproduction",
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
    """Per grid, kind and device: runs trained, runs shared with another grid (not trained
    again, so not timed again), total wall time and mean images/s of the trained ones."""
    frame = pd.DataFrame(
        {
            "grid": r["grid"],
            "kind": "smoke" if r["smoke"] else "reproduction",
            "device": r["provenance"]["device"],
            "shared": "shared_with" in r,
            "wall_time_s": r["wall_time_s"],
            "images_per_s": r["images_per_s"],
        }
        for r in runs
    )
    trained = frame[~frame["shared"]].groupby(["grid", "kind", "device"], sort=False)
    table = trained.agg(
        runs=("wall_time_s", "size"),
        wall_time_s=("wall_time_s", "sum"),
        images_per_s=("images_per_s", "mean"),
    )
    shared = frame[frame["shared"]].groupby(["grid", "kind", "device"], sort=False).size()
    table.insert(1, "shared", shared.reindex(table.index, fill_value=0))
    return table.reset_index()


def benchmarks(results: Path = RESULTS) -> pd.DataFrame:
    """One row per recorded benchmark output under ``results/benchmarks`` (``--json`` files)."""
    rows = []
    for path in sorted((results / "benchmarks").glob("*.json")):
        b = json.loads(path.read_text())
        row = {"file": path.name, "benchmark": b["benchmark"], "device": b["device"]}
        row["measured"], row["torch"] = b["measured"], b["torch"]
        if b["benchmark"] == "throughput":
            row["images/s"] = b["fast"]["images_per_s"]
            row["naive images/s"] = b["naive"]["images_per_s"]
            row["fast / naive"] = b["ratio"]
        else:
            row["images/s"] = b["images_per_s"]
            row["model TFLOP/s"] = b["model_tflops"]
            row["MFU"] = b["mfu"]
        rows.append(row)
    return pd.DataFrame(rows)
