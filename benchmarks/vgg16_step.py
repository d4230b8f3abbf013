"""Training-step throughput and model FLOPs utilisation (MFU) of full-size VGG-16.

VGG-16 (configuration D: 224 x 224 inputs, 1000 classes, FC-4096) takes SGD steps on one
synthetic batch that stays on the device, so the figure is the model's compute alone, without
data loading. On CUDA the step runs in bf16 autocast with channels_last (optionally
``torch.compile``), on the CPU in fp32.

MFU = (3 x 2 x MACs per image x images/s) / peak, with the MACs counted analytically by
``vggrepro.analysis.cost.totals`` and the peak the device's dense bf16 tensor-core rate
(``PEAK_TFLOPS``, or ``--peak-tflops``). Without a known peak (the CPU) MFU is reported as not
available.

Run: ``python benchmarks/vgg16_step.py [--batch-size B] [--steps N] [--compile] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from common import record, setup, time_steps, warn_if_busy

from vggrepro.analysis.cost import FLOPS_PER_MAC, totals
from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.models import build
from vggrepro.engine.provenance import device_name
from vggrepro.reference import PEAK_TFLOPS  # the datasheet peaks, with their sources


def peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of the device called ``name``, or None when it is not in the table."""
    return next((peak for key, peak in PEAK_TFLOPS if key in name), None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    p.add_argument("--batch-size", type=int, help="default: 64 on CUDA, 2 on CPU")
    p.add_argument("--steps", type=int, help="timed steps (default: 20 CUDA, 3 CPU)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default: 5 CUDA, 1 CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the net")
    p.add_argument("--peak-tflops", type=float, help="peak for MFU, overriding the table")
    p.add_argument("--resolution", type=int, default=224, help="input side (224: the paper's)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Time the steps, print images/s and MFU, and return the figures."""
    args = parse_args(argv)
    busy = warn_if_busy()
    device, steps, warmup = setup(args, cuda_steps=20, cpu_steps=3)
    cuda = device.type == "cuda"
    batch = args.batch_size or (64 if cuda else 2)

    spec = VGGSpec("D", resolution=args.resolution)
    macs = totals(spec)["macs"]
    layout = torch.channels_last if cuda else torch.contiguous_format
    torch.manual_seed(0)
    model = build(spec).to(device, memory_format=layout)
    step_model = torch.compile(model) if args.compile else model
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, spec.resolution, spec.resolution, device=device)
    x = x.contiguous(memory_format=layout)
    y = torch.randint(0, spec.num_classes, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(step_model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    seconds = time_steps(step, steps, warmup, device)

    name = device_name(device)
    images_per_s = steps * batch / seconds
    achieved = FLOPS_PER_MAC * macs * images_per_s / 1e12
    peak = args.peak_tflops or peak_tflops(name)
    mfu = achieved / peak if peak else None
    precision = "bf16 autocast, channels_last" if cuda else "fp32"
    print(f"device: {name} ({device.type}), torch {torch.__version__}")
    print(
        f"model: VGG-16 (D) at {spec.resolution}x{spec.resolution}, {macs / 1e9:.3f} GMACs per "
        f"image; batch {batch}, {precision}{', torch.compile' if args.compile else ''}; "
        f"{steps} timed steps after {warmup} warm-up steps, synthetic data on the device"
    )
    print(f"throughput: {images_per_s:,.2f} images/s ({seconds / steps * 1e3:.1f} ms per step)")
    print(f"model FLOPs: {achieved:,.3f} TFLOP/s (3 x 2 x MACs per image x images/s)")
    if mfu is None:
        print(f"MFU: not available (no bf16 peak known for {name}; pass --peak-tflops)")
    else:
        print(f"MFU: {mfu:.1%} of {peak:,.1f} TFLOP/s")
    figures = {
        "config": {
            "config": spec.config,
            "resolution": spec.resolution,
            "batch_size": batch,
            "steps": steps,
            "warmup": warmup,
            "compile": args.compile,
            "precision": precision,
        },
        "macs_per_image": macs,
        "images_per_s": images_per_s,
        "seconds": seconds,
        "model_tflops": achieved,
        "peak_tflops": peak,
        "mfu": mfu,
    }
    return record("vgg16_step", device, busy, figures, args.json)


if __name__ == "__main__":
    main(sys.argv[1:])
