"""Results files: one JSON per run, written atomically, checked against a schema on load.

``load_runs`` reads a folder of them, ``runs_frame`` flattens them into one row per run, and
``aggregate`` averages over seeds (mean, standard deviation, count) for the chapters' tables.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA_VERSION = 1

TIERS: dict[str, str] = {"reduced": "runs", "cpu": "cpu", "smoke": "smoke"}
"""Each training preset's folder under ``results/``, in the order the book prefers them: the
GPU reproduction, then the CPU tier, then the CPU smoke runs (pipeline checks, never results)."""

_NUMBER = (int, float)
_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))

SCHEMA: dict[str, Any] = {
    "schema": int,
    "run_id": str,
    "grid": str,
    "preset": str,
    "smoke": bool,
    "seed": int,
    "status": str,
    "diverged_epoch": _OPT_INT,
    "config": dict,
    "params": int,
    "history": list,
    "test": dict,
    "wall_time_s": _NUMBER,
    "train_time_s": _NUMBER,
    "images_per_s": _NUMBER,
    "started": str,
    "finished": str,
    "provenance": {
        "device": str,
        "device_type": str,
        "torch": str,
        "cuda": _OPT_STR,
        "git_commit": str,
        "git_dirty": (bool, type(None)),  # None: a copy without .git, state unknown
    },
    "data": {
        "source": str,
        "checksum": str,
        "n_train": int,
        "n_val": int,
        "n_test": int,
    },
}
"""Required fields and their types; nested dicts are checked field by field."""

HISTORY_FIELDS = {
    "epoch": int,
    "train_loss": _NUMBER,
    "train_acc": _NUMBER,
    "val_acc": _NUMBER,
    "lr": _NUMBER,
}
STATUSES = ("completed", "diverged")
CONFIG_FIELDS = ("arch", "batch_norm", "init", "width", "fc_width", "epochs", "batch_size", "lr")


class ResultError(ValueError):
    """A results file that does not follow the schema."""


def _check(value: Any, schema: dict[str, Any], where: str) -> None:
    for key, kind in schema.items():
        if key not in value:
            raise ResultError(f"{where}: missing field {key!r}")
        if isinstance(kind, dict):
            if not isinstance(value[key], dict):
                raise ResultError(f"{where}: field {key!r} must be an object")
            _check(value[key], kind, f"{where}.{key}")
        elif not isinstance(value[key], kind) or (kind is int and isinstance(value[key], bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            got = type(value[key]).__name__
            raise ResultError(f"{where}: field {key!r} must be {names}, got {got}")


def validate(result: dict, where: str = "result") -> dict:
    """Raise ``ResultError`` naming the first field that breaks the schema; return ``result``."""
    if not isinstance(result, dict):
        raise ResultError(f"{where}: a results file must hold a JSON object")
    _check(result, SCHEMA, where)
    if result["schema"] != SCHEMA_VERSION:
        raise ResultError(f"{where}: schema version {result['schema']}, expected {SCHEMA_VERSION}")
    if result["status"] not in STATUSES:
        raise ResultError(f"{where}: status {result['status']!r} is not one of {STATUSES}")
    if (result["status"] == "diverged") != (result["diverged_epoch"] is not None):
        raise ResultError(f"{where}: diverged_epoch must be set exactly when status is 'diverged'")
    missing = [k for k in CONFIG_FIELDS if k not in result["config"]]
    if missing:
        raise ResultError(f"{where}: config lacks {', '.join(missing)}")
    for i, row in enumerate(result["history"]):
        _check(row, HISTORY_FIELDS, f"{where}.history[{i}]")
    for name, metrics in result["test"].items():
        _check(metrics, {"top1_error": _NUMBER, "top5_error": _NUMBER}, f"{where}.test.{name}")
    if result["status"] == "completed" and not result["test"]:
        raise ResultError(f"{where}: a completed run must have test metrics")
    return result


def write_json(obj: Any, path: Path) -> Path:
    """Write ``obj`` as JSON atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
            "init": c["init"] + ("+warm" if c.get("warm_start") else ""),
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
    """Write a table as CSV with a stable column order; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.4f")
    return path
