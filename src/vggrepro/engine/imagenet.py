"""ImageNet-style data: an ImageFolder tree read from disk by DataLoader worker processes.

The layout is ``train/<class>/<image>`` and ``val/<class>/<image>`` (ImageNet's validation
images sorted into class folders); class folders in alphabetical order give the labels, and a
validation class must also be a training class. Images stay on disk and are decoded, rescaled
and cropped in the workers, one at a time, as the paper augments them (section 3.1):

- training: isotropic rescaling so the shorter side is S (fixed, or drawn from [smin, smax] for
  each image: scale jittering), a random ``crop`` x ``crop`` crop, a horizontal flip with
  probability 1/2, and AlexNet's RGB colour shift along the principal components p_i of the
  training set's RGB values (measured here on a sample of training images), by alpha_i times
  the spread along each, alpha_i Gaussian with std ``colour_std``. AlexNet writes the spread as
  the eigenvalue lambda_i; a shift in pixel units whatever the pixels' units ([0, 1] or
  [0, 255]) needs the standard deviation sqrt(lambda_i), which is what is used here;
- evaluation: a centre crop of the image rescaled to the single test scale, and the whole image
  rescaled to each dense test scale Q.

Every random choice for an image comes from a generator seeded by (seed, epoch, index), so an
epoch's augmentation is the same whatever the number of workers or processes, and a resumed
run repeats it exactly. The training sampler is ``DistributedSampler``: each process reads its
own share of every epoch's shuffled order. Problems with the data raise ``DataError`` in one
line, also when a worker process meets them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2 import functional as TF

from vggrepro.engine.data import DataError, random_subset
from vggrepro.engine.distributed import World
from vggrepro.engine.presets import ImageNetConfig

SPLITS = ("train", "val")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # compared in lower case: ImageNet's are .JPEG
Items = list[tuple[str, int]]
"""``(path, label)`` of every image of a split."""


@dataclass
class ImageFolderData:
    """The training and validation images of an ImageFolder tree (paths, not pixels)."""

    train: Items
    val: Items
    classes: list[str]  # label i is classes[i]
    source: str  # "folder:<name>"
    checksum: str  # sha256 of the sorted listing of image paths


def _images(folder: Path) -> list[str]:
    """The image files directly in ``folder``, sorted."""
    with os.scandir(folder) as entries:
        return sorted(
            e.path for e in entries
            if e.is_file() and not e.name.startswith(".")
            and e.name.lower().endswith(IMAGE_SUFFIXES)
        )  # fmt: skip


def _classes(split: Path) -> list[str]:
    """The class folders of one split, sorted."""
    with os.scandir(split) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def scan(root: str | Path) -> ImageFolderData:
    """List an ImageFolder tree; ``DataError`` for a missing split folder, a split without class
    folders, an empty class folder, or a validation class that training lacks."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (expected train/<class>/ and val/<class>/)")
    found: dict[str, dict[str, list[str]]] = {}
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"{root}: no {split}/ folder (expected train/<class>/, val/<class>/)")
        classes = _classes(folder)
        if not classes:
            raise DataError(f"{folder}: no class folders (expected {split}/<class>/<image>)")
        found[split] = {c: _images(folder / c) for c in classes}
        empty = [c for c, files in found[split].items() if not files]
        if empty:
            suffixes = "/".join(IMAGE_SUFFIXES)
            raise DataError(f"{folder / empty[0]}: an empty class folder (no {suffixes} images)")
    classes = list(found["train"])
    strangers = [c for c in found["val"] if c not in found["train"]]
    if strangers:
        raise DataError(f"{root}: val/ has classes that train/ lacks: {', '.join(strangers)}")
    label = {c: i for i, c in enumerate(classes)}
    items = {
        split: [(path, label[c]) for c, paths in found[split].items() for path in paths]
        for split in SPLITS
    }
    listing = hashlib.sha256()
    for split in SPLITS:
        for path, _ in items[split]:
            listing.update(Path(path).relative_to(root).as_posix().encode() + b"\n")
    return ImageFolderData(
        items["train"], items["val"], classes, f"folder:{root.name}", listing.hexdigest()
    )


def subset(items: Items, n: int | None) -> Items:
    """A fixed random subset of ``n`` items (all of them when ``n`` is None)."""
    if n is None or n >= len(items):
        return items
    return [items[i] for i in random_subset(n, len(items)).tolist()]


def seed_for(*parts: int) -> int:
    """A 63-bit seed that depends on every one of ``parts`` (e.g. seed, epoch, index)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def read_image(path: str) -> torch.Tensor:
    """An image file as uint8 RGB (3, H, W); ``DataError`` when it cannot be decoded."""
    try:
        return decode_image(read_file(path), mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError) as e:  # ValueError: an empty file
        raise DataError(f"{path}: cannot decode this image ({' '.join(str(e).split())})") from None


def rescale(image: torch.Tensor, shorter: int) -> torch.Tensor:
    """Rescale isotropically (bilinear, antialiased) so that the shorter side is ``shorter``."""
    h, w = image.shape[-2:]
    size = [round(h * shorter / min(h, w)), round(w * shorter / min(h, w))]
    return TF.resize(image, size, antialias=True)


@dataclass(frozen=True)
class Stats:
    """Per-channel mean and std (in [0, 1] units) and the principal components of the RGB
    values (eigenvalues, ascending, and eigenvectors as columns) of a sample of images."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    eigenvalues: tuple[float, ...]
    eigenvectors: tuple[tuple[float, ...], ...]


class TrainImages(Dataset):
    """Augmented training crops: ``(uint8 crop, label, RGB shift in [0, 1] units)``."""

    def __init__(self, items: Items, cfg: ImageNetConfig, stats: Stats) -> None:
        self.items, self.cfg, self.epoch = items, cfg, 0
        spread = torch.tensor(stats.eigenvalues, dtype=torch.float32).sqrt()
        self.components = torch.tensor(stats.eigenvectors, dtype=torch.float32) * spread

    def set_epoch(self, epoch: int) -> None:
        """Draw the next items' augmentation for ``epoch`` (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        path, label = self.items[index]
        cfg = self.cfg
        g = torch.Generator().manual_seed(seed_for(cfg.seed, self.epoch, index))
        s = cfg.scale
        if cfg.jitter is not None:
            s = int(torch.randint(cfg.jitter[0], cfg.jitter[1] + 1, (), generator=g))
        image = rescale(read_image(path), s)
        h, w = image.shape[-2:]
        top = int(torch.randint(0, h - cfg.crop + 1, (), generator=g))
        left = int(torch.randint(0, w - cfg.crop + 1, (), generator=g))
        image = image[:, top : top + cfg.crop, left : left + cfg.crop]
        if cfg.flip and bool(torch.rand((), generator=g) < 0.5):
            image = image.flip(-1)
        shift = torch.zeros(3)
        if cfg.colour_std:  # sum over components i of alpha_i * sqrt(lambda_i) * p_i
            shift = self.components @ (torch.randn(3, generator=g) * cfg.colour_std)
        return image.contiguous(), label, shift


class EvalImages(Dataset):
    """Test views of each image: ``(centre crop, [image at each Q], label)``, uint8."""

    def __init__(self, items: Items, crop: int, centre: int, scales: tuple[int, ...]) -> None:
        self.items, self.crop, self.centre, self.scales = items, crop, centre, scales

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[torch.Tensor], int]:
        path, label = self.items[index]
        image = read_image(path)
        centre = TF.center_crop(rescale(image, self.centre), [self.crop, self.crop])
        return centre, [rescale(image, q) for q in self.scales], label


def collate_views(
    batch: list[tuple[torch.Tensor, list[torch.Tensor], int]],
) -> tuple[torch.Tensor, list[list[torch.Tensor]], torch.Tensor]:
    """Stack the centre crops and labels; keep each scale's images (shapes differ) in a list."""
    centres, views, labels = zip(*batch, strict=True)
    return torch.stack(centres), [list(v) for v in zip(*views, strict=True)], torch.tensor(labels)


class _StatImages(Dataset):
    """Per image: pixel count, RGB sums and RGB outer-product sums (one float64 row)."""

    def __init__(self, items: Items, shorter: int) -> None:
        self.items, self.shorter = items, shorter

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor:
        x = rescale(read_image(self.items[index][0]), self.shorter).reshape(3, -1).double() / 255
        count = torch.tensor([x.shape[1]], dtype=torch.float64)
        return torch.cat([count, x.sum(1), (x @ x.T).flatten()])


def image_stats(items: Items, cfg: ImageNetConfig, workers: int) -> Stats:
    """Mean, std and principal components of the RGB values of ``cfg.stats_images`` training
    images (a fixed sample), each rescaled to the single test scale."""
    sample = subset(items, cfg.stats_images)
    loader = DataLoader(_StatImages(sample, cfg.single_scale()), batch_size=64, num_workers=workers)
    total = torch.zeros(13, dtype=torch.float64)
    for rows in batches(loader):
        total += rows.sum(0)
    count, mean = total[0], total[1:4] / total[0]
    cov = total[4:].view(3, 3) / count - torch.outer(mean, mean)
    values, vectors = torch.linalg.eigh(cov)
    return Stats(
        tuple(mean.tolist()), tuple(cov.diagonal().clamp_min(0).sqrt().tolist()),
        tuple(values.clamp_min(0).tolist()), tuple(map(tuple, vectors.tolist())),
    )  # fmt: skip


def train_loader(
    images: TrainImages, batch: int, world: World, workers: int, pin: bool
) -> DataLoader:
    """This process's batches of ``batch`` training crops: its share (``DistributedSampler``,
    shuffled anew each epoch with ``set_epoch``), the incomplete last batch dropped."""
    sampler = DistributedSampler(
        images, num_replicas=world.size, rank=world.rank, shuffle=True,
        seed=images.cfg.seed, drop_last=True,
    )  # fmt: skip
    return DataLoader(
        images, batch, sampler=sampler, drop_last=True, num_workers=workers, pin_memory=pin
    )


def eval_loader(images: EvalImages, batch: int, world: World, workers: int) -> DataLoader:
    """This process's share of the test views, every image exactly once over the processes."""
    return DataLoader(
        images, batch, sampler=range(world.rank, len(images), world.size),
        num_workers=workers, collate_fn=collate_views,
    )  # fmt: skip


_RERAISED = re.compile(r"^(\w+\.)*DataError: ")


def batches(loader: DataLoader) -> Iterator:
    """Iterate ``loader``; a ``DataError`` raised in a worker process (which the DataLoader
    re-raises with the worker's whole traceback as its message) comes back as its own line."""
    try:
        yield from loader
    except DataError as e:
        last = str(e).strip().splitlines()[-1]
        raise DataError(_RERAISED.sub("", last)) from None
