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
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_VERSION = 1

TIERS: dict[str, str] = {"reduced": "runs", "cpu": "cpu", "smoke": "smoke"}
"""Each training preset's folder under ``results/``, in the order the book prefers them: the
GPU reproduction, then the CPU tier, then the CPU smoke runs (pipeline checks, never results)."""

STATUSES = ("completed", "diverged", "stalled")
CONFIG_FIELDS = ("arch", "batch_norm", "init", "width", "fc_width", "epochs", "batch_size", "lr")

_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
}
_SECONDS = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _record(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object that must hold every one of ``properties`` (others may be added)."""
    return {"type": "object", "required": list(properties), "properties": properties, **extra}


SCHEMA: dict[str, Any] = _record(
    {
        "schema": {"const": SCHEMA_VERSION},
        "run_id": {"type": "string", "minLength": 1},
        "grid": {"type": "string", "minLength": 1},
        "preset": {"type": "string", "enum": list(TIERS)},
        "smoke": {"type": "boolean"},
        "seed": _COUNT,
        "status": {"enum": list(STATUSES)},
        "diverged_epoch": {"type": ["integer", "null"], "minimum": 1},
        "config": _record({k: {} for k in CONFIG_FIELDS}),
        "params": {"type": "integer", "minimum": 1},
        "history": {
            "type": "array",
            "items": _record(
                {
                    "epoch": {"type": "integer", "minimum": 1},
                    "train_loss": {"type": "number"},
                    "train_acc": _SHARE,
                    "val_acc": _SHARE,
                    "lr": {"type": "number", "exclusiveMinimum": 0},
                }
            ),
        },
        "test": {
            "type": "object",
            "additionalProperties": _record({"top1_error": _PERCENT, "top5_error": _PERCENT}),
        },
        "wall_time_s": _SECONDS,
        "train_time_s": _SECONDS,
        "images_per_s": _SECONDS,
        "started": _TIME,
        "finished": _TIME,
        "provenance": _record(
            {
                "device": {"type": "string", "minLength": 1},
                "device_type": {"enum": ["cpu", "cuda"]},
                "torch": {"type": "string"},
                "cuda": {"type": ["string", "null"]},
                "git_commit": {"type": "string"},
                "git_dirty": {"type": ["boolean", "null"]},  # null: a copy without .git
            }
        ),
        "data": _record(
            {
                "source": {"type": "string", "minLength": 1},
                "checksum": _SHA256,
                "n_train": _COUNT,
                "n_val": _COUNT,
                "n_test": _COUNT,
            }
        ),
    }
)
"""The results file, as a JSON Schema (draft 2020-12): every required field, its type and its
range. A JSON boolean is never a number here, as JSON Schema defines."""
SCHEMA["properties"]["retest"] = _record(
    {
        "scales": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "protocols": {"type": "array", "items": {"type": "string"}},
        "centre_top1_error_again": _PERCENT,
        "started": _TIME,
        "finished": _TIME,
        "wall_time_s": _SECONDS,
        "provenance": SCHEMA["properties"]["provenance"],
    }
)
"""Optional: protocols added after training by ``vggrepro.retest``, with their provenance."""

_VALIDATOR = Draft202012Validator(SCHEMA)


class ResultError(ValueError):
    """A results file that does not follow the schema."""


def validate(result: Any, where: str = "result") -> dict:
    """Raise ``ResultError`` naming the first field that breaks the schema; return ``result``."""
    if not isinstance(result, dict):
        raise ResultError(f"{where}: a results file must hold a JSON object")
    error = best_match(_VALIDATOR.iter_errors(result))
    if error is not None:
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise ResultError(f"{where}{field}: {error.message}")
    if (result["status"] == "diverged") != (result["diverged_epoch"] is not None):
        raise ResultError(f"{where}: diverged_epoch must be set exactly when status is 'diverged'")
    if result["status"] != "diverged" and not result["test"]:
        raise ResultError(f"{where}: a {result['status']} run must have test metrics")
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
    """Write a table as CSV with a stable column order; a named index (row labels such as
    ``config``) becomes the first column(s), an unnamed one (row numbers) is left out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labelled = any(name is not None for name in frame.index.names)
    frame.to_csv(path, index=labelled, float_format="%.4f")
    return path
