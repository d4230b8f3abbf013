"""Where a run happens: the device (picked, synchronised, named), software, git commit, clock."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import torch


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """The device called ``name``, else CUDA when there is one, else the CPU."""
    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (for timing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """A human-readable device name, e.g. 'NVIDIA H100 80GB HBM3' or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def _git(args: list[str], where: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=where, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_commit(repo: Path | None = None) -> tuple[str, bool | None]:
    """The checkout's commit and whether its tracked files (outside ``results/``) differ from it.

    ``$VGGREPRO_GIT_COMMIT``, when set, wins: it names the commit of a copy of the tree whose
    ``.git`` is missing or stale (the lent GPU machine's copy carried the session's first
    commit); whether that copy differs from it cannot be told: None.
    """
    if os.environ.get("VGGREPRO_GIT_COMMIT"):
        return os.environ["VGGREPRO_GIT_COMMIT"], None
    try:
        if repo is None:  # the checkout holding this package (git looks upwards from it)
            repo = Path(_git(["rev-parse", "--show-toplevel"], Path(__file__).resolve().parent))
        commit = _git(["rev-parse", "HEAD"], repo)
        # Recorded results are outputs, not code: rewriting them leaves the code clean.
        dirty = _git(
            ["status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"], repo
        )
        return commit, bool(dirty)
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None


def now() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def provenance(device: torch.device) -> dict:
    """Everything a results file records about the machine and the code."""
    commit, dirty = git_commit()
    return {
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
    }
