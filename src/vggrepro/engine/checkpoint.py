"""Per-epoch checkpoints: the whole state of a run after an epoch, so that an interrupted run
resumes where it stopped (on the CPU, to a bitwise identical result with one thread).

A checkpoint holds what identifies its run (configuration, device type, data checksum), the
``state_dict`` of each stateful part (net, optimiser, schedule, training loader), the random
number generators, and the run's progress (history, training and wall time, epochs done).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vggrepro.files import atomic_write


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(
    path: Path, run: dict, parts: dict[str, Any], progress: dict, device: torch.device
) -> None:
    """Write the checkpoint of ``run`` (what identifies it) atomically: each of ``parts``' state
    dicts, the random number generators and ``progress``."""
    state = {**run, **{k: p.state_dict() for k, p in parts.items()}, **progress}
    with atomic_write(path) as f:
        torch.save({**state, "rng": _rng_state(device)}, f)


def load_checkpoint(
    path: Path, run: dict, parts: dict[str, Any], device: torch.device
) -> dict | None:
    """Restore ``parts`` and the random number generators from ``path`` and return the progress
    saved with them; None (nothing restored) when there is no checkpoint or it belongs to
    another run. Raises ``ValueError`` for a file that is not a readable checkpoint or lacks
    one of ``parts``."""
    if not path.exists():
        return None
    try:  # on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or not a checkpoint, whatever the error
        raise ValueError(
            f"{path}: unreadable checkpoint ({type(e).__name__}); delete it to start this run over"
        ) from None
    if not all(state.get(k) == v for k, v in run.items()):
        return None
    missing = sorted(set(parts) - set(state))
    if missing:  # restoring the rest alone would resume with a fresh optimizer or schedule
        raise ValueError(
            f"{path}: checkpoint lacks {', '.join(missing)}; delete it to start this run over"
        )
    for name, part in parts.items():
        part.load_state_dict(state[name])
    _set_rng_state(state["rng"], device)
    return {k: state[k] for k in ("epoch", "history", "train_time", "wall_time")}
