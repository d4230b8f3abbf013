"""Results files: one JSON per run, written atomically, checked against the schema on load.

``load_runs`` reads a folder of them, ``runs_frame`` flattens them into one row per run, and
``aggregate`` averages over seeds (mean, standard deviation, count) for the chapters' tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from vggrepro.files import atomic_write
from vggrepro.results.schema import ResultError, validate


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as JSON atomically: a reader sees the old file or the new one, never half."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
    return Path(path)


def save_result(result: dict, path: Path) -> Path:
    """Validate and write one run's results file."""
    return write_json(validate(result, str(path)), path)


def load_result(path: Path) -> dict:
    """Read and validate one results file."""
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ResultError(f"{path}: not valid JSON ({e})") from e
    return validate(result, str(path))


def load_runs(folder: Path) -> list[dict]:
    """Every results file under ``folder`` (recursively), sorted by run id."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    runs = [load_result(p) for p in sorted(folder.rglob("*.json")) if p.parent.name != "tables"]
    return sorted(runs, key=lambda r: r["run_id"])


def init_label(config: dict) -> str:
    """A run's initialisation as the tables name it: the scheme, and '+warm' for a warm start."""
    return config["init"] + ("+warm" if config.get("warm_start") else "")


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run: its grid, configuration, status, timings and every test metric."""
    rows = []
    for r in runs:
        c = r["config"]
        row = {
            "run_id": r["run_id"],
            "grid": r["grid"],
            "arch": c["arch"],
            "batch_norm": c["batch_norm"],
            "init": init_label(c),
            "seed": r["seed"],
            "smoke": r["smoke"],
            "status": r["status"],
            "diverged_epoch": r["diverged_epoch"],
            "epochs_run": len(r["history"]),
            "params": r["params"],
            "best_val_acc": max((h["val_acc"] for h in r["history"]), default=math.nan),
            "wall_time_s": r["wall_time_s"],
            "images_per_s": r["images_per_s"],
            "device": r["provenance"]["device"],
        }
        for protocol, m in r["test"].items():
            row[f"{protocol}/top1"] = m["top1_error"]
            row[f"{protocol}/top5"] = m["top5_error"]
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate(frame: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds of every numeric metric column."""
    by = by or ["grid", "arch", "batch_norm", "init"]
    metrics = [c for c in frame.columns if "/" in c] + ["best_val_acc", "wall_time_s"]
    grouped = frame.groupby(by, sort=False)[metrics]
    out = grouped.agg(["mean", "std", "count"])
    out.columns = [f"{m} {stat}" for m, stat in out.columns]
    out.insert(0, "seeds", grouped.size())
    out.insert(
        1,
        "diverged",
        frame.groupby(by, sort=False)["status"].agg(lambda s: (s == "diverged").sum()),
    )
    return out.reset_index()


def export_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table as CSV with a stable column order and four decimals (a value that rounds
    to zero is written 0.0000, without a sign); a named index (row labels such as ``config``)
    becomes the first column(s), an unnamed one (row numbers) is left out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled = any(name is not None for name in frame.index.names)
    frame = frame.copy()
    for column in frame.select_dtypes("float").columns:
        frame[column] = frame[column].round(4) + 0.0  # -0.0 + 0.0 is 0.0
    frame.to_csv(path, index=labelled, float_format="%.4f")
    return path
