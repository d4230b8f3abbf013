"""CPU-tier training speed: the CPU tier's path against the old CPU path, and the alternatives.

Every variant takes SGD steps of the same net (``PRESETS["cpu"]``: VGG-11 with batch norm at the
CPU tier's widths) on batches that ``DeviceLoader`` crops, flips and
normalises from random uint8 images, exactly as ``vggrepro.engine.train`` does on the CPU, and
reports the images per second that the whole machine trains:

- ``old``: the CPU path before the CPU tier: NCHW tensors, one process using every core;
- ``channels_last``: the same with channels-last tensors (``vggrepro.engine.train`` now always uses
  them);
- ``batch 256``: channels_last at twice the batch;
- ``bf16``: channels_last in bf16 autocast (fast where the CPU has AMX or AVX-512 bf16 units);
- ``one process per core``: the CPU tier's path, what ``run GRID --workers N`` does: as many
  one-thread processes as cores, each training its own net at once, channels_last, in bf16
  autocast when the ``cpu`` preset asks for it; their images/s add up;
- ``torch.compile`` (with ``--compile``): channels_last and compiled; compilation is not timed.

The ratio printed last is the CPU tier's path (one process per core) over the old path,
measured in this one run. Timings on a shared machine are noise: the script warns when
other processes keep the CPU busy before it starts.

Run: ``python benchmarks/cpu_tier.py [--arch vgg11] [--steps N] [--compile] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from common import record, warn_if_busy

from vggrepro.arch.configs import ALIASES
from vggrepro.arch.initialisation import initialise
from vggrepro.arch.models import build
from vggrepro.engine.loader import DeviceLoader
from vggrepro.engine.presets import preset
from vggrepro.engine.provenance import device_name


def measure(
    arch: str, batch_size: int, channels_last: bool, threads: int, steps: int, warmup: int,
    compile_: bool = False, bf16: bool = False, seed: int = 0,
) -> float:  # fmt: skip
    """Images/s of ``steps`` training steps after ``warmup``, in this process, on the CPU."""
    torch.set_num_threads(threads)
    cfg = preset("cpu", arch=arch, batch_norm=True, batch_size=batch_size, seed=seed)
    torch.manual_seed(seed)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = initialise(build(cfg.spec()), cfg.init).to(memory_format=layout)
    step_model = torch.compile(model) if compile_ else model
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    g = torch.Generator().manual_seed(seed)
    n = batch_size * (steps + warmup)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    batches = DeviceLoader(
        images, labels, batch_size, train=True, mean=(0.5,) * 3, std=(0.25,) * 3,
        drop_last=True, channels_last=channels_last, seed=seed,
    )  # fmt: skip
    start = 0.0
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(step_model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch_size / (time.perf_counter() - start)


def _worker(args: tuple) -> float:
    barrier, *rest = args
    barrier.wait()  # every process starts timing together
    return measure(*rest)


def per_core(arch: str, batch_size: int, steps: int, warmup: int, processes: int) -> float:
    """Summed images/s of ``processes`` one-thread processes training at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(processes)
    bf16 = preset("cpu").cpu_bf16
    jobs = [
        (barrier, arch, batch_size, True, 1, steps, warmup, False, bf16, i)
        for i in range(processes)
    ]
    with context.Pool(processes) as pool:
        return sum(pool.map(_worker, jobs))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="vgg11", choices=list(ALIASES), help="default: vgg11")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--batch-size", type=int, default=preset("cpu").batch_size)
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="default: cores")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1 or args.processes < 1:
        p.error("--steps, --batch-size and --processes must be positive, --warmup non-negative")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Measure every variant, print images/s and the ratio, return the figures."""
    args = parse_args(argv)
    busy = warn_if_busy()
    cores = os.cpu_count() or 1
    cpu = torch.device("cpu")
    common = {"arch": args.arch, "steps": args.steps, "warmup": args.warmup}
    print(f"device: {device_name(cpu)}, torch {torch.__version__}")
    print(
        f"model: cpu preset {args.arch} with batch norm, {args.steps} timed steps after "
        f"{args.warmup} warm-up steps per variant"
    )
    variants = {
        "old": ("NCHW, 1 process x all threads", {"channels_last": False}),
        "channels_last": ("channels_last, 1 process x all threads", {"channels_last": True}),
        "batch 256": (
            "channels_last, batch 256, 1 process x all threads",
            {"channels_last": True, "batch_size": 256},
        ),
        "bf16": (
            "channels_last, bf16 autocast, 1 process x all threads",
            {"channels_last": True, "bf16": True},
        ),
    }
    if args.compile:
        variants["torch.compile"] = (
            "channels_last, torch.compile, 1 process x all threads",
            {"channels_last": True, "compile_": True},
        )
    figures = {}
    for name, (what, options) in variants.items():
        options = {"batch_size": args.batch_size, **options}
        figures[name] = {"what": what, "images_per_s": measure(threads=cores, **common, **options)}
    figures["one process per core"] = {
        "what": f"channels_last{', bf16' if preset('cpu').cpu_bf16 else ''}, "
        f"{args.processes} processes x 1 thread, summed",
        "images_per_s": per_core(batch_size=args.batch_size, processes=args.processes, **common),
    }
    old = figures["old"]["images_per_s"]
    for name, f in figures.items():
        f["vs_old"] = f["images_per_s"] / old
        print(
            f"{name:22s} {f['images_per_s']:8,.0f} images/s  {f['vs_old']:5.2f}x old  ({f['what']})"
        )
    ratio = figures["one process per core"]["vs_old"]
    print(f"ratio CPU tier path (one process per core) / old path: {ratio:.2f}")
    figures = {
        "config": {**common, "batch_size": args.batch_size, "processes": args.processes},
        "variants": figures,
        "ratio": ratio,
    }
    return record("cpu_tier", cpu, busy, figures, args.json)


if __name__ == "__main__":
    main(sys.argv[1:])
