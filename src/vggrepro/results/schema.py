"""A run's results file: the typed ``RunResult`` that ``train`` builds, and the JSON Schema
that every file is checked against, built from ``RunResult``'s own fields.

Each field of ``RunResult`` carries the JSON Schema of its value in its metadata, so the class
and ``SCHEMA`` are one definition: a field added to one is in the other. Fields with a default
are optional in a file (older files lack them); the others are required.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

SCHEMA_VERSION = 1

TIERS: dict[str, str] = {"reduced": "runs", "cpu": "cpu", "smoke": "smoke"}
"""Each training preset's folder under ``results/``, in the order the book prefers them: the
GPU reproduction, then the CPU tier, then the CPU smoke runs (pipeline checks, never results)."""

PRESETS = (*TIERS, "imagenet")
"""Every preset a results file may name: the CIFAR tiers and the full ImageNet recipe."""

STATUSES = ("completed", "diverged", "stalled")
CONFIG_FIELDS = ("arch", "batch_norm", "init", "width", "fc_width", "epochs", "batch_size", "lr")

_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
    "format": "date-time",
}
"""An RFC 3339 time: the pattern fixes its shape, the format check its calendar (no 13th month,
no 25th hour)."""
_SECONDS = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}


def _record(
    properties: dict[str, Any], optional: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """An object that must hold every one of ``properties`` and may hold ``optional`` (and
    others)."""
    return {
        "type": "object", "required": list(properties),
        "properties": {**properties, **(optional or {})}, **extra,
    }  # fmt: skip


_PROVENANCE = _record(
    {
        "device": {"type": "string", "minLength": 1},
        "device_type": {"enum": ["cpu", "cuda"]},
        "torch": {"type": "string"},
        "cuda": {"type": ["string", "null"]},
        "git_commit": {"type": "string"},
        "git_dirty": {"type": ["boolean", "null"]},  # null: a copy without .git
    },
    # Optional (older files and single-process CIFAR runs lack them): how many processes
    # trained the run, their process group's backend (null for one process) and each one's
    # share of the batch (the config's batch_size is the global batch).
    {
        "world_size": {"type": "integer", "minimum": 1},
        "backend": {"enum": ["nccl", "gloo", None]},
        "per_rank_batch": {"type": "integer", "minimum": 1},
    },
)

_PROBE_ROW = _record(
    {
        "stage": {"type": "integer", "minimum": 1},
        **{f"ncm {net}{se}": _SHARE for net in ("trained", "random") for se in ("", " se")},
        **{f"purity {net}": _SHARE for net in ("trained", "random")},
        **{f"dead {net}": _COUNT for net in ("trained", "random")},
        "n_test": {"type": "integer", "minimum": 1},
    }
)
"""One stage of the probes (``features.probe_table``): its geometry, then per net (trained and
random) nearest-class-mean accuracy and its standard error, mean class purity, dead channels."""


def _field(schema: dict[str, Any], **default: Any) -> Any:
    """A ``RunResult`` field whose value must follow ``schema``."""
    return field(metadata={"schema": schema}, **default)


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One run's results file, as ``train`` builds it (``to_dict`` is what it writes)."""

    schema: int = _field({"const": SCHEMA_VERSION}, default=SCHEMA_VERSION)
    run_id: str = _field({"type": "string", "minLength": 1})
    grid: str = _field({"type": "string", "minLength": 1})
    preset: str = _field({"type": "string", "enum": list(PRESETS)})
    smoke: bool = _field({"type": "boolean"})
    seed: int = _field(_COUNT)
    status: str = _field({"enum": list(STATUSES)})
    diverged_epoch: int | None = _field({"type": ["integer", "null"], "minimum": 1})
    config: dict[str, Any] = _field(_record({k: {} for k in CONFIG_FIELDS}))
    params: int = _field({"type": "integer", "minimum": 1})
    history: list[dict[str, float]] = _field(
        {
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
        }
    )
    test: dict[str, dict[str, float]] = _field(
        {
            "type": "object",
            "additionalProperties": _record({"top1_error": _PERCENT, "top5_error": _PERCENT}),
        }
    )
    wall_time_s: float = _field(_SECONDS)
    train_time_s: float = _field(_SECONDS)
    images_per_s: float = _field(_SECONDS)
    started: str = _field(_TIME)
    finished: str = _field(_TIME)
    provenance: dict[str, Any] = _field(_PROVENANCE)
    data: dict[str, Any] = _field(
        _record(
            {
                "source": {"type": "string", "minLength": 1},
                "checksum": _SHA256,
                "n_train": _COUNT,
                "n_val": _COUNT,
                "n_test": _COUNT,
            }
        )
    )
    # Optional: the digest of the trained weights (null for a diverged run; older files lack it).
    model_sha256: str | None = _field({"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                                      default=None)  # fmt: skip
    # Optional: protocols added after training by ``vggrepro.engine.retest``, with provenance.
    retest: dict[str, Any] | None = _field(
        _record(
            {
                "scales": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                "protocols": {"type": "array", "items": {"type": "string"}},
                "centre_top1_error_again": _PERCENT,
                "started": _TIME,
                "finished": _TIME,
                "wall_time_s": _SECONDS,
                "provenance": _PROVENANCE,
            }
        ),
        default=None,
    )
    # Optional: the features chapter's probes of a saved net, one row per stage, recorded by
    # ``vggrepro.report.features.record_probe`` with the data and provenance they ran with.
    probe: dict[str, Any] | None = _field(
        _record(
            {
                "rows": {"type": "array", "minItems": 1, "items": _PROBE_ROW},
                "n_fit": _COUNT,
                "n_test": _COUNT,
                "k": {"type": "integer", "minimum": 1},
                "chance_purity": _SHARE,
                "data": _record(
                    {"source": {"type": "string", "minLength": 1}, "checksum": _SHA256}
                ),
                "started": _TIME,
                "finished": _TIME,
                "wall_time_s": _SECONDS,
                "provenance": _PROVENANCE,
            }
        ),
        default=None,
    )

    def to_dict(self) -> dict[str, Any]:
        """The results file's JSON object (``save_result`` checks it against ``SCHEMA``)."""
        result = asdict(self)
        for name in ("retest", "probe"):
            if result[name] is None:
                del result[name]
        return result


_OPTIONAL = ("model_sha256", "retest", "probe")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [f.name for f in fields(RunResult) if f.name not in _OPTIONAL],
    "properties": {f.name: f.metadata["schema"] for f in fields(RunResult)},
}
"""The results file, as a JSON Schema (draft 2020-12), built from ``RunResult``: every required
field, its type and its range. A JSON boolean is never a number here, as JSON Schema defines."""

_FORMATS = FormatChecker(formats=())
# jsonschema checks "date-time" only with the optional rfc3339-validator installed; the standard
# library reads the calendar of a time whose shape the pattern has already checked.
_FORMATS.checks("date-time", raises=ValueError)(
    lambda value: not isinstance(value, str) or datetime.fromisoformat(value) is not None
)
_VALIDATOR = Draft202012Validator(SCHEMA, format_checker=_FORMATS)


class ResultError(ValueError):
    """A results file that does not follow the schema."""


def validate(result: Any, where: str = "result") -> dict:
    """Raise ``ResultError`` naming the first field that breaks the schema; return ``result``."""
    if not isinstance(result, dict):
        raise ResultError(f"{where}: a results file must hold a JSON object")
    error = best_match(_VALIDATOR.iter_errors(result))
    if error is not None:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise ResultError(f"{where}{path}: {error.message}")
    if (result["status"] == "diverged") != (result["diverged_epoch"] is not None):
        raise ResultError(f"{where}: diverged_epoch must be set exactly when status is 'diverged'")
    if result["status"] != "diverged" and not result["test"]:
        raise ResultError(f"{where}: a {result['status']} run must have test metrics")
    return result
