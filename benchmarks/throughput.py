"""Training throughput of the reduced VGG-11: vggrepro's pipeline against a naive one.

Both paths train the same net (``PRESETS["reduced"]``: VGG-11, widths halved, FC-512) on the
same training images with the same optimiser step, in one process on one device:

- fast: what ``vggrepro.engine.train`` does. The uint8 images sit on the device and ``DeviceLoader``
  crops, flips and normalises whole batches there; on CUDA the step runs in bf16 autocast
  with channels_last (optionally ``torch.compile``), on the CPU in fp32.
- naive: the usual torchvision recipe. A ``DataLoader`` over a dataset that turns each image
  into a PIL image and applies ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``,
  ``ToTensor`` and ``Normalize`` on the CPU, in worker processes; each batch is copied to the
  device; the step runs in fp32, NCHW (PyTorch's defaults, so cuDNN may use TF32).

``cudnn.benchmark`` is on for both, as in ``vggrepro.engine.train``. Each path runs ``--warmup``
steps, then ``--steps`` timed steps between two device synchronisations; the time includes
loading and augmenting the batches.

Run: ``python benchmarks/throughput.py [--steps N] [--batch-size B] [--data PATH] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import record, setup, time_steps, warn_if_busy
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from torchvision.transforms.functional import to_pil_image

from vggrepro.arch.initialisation import initialise
from vggrepro.arch.models import build
from vggrepro.engine.data import CIFAR10, load_cifar10
from vggrepro.engine.loader import DeviceLoader
from vggrepro.engine.presets import TrainConfig, preset
from vggrepro.engine.provenance import device_name
from vggrepro.engine.train import prepare

OFFLINE_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
"""The offline CIFAR-10 copy beside the checkout (as in the Makefile)."""

Batch = tuple[torch.Tensor, torch.Tensor]
Step = Callable[[torch.Tensor, torch.Tensor], None]


class PILDataset(Dataset):
    """What ``torchvision.datasets.CIFAR10`` does per item: an HWC uint8 array to PIL, then
    the transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable) -> None:
        self.data: np.ndarray = images.permute(0, 2, 3, 1).contiguous().numpy()  # (N, H, W, C)
        self.targets: list[int] = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(to_pil_image(self.data[i])), self.targets[i]


def default_data() -> str:
    """``$VGGREPRO_DATA``, else the offline archive when it exists, else ``synthetic``."""
    if os.environ.get("VGGREPRO_DATA"):
        return os.environ["VGGREPRO_DATA"]
    return str(OFFLINE_ARCHIVE) if OFFLINE_ARCHIVE.exists() else "synthetic"


def synthetic_cifar(n: int, seed: int = 0) -> CIFAR10:
    """``n`` random uint8 training images of CIFAR-10's shape with random labels (no test set)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    classes = [str(c) for c in range(10)]
    return CIFAR10(images, labels, images[:0], labels[:0], classes, "synthetic", "none")


def forever(batches: Iterable[Batch]) -> Iterator[Batch]:
    """Epoch after epoch of ``batches``."""
    while True:
        yield from batches


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, bf16: bool) -> Step:
    """One SGD step on a batch, as in ``vggrepro.engine.train``'s loop."""
    device_type = next(model.parameters()).device.type

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def make_model(
    cfg: TrainConfig, device: torch.device, channels_last: bool
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The run's net, initialised from its seed, and its optimiser."""
    torch.manual_seed(cfg.seed)
    model = initialise(build(cfg.spec()), cfg.init)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=layout)
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    return model, opt


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", help="cuda or cpu (default: cuda if available)")
    p.add_argument("--steps", type=int, help="timed steps per path (default: 50 CUDA, 5 CPU)")
    p.add_argument("--warmup", type=int, help="untimed steps first (default: 5 CUDA, 1 CPU)")
    p.add_argument("--batch-size", type=int, default=preset("reduced").batch_size)
    p.add_argument("--num-workers", type=int, default=min(4, os.cpu_count() or 1))
    p.add_argument("--compile", action="store_true", help="torch.compile the fast path's net")
    p.add_argument(
        "--data",
        default=default_data(),
        help="a CIFAR-10 archive or folder, 'torchvision', or 'synthetic' "
        "(default: $VGGREPRO_DATA, else the offline archive if present, else synthetic)",
    )
    p.add_argument("--synthetic-images", type=int, default=50_000, help="size of synthetic data")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Measure both paths, print the figures and return them."""
    args = parse_args(argv)
    busy = warn_if_busy()
    device, steps, warmup = setup(args, cuda_steps=50, cpu_steps=5)
    cuda = device.type == "cuda"

    synthetic = args.data == "synthetic"
    data = synthetic_cifar(args.synthetic_images) if synthetic else load_cifar10(args.data)
    # No validation hold-out: every training image feeds both paths.
    cfg = preset("reduced", batch_size=args.batch_size, n_val=0, compile=args.compile)
    split = prepare(data, cfg, device)
    images, labels = split.train
    n = len(labels)
    where = "SYNTHETIC random uint8" if synthetic else f"CIFAR-10 ({data.source})"
    print(f"device: {device_name(device)} ({device.type}), torch {torch.__version__}")
    print(f"data: {where}, {n} training images of shape {tuple(images.shape[1:])}")
    print(
        f"model: reduced {cfg.arch} (width {cfg.width}, FC-{cfg.fc_width}), batch "
        f"{cfg.batch_size}, {steps} timed steps after {warmup} warm-up steps per path"
    )

    model, opt = make_model(cfg, device, channels_last=cuda)
    fast_model = torch.compile(model) if cfg.compile else model
    fast_batches = DeviceLoader(
        images, labels, cfg.batch_size, train=True, mean=split.mean, std=split.std,
        crop_padding=cfg.crop_padding, flip=cfg.flip, drop_last=True, channels_last=cuda,
        seed=cfg.seed,
    )  # fmt: skip
    fast_step, fast_stream = train_step(fast_model, opt, bf16=cuda), forever(fast_batches)
    fast_s = time_steps(lambda: fast_step(*next(fast_stream)), steps, warmup, device)
    fast_what = "DeviceLoader on the device, " + ("bf16, channels_last" if cuda else "fp32")
    fast_what += ", torch.compile" if cfg.compile else ""
    del model, fast_model, opt, fast_batches

    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=cfg.crop_padding),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(split.mean, split.std),
        ]
    )
    loader = DataLoader(
        PILDataset(images.cpu(), labels.cpu(), transform),
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=args.num_workers,
        drop_last=True,
    )
    naive_batches = ((x.to(device), y.to(device)) for x, y in forever(loader))
    model, opt = make_model(cfg, device, channels_last=False)
    naive_step = train_step(model, opt, bf16=False)
    naive_s = time_steps(lambda: naive_step(*next(naive_batches)), steps, warmup, device)
    naive_batches.close()  # stops the worker processes
    naive_what = f"DataLoader, {args.num_workers} workers, PIL transforms, fp32 NCHW, copy"

    timed = steps * cfg.batch_size
    fast, naive = timed / fast_s, timed / naive_s
    print(f"fast  ({fast_what}): {fast:,.0f} images/s")
    print(f"naive ({naive_what}): {naive:,.0f} images/s")
    print(f"ratio fast / naive: {fast / naive:.2f}")
    figures = {
        "data": {"source": data.source, "synthetic": synthetic, "n_images": n},
        "config": {
            "arch": cfg.arch,
            "width": cfg.width,
            "fc_width": cfg.fc_width,
            "batch_size": cfg.batch_size,
            "steps": steps,
            "warmup": warmup,
            "num_workers": args.num_workers,
            "compile": cfg.compile,
        },
        "fast": {"images_per_s": fast, "seconds": fast_s, "pipeline": fast_what},
        "naive": {"images_per_s": naive, "seconds": naive_s, "pipeline": naive_what},
        "ratio": fast / naive,
    }
    return record("throughput", device, busy, figures, args.json)


if __name__ == "__main__":
    main(sys.argv[1:])
