"""What the benchmarks share: the device and step counts, the timer, and a busy-machine check."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vggrepro.engine.provenance import device_name, now, pick_device, provenance, sync


def setup(
    args: argparse.Namespace, cuda_steps: int, cpu_steps: int
) -> tuple[torch.device, int, int]:
    """The device, timed steps and warm-up steps (defaults by device); cuDNN autotuning on."""
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps if args.steps is not None else (cuda_steps if cuda else cpu_steps)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    if steps < 1 or warmup < 0:
        raise SystemExit("--steps must be positive and --warmup non-negative")
    if cuda:
        torch.backends.cudnn.benchmark = True
    return device, steps, warmup


def time_steps(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - start


BUSY = 0.25
"""Above this share of CPU time used by others before a benchmark starts, timings are noise."""


def cpu_busy(
    seconds: float = 1.0, stat: Path = Path("/proc/stat"), sleep: Callable = time.sleep
) -> float | None:
    """The share of all cores' time spent busy over ``seconds`` (None where /proc is absent)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return idle, sum(values)

    try:
        idle0, total0 = sample()
        sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return 1 - (idle1 - idle0) / total if total > 0 else None


def warn_if_busy(seconds: float = 1.0, **sample) -> float | None:
    """Measure how busy the CPU is before a benchmark and warn on stderr when it is busy."""
    busy = cpu_busy(seconds, **sample)
    if busy is not None and busy > BUSY:
        print(
            f"warning: the CPU was {100 * busy:.0f}% busy before this benchmark started: other "
            "processes are running, so these timings will be low and noisy (two PyTorch "
            "processes that each use every core can run 6-13x slower)",
            file=sys.stderr,
        )
    return busy


def record(
    benchmark: str, device: torch.device, busy: float | None, figures: dict[str, Any],
    path: Path | None,
) -> dict[str, Any]:  # fmt: skip
    """A benchmark's figures with what every output records (when, where, how busy the machine
    was, provenance); written to ``path`` as JSON when given."""
    result = {
        "benchmark": benchmark,
        "busy_before": busy,
        "measured": now(),
        "device": device_name(device),
        "torch": torch.__version__,
        **figures,
        "provenance": provenance(device),
    }
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    return result
