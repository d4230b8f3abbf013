"""CIFAR-10 as uint8 tensors, from torchvision's download or from a local ImageFolder copy.

``load_cifar10`` takes its source from its argument, else from ``$VGGREPRO_DATA`` (a path or
the word ``torchvision``), else torchvision. A local source is an archive (``.tar.gz``, ``.tgz``,
``.tar``) or a folder laid out as ``train/<class>/<image>`` and ``test/<class>/<image>``; class
folders in alphabetical order give the labels. Its images are decoded once into a cache file
named after the source's sha256, in ``cache_dir``, else ``$VGGREPRO_CACHE``, else
``~/.cache/vggrepro``; torchvision downloads into its ``torchvision`` subfolder. Anything
wrong with a source raises ``DataError`` before the cache is touched: an archive must prove
whole (its gzip CRC, its tar structure to the end-of-archive blocks). A cache whose tensors no
longer match the digest stored with it is rebuilt, with a one-line warning; the temporary file
of a cache write that was killed is removed by the next load.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tarfile
import time
import warnings
import zlib
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
import torchvision
from torchvision.io import ImageReadMode, decode_image
from tqdm import tqdm

from vggrepro.files import atomic_write, cache_folder

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

SPLITS = ("train", "test")
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
CACHE_VERSION = 2  # 2: the cache stores a digest of its own tensors
STALE_TMP_SECONDS = 60
"""A temporary cache file that no writer holds locked, untouched for this long, was left by a
killed write: the next load removes it. (A younger one may be a write that has not yet taken
its lock; where there are no file locks, age alone tells.)"""
# What torchvision's CIFAR10(download=True) leaves in its root.
TORCHVISION_ARCHIVE = "cifar-10-python.tar.gz"
TORCHVISION_FOLDER = "cifar-10-batches-py"

Files = list[tuple[str, bytes]]
"""``(relative POSIX path, contents)`` of every file of a source, sorted by path."""


class DataError(ValueError):
    """A data source is missing, unreadable, or not CIFAR-10 in the expected layout."""


@dataclass
class CIFAR10:
    """The CIFAR-10 training and test sets as tensors, with where they came from."""

    train_images: torch.Tensor  # uint8 (N, 3, 32, 32)
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]  # label i is classes[i]
    source: str  # "torchvision", an archive's stem such as "cifar10-jpeg", or "folder:<name>"
    checksum: str  # sha256 of the source's files, for results to record


def load_cifar10(
    source: str | Path | None = None, cache_dir: str | Path | None = None, progress: bool = True
) -> CIFAR10:
    """Load CIFAR-10 from ``source`` (see the module docstring), decoding at most once."""
    if source is None:
        source = os.environ.get("VGGREPRO_DATA") or "torchvision"
    if cache_dir is None:
        cache_dir = cache_folder()
    cache_dir = Path(cache_dir).expanduser()
    if str(source) == "torchvision":
        return _load_torchvision(cache_dir / "torchvision")
    if not str(source).strip():
        raise DataError("the data source is an empty path (a folder, an archive or 'torchvision')")

    path = Path(source).expanduser()
    files: Files | None = None
    if path.is_dir():
        files = _read_folder(path)
        name, checksum = f"folder:{path.name}", _digest(files)
    elif path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        name, checksum = path.name.removesuffix(_suffix(path.name)), _sha256(path)
    elif path.exists():
        raise DataError(f"{path}: expected a folder or a {'/'.join(ARCHIVE_SUFFIXES)} archive")
    else:
        raise DataError(f"{path}: no such file or folder (expected a CIFAR-10 archive or folder)")

    cache = cache_dir / f"cifar10-{checksum[:16]}.pt"
    _remove_stale_tmps(cache_dir)
    payload = _read_cache(cache, checksum)
    if payload is None:
        payload = _decode_tree(_read_archive(path) if files is None else files, path, progress)
        payload.update(version=CACHE_VERSION, checksum=checksum)
        _write_cache(cache, payload)
    return CIFAR10(
        train_images=payload["train_images"],
        train_labels=payload["train_labels"],
        test_images=payload["test_images"],
        test_labels=payload["test_labels"],
        classes=payload["classes"],
        source=name,
        checksum=checksum,
    )


def from_torchvision(train_set: Any, test_set: Any, checksum: str) -> CIFAR10:
    """Convert two ``torchvision.datasets.CIFAR10`` objects (``data`` is N,32,32,3 uint8)."""
    tensors = {}
    for split, dataset in zip(SPLITS, (train_set, test_set), strict=True):
        images = torch.as_tensor(dataset.data)
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1:] != (32, 32, 3):
            raise DataError(
                f"torchvision CIFAR10 {split} data is {images.dtype} {tuple(images.shape)}; "
                "expected uint8 (N, 32, 32, 3)"
            )
        tensors[f"{split}_images"] = images.permute(0, 3, 1, 2).contiguous()
        tensors[f"{split}_labels"] = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return CIFAR10(
        **tensors, classes=list(train_set.classes), source="torchvision", checksum=checksum
    )


def split_validation(
    data: CIFAR10, n_val: int = 5000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hold out ``n_val`` training images, the same number from each class, chosen by ``seed``.

    Returns ``(train_x, train_y, val_x, val_y)``; both parts keep the training set's order.
    """
    labels, k = data.train_labels, len(data.classes)
    if n_val < 0 or n_val % k:
        raise ValueError(f"n_val={n_val} is not a non-negative multiple of the {k} classes")
    per_class = n_val // k
    generator = torch.Generator().manual_seed(seed)
    is_val = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(k):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {data.classes[c]} has {len(members)} images, need {per_class}")
        is_val[members[torch.randperm(len(members), generator=generator)[:per_class]]] = True
    return data.train_images[~is_val], labels[~is_val], data.train_images[is_val], labels[is_val]


def random_subset(n: int, total: int, seed: int = 0) -> torch.Tensor:
    """``min(n, total)`` sorted indices out of ``total``, drawn without replacement."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=g)[:n].sort().values


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images (N, C, H, W), in [0, 1] units."""
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    for chunk in images.split(4096):  # bounds the float64 copy to about 100 MB
        x = chunk.to(torch.float64) / 255
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.numel() // images.shape[1]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


def _load_torchvision(root: Path) -> CIFAR10:
    """Download (once) and load CIFAR-10 through torchvision into ``root``."""
    try:
        train_set = torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        test_set = torchvision.datasets.CIFAR10(str(root), train=False, download=True)
    # URLError and socket timeouts are OSErrors; a download cut short can raise IncompleteRead
    # (an HTTPException), and one that fails its MD5 check a RuntimeError.
    except (OSError, RuntimeError, http.client.HTTPException) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DataError(
            f"cannot download CIFAR-10 through torchvision into {root} ({reason}); without a "
            "network, pass --data with a local copy"
        ) from None
    archive = root / TORCHVISION_ARCHIVE
    if archive.is_file():
        checksum = _sha256(archive)
    else:
        checksum = _digest(_read_folder(root / TORCHVISION_FOLDER))
    return from_torchvision(train_set, test_set, checksum)


def _suffix(name: str) -> str:
    """The archive suffix that ``name`` ends with."""
    return next(s for s in ARCHIVE_SUFFIXES if name.endswith(s))


def _hidden(parts: tuple[str, ...]) -> bool:
    """Whether a path has a hidden component (``.DS_Store``, ``._x.jpg``, ``.git/``)."""
    return any(part.startswith(".") for part in parts)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _digest(files: Files) -> str:
    """sha256 over the sorted relative paths and contents, each prefixed with its length."""
    h = hashlib.sha256()
    for name, data in files:
        for chunk in (name.encode(), data):
            h.update(len(chunk).to_bytes(8, "little"))
            h.update(chunk)
    return h.hexdigest()


def _read_folder(root: Path) -> Files:
    """Every non-hidden file below ``root``."""
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not _hidden(rel.parts):
            try:
                files.append((rel.as_posix(), path.read_bytes()))
            except OSError as exc:
                raise DataError(f"{root}: cannot read {rel.as_posix()} ({exc})") from exc
    return sorted(files, key=lambda f: f[0])


def _read_archive(path: Path) -> Files:
    """Every non-hidden regular file in a tar archive, compressed or not, once the archive has
    proved whole, in the one pass that reads it: a gzip stream must pass the CRC and length
    checks of its trailer, every member header its checksum, and the tar data must end in its
    end-of-archive blocks, with nothing but zeros after them (so a cut, or zeros written over
    a header, that falls between two members is caught too)."""
    files = []
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            # gzip.GzipFile checks the trailer when it reaches it; tarfile's own gzip reader
            # never does. Streaming ("r|"): about twice as fast as random access ("r:").
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            mode = "r|" if gzipped else "r|*"
            with stream, tarfile.open(fileobj=stream, mode=mode) as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts  # drops "." components
                    if member.isfile() and not _hidden(parts):
                        files.append(("/".join(parts), tar.extractfile(member).read()))
                _check_end(tar)  # reads to the end of the stream, where gzip checks its CRC
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{path}: not a readable tar archive, truncated or corrupt ({exc}); copy it again"
        ) from exc
    return sorted(files, key=lambda f: f[0])


def _check_end(tar: tarfile.TarFile) -> None:
    """Check where the member list ended. tarfile ends it, without a word, at the first block
    that is not a whole, valid header: a zero block, which must be followed by nothing but
    zeros, one block of them at least (two zero blocks end a tar archive, padded with zeros to
    its record size), or else a damaged header, or a cut one."""
    end, stream, rest = tar.offset, tar.fileobj, 0
    while chunk := stream.read(1 << 16):
        if chunk.strip(b"\0"):
            raise tarfile.ReadError(f"the member header at byte {end} is damaged")
        rest += len(chunk)
    if rest < tarfile.BLOCKSIZE:
        raise tarfile.ReadError("truncated: the end-of-archive blocks are missing")


def _decode(data: bytes, origin: Path, name: str) -> torch.Tensor:
    """One image file as a uint8 (3, 32, 32) tensor."""
    try:
        image = decode_image(
            torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED
        )
    except (RuntimeError, ValueError) as exc:  # ValueError: an empty file
        raise DataError(f"{origin}: cannot decode {name} ({exc})") from exc
    if tuple(image.shape) != IMAGE_SHAPE:
        c, h, w = image.shape
        raise DataError(f"{origin}: {name} is {w}x{h} with {c} channel(s); expected 32x32 RGB")
    return image


def _decode_tree(files: Files, origin: Path, progress: bool) -> dict[str, Any]:
    """Check the ImageFolder layout of ``files``, then decode them into labelled tensors.

    Top-level files that are not images (a README) are ignored; every other file must be an
    image at ``train/<class>/<file>`` or ``test/<class>/<file>``.
    """
    by_split: dict[str, list[tuple[str, str, bytes]]] = {split: [] for split in SPLITS}
    for name, data in files:
        parts = name.split("/")
        if len(parts) == 1 and not name.lower().endswith(IMAGE_SUFFIXES):
            continue
        if len(parts) != 3 or parts[0] not in SPLITS:
            raise DataError(f"{origin}: {name} is not inside train/<class>/ or test/<class>/")
        by_split[parts[0]].append((parts[1], name, data))
    for split, items in by_split.items():
        if not items:
            raise DataError(f"{origin}: no images in {split}/<class>/ (expected train/ and test/)")

    classes = sorted({c for c, _, _ in by_split["train"]})
    test_classes = sorted({c for c, _, _ in by_split["test"]})
    if test_classes != classes:
        raise DataError(f"{origin}: train/ has classes {classes} but test/ has {test_classes}")
    if len(classes) != NUM_CLASSES:
        raise DataError(f"{origin}: {len(classes)} class folders {classes}; expected 10")

    label = {c: i for i, c in enumerate(classes)}
    payload: dict[str, Any] = {"classes": classes}
    total = sum(len(items) for items in by_split.values())
    bar = tqdm(total=total, desc=f"decoding {origin.name}", unit="img", disable=not progress)
    with bar, warnings.catch_warnings():
        # torchvision >= 0.29 warns on every decode that torchcodec will take over image I/O.
        warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
        for split, items in by_split.items():  # sorted by path, so by class then file
            images = []
            for _, name, data in items:
                images.append(_decode(data, origin, name))
                bar.update()
            payload[f"{split}_images"] = torch.stack(images)
            labels = [label[c] for c, _, _ in items]
            payload[f"{split}_labels"] = torch.tensor(labels, dtype=torch.int64)
    return payload


def _payload_digest(payload: dict[str, Any]) -> str:
    """sha256 over the decoded tensors and class names of a cache payload."""
    h = hashlib.sha256()
    for split in SPLITS:
        for kind in ("images", "labels"):
            h.update(payload[f"{split}_{kind}"].contiguous().numpy().tobytes())
    h.update("\n".join(payload["classes"]).encode())
    return h.hexdigest()


def _read_cache(path: Path, checksum: str) -> dict[str, Any] | None:
    """The cached tensors for ``checksum``, or None when absent, stale or damaged (a damaged
    cache is reported on stderr and rebuilt by the caller)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, weights_only=True)
        whole = payload.get("version") == CACHE_VERSION and payload.get("checksum") == checksum
        if whole and payload.get("digest") == _payload_digest(payload):
            return payload
    except Exception:  # unreadable or missing tensors: rebuilt, whatever the error
        pass
    print(f"{path}: decoded-data cache damaged or out of date; rebuilding it", file=sys.stderr)
    return None


def _remove_stale_tmps(folder: Path) -> None:
    """Remove the temporary files that killed cache writes left in ``folder``. A writer holds a
    lock on its temporary file while it writes it, and the system drops the lock when the
    writer dies, however it dies: a file whose lock can be taken, and that has not changed for
    ``STALE_TMP_SECONDS``, is a dead write's."""
    for tmp in folder.glob(".cifar10-*.pt.*.tmp"):
        with suppress(OSError):  # a live writer's lock, gone already, or not ours to remove
            if time.time() - tmp.stat().st_mtime < STALE_TMP_SECONDS:
                continue
            with tmp.open("rb") as f:
                _lock(f)
            tmp.unlink()


def _lock(f: Any) -> None:
    """An exclusive lock on the open file ``f``, held until it is closed; BlockingIOError when
    another process holds it."""
    if fcntl is not None:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _write_cache(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with its digest to ``path`` atomically (``files.atomic_write``). The
    temporary file is locked while it is written (see ``_remove_stale_tmps``); in the moments
    before the lock and after the close, its fresh time of change protects it."""
    payload = {**payload, "digest": _payload_digest(payload)}
    with atomic_write(path) as f:
        with suppress(OSError):  # a file system without locks: nothing is removed there
            _lock(f)
        torch.save(payload, f)
