"""Tests for vggrepro.engine.data on tiny synthetic ImageFolder sources and the real archive."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import multiprocessing
import os
import shutil
import signal
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.error import URLError

import pytest
import torch
import torchvision
from torchvision.io import encode_jpeg, encode_png

from vggrepro.engine import data as data_module
from vggrepro.engine.data import (
    CIFAR10,
    DataError,
    channel_stats,
    from_torchvision,
    load_cifar10,
    random_subset,
    split_validation,
)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# Not in alphabetical order, so that a loader that kept creation order would be caught.
CLASSES = ["truck", "airplane", "ship", "bird", "cat", "horse", "deer", "frog", "dog", "automobile"]
N_TRAIN, N_TEST = 3, 2
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
REAL_SHA256 = "caee4964ee157074cd166f19fc57801edbb2493096149057c636738291eee788"  # data README


def pattern(label: int, index: int, size: int = 32) -> torch.Tensor:
    """A uint8 (3, size, size) image that identifies its class and index."""
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    image[0] = 20 * label
    image[1] = 50 * index
    image[2] = torch.arange(size, dtype=torch.uint8)[None, :] * 4  # a horizontal ramp
    return image


def write_tree(root: Path, classes: list[str] = CLASSES, fmt: str = "png") -> Path:
    """Write ``train/<class>/i.<fmt>`` and ``test/<class>/i.<fmt>`` images of ``pattern``."""
    for split, count in (("train", N_TRAIN), ("test", N_TEST)):
        for c in classes:
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(count):
                image = pattern(sorted(classes).index(c), i)
                encoded = encode_png(image) if fmt == "png" else encode_jpeg(image, quality=95)
                (folder / f"{i:04d}.{fmt}").write_bytes(encoded.numpy().tobytes())
    return root


def _reproducible(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
    return member


def make_archive(tree: Path, archive: Path) -> Path:
    """Pack the contents of ``tree`` (not the folder itself) into ``archive``, the same bytes
    for the same tree whenever it is made (so a byte position means the same in every run)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for child in sorted(tree.iterdir()):
            tar.add(child, arcname=child.name, filter=_reproducible)
    raw = buffer.getvalue()
    gzipped = archive.suffix in (".gz", ".tgz")
    archive.write_bytes(gzip.compress(raw, mtime=0) if gzipped else raw)
    return archive


def cache_files(cache: Path) -> list[Path]:
    """Everything in the cache folder, temporary files included."""
    return sorted(cache.iterdir()) if cache.exists() else []


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A synthetic PNG archive of 10 classes x (3 train + 2 test) images."""
    return make_archive(write_tree(tmp_path / "tree"), tmp_path / "tiny-cifar.tar.gz")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def expected_labels(count: int) -> torch.Tensor:
    return torch.arange(len(CLASSES)).repeat_interleave(count)


def test_archive_gives_tensors_in_alphabetical_class_order(archive: Path, cache: Path) -> None:
    data = load_cifar10(archive, cache_dir=cache, progress=False)
    assert data.classes == sorted(CLASSES)
    assert data.train_images.shape == (10 * N_TRAIN, 3, 32, 32)
    assert data.test_images.shape == (10 * N_TEST, 3, 32, 32)
    assert data.train_images.dtype == data.test_images.dtype == torch.uint8
    assert data.train_labels.dtype == data.test_labels.dtype == torch.int64
    assert torch.equal(data.train_labels, expected_labels(N_TRAIN))
    assert torch.equal(data.test_labels, expected_labels(N_TEST))
    # PNG is lossless: every image is exactly the pattern of its label and file index.
    for k, label in enumerate(data.train_labels.tolist()):
        assert torch.equal(data.train_images[k], pattern(label, k % N_TRAIN))
    assert data.source == "tiny-cifar"
    assert data.checksum == hashlib.sha256(archive.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".tgz", ".tar"])
def test_other_archive_suffixes(tmp_path: Path, cache: Path, suffix: str) -> None:
    source = make_archive(write_tree(tmp_path / "tree"), tmp_path / f"mini{suffix}")
    data = load_cifar10(source, cache_dir=cache, progress=False)
    assert data.source == "mini"
    assert torch.equal(data.train_labels, expected_labels(N_TRAIN))


def test_folder_matches_archive(tmp_path: Path, archive: Path, cache: Path) -> None:
    folder = load_cifar10(tmp_path / "tree", cache_dir=cache, progress=False)
    packed = load_cifar10(archive, cache_dir=cache, progress=False)
    assert folder.source == "folder:tree"
    assert torch.equal(folder.train_images, packed.train_images)
    assert torch.equal(folder.test_labels, packed.test_labels)
    assert folder.checksum != packed.checksum
    # The folder checksum covers file contents: changing one byte of an image changes it.
    image = tmp_path / "tree" / "test" / "cat" / "0000.png"
    image.write_bytes(encode_png(pattern(3, 0) + 1).numpy().tobytes())
    changed = load_cifar10(tmp_path / "tree", cache_dir=cache, progress=False)
    assert changed.checksum != folder.checksum
    assert not torch.equal(changed.test_images, folder.test_images)


def test_jpeg_images_decode_close_to_originals(tmp_path: Path, cache: Path) -> None:
    source = make_archive(write_tree(tmp_path / "tree", fmt="jpg"), tmp_path / "jpeg.tar.gz")
    data = load_cifar10(source, cache_dir=cache, progress=False)
    for k, label in enumerate(data.test_labels.tolist()):
        original = pattern(label, k % N_TEST).float()
        assert (data.test_images[k].float() - original).abs().mean() < 4  # lossy, but close


def test_hidden_files_and_top_level_readme_are_ignored(tmp_path: Path, cache: Path) -> None:
    tree = write_tree(tmp_path / "tree")
    (tree / "README.md").write_text("notes")
    (tree / "train" / "cat" / ".DS_Store").write_bytes(b"\0\1")
    data = load_cifar10(tree, cache_dir=cache, progress=False)
    assert len(data.train_images) == 10 * N_TRAIN


def test_hidden_folders_are_ignored_in_a_folder_and_in_an_archive_with_dot_names(
    tmp_path: Path, cache: Path
) -> None:
    """A hidden folder's files (a notebook's checkpoints) are skipped whatever their depth,
    and an archive packed as ``tar -C tree .`` (members named ``./train/...``, a hidden file
    and a README among them) loads as the folder it was made from."""
    tree = write_tree(tmp_path / "tree")
    reference = load_cifar10(tree, cache_dir=tmp_path / "reference", progress=False)
    hidden = tree / "train" / "cat" / ".ipynb_checkpoints"
    hidden.mkdir()
    shutil.copy(tree / "train" / "cat" / "0000.png", hidden / "0000-checkpoint.png")
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref: refs/heads/main")
    (tree / "README.md").write_text("notes")
    (tree / "test" / "dog" / "._0000.png").write_bytes(b"AppleDouble")
    folder = load_cifar10(tree, cache_dir=cache, progress=False)
    assert torch.equal(folder.train_images, reference.train_images)
    assert torch.equal(folder.train_labels, reference.train_labels)
    source = tmp_path / "dotted.tar"
    with tarfile.open(source, "w") as tar:
        tar.add(tree, arcname=".", filter=_reproducible)
    with tarfile.open(source) as tar:
        assert "./train/cat/0000.png" in tar.getnames()
    packed = load_cifar10(source, cache_dir=cache, progress=False)
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(packed, field), getattr(reference, field))
    assert packed.classes == reference.classes == sorted(CLASSES)


def test_a_folder_checksum_is_the_length_prefixed_sha256_of_its_sorted_files(
    tmp_path: Path, cache: Path
) -> None:
    """Computed here from first principles: each relative path, then its contents, each after
    its length as 8 little-endian bytes, in path order (``test/`` before ``train/``)."""
    tree = write_tree(tmp_path / "tree")
    files = sorted(
        (p.relative_to(tree).as_posix(), p.read_bytes()) for p in tree.rglob("*") if p.is_file()
    )
    assert files[0][0] == "test/airplane/0000.png" and len(files) == 10 * (N_TRAIN + N_TEST)
    h = hashlib.sha256()
    for name, contents in files:
        for chunk in (name.encode(), contents):
            h.update(len(chunk).to_bytes(8, "little") + chunk)
    assert load_cifar10(tree, cache_dir=cache, progress=False).checksum == h.hexdigest()


def test_a_home_relative_source_and_cache_folder_are_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    home.mkdir()
    make_archive(write_tree(tmp_path / "tree"), home / "tiny-cifar.tar.gz")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)  # a "~" taken literally would be a folder here
    data = load_cifar10("~/tiny-cifar.tar.gz", cache_dir="~/cache", progress=False)
    assert data.source == "tiny-cifar"
    assert [p.suffix for p in cache_files(home / "cache")] == [".pt"]
    assert list(work.iterdir()) == []


def test_cache_is_written_once_and_reused(
    archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_cifar10(archive, cache_dir=cache, progress=False)
    assert [p.suffix for p in cache_files(cache)] == [".pt"]

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded although the cache was valid")

    assert cache_files(cache)[0].name == f"cifar10-{first.checksum[:16]}.pt"  # named by source
    monkeypatch.setattr(data_module, "_decode", no_decoding)
    monkeypatch.setattr(data_module, "_read_archive", no_decoding)
    second = load_cifar10(archive, cache_dir=cache, progress=False)
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)
    assert second.checksum == first.checksum
    assert len(cache_files(cache)) == 1


def test_cache_is_keyed_by_checksum(tmp_path: Path, cache: Path) -> None:
    tree = write_tree(tmp_path / "tree")
    source = make_archive(tree, tmp_path / "data.tar")
    first = load_cifar10(source, cache_dir=cache, progress=False)
    (tree / "train" / "dog" / "0000.png").write_bytes(encode_png(pattern(0, 0)).numpy().tobytes())
    make_archive(tree, source)  # same name, different contents
    second = load_cifar10(source, cache_dir=cache, progress=False)
    assert second.checksum != first.checksum
    assert len(cache_files(cache)) == 2
    dog = first.classes.index("dog") * N_TRAIN
    assert torch.equal(first.train_images[dog], pattern(first.classes.index("dog"), 0))
    assert torch.equal(second.train_images[dog], pattern(0, 0))


def crash_mid_write(obj: object, f) -> None:
    """A torch.save that writes half a cache, then dies."""
    f.write(b"half a cache")
    raise KeyboardInterrupt


def test_crash_while_writing_leaves_no_cache(
    archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", crash_mid_write)
        with pytest.raises(KeyboardInterrupt):
            load_cifar10(archive, cache_dir=cache, progress=False)
    assert cache_files(cache) == []
    data = load_cifar10(archive, cache_dir=cache, progress=False)
    assert len(data.train_images) == 10 * N_TRAIN
    assert [p.suffix for p in cache_files(cache)] == [".pt"]


def test_killed_write_leaves_no_trusted_cache(
    archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-write runs no cleanup: at most a temporary file may remain."""

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", crash_mid_write)
        patch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # no cleanup
        with pytest.raises(KeyboardInterrupt):
            load_cifar10(archive, cache_dir=cache, progress=False)
    (tmp,) = cache_files(cache)
    assert tmp.suffix == ".tmp"
    data = load_cifar10(archive, cache_dir=cache, progress=False)
    assert len(data.test_images) == 10 * N_TEST
    # One changed moments ago may be a write that has not locked it yet: it stays ...
    assert sorted(p.suffix for p in cache_files(cache)) == [".pt", ".tmp"]
    # ... but an older one that no writer holds is removed by the next load, even one that
    # finds its cache whole and writes nothing.
    age(tmp)
    second = load_cifar10(archive, cache_dir=cache, progress=False)
    assert [p.suffix for p in cache_files(cache)] == [".pt"]
    assert torch.equal(second.train_images, data.train_images)


def age(path: Path) -> None:
    """Set ``path``'s time of change back to just past the point where a load may remove it."""
    old = time.time() - data_module.STALE_TMP_SECONDS - 1
    os.utime(path, (old, old))


@pytest.mark.skipif(fcntl is None, reason="no file locks on this system")
def test_a_temporary_file_that_a_live_writer_holds_is_kept(
    archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_cifar10(archive, cache_dir=cache, progress=False)
    (whole,) = cache_files(cache)
    tmp = cache / f".{whole.name}.writer.tmp"
    tmp.write_bytes(b"a write in progress, however long it has been quiet")
    age(tmp)
    monkeypatch.setattr(data_module, "_decode", None)  # the cache is whole: nothing decodes
    with tmp.open("rb") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        load_cifar10(archive, cache_dir=cache, progress=False)
        assert tmp.exists()
    load_cifar10(archive, cache_dir=cache, progress=False)  # the writer has gone
    assert cache_files(cache) == [whole]


def _die_mid_write(obj: object, f) -> None:
    """A torch.save whose process is killed when it has written 100 kB."""
    f.write(bytes(100_000))
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _write_and_be_killed(archive: Path, cache: Path) -> None:
    torch.save = _die_mid_write  # in the child process only
    load_cifar10(archive, cache_dir=cache, progress=False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_write_killed_with_sigkill_leaves_a_file_the_next_load_removes(
    archive: Path, cache: Path
) -> None:
    """The real thing: a process killed mid-write runs no cleanup and keeps no lock."""
    child = multiprocessing.get_context("fork").Process(
        target=_write_and_be_killed, args=(archive, cache)
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL
    (tmp,) = cache_files(cache)
    assert tmp.name.endswith(".tmp") and tmp.stat().st_size == 100_000
    age(tmp)
    data = load_cifar10(archive, cache_dir=cache, progress=False)
    assert [p.suffix for p in cache_files(cache)] == [".pt"]
    assert len(data.train_images) == 10 * N_TRAIN


def test_folder_digest_covers_paths_and_contents() -> None:
    digest = data_module._digest
    base = digest([("a/b.png", b"xy"), ("c.png", b"z")])
    assert digest([("a/b.png", b"xz"), ("c.png", b"z")]) != base  # same length, new bytes
    assert digest([("a/b.pn", b"gxy"), ("c.png", b"z")]) != base  # boundary moved
    assert digest([("a/b.png", b"xy"), ("c.png", b"z")]) == base


def test_damaged_cache_is_rebuilt(archive: Path, cache: Path) -> None:
    first = load_cifar10(archive, cache_dir=cache, progress=False)
    (path,) = cache_files(cache)
    path.write_bytes(path.read_bytes()[:100])
    second = load_cifar10(archive, cache_dir=cache, progress=False)
    assert torch.equal(first.train_images, second.train_images)
    assert torch.load(path, weights_only=True)["checksum"] == first.checksum


def _zero_train_images(payload: dict) -> None:
    payload["train_images"][:5] = 0


def _shift_test_labels(payload: dict) -> None:
    payload["test_labels"][:] = (payload["test_labels"] + 1) % 10


def _rename_a_class(payload: dict) -> None:
    payload["classes"][3] = "kitten"


@pytest.mark.parametrize("alter", [_zero_train_images, _shift_test_labels, _rename_a_class])
def test_a_cache_whose_tensors_were_altered_is_rebuilt(
    archive: Path, cache: Path, capsys: pytest.CaptureFixture, alter
) -> None:
    """The digest stored with the cache covers every tensor and the class names: a readable
    cache with any of them changed is rebuilt, with a warning."""
    clean = load_cifar10(archive, cache_dir=cache, progress=False)
    (path,) = cache_files(cache)
    payload = torch.load(path, weights_only=True)
    alter(payload)  # still a readable cache, with the wrong contents
    torch.save(payload, path)
    again = load_cifar10(archive, cache_dir=cache, progress=False)
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(again, field), getattr(clean, field))
    assert again.classes == clean.classes
    assert "cache damaged or out of date; rebuilding" in capsys.readouterr().err
    rebuilt = torch.load(path, weights_only=True)
    assert torch.equal(rebuilt["train_images"], clean.train_images)


@pytest.mark.parametrize(
    "stale", [{"version": data_module.CACHE_VERSION - 1}, {"checksum": "0" * 64}]
)
def test_a_whole_cache_of_another_version_or_source_is_rebuilt(
    archive: Path, cache: Path, capsys: pytest.CaptureFixture, stale: dict
) -> None:
    """A cache whose tensors match their digest is still not trusted when it was written by
    another cache version, or for another source that its file name happens to match."""
    clean = load_cifar10(archive, cache_dir=cache, progress=False)
    (path,) = cache_files(cache)
    payload = torch.load(path, weights_only=True)
    payload["train_images"] = 255 - payload["train_images"]  # consistent, but not this source
    payload["digest"] = data_module._payload_digest(payload)
    torch.save({**payload, **stale}, path)
    capsys.readouterr()
    again = load_cifar10(archive, cache_dir=cache, progress=False)
    assert torch.equal(again.train_images, clean.train_images)
    assert "cache damaged or out of date; rebuilding" in capsys.readouterr().err
    rebuilt = torch.load(path, weights_only=True)
    assert rebuilt["version"] == data_module.CACHE_VERSION
    assert rebuilt["checksum"] == clean.checksum


def test_old_temporary_files_that_are_not_the_caches_are_left_alone(
    archive: Path, cache: Path
) -> None:
    load_cifar10(archive, cache_dir=cache, progress=False)
    (whole,) = cache_files(cache)
    others = [cache / ".notes.json.x1.tmp", cache / ".cifar100-0123.pt.x2.tmp"]
    for other in others:
        other.write_bytes(b"another program's")
        age(other)
    load_cifar10(archive, cache_dir=cache, progress=False)
    assert cache_files(cache) == sorted([whole, *others])


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_a_cache_with_zeroed_bytes_is_rebuilt_with_one_warning(
    archive: Path, cache: Path, capsys: pytest.CaptureFixture, where: float
) -> None:
    """The issue's case: 2,000 bytes of the cache file zeroed in place, as a disk might."""
    clean = load_cifar10(archive, cache_dir=cache, progress=False)
    (path,) = cache_files(cache)
    damaged = bytearray(path.read_bytes())
    start = int(len(damaged) * where)
    damaged[start : start + 2000] = bytes(2000)
    path.write_bytes(bytes(damaged))
    capsys.readouterr()
    again = load_cifar10(archive, cache_dir=cache, progress=False)
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(again, field), getattr(clean, field))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: decoded-data cache damaged" in err
    assert path.read_bytes() != damaged  # rebuilt on disk ...
    load_cifar10(archive, cache_dir=cache, progress=False)
    assert capsys.readouterr().err == ""  # ... so the next load trusts it again


@pytest.mark.parametrize("environment", [None, ""], ids=["unset", "empty"])
def test_the_cache_folder_defaults_to_one_in_the_home_cache(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: str | None
) -> None:
    """Without ``cache_dir`` and with ``$VGGREPRO_CACHE`` unset or empty, the cache is written
    to ``~/.cache/vggrepro``, not to the working folder."""
    if environment is None:
        monkeypatch.delenv("VGGREPRO_CACHE", raising=False)
    else:
        monkeypatch.setenv("VGGREPRO_CACHE", environment)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    data = load_cifar10(archive, progress=False)
    assert len(data.train_images) == 10 * N_TRAIN
    assert [p.suffix for p in cache_files(tmp_path / "home" / ".cache" / "vggrepro")] == [".pt"]
    assert list(work.iterdir()) == []


def test_source_and_cache_from_environment(
    archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VGGREPRO_DATA", str(archive))
    monkeypatch.setenv("VGGREPRO_CACHE", str(cache))
    data = load_cifar10(progress=False)
    assert data.source == "tiny-cifar"
    assert len(cache_files(cache)) == 1


class FakeTorchvisionCIFAR10:
    """Stands in for torchvision.datasets.CIFAR10: NHWC uint8 ``data``, list ``targets``."""

    calls: list[tuple[str, bool, bool]] = []

    def __init__(self, root: str, train: bool, download: bool) -> None:
        FakeTorchvisionCIFAR10.calls.append((root, train, download))
        n = 4 if train else 2
        self.data = torch.stack([pattern(i % 10, i).permute(1, 2, 0) for i in range(n)]).numpy()
        self.targets = [i % 10 for i in range(n)]
        self.classes = sorted(CLASSES)
        folder = Path(root) / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data_batch_1").write_bytes(b"batch")


@pytest.mark.parametrize("environment", [None, ""], ids=["unset", "empty"])
def test_torchvision_source_is_the_default(
    cache: Path, monkeypatch: pytest.MonkeyPatch, environment: str | None
) -> None:
    """Without a source, or with ``$VGGREPRO_DATA`` set but empty, torchvision's download."""
    if environment is None:
        monkeypatch.delenv("VGGREPRO_DATA", raising=False)
    else:
        monkeypatch.setenv("VGGREPRO_DATA", environment)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeTorchvisionCIFAR10)
    FakeTorchvisionCIFAR10.calls = []
    data = load_cifar10(cache_dir=cache, progress=False)
    root = str(cache / "torchvision")
    assert FakeTorchvisionCIFAR10.calls == [(root, True, True), (root, False, True)]
    assert data.source == "torchvision"
    assert data.train_images.shape == (4, 3, 32, 32)
    assert torch.equal(data.train_images[3], pattern(3, 3))  # NHWC became NCHW
    assert torch.equal(data.train_labels, torch.tensor([0, 1, 2, 3]))
    assert data.train_labels.dtype == torch.int64
    assert data.classes == sorted(CLASSES)
    batches = data_module._digest([("data_batch_1", b"batch")])
    assert data.checksum == batches
    # With torchvision's downloaded archive present, the checksum is that file's sha256.
    (cache / "torchvision" / "cifar-10-python.tar.gz").write_bytes(b"archive")
    again = load_cifar10("torchvision", cache_dir=cache, progress=False)
    assert again.checksum == hashlib.sha256(b"archive").hexdigest()


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (URLError("[Errno -3] Temporary failure in name resolution"), "name resolution"),
        (TimeoutError("timed out"), "(timed out)"),
        (http.client.IncompleteRead(b"partial", 170_000_000), "7 bytes read"),
        (RuntimeError("File not found or corrupted."), "(File not found or corrupted.)"),
        (
            OSError("[Errno 101] Network is unreachable\n  while fetching the archive"),
            "Network is unreachable while fetching the archive)",
        ),
        (ConnectionResetError(), "(ConnectionResetError)"),  # no message: its type
    ],
    ids=["offline", "timeout", "cut-short", "md5-mismatch", "two-line-reason", "no-message"],
)
def test_torchvision_without_a_network_is_one_data_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, reason: str
) -> None:
    """One line that names the folder, the reason (on one line; the error's type when it has no
    message) and the way out."""

    def download(*args: object, **kwargs: object) -> None:  # never touches the network
        raise failure

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", download)
    with pytest.raises(DataError) as error:
        load_cifar10("torchvision", cache_dir=cache, progress=False)
    text = str(error.value)
    assert text.startswith("cannot download CIFAR-10 through torchvision into")
    assert str(cache / "torchvision") in text and "pass --data" in text and "\n" not in text
    assert reason in text


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, empty: str
) -> None:
    monkeypatch.chdir(write_tree(tmp_path / "tree"))  # a valid source, one "." away
    with pytest.raises(DataError, match="empty path"):
        load_cifar10(empty, cache_dir=cache, progress=False)
    assert cache_files(cache) == []


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(2, 3, 32, 32, dtype=torch.uint8),  # channels first
        torch.zeros(2, 32, 32, 3, dtype=torch.float32),  # floats
        torch.zeros(2, 32, 32, dtype=torch.uint8),  # no channels
    ],
    ids=["channels-first", "float", "grey"],
)
def test_from_torchvision_rejects_data_that_is_not_nhwc_uint8(
    split: str, bad: torch.Tensor
) -> None:
    """Either set's data must be uint8 (N, 32, 32, 3); the error names the set at fault."""
    nhwc = torch.zeros(2, 32, 32, 3, dtype=torch.uint8).numpy()
    good = SimpleNamespace(data=nhwc, targets=[0, 1], classes=CLASSES)
    assert from_torchvision(good, good, "x").train_images.shape == (2, 3, 32, 32)
    wrong = SimpleNamespace(data=bad.numpy(), targets=[0, 1], classes=CLASSES)
    with pytest.raises(DataError, match=f"{split} data is"):
        from_torchvision(*((wrong, good) if split == "train" else (good, wrong)), "x")


# Each bad source: a function that builds it under a tmp folder, and what the error must name.
def _missing(tmp: Path) -> Path:
    return tmp / "nowhere.tar.gz"


def _not_an_archive(tmp: Path) -> Path:
    path = tmp / "cifar.zip"
    path.write_bytes(b"PK\3\4")
    return path


def _corrupt(tmp: Path) -> Path:
    path = tmp / "corrupt.tar.gz"
    path.write_bytes(bytes(range(256)) * 16)
    return path


def _truncated(tmp: Path) -> Path:
    whole = make_archive(write_tree(tmp / "tree"), tmp / "whole.tar.gz").read_bytes()
    path = tmp / "truncated.tar.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _tar_cut_between_members(tmp: Path, compress: bool) -> Path:
    """A tar stream cut exactly where a member's header starts (no error while streaming);
    when ``compress``, gzipped whole afterwards, so the gzip layer itself is intact."""
    whole = make_archive(write_tree(tmp / "tree"), tmp / "whole.tar").read_bytes()
    with tarfile.open(tmp / "whole.tar") as tar:
        cut = tar.getmembers()[len(tar.getmembers()) // 2].offset  # a header's first byte
    path = tmp / ("cut.tar.gz" if compress else "cut.tar")
    path.write_bytes(gzip.compress(whole[:cut]) if compress else whole[:cut])
    return path


def _cut_tar(tmp: Path) -> Path:
    return _tar_cut_between_members(tmp, compress=False)


def _cut_tar_gz(tmp: Path) -> Path:
    return _tar_cut_between_members(tmp, compress=True)


def _wrong_crc(tmp: Path) -> Path:
    """Every byte of the data intact but the CRC in the gzip trailer: only gzip's own check,
    which the streaming tar reader never makes, can tell (as for a changed byte of a JPEG)."""
    whole = bytearray(make_archive(write_tree(tmp / "tree"), tmp / "whole.tar.gz").read_bytes())
    whole[-8] ^= 0x01  # the trailer: CRC-32 (4 bytes), then the length
    path = tmp / "crc.tar.gz"
    path.write_bytes(bytes(whole))
    return path


def _changed_byte(tmp: Path) -> Path:
    whole = bytearray(make_archive(write_tree(tmp / "tree"), tmp / "whole.tar.gz").read_bytes())
    whole[len(whole) // 2] ^= 0x01
    path = tmp / "changed.tar.gz"
    path.write_bytes(bytes(whole))
    return path


def _no_test(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    shutil.rmtree(tree / "test")
    return tree


def _image_outside_class(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    shutil.copy(tree / "train" / "cat" / "0000.png", tree / "train" / "stray.png")
    return tree


def _image_in_a_subfolder(tmp: Path) -> Path:
    """An image one folder too deep: its class would be read as ``cat`` or ``extra``."""
    tree = write_tree(tmp / "tree")
    (tree / "train" / "cat" / "extra").mkdir()
    shutil.copy(tree / "train" / "cat" / "0000.png", tree / "train" / "cat" / "extra" / "0.png")
    return tree


def _nine_classes(tmp: Path) -> Path:
    return write_tree(tmp / "tree", classes=CLASSES[:9])


def _test_lacks_a_class(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    shutil.rmtree(tree / "test" / "cat")
    return tree


def _test_class_renamed(tmp: Path) -> Path:
    """Ten classes on each side, but test/ names one differently: the labels would not match."""
    tree = write_tree(tmp / "tree")
    (tree / "test" / "cat").rename(tree / "test" / "kitten")
    return tree


def _unreadable(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    (tree / "test" / "frog" / "0001.png").write_bytes(b"not an image at all")
    return tree


def _empty_file(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    (tree / "test" / "frog" / "0001.png").write_bytes(b"")
    return tree


def _wrong_size(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    image = torch.zeros(3, 32, 33, dtype=torch.uint8)
    (tree / "train" / "deer" / "0002.png").write_bytes(encode_png(image).numpy().tobytes())
    return tree


def _grayscale(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree")
    image = torch.zeros(1, 32, 32, dtype=torch.uint8)
    (tree / "train" / "deer" / "0002.png").write_bytes(encode_png(image).numpy().tobytes())
    return tree


def _eleven_classes(tmp: Path) -> Path:
    return write_tree(tmp / "tree", classes=[*CLASSES, "zebra"])


def _a_third_split(tmp: Path) -> Path:
    """Images in a top-level folder that is neither train/ nor test/ (a validation split)."""
    tree = write_tree(tmp / "tree")
    (tree / "valid" / "cat").mkdir(parents=True)
    shutil.copy(tree / "train" / "cat" / "0000.png", tree / "valid" / "cat" / "0000.png")
    return tree


def _notes_in_a_split(tmp: Path) -> Path:
    """A file that is no image beside the class folders: only top-level ones are ignored."""
    tree = write_tree(tmp / "tree")
    (tree / "train" / "notes.txt").write_text("not a class")
    return tree


def _image_at_the_top(tmp: Path) -> Path:
    """A top-level image (its suffix in capitals) is not a README: it belongs in a class."""
    tree = write_tree(tmp / "tree")
    shutil.copy(tree / "train" / "cat" / "0000.png", tree / "COVER.PNG")
    return tree


def _jpeg_at_the_top(tmp: Path) -> Path:
    tree = write_tree(tmp / "tree", fmt="jpg")
    shutil.copy(tree / "train" / "cat" / "0000.jpg", tree / "cover.jpeg")
    return tree


BAD_FOLDERS = [
    (_no_test, "no images in test/"),
    (_notes_in_a_split, "train/notes.txt is not inside"),
    (_image_at_the_top, "COVER.PNG is not inside"),
    (_jpeg_at_the_top, "cover.jpeg is not inside"),
    (_a_third_split, "valid/cat/0000.png is not inside"),
    (_image_outside_class, "train/stray.png is not inside"),
    (_image_in_a_subfolder, "train/cat/extra/0.png is not inside"),
    (_nine_classes, "9 class folders"),
    (_eleven_classes, "11 class folders"),
    (_test_lacks_a_class, "but test/ has ['airplane', 'automobile', 'bird', 'deer'"),
    (_test_class_renamed, "but test/ has ['airplane', 'automobile', 'bird', 'deer'"),
    (_unreadable, "cannot decode test/frog/0001.png"),
    (_empty_file, "cannot decode test/frog/0001.png"),
    (_wrong_size, "train/deer/0002.png is 33x32 with 3 channel"),
    (_grayscale, "train/deer/0002.png is 32x32 with 1 channel"),
]
BAD_FILES = [
    (_missing, "no such file or folder"),
    (_not_an_archive, "expected a folder or"),
    (_corrupt, "not a readable tar archive, truncated or corrupt"),
    (_truncated, "truncated or corrupt (Compressed file ended before the end-of-stream"),
    (_cut_tar, "end-of-archive blocks are missing"),
    (_cut_tar_gz, "end-of-archive blocks are missing"),
    (_changed_byte, "truncated or corrupt"),
    (_wrong_crc, "CRC check failed"),
]


def _as_archive(build):
    def build_archive(tmp: Path) -> Path:
        return make_archive(build(tmp), tmp / "bad.tar.gz")

    return build_archive


@pytest.mark.parametrize(
    ("build", "message"),
    BAD_FILES + BAD_FOLDERS + [(_as_archive(b), m) for b, m in BAD_FOLDERS],
    ids=[b.__name__ for b, _ in BAD_FILES + BAD_FOLDERS]
    + [f"{b.__name__}-archive" for b, _ in BAD_FOLDERS],
)
def test_bad_source_raises_naming_the_path_and_writes_no_cache(
    tmp_path: Path, cache: Path, build, message: str
) -> None:
    source = build(tmp_path)
    with pytest.raises(DataError) as error:
        load_cifar10(source, cache_dir=cache, progress=False)
    assert str(source) in str(error.value)
    assert message in str(error.value)
    assert cache_files(cache) == []


def load_fails_cleanly(source: Path, cache: Path, message: str = "truncated or corrupt") -> str:
    """Load ``source``, which must fail with a DataError naming it; return the message."""
    with pytest.raises(DataError) as error:
        load_cifar10(source, cache_dir=cache, progress=False)
    text = str(error.value)
    assert str(source) in text and message in text and "\n" not in text
    assert cache_files(cache) == []
    return text


def spread(size: int) -> list[int]:
    """Byte positions of a ``size``-byte gzip file: all of its header and trailer, and every
    17th in between (about 150 of the 2,000 bytes of a tiny archive; all of them pass too, but
    take seconds)."""
    return sorted({*range(24), *range(24, size - 16, 17), *range(size - 16, size)})


def test_a_gzip_archive_cut_anywhere_is_refused(tmp_path: Path, cache: Path) -> None:
    """Cuts all through the (reproducible) archive, from the empty file to a trailer one byte
    short, are integrity errors, whether or not a cut lands between two tar members."""
    whole = make_archive(write_tree(tmp_path / "tree"), tmp_path / "whole.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    for length in spread(len(whole)):
        cut.write_bytes(whole[:length])
        load_fails_cleanly(cut, cache)


def test_a_tar_archive_cut_anywhere_before_its_end_blocks_is_refused(
    tmp_path: Path, cache: Path
) -> None:
    """An uncompressed tar has no checksum over its data, but its structure tells a cut: at a
    header, inside one, inside a member's data or inside the two zero blocks that end it. A cut
    in the zero padding after those blocks loses nothing, and loads as the whole archive."""
    tree = write_tree(tmp_path / "tree")
    source = make_archive(tree, tmp_path / "whole.tar")
    whole = source.read_bytes()
    with tarfile.open(source) as tar:
        members = tar.getmembers()
    end = members[-1].offset_data + 512 * -(-members[-1].size // 512)  # the first zero block
    cuts = {end, end + 1, end + 511, end + 512, end + 1023}
    for m in members[::5] + members[-2:]:  # at, in and after a header; in and after its data
        cuts |= {m.offset, m.offset + 1, m.offset + 511, m.offset_data, m.offset_data + 1}
        cuts |= {m.offset_data + m.size - 1, m.offset_data + m.size}
    assert sum(m.isfile() for m in members) == 10 * (N_TRAIN + N_TEST)
    cut = tmp_path / "cut.tar"
    for length in sorted(cuts):
        cut.write_bytes(whole[:length])
        load_fails_cleanly(cut, cache)
    cut.write_bytes(whole[: end + 1024])
    loaded = load_cifar10(cut, cache_dir=cache, progress=False)
    reference = load_cifar10(tree, cache_dir=tmp_path / "reference", progress=False)
    assert torch.equal(loaded.train_images, reference.train_images)
    assert torch.equal(loaded.test_images, reference.test_images)


def test_a_changed_byte_of_a_gzip_archive_never_changes_the_data_silently(
    tmp_path: Path, cache: Path
) -> None:
    """Each byte of the archive in turn gets one bit flipped: the load either fails naming the
    archive, or (where gzip ignores the bit: its header's time stamp, a padding bit) gives the
    very same tensors as the intact archive."""
    tree = write_tree(tmp_path / "tree")
    whole = make_archive(tree, tmp_path / "whole.tar.gz").read_bytes()
    reference = load_cifar10(tree, cache_dir=tmp_path / "reference", progress=False)
    changed, harmless = tmp_path / "changed.tar.gz", []
    for position in spread(len(whole)):
        damaged = bytearray(whole)
        damaged[position] ^= 0x10
        changed.write_bytes(bytes(damaged))
        try:
            data = load_cifar10(changed, cache_dir=cache, progress=False)
        except DataError as error:
            assert str(changed) in str(error) and "truncated or corrupt" in str(error)
            continue
        assert torch.equal(data.train_images, reference.train_images), position
        assert torch.equal(data.test_images, reference.test_images), position
        assert torch.equal(data.train_labels, reference.train_labels), position
        harmless.append(position)
    assert set(harmless) >= {4, 5, 6, 7}  # the gzip header's modification time
    assert len(harmless) < len(spread(len(whole))) // 10  # most changes are caught


@pytest.mark.parametrize("damage", ["flip", "zeros"])
def test_a_damaged_member_header_of_a_tar_archive_is_refused(
    tmp_path: Path, cache: Path, damage: str
) -> None:
    """tarfile stops at a header that fails its checksum, or at a zero block, as if the archive
    ended there: the members after it would be lost without a word."""
    source = make_archive(write_tree(tmp_path / "tree"), tmp_path / "whole.tar")
    whole = source.read_bytes()
    with tarfile.open(source) as tar:
        members = tar.getmembers()
    damaged_tar = tmp_path / "damaged.tar"
    for member in members[1:-1:4]:  # the first fails anyway; the last may be lost whole
        damaged = bytearray(whole)
        if damage == "flip":
            damaged[member.offset + 3] ^= 0x01  # in its name: the header checksum fails
        else:
            damaged[member.offset : member.offset + 1024] = bytes(1024)  # reads as the end
        damaged_tar.write_bytes(bytes(damaged))
        text = load_fails_cleanly(damaged_tar, cache)
        assert f"byte {member.offset}" in text


def synthetic(n_per_class: int = 20, classes: int = 10) -> CIFAR10:
    """A CIFAR10 whose training image i holds i in its first two pixels (i = 256 a + b)."""
    n = n_per_class * classes
    images = torch.zeros(n, 3, 32, 32, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n) // 256
    images[:, 0, 0, 1] = torch.arange(n) % 256
    labels = torch.arange(n) % classes
    names = [f"c{i}" for i in range(classes)]
    return CIFAR10(images, labels, images[:0], labels[:0], names, "synthetic", "0")


def ids(images: torch.Tensor) -> torch.Tensor:
    return images[:, 0, 0, 0].long() * 256 + images[:, 0, 0, 1].long()


def test_split_validation_is_disjoint_stratified_and_consistent() -> None:
    data = synthetic(n_per_class=30)
    train_x, train_y, val_x, val_y = split_validation(data, n_val=50, seed=1)
    train_ids, val_ids = ids(train_x), ids(val_x)
    assert len(val_ids) == 50 and len(train_ids) == 250
    assert torch.equal(torch.cat([train_ids, val_ids]).sort().values, torch.arange(300))
    assert torch.equal(val_y.bincount(minlength=10), torch.full((10,), 5))
    assert torch.equal(train_y, data.train_labels[train_ids])  # labels stay with their images
    assert torch.equal(val_y, data.train_labels[val_ids])
    assert bool((train_ids.diff() > 0).all()) and bool((val_ids.diff() > 0).all())  # order kept


def test_split_validation_depends_on_seed_only() -> None:
    data = synthetic()
    a, b, c = (ids(split_validation(data, 20, seed=s)[2]) for s in (0, 0, 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("n_val", [15, -10, 300])
def test_split_validation_rejects_impossible_sizes(n_val: int) -> None:
    with pytest.raises(ValueError, match="n_val|need"):
        split_validation(synthetic(), n_val)


def test_split_validation_holds_out_5000_images_of_seed_0_by_default() -> None:
    """The defaults: 5,000 images, 500 of each class, the draw of seed 0."""
    data = synthetic(n_per_class=510)
    train_x, train_y, val_x, val_y = split_validation(data)
    assert len(val_x) == 5000 and len(train_x) == 100
    assert torch.equal(val_y.bincount(), torch.full((10,), 500))
    assert torch.equal(ids(val_x), ids(split_validation(data, 5000, seed=0)[2]))
    assert not torch.equal(ids(val_x), ids(split_validation(data, 5000, seed=1)[2]))


def test_split_validation_may_hold_out_nothing() -> None:
    """Zero is a non-negative multiple of the classes: every image stays for training."""
    data = synthetic()
    train_x, train_y, val_x, val_y = split_validation(data, n_val=0)
    assert torch.equal(train_x, data.train_images) and torch.equal(train_y, data.train_labels)
    assert val_x.shape == (0, *data.train_images.shape[1:]) and len(val_y) == 0


def test_channel_stats_match_a_direct_computation() -> None:
    images = torch.randint(0, 256, (9000, 3, 4, 5), dtype=torch.uint8)  # several 4096 chunks
    images[:, 2] //= 4  # give the channels different statistics
    mean, std = channel_stats(images)
    x = images.double() / 255
    assert mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-9)
    assert std[2] < std[0] / 2
    # A constant channel has no spread: exactly 0, though rounding makes E[x^2] - E[x]^2 < 0.
    flat = torch.full((5000, 3, 4, 4), 3, dtype=torch.uint8)
    assert channel_stats(flat) == (pytest.approx((3 / 255,) * 3, abs=1e-12), (0.0, 0.0, 0.0))


@pytest.mark.slow
def test_real_archive(real_cifar: CIFAR10) -> None:
    """The offline JPEG copy (``real_cifar`` from conftest.py: decoded once per session)."""
    data = real_cifar
    assert data.source == "cifar10-jpeg"
    assert data.checksum == REAL_SHA256
    assert data.classes == sorted(CLASSES)
    assert data.train_images.shape == (50000, 3, 32, 32)
    assert data.test_images.shape == (10000, 3, 32, 32)
    assert torch.equal(data.train_labels.bincount(), torch.full((10,), 5000))
    assert torch.equal(data.test_labels.bincount(), torch.full((10,), 1000))
    mean, _ = channel_stats(data.test_images)
    assert mean == pytest.approx((0.49, 0.48, 0.45), abs=0.02)  # CIFAR-10's known means


def test_a_class_with_exactly_the_held_out_count_can_be_split() -> None:
    data = CIFAR10(
        torch.zeros(20, 3, 4, 4, dtype=torch.uint8), torch.arange(2).repeat_interleave(10),
        torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.arange(2), ["a", "b"], "synthetic",
        "0" * 64,
    )  # fmt: skip
    train_x, train_y, val_x, val_y = split_validation(data, 20)  # every image of both classes
    assert len(val_y) == 20 and len(train_y) == 0
    with pytest.raises(ValueError, match="has 10 images, need 11"):
        split_validation(data, 22)
    short_b = CIFAR10(**{**vars(data), "train_labels": torch.tensor([0] * 12 + [1] * 8)})
    with pytest.raises(ValueError, match="class b has 8 images, need 10"):  # names the class
        split_validation(short_b, 20)
    train_x, train_y, val_x, val_y = split_validation(data, 0)  # nothing held out
    assert torch.equal(train_y, data.train_labels) and len(train_x) == 20
    assert val_x.shape == (0, 3, 4, 4) and len(val_y) == 0


def test_a_random_subset_is_sorted_distinct_and_seeded() -> None:
    keep = random_subset(50, 200, seed=3)
    assert keep.tolist() == sorted(set(keep.tolist())) and len(keep) == 50
    assert keep.min() >= 0 and keep.max() < 200
    assert torch.equal(keep, random_subset(50, 200, seed=3))
    assert not torch.equal(keep, random_subset(50, 200, seed=4))
    assert len(random_subset(500, 200)) == 200
    assert torch.equal(random_subset(50, 200), random_subset(50, 200, seed=0))  # the default


def test_a_source_folder_inside_a_hidden_folder_loads(tmp_path: Path, cache: Path) -> None:
    """Only hidden names below the source are skipped: a copy kept under a hidden folder (such
    as ``~/.cache``) loads whole."""
    data = load_cifar10(
        write_tree(tmp_path / ".datasets" / "tree"), cache_dir=cache, progress=False
    )
    assert data.source == "folder:tree"
    assert len(data.train_images) == 10 * N_TRAIN and len(data.test_images) == 10 * N_TEST


def test_a_file_that_cannot_be_read_in_a_folder_is_a_data_error(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = write_tree(tmp_path / "tree")
    unreadable = tree / "test" / "frog" / "0001.png"
    read_bytes = Path.read_bytes

    def refuse(path: Path) -> bytes:
        if path == unreadable:
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    text = load_fails_cleanly(tree, cache, "cannot read test/frog/0001.png")
    assert "Permission denied" in text


def test_a_first_load_shows_a_progress_bar_unless_told_not_to(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """By default, decoding shows a bar naming the source on stderr; ``progress=False`` keeps
    stderr empty (no bar, no warning about a cache that simply is not there yet)."""
    load_cifar10(archive, cache_dir=tmp_path / "quiet", progress=False)
    assert capsys.readouterr().err == ""
    load_cifar10(archive, cache_dir=tmp_path / "shown")
    assert "decoding tiny-cifar.tar.gz" in capsys.readouterr().err


@pytest.mark.skipif(fcntl is None, reason="no file locks on this system")
def test_a_cache_write_holds_a_lock_on_its_temporary_file(
    archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the cache is written, nobody else can lock its temporary file, so no other load
    takes it for a killed write's, however long the write takes."""
    save, locked = torch.save, []

    def save_after_trying_the_lock(obj: object, f) -> None:
        (tmp,) = cache_files(cache)
        with tmp.open("rb") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                locked.append(tmp.name)
        save(obj, f)

    monkeypatch.setattr(torch, "save", save_after_trying_the_lock)
    load_cifar10(archive, cache_dir=cache, progress=False)
    (whole,) = cache_files(cache)
    assert len(locked) == 1 and locked[0].startswith(f".{whole.name}.")
