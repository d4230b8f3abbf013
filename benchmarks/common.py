"""What both benchmarks share: the device and step counts from the command line, and the timer."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from vggrepro.provenance import pick_device, sync


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
