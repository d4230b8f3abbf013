"""Shared fixtures: a tiny synthetic CIFAR-10 (in memory and as an ImageFolder on disk)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torchvision.io import write_png

from vggrepro.engine.data import CIFAR10, load_cifar10
from vggrepro.engine.presets import preset
from vggrepro.engine.train import train

REAL_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
TINY = {"n_val": 20, "n_train": None, "n_test": None, "batch_size": 20, "eval_batch_size": 40}
"""Training options for runs on ``tiny_cifar()``: 100 training, 20 held-out, 40 test images."""
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def synthetic_images(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images whose mean colour depends on the class, so a net can learn them."""
    labels = torch.arange(10).repeat_interleave(n_per_class)
    colours = torch.rand(10, 3, 1, 1, generator=torch.Generator().manual_seed(0)) * 200
    noise = torch.rand(len(labels), 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    base, noise = colours[labels], noise * 55
    return (base + noise).to(torch.uint8), labels


def tiny_cifar(n_train: int = 12, n_test: int = 4) -> CIFAR10:
    """A CIFAR10 object of ``n_train`` / ``n_test`` synthetic images per class."""
    train_x, train_y = synthetic_images(n_train, seed=0)
    test_x, test_y = synthetic_images(n_test, seed=1)
    return CIFAR10(train_x, train_y, test_x, test_y, CLASSES, "synthetic", "0" * 64)


@pytest.fixture
def tiny() -> CIFAR10:
    return tiny_cifar()


@pytest.fixture(scope="session")
def tiny_run() -> dict:
    """One real one-epoch smoke run on the tiny data (grid "lrn"), made once per session."""
    cfg = preset("smoke", epochs=1, eval_scales=(32,), **TINY)
    return train(cfg, tiny_cifar(), run_id="lrn/vgg11-s0", grid="lrn", progress=False)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny data set written as an ImageFolder tree of PNG files."""
    root = tmp_path_factory.mktemp("tiny-cifar")
    data = tiny_cifar()
    for split in ("train", "test"):
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            write_png(image, str(folder / f"{i:04d}.png"))
    return root


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder holding the offline CIFAR-10 copy beside the checkout, decoded once per
    test session."""
    if not REAL_ARCHIVE.exists():
        pytest.skip(f"the offline CIFAR-10 copy is not at {REAL_ARCHIVE}")
    cache = tmp_path_factory.mktemp("cifar-cache")
    load_cifar10(REAL_ARCHIVE, cache, progress=False)
    yield cache
    shutil.rmtree(cache)  # 180 MB decoded


@pytest.fixture(scope="session")
def real_cifar(real_cache: Path) -> CIFAR10:
    """The offline CIFAR-10 copy beside the checkout (from the session's cache)."""
    return load_cifar10(REAL_ARCHIVE, real_cache, progress=False)
