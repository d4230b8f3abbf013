"""The full recipe across processes, on the CPU: torchrun's variables, DistributedDataParallel
over gloo (two ranks spawned here), and the ImageFolder data it reads.

The data are a few dozen tiny JPEGs of three classes written into a temporary folder; the net
is VGG-11 at a sixteenth of the width with an FC head of 16, on 32 px crops.
"""

import math
import os
import re
import shutil
import socket
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torchvision.io import write_jpeg, write_png

from vggrepro import cli
from vggrepro.arch.initialisation import initialise
from vggrepro.arch.models import build, to_dense
from vggrepro.engine import ddp, distributed, imagenet
from vggrepro.engine.checkpoint import load_checkpoint, save_checkpoint
from vggrepro.engine.data import DataError
from vggrepro.engine.ddp import train_imagenet
from vggrepro.engine.distributed import DistributedError, World
from vggrepro.engine.evaluate import folder_protocols, folder_views
from vggrepro.engine.imagenet import (
    EvalImages,
    Stats,
    TrainImages,
    batches,
    eval_loader,
    image_stats,
    read_image,
    rescale,
    scan,
    seed_for,
    subset,
    train_loader,
)
from vggrepro.engine.nets import load_model, save_model
from vggrepro.engine.presets import ImageNetConfig, imagenet_preset
from vggrepro.report.training import PAPER_RECIPE
from vggrepro.results.io import load_result

TINY = {
    "width": 1 / 16, "fc_width": 16, "crop": 32, "scale": 32, "eval_scales": (32, 48),
    "eval_batch_size": 8, "stats_images": 12, "epochs": 1, "batch_size": 8,
}  # fmt: skip
"""A net and recipe small enough for a few CPU seconds; the global batch is 8."""
EXACT = {**TINY, "dropout": 0.0, "flip": False, "lr": 0.05}
"""No randomness in the step: no dropout, no flip, square images as large as the crop."""
AUGMENTED = {**TINY, "epochs": 2, "jitter": (32, 40), "colour_std": 0.1}
"""Every random part of the recipe: dropout, flips, scale jittering, colour shift."""


def axis_stats(mean: float, std: float, spread: tuple[float, float, float]) -> Stats:
    """Image statistics whose colour components are the RGB axes, each with its spread."""
    return Stats((mean,) * 3, (std,) * 3, spread, ((1.0, 0, 0), (0, 1.0, 0), (0, 0, 1.0)))


RESUME_STEPS = 3
"""Steps per epoch of the ``AUGMENTED`` runs: 24 training images, global batch 8."""


def write_folder(
    root: Path, per_class: int, val_per_class: int = 2, wider: int = 4, classes: int = 3
) -> Path:
    """An ImageFolder of ``classes`` classes of noisy 32 px high JPEGs whose mean colour is the
    class's; every other one ``wider`` px wider than high."""
    g = torch.Generator().manual_seed(0)
    colours = torch.rand(classes, 3, 1, 1, generator=g) * 200
    for split, n in (("train", per_class), ("val", val_per_class)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                image = colours[c] + torch.rand(3, 32, 32 + wider * (i % 2), generator=g) * 55
                write_jpeg(image.to(torch.uint8), str(folder / f"{i}.jpg"))
    return root


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, jobs: list[dict], stop_at: int | None) -> None:
    """One spawned rank: join as torchrun would have it, train each job; with ``stop_at``, die
    (as if killed) when about to take that step."""
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    mp.set_start_method("fork", force=True)  # DataLoader workers as under torchrun (not spawn)
    if stop_at is not None:
        from vggrepro.engine import ddp

        step, taken = ddp.train_step, []

        def dying(*args):
            taken.append(1)
            if len(taken) == stop_at:
                os._exit(3)
            return step(*args)

        ddp.train_step = dying
    world = distributed.detect()
    distributed.start(world, torch.device("cpu"))
    for job in jobs:
        data = scan(job.pop("data"))
        cfg = imagenet_preset(**job.pop("cfg"))
        train_imagenet(cfg, data, world, torch.device("cpu"), run_id="imagenet/t", **job)
    distributed.stop(world)


def spawn(jobs: list[dict], stop_at: int | None = None) -> None:
    """Run ``jobs`` in two ranks over gloo."""
    mp.spawn(_rank, args=(free_port(), jobs, stop_at), nprocs=2)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The module's two-rank runs, in two launches: a run killed in the middle of its second
    epoch; then, in one launch, that run restarted, the same run uninterrupted, and one step of
    batch 4 per rank."""
    tmp = tmp_path_factory.mktemp("ddp")
    exact = write_folder(tmp / "exact", per_class=3, wider=0)
    augmented = write_folder(tmp / "augmented", per_class=8)
    paths = {name: tmp / name for name in ("killed", "resumed", "whole", "one-step")}
    run = {"data": augmented, "cfg": AUGMENTED, "workers": 1, "progress": False}
    with pytest.raises(mp.ProcessExitedException):
        spawn([{**run, "checkpoint": paths["killed"]}], stop_at=RESUME_STEPS + 2)
    paths["epochs at the kill"] = torch.load(paths["killed"], weights_only=False)["epoch"]
    spawn([
        {**run, "checkpoint": paths["killed"], "out": paths["resumed"]},
        {**run, "out": paths["whole"], "workers": 0},  # augmentation: not the workers' own
        {"data": exact, "cfg": EXACT, "workers": 0, "progress": False,
         "model_path": paths["one-step"]},
    ])  # fmt: skip
    paths["exact"] = exact
    return paths


def test_two_ranks_of_batch_b_step_as_one_process_of_batch_2b(
    two_ranks: dict[str, Path], tmp_path: Path
) -> None:
    """9 training images, global batch 8: one step each way, the same 8 images."""
    data = scan(two_ranks["exact"])
    cfg = imagenet_preset(**EXACT)
    result = train_imagenet(cfg, data, World(), torch.device("cpu"), run_id="imagenet/t",
                            model_path=tmp_path / "one.pt", workers=0, progress=False)  # fmt: skip
    assert result["provenance"]["per_rank_batch"] == 8 and len(result["history"]) == 1
    # N(0, 0.01^2) weights give equal posteriors, so the step's mean loss is ln(3 classes).
    assert result["history"][0]["train_loss"] == pytest.approx(math.log(3), abs=1e-4)
    one, two = (load_model(p).state_dict() for p in (tmp_path / "one.pt", two_ranks["one-step"]))
    torch.manual_seed(cfg.seed)  # the initial weights, as train_imagenet draws them
    initial = initialise(build(cfg.spec(len(data.classes))), cfg.init).state_dict()
    gap = max((one[k] - two[k]).abs().max().item() for k in one)
    moved = max((one[k] - initial[k]).abs().max().item() for k in one)
    print(f"largest weight difference, 2 ranks x 4 against 1 x 8: {gap:.3g} (step: {moved:.3g})")
    assert moved > 1e-3 and gap < 1e-6


def test_a_two_rank_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(
    two_ranks: dict[str, Path],
) -> None:
    assert two_ranks["epochs at the kill"] == 1  # killed in epoch 2, after its checkpoint
    resumed, whole = (load_result(two_ranks[k]) for k in ("resumed", "whole"))
    keys = ("train_loss", "train_acc", "val_acc", "lr")
    assert [[h[k] for k in keys] for h in resumed["history"]] == [
        [h[k] for k in keys] for h in whole["history"]
    ]
    assert resumed["model_sha256"] == whole["model_sha256"] and resumed["test"] == whole["test"]
    assert resumed["provenance"]["world_size"] == 2 and resumed["provenance"]["backend"] == "gloo"
    assert resumed["config"]["batch_size"] == 8 and resumed["provenance"]["per_rank_batch"] == 4
    steps = 2 * RESUME_STEPS  # two epochs of 3 global batches of 8
    assert whole["images_per_s"] * whole["train_time_s"] == pytest.approx(steps * 8)
    assert {k: whole["data"][k] for k in ("n_train", "n_val", "n_test", "classes")} == {
        "n_train": 24,
        "n_val": 6,
        "n_test": 6,
        "classes": 3,
    }


def test_the_test_protocols_count_top5_apart_from_top1(tmp_path: Path) -> None:
    """Seven classes, so that top-5 differs from top-1: the centre-crop errors of ``ddp.test``
    are those counted here from the net's class scores, and top-5 is below top-1."""
    data = scan(write_folder(tmp_path, per_class=2, val_per_class=3, classes=7))
    torch.manual_seed(0)
    cfg = imagenet_preset(**TINY, init="kaiming")  # N(0, 0.01^2) gives equal posteriors
    run = ddp.setup(cfg, data, World(), torch.device("cpu"), workers=0)
    errors = ddp.test(run)
    run.model.eval()
    hits, n = torch.zeros(2), 0
    with torch.no_grad():
        for centre, _, y in run.test:
            top = run.model(ddp._inputs(run, centre)).topk(5, dim=1).indices
            hits += torch.tensor([(top[:, 0] == y).sum(), (top == y[:, None]).any(1).sum()])
            n += len(y)
    assert n == 21
    expected = (100 * (1 - hits / n)).tolist()
    assert [errors["centre"]["top1_error"], errors["centre"]["top5_error"]] == pytest.approx(
        expected
    )
    assert expected[1] < expected[0]
    assert set(errors) == set(folder_protocols(cfg.test_scales()))
    assert all(e["top5_error"] <= e["top1_error"] for e in errors.values())


def test_validation_accuracy_is_the_share_of_right_centre_crops(tmp_path: Path) -> None:
    data = scan(write_folder(tmp_path, per_class=2, val_per_class=3, classes=7))
    torch.manual_seed(0)
    cfg = imagenet_preset(**TINY, init="kaiming")
    run = ddp.setup(cfg, data, World(), torch.device("cpu"), workers=0)
    run.model.train()
    accuracy = ddp.validate(run)
    assert run.model.training  # validation puts the net back as it found it
    run.model.eval()
    with torch.no_grad():
        right = sum(
            int((run.model(ddp._inputs(run, c)).argmax(1) == y).sum()) for c, *_, y in run.val
        )
    assert accuracy == right / 21 and 0 < right < 21
    with pytest.raises(ValueError, match="make no full global batch of 64"):
        ddp.setup(
            imagenet_preset(**{**TINY, "batch_size": 64}), data, World(), torch.device("cpu"), 0
        )


def test_a_listing_is_the_images_not_where_they_lie_and_hidden_files_are_skipped(
    tmp_path: Path,
) -> None:
    a = write_folder(tmp_path / "a", per_class=2)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    first = scan(a)
    assert scan(b).checksum == first.checksum  # relative paths: the same data elsewhere
    (a / "train" / "class0" / ".x.jpg").write_bytes(b"hidden")
    (a / "train" / ".hidden").mkdir()
    (a / "train" / "class0" / "notes.txt").write_text("not an image")
    (a / "train" / "class0" / "folder.jpg").mkdir()  # a folder, whatever its name
    (a / "train" / "LOC_synset_mapping.txt").write_text("a file beside the class folders")
    again = scan(a)
    assert (again.train, again.classes, again.checksum) == (first.train, first.classes,
                                                            first.checksum)  # fmt: skip
    shutil.copy(a / "train" / "class0" / "0.jpg", a / "train" / "class0" / "X.JPEG")
    more = scan(a)
    assert len(more.train) == len(first.train) + 1 and more.checksum != first.checksum
    (b / "train" / "class1" / "0.jpg").rename(b / "train" / "class1" / "9.jpg")
    assert scan(b).checksum != first.checksum


def test_jittering_reaches_both_ends_and_each_image_has_its_own_draw(tmp_path: Path) -> None:
    data = scan(write_folder(tmp_path, per_class=2))
    stats = axis_stats(0.5, 0.25, (0.04, 0.01, 0.0))
    one_scale = TrainImages(data.train, imagenet_preset(**{**AUGMENTED, "jitter": (32, 32)}), stats)
    assert one_scale[0][0].shape == (3, 32, 32)
    twice = [data.train[0]] * 2  # the same image at two places of the epoch
    images = TrainImages(twice, imagenet_preset(**AUGMENTED), stats)
    assert not torch.equal(images[0][2], images[1][2])
    other_seed = TrainImages(twice, imagenet_preset(**AUGMENTED, seed=1), stats)
    assert not torch.equal(images[0][2], other_seed[0][2])
    assert rescale(torch.zeros(3, 30, 45, dtype=torch.uint8), 60).shape == (3, 60, 90)
    assert rescale(torch.zeros(3, 45, 30, dtype=torch.uint8), 60).shape == (3, 90, 60)


def test_a_crop_of_a_wide_image_reaches_its_right_edge(tmp_path: Path) -> None:
    """On an image wider than high, the crop's left offset ranges over the width, not the
    height: over many draws some crop ends at the right edge, none past it."""
    image = torch.arange(40, dtype=torch.float64).repeat(3, 32, 1)  # each column its index
    path = tmp_path / "wide.png"
    write_png(image.to(torch.uint8), str(path))
    stats = axis_stats(0.0, 1.0, (0.0, 0.0, 0.0))
    cfg = imagenet_preset(**{**TINY, "flip": False, "jitter": (32, 32)})
    images = TrainImages([(str(path), 0)] * 64, cfg, stats)
    lefts = {int(images[i][0][0, 0, 0]) for i in range(64)}  # the crop's first column
    assert lefts <= set(range(9)) and 8 in lefts  # 40 - 32 = 8, the widest offset


def test_a_checkpoint_keeps_the_plateau_schedule_where_it_was(tmp_path: Path) -> None:
    """The schedule's count of epochs without improvement is part of a run's state: a run
    resumed from its checkpoint drops the learning rate at the epoch the whole run would."""
    data = scan(write_folder(tmp_path / "data", per_class=4))
    cfg, cpu = imagenet_preset(**TINY), torch.device("cpu")
    run = ddp.setup(cfg, data, World(), cpu, workers=0)
    for acc in (0.5, 0.4, 0.4, 0.4, 0.4, 0.4):  # a drop after 3 bad epochs, then 2 more bad
        run.scheduler.step(acc)
    assert run.opt.param_groups[0]["lr"] == pytest.approx(cfg.lr * cfg.lr_factor)
    progress = {"epoch": 6, "history": [], "train_time": 0.0, "wall_time": 0.0}
    save_checkpoint(tmp_path / "c.pt", {"run": "t"}, run.parts, progress, cpu)
    resumed = ddp.setup(cfg, data, World(), cpu, workers=0)
    assert load_checkpoint(tmp_path / "c.pt", {"run": "t"}, resumed.parts, cpu) == progress
    for r in (run, resumed):  # the third bad epoch since the drop: the second drop, in both
        r.scheduler.step(0.4)
    assert resumed.opt.param_groups[0]["lr"] == run.opt.param_groups[0]["lr"]
    assert resumed.opt.param_groups[0]["lr"] == pytest.approx(cfg.lr * cfg.lr_factor**2)


def test_each_rank_reads_a_disjoint_share_and_together_they_read_everything(
    tmp_path: Path,
) -> None:
    data = scan(write_folder(tmp_path, per_class=8, val_per_class=3))  # 24 train, 9 val
    stats = axis_stats(0.5, 0.25, (1.0, 1.0, 1.0))
    images = TrainImages(data.train, imagenet_preset(**TINY), stats)
    views = EvalImages(data.val, 32, 32, ())
    for size in (2, 3, 5):
        worlds = [World(r, size) for r in range(size)]
        loaders = [train_loader(images, 2, w, 0, False) for w in worlds]
        for loader in loaders:
            loader.sampler.set_epoch(1)
        shares = [list(loader.sampler) for loader in loaders]
        assert len({len(s) for s in shares}) == 1  # every rank takes as many steps
        read = [i for s in shares for i in s]
        assert len(read) == len(set(read)) == len(images) - len(images) % size
        tests = [list(eval_loader(views, 4, w, 0).sampler) for w in worlds]
        assert sorted(i for t in tests for i in t) == list(range(len(views)))


def test_augmentation_depends_on_seed_epoch_and_image_only(tmp_path: Path) -> None:
    data = scan(write_folder(tmp_path, per_class=2))
    stats = axis_stats(0.5, 0.25, (0.04, 0.01, 0.0))
    images = TrainImages(data.train, imagenet_preset(**AUGMENTED), stats)
    (crop, label, shift), (crop_again, _, shift_again) = images[3], images[3]
    images.set_epoch(1)
    _, _, later = images[3]
    assert torch.equal(crop, crop_again) and torch.equal(shift, shift_again)
    assert crop.shape == (3, 32, 32) and label == data.train[3][1]
    assert shift.abs().sum() > 0 and not torch.equal(shift, later)
    assert shift[2] == 0  # no shift along a component without spread
    # Each principal component is scaled by its standard deviation, the root of its eigenvalue.
    torch.testing.assert_close(images.components, torch.diag(torch.tensor([0.2, 0.1, 0.0])))


def test_the_image_statistics_are_those_of_the_sampled_pixels(tmp_path: Path) -> None:
    """The sample is measured at the single test scale: 36, the middle of the jittered 32..40."""
    data = scan(write_folder(tmp_path, per_class=5))
    cfg = imagenet_preset(**{**TINY, "jitter": (32, 40)})
    assert cfg.single_scale() == 36
    stats = image_stats(data.train, cfg, workers=0)
    pixels = torch.cat([
        rescale(read_image(path), cfg.single_scale()).reshape(3, -1).double() / 255
        for path, _ in subset(data.train, cfg.stats_images)
    ], 1)  # fmt: skip
    assert pixels.shape[1] > 12 * 32 * 32 - 1  # twelve images, the wider ones larger
    centred = torch.cov(pixels, correction=0)
    torch.testing.assert_close(torch.tensor(stats.mean).double(), pixels.mean(1))
    torch.testing.assert_close(torch.tensor(stats.std).double(), pixels.std(1, correction=0))
    torch.testing.assert_close(
        torch.tensor(stats.eigenvalues).double(), torch.linalg.eigvalsh(centred)
    )


def test_the_colour_shift_is_added_in_pixel_units() -> None:
    """A shift of 0.1 (in [0, 1] units) moves a black pixel to 0.1 before normalisation."""
    stats = axis_stats(0.0, 1.0, (1.0, 1.0, 1.0))
    run = SimpleNamespace(device=torch.device("cpu"), stats=stats)
    x = ddp._inputs(run, torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.tensor([[0.1, 0, 0]]))
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([0.1, 0.0, 0.0]))


def test_dropout_draws_differ_between_ranks_and_epochs_and_repeat_on_resume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``train_epoch`` reseeds the dropout generator from (seed, epoch, rank): two ranks never
    share masks, nor two epochs, and a resumed epoch draws what the uninterrupted one drew."""
    stats = axis_stats(0.0, 1.0, (1.0, 1.0, 1.0))
    fake_batch = (
        torch.zeros(2, 3, 2, 2, dtype=torch.uint8),
        torch.zeros(2, dtype=torch.long),
        None,
    )

    class OneBatch(list):  # a loader of one batch, with the epoch hooks ``train_epoch`` calls
        sampler = dataset = SimpleNamespace(set_epoch=lambda epoch: None)

    drawn: list[torch.Tensor] = []

    def step(run, x, y):  # what dropout draws in a step
        drawn.append(torch.rand(8))
        return torch.tensor(1.0), torch.tensor(0)

    monkeypatch.setattr(ddp, "train_step", step)
    monkeypatch.setattr(ddp, "batches", iter)
    monkeypatch.setattr(ddp, "total", lambda values, world: values)

    def draws(rank: int, epoch: int, seed: int = 0) -> torch.Tensor:
        run = SimpleNamespace(
            model=torch.nn.Identity(), train=OneBatch([fake_batch]), cfg=SimpleNamespace(seed=seed),
            world=World(rank=rank, size=2), device=torch.device("cpu"), stats=stats,
        )  # fmt: skip
        torch.manual_seed(123)  # whatever state the generator was left in
        ddp.train_epoch(
            run, epoch, SimpleNamespace(update=lambda: None, set_postfix=lambda **shown: None)
        )
        return drawn[-1]

    first = draws(rank=0, epoch=0)
    assert torch.equal(draws(rank=0, epoch=0), first)  # resumed: the same masks
    for other in (draws(rank=1, epoch=0), draws(rank=0, epoch=1), draws(0, 0, seed=1)):
        assert not torch.equal(other, first)


def test_dense_views_of_whole_images_of_several_shapes() -> None:
    """At the training size the dense net is the net; other images go through it by shape
    group without mixing; the multi-scale view averages the flipped dense views."""
    torch.manual_seed(0)
    model = build(imagenet_preset(**TINY).spec(3)).eval()
    dense = to_dense(model).eval()
    centre = torch.randn(3, 3, 32, 32)
    wide = [torch.randn(3, 48, 48), torch.randn(3, 48, 56), torch.randn(3, 48, 48)]
    with torch.no_grad():
        views = folder_views(model, dense, centre, [list(centre), wide], (32, 48))
        alone = torch.cat([dense(image[None]).softmax(1) for image in wide])
    assert list(views) == folder_protocols((32, 48))
    assert torch.allclose(views["dense@32"], views["centre"], atol=1e-6)
    assert torch.allclose(views["dense@32+flip"], views["flip"], atol=1e-6)  # per image
    assert torch.allclose(views["dense@48"], alone, atol=1e-6)
    both = (views["dense@32+flip"] + views["dense@48+flip"]) / 2
    assert torch.allclose(views["dense multi-scale"], both)


def test_torchrun_variables_make_the_world() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": "29500"}  # fmt: skip
    assert distributed.detect(env) == World(3, 4, 1) and not World(3, 4, 1).main
    # One process writes, rank 0, not the first process of every node.
    assert World(0, 4, 0).main and not World(2, 4, 0).main
    assert distributed.detect({}) == World()
    with pytest.raises(DistributedError, match="RANK=4, WORLD_SIZE=4"):
        distributed.detect({**env, "RANK": "4"})
    assert distributed.detect({**env, "RANK": "0", "LOCAL_RANK": "0"}) == World(0, 4, 0)
    assert distributed.detect({**env, "LOCAL_RANK": "3"}) == World(3, 4, 3)
    for bad in ({"LOCAL_RANK": "4"}, {"LOCAL_RANK": "-1"}, {"RANK": "-1"}, {"WORLD_SIZE": "3"}):
        with pytest.raises(DistributedError, match="no such place"):
            distributed.detect({**env, **bad})
    with pytest.raises(DistributedError, match="must be integers: RANK='x'"):
        distributed.detect({**env, "RANK": "x"})
    assert distributed.backend(torch.device("cpu")) == "gloo"
    assert distributed.backend(torch.device("cuda", 0)) == "nccl"


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def _imagenet(data: Path, tmp: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "imagenet", "--data", str(data), "--width", "0.0625",
            "--fc-width", "16", "--crop", "32", "--scale", "32", "--eval-scales", "32", "48",
            "--batch-size", "8",
            "--epochs", "1", "--device", "cpu", "--quiet", "--loader-workers", "1",
            "--out", str(tmp / "out"), "--checkpoints", str(tmp / "ck"), *extra]  # fmt: skip


def _torchrun_env(monkeypatch: pytest.MonkeyPatch, world: int) -> None:
    env = {"RANK": "0", "WORLD_SIZE": str(world), "LOCAL_RANK": "0",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_batch_the_world_does_not_divide_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _torchrun_env(monkeypatch, 3)
    err = _one_line_error(capsys, _imagenet(tmp_path / "none", tmp_path))
    assert "global batch of 8 does not divide evenly over 3 processes" in err


def test_a_missing_rendezvous_variable_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _torchrun_env(monkeypatch, 2)
    monkeypatch.delenv("MASTER_PORT")
    err = _one_line_error(capsys, _imagenet(tmp_path / "none", tmp_path))
    assert "rendezvous variable MASTER_PORT is not set" in err


def test_the_cifar_presets_refuse_torchrun(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _torchrun_env(monkeypatch, 2)
    assert "only --preset imagenet" in _one_line_error(capsys, ["train", "--smoke"])
    monkeypatch.delenv("WORLD_SIZE")
    err = _one_line_error(capsys, ["train", "--smoke", "--scale", "40", "--loader-workers", "2"])
    assert "--loader-workers, --scale: options of --preset imagenet only" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n-val", "20"], "--n-val: not an option of --preset imagenet"),
        (
            ["--n-test", "5", "--cache", "c"],
            "--cache, --n-test: not an option of --preset imagenet",
        ),
        (["--smoke"], "--smoke: not an option of --preset imagenet"),
    ],
)
def test_cifar_options_are_refused_by_the_imagenet_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    assert message in _one_line_error(capsys, _imagenet(tmp_path / "none", tmp_path, *extra))


def test_the_imagenet_preset_needs_its_data_folder(capsys: pytest.CaptureFixture) -> None:
    err = _one_line_error(capsys, ["train", "--preset", "imagenet", "--device", "cpu"])
    assert "--preset imagenet needs --data" in err


@pytest.mark.parametrize("given", [False, True])
def test_an_imagenet_run_writes_its_results_under_results_imagenet_unless_told(
    given: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    """Without --out the results file goes to results/imagenet/<run>.json (not the CIFAR
    single-run folder); with --out, to the folder given. Training is stubbed: only where the
    command sends the file is under test."""
    root = write_folder(tmp_path / "data", per_class=2)
    argv = _imagenet(root, tmp_path)
    if not given:
        at = argv.index("--out")
        del argv[at : at + 2]
    seen: dict[str, Path] = {}

    def fake_train(cfg, data, world, device, *, run_id: str, out: Path, **_) -> dict:
        seen["out"], seen["run_id"] = out, run_id
        return {"status": "completed", "test": {"centre": {"top1_error": 12.5}}}

    monkeypatch.setattr(cli, "train_imagenet", fake_train)
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 0
    folder = tmp_path / "out" if given else Path("results") / "imagenet"
    tag = seen["run_id"].removeprefix("imagenet/")
    assert seen["out"] == folder / f"{tag}.json" and (tmp_path / folder).is_dir()
    assert capsys.readouterr().out.strip().endswith(f"-> {folder / tag}.json")


def test_every_option_given_to_the_imagenet_preset_reaches_its_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the command line gives overrides the preset, --epochs included (the preset's 74
    epochs would otherwise run); an option not given keeps the paper's value. Training is
    stubbed: only the configuration it receives is under test."""
    seen: dict[str, ImageNetConfig] = {}

    def fake_train(cfg, data, world, device, **_) -> dict:
        seen["cfg"] = cfg
        return {"status": "completed", "test": {}}

    monkeypatch.setattr(cli, "train_imagenet", fake_train)
    argv = _imagenet(write_folder(tmp_path / "data", per_class=2), tmp_path, "--lr", "0.05")
    assert cli.main(argv) == 0
    cfg = seen["cfg"]
    given = {"epochs": 1, "width": 0.0625, "fc_width": 16, "crop": 32, "scale": 32,
             "eval_scales": (32, 48), "batch_size": 8, "lr": 0.05}  # fmt: skip
    assert {name: getattr(cfg, name) for name in given} == given
    assert (cfg.momentum, cfg.weight_decay, cfg.dropout) == (0.9, 5e-4, 0.5)


def _no_val(root: Path) -> None:
    shutil.rmtree(root / "val")


def _empty_class(root: Path) -> None:
    (root / "train" / "empty").mkdir()


def _val_class_not_in_train(root: Path) -> None:
    (root / "val" / "extra").mkdir()
    shutil.copy(root / "val" / "class0" / "0.jpg", root / "val" / "extra" / "0.jpg")


def _undecodable(root: Path) -> None:
    (root / "train" / "class1" / "bad.jpg").write_bytes(b"not a JPEG")


@pytest.mark.parametrize(
    "damage, message",
    [
        (_no_val, "no val/ folder"),
        (_empty_class, "train/empty: an empty class folder"),
        (_val_class_not_in_train, "val/ has classes that train/ lacks: extra"),
        (_undecodable, "class1/bad.jpg: cannot decode this image"),
    ],
)
def test_data_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, damage, message: str
) -> None:
    root = write_folder(tmp_path / "data", per_class=3)
    damage(root)
    assert message in _one_line_error(capsys, _imagenet(root, tmp_path))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"crop": 16, "scale": 32}, "crop 16 is too small"),
        ({"jitter": (40, 36)}, r"jitter \(40, 36\) must satisfy smin <= smax"),
        ({"jitter": (30, 40)}, "training scale 30 is below the 32 px crop"),
        ({"scale": 31}, "training scale 31 is below the 32 px crop"),
        ({"eval_scales": (31, 48)}, "test scales .* must be at least the 32 px crop"),
        ({"colour_std": -0.1}, "colour_std must be non-negative"),
    ],
)
def test_an_impossible_imagenet_recipe_is_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        imagenet_preset(**{**TINY, **options})


def test_the_imagenet_recipe_accepts_its_boundaries() -> None:
    """A crop of 32 px at scale 32, jittering over one scale, a test scale equal to the crop
    and no colour spread are all possible."""
    cfg = imagenet_preset(**{**TINY, "jitter": (32, 32), "eval_scales": (32,), "colour_std": 0})
    assert (cfg.crop, cfg.jitter, cfg.test_scales(), cfg.colour_std) == (32, (32, 32), (32,), 0)


def test_the_imagenet_preset_is_the_papers_recipe() -> None:
    cfg = imagenet_preset()
    numbers = ("batch_size", "lr", "momentum", "weight_decay", "dropout", "lr_factor")
    for name in (*numbers, "max_drops", "epochs"):
        assert getattr(cfg, name) == PAPER_RECIPE[name].paper, name
    assert (cfg.crop, cfg.scale, cfg.width, cfg.fc_width) == (224, 256, 1.0, 4096)
    assert imagenet_preset(jitter=(256, 512)).test_scales() == (256, 384, 512)
    assert cfg.test_scales() == (224, 256, 288)
    with pytest.raises(ValueError, match="trained net A"):
        imagenet_preset(arch="vgg16")
    assert imagenet_preset(arch="vgg16", init="glorot").arch == "vgg16"
    warm = imagenet_preset(arch="vgg16", warm_start="a.pt")  # the paper's way: from a trained A
    assert (warm.arch, warm.init, warm.warm_start) == ("vgg16", "paper", "a.pt")


def test_the_jittered_nets_are_tested_at_smin_the_middle_and_smax() -> None:
    """Table 4's rule for S in [Smin, Smax]: Q = {Smin, (Smin + Smax) / 2, Smax}."""
    assert imagenet_preset(jitter=(256, 512)).test_scales() == (256, 384, 512)
    assert imagenet_preset().test_scales() == (224, 256, 288)


def test_a_rescaled_side_is_rounded_to_the_nearest_pixel() -> None:
    """A 3 x 5 image to a shorter side of 4: the longer is 5 * 4 / 3 = 6.67, so 7 px (not 6)."""
    assert rescale(torch.zeros(3, 3, 5, dtype=torch.uint8), 4).shape == (3, 4, 7)
    assert rescale(torch.zeros(3, 5, 3, dtype=torch.uint8), 4).shape == (3, 7, 4)


def _ramp(path: Path, height: int, width: int) -> str:
    """A PNG whose red is each pixel's column and green its row."""
    image = torch.zeros(3, height, width)
    image[0] = torch.arange(width, dtype=torch.float32)[None, :]
    image[1] = torch.arange(height, dtype=torch.float32)[:, None]
    write_png(image.to(torch.uint8), str(path))
    return str(path)


def test_the_centre_crop_is_taken_from_the_middle_of_the_image_at_the_single_scale(
    tmp_path: Path,
) -> None:
    """32 x 40 at single scale 48 is 48 x 60: the 32 px crop starts at row 8 and column 14,
    which are rows 8.5 * 32 / 48 - 0.5 = 5.2 and columns 14.5 * 40 / 60 - 0.5 = 9.2 of the
    original; the dense views are the whole image rescaled to each Q."""
    path = _ramp(tmp_path / "wide.png", 32, 40)
    centre, views, label = EvalImages([(path, 2)], crop=32, centre=48, scales=(32, 48))[0]
    assert centre.shape == (3, 32, 32) and label == 2
    assert 8 <= int(centre[0, 0, 0]) <= 10 and 4 <= int(centre[1, 0, 0]) <= 6
    assert 28 <= int(centre[0, 0, -1]) <= 31  # column 45 of 60: 45.5 * 2 / 3 - 0.5 = 29.8
    assert [tuple(v.shape) for v in views] == [(3, 32, 40), (3, 48, 60)]


def test_the_colour_shift_lies_along_each_principal_component_by_its_spread(
    tmp_path: Path,
) -> None:
    """One component with spread, the column p = (0.6, 0.8, 0) of variance 0.04: every shift is
    alpha * 0.2 * p, with alpha's std ``colour_std`` = 0.1, so the shifts' std is about 0.02."""
    path = _ramp(tmp_path / "square.png", 32, 32)
    vectors = ((0.6, -0.8, 0.0), (0.8, 0.6, 0.0), (0.0, 0.0, 1.0))  # columns: eigenvectors
    stats = Stats((0.5,) * 3, (0.25,) * 3, (0.04, 0.0, 0.0), vectors)
    cfg = imagenet_preset(**{**TINY, "colour_std": 0.1})
    images = TrainImages([(path, 0)] * 200, cfg, stats)
    shifts = torch.stack([images[i][2] for i in range(200)])
    torch.testing.assert_close(shifts[:, 0] * 0.8, shifts[:, 1] * 0.6)
    assert torch.equal(shifts[:, 2], torch.zeros(200))
    along = shifts[:, :2] @ torch.tensor([0.6, 0.8])
    assert 0.016 < along.std().item() < 0.024


def test_the_principal_components_are_the_columns_of_the_eigenvectors(tmp_path: Path) -> None:
    """Each column v_i of ``eigenvectors`` satisfies C v_i = lambda_i v_i for the covariance C
    of the sampled pixels."""
    data = scan(write_folder(tmp_path, per_class=4))
    cfg = imagenet_preset(**{**TINY, "stats_images": 100})  # every one of the 12 images
    stats = image_stats(data.train, cfg, workers=0)
    pixels = torch.cat(
        [rescale(read_image(p), 32).reshape(3, -1).double() / 255 for p, _ in data.train], 1
    )
    cov = torch.cov(pixels, correction=0)
    vectors = torch.tensor(stats.eigenvectors, dtype=torch.float64)
    values = torch.tensor(stats.eigenvalues, dtype=torch.float64)
    assert values[2] > 2 * values[1]  # distinct, so each column is determined up to sign
    torch.testing.assert_close(cov @ vectors, vectors * values, atol=1e-6, rtol=1e-4)


def test_the_training_order_is_the_seeded_shuffle_of_each_epoch(tmp_path: Path) -> None:
    """``DistributedSampler``'s order is ``randperm`` seeded with seed + epoch; rank r of N
    reads every N-th index from r, the incomplete tail dropped (25 images: 12 each)."""
    items = [(str(tmp_path / f"{i}.jpg"), 0) for i in range(25)]
    stats = axis_stats(0.5, 0.25, (1.0, 1.0, 1.0))
    images = TrainImages(items, imagenet_preset(**TINY, seed=7), stats)
    loader = train_loader(images, 4, World(1, 2), 0, False)
    loader.sampler.set_epoch(3)
    order = torch.randperm(25, generator=torch.Generator().manual_seed(7 + 3)).tolist()
    assert list(loader.sampler) == order[:24][1::2]
    assert len(loader) == 3 and loader.batch_size == 4  # 12 images in batches of 4
    assert (loader.num_workers, loader.pin_memory) == (0, False)
    pinned = train_loader(images, 4, World(1, 2), 2, True)  # --loader-workers 2, on CUDA
    assert (pinned.num_workers, pinned.pin_memory) == (2, True)
    views = eval_loader(EvalImages(items, 32, 32, ()), 4, World(1, 2), 2)
    assert (views.num_workers, views.batch_size) == (2, 4)


def test_the_results_record_the_runs_data_provenance_and_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of 9 of the 15 training images (one batch of 8 per epoch), one epoch in 2 s; the
    image statistics are those of the training images, not the validation ones."""
    tested = {"centre": {"top1_error": 50.0, "top5_error": 0.0}}
    monkeypatch.setattr(ddp, "test", lambda run: tested)  # the protocols are tested above
    data = scan(write_folder(tmp_path / "data", per_class=5))
    cfg = imagenet_preset(**{**TINY, "n_train": 9, "stats_images": 100, "seed": 3, "smoke": True})
    run = ddp.setup(cfg, data, World(), torch.device("cpu"), workers=0)
    pixels = torch.cat(
        [rescale(read_image(p), 32).reshape(3, -1).double() / 255 for p, _ in data.train], 1
    )
    torch.testing.assert_close(torch.tensor(run.stats.mean).double(), pixels.mean(1))
    done = {"epoch": 1, "history": [{"epoch": 1}], "train_time": 2.0, "wall_time": 3.0}
    failed = ddp.finish(run, data, done, "diverged")
    assert failed["test"] == {} and failed["model_sha256"] is None
    assert failed["images_per_s"] == 8 / 2.0 and failed["seed"] == 3
    assert (failed["preset"], failed["smoke"], failed["status"]) == ("imagenet", True, "diverged")
    # VGG-11 at 1/16 width, FC 16, 3 classes: convolutions 3-4-8-16-16-32-32-32-32 (36280
    # weights and biases), then 32 -> 16 -> 16 -> 3 (528 + 272 + 51).
    assert failed["params"] == 37131
    untimed = ddp.finish(run, data, {**done, "train_time": 0.0}, "diverged")
    assert untimed["images_per_s"] == 0.0  # no training time measured: no rate
    assert failed["data"] == {"source": "folder:data", "checksum": data.checksum, "n_train": 9,
                              "n_val": 6, "n_test": 6, "classes": 3}  # fmt: skip
    provenance = failed["provenance"]
    assert (provenance["world_size"], provenance["backend"], provenance["per_rank_batch"]) == (
        1, None, 8,
    )  # fmt: skip
    completed = ddp.finish(run, data, done, "completed")
    assert completed["test"] == tested
    assert len(completed["model_sha256"]) == 64


def test_each_process_takes_the_cuda_device_of_its_local_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rank 3 of 4 over two nodes of two devices is device 1 of its node; a local rank with no
    device of its own is refused; 'cpu' keeps the CPU."""
    chosen: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    assert distributed.device_for(World(3, 4, 1), None) == torch.device("cuda", 1)
    assert chosen == [1]
    assert distributed.device_for(World(3, 4, 1), "cpu") == torch.device("cpu")
    with pytest.raises(DistributedError, match="LOCAL_RANK=2, but this node has 2 CUDA"):
        distributed.device_for(World(2, 4, 2), None)


def test_validation_labels_are_the_training_classes_and_bad_trees_are_named(
    tmp_path: Path,
) -> None:
    """A val/ without class0 still labels class1 as 1 and class2 as 2, training's labels."""
    root = write_folder(tmp_path / "data", per_class=2)
    shutil.rmtree(root / "val" / "class0")
    data = scan(root)
    assert data.classes == ["class0", "class1", "class2"]
    assert [label for _, label in data.val] == [1, 1, 2, 2]
    assert [label for _, label in data.train] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(DataError, match="no such folder"):
        scan(tmp_path / "missing")
    bare = tmp_path / "bare"
    (bare / "train").mkdir(parents=True)
    (bare / "val").mkdir()
    with pytest.raises(DataError, match="train: no class folders"):
        scan(bare)


def test_a_run_whose_loss_blows_up_in_its_second_epoch_records_epoch_2_as_diverged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Epochs count from 1 in the results, as in the history: a loss that turns NaN in the
    second epoch stops the run there, keeps the first epoch's line, and writes no net."""
    losses = iter([(2.0, 0.3), (math.nan, 0.0), (1.0, 0.9)])
    monkeypatch.setattr(ddp, "train_epoch", lambda run, epoch, bar: next(losses))
    data = scan(write_folder(tmp_path / "data", per_class=4))
    cfg = imagenet_preset(**{**TINY, "epochs": 3})
    result = train_imagenet(cfg, data, World(), torch.device("cpu"), run_id="imagenet/t",
                            out=tmp_path / "r.json", model_path=tmp_path / "net.pt",
                            workers=0, progress=False)  # fmt: skip
    assert (result["status"], result["diverged_epoch"]) == ("diverged", 2)
    assert [h["epoch"] for h in result["history"]] == [1]
    assert load_result(tmp_path / "r.json")["diverged_epoch"] == 2
    assert not (tmp_path / "net.pt").exists() and result["test"] == {}


class _Batches(list):
    """A loader of fake batches, with the epoch hooks ``train_epoch`` calls."""

    sampler = dataset = SimpleNamespace(set_epoch=lambda epoch: None)


def _fake_epoch(
    monkeypatch: pytest.MonkeyPatch, sizes: list[int], results: list[tuple[float, int]],
    other: list[float],
) -> tuple[tuple[float, float], int]:  # fmt: skip
    """``train_epoch`` over batches of ``sizes`` whose steps give ``results`` (mean loss, hits),
    with another process whose (loss sum, hits, images) are ``other``; returns what it returns
    and how many steps it took."""
    taken = iter(results)
    monkeypatch.setattr(ddp, "train_step", lambda run, x, y: map(torch.tensor, next(taken)))
    monkeypatch.setattr(ddp, "batches", iter)
    monkeypatch.setattr(
        ddp, "total", lambda values, world: values + torch.tensor(other, dtype=values.dtype)
    )
    loader = _Batches(
        (torch.zeros(n, 3, 2, 2, dtype=torch.uint8), torch.zeros(n, dtype=torch.long), None)
        for n in sizes
    )
    run = SimpleNamespace(
        model=torch.nn.Identity(), train=loader, cfg=SimpleNamespace(seed=0), world=World(0, 2),
        device=torch.device("cpu"), stats=axis_stats(0.0, 1.0, (1.0, 1.0, 1.0)),
    )  # fmt: skip
    bar = SimpleNamespace(update=lambda: None, set_postfix=lambda **shown: None)
    means = ddp.train_epoch(run, 0, bar)
    return means, len(results) - len(list(taken))


def test_the_epochs_mean_loss_and_accuracy_weigh_each_image_over_every_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of 2 and 3 images with mean losses 1 and 4 and 1 and 3 hits here (loss sum 14,
    4 hits, 5 images), and a loss sum of 6 with 1 hit over 5 images on the other process: the
    mean loss is 20 / 10 = 2 and the accuracy 5 / 10 = 0.5."""
    means, steps = _fake_epoch(monkeypatch, [2, 3], [(1.0, 1), (4.0, 3)], [6.0, 1.0, 5.0])
    assert means == pytest.approx((2.0, 0.5)) and steps == 2


def test_a_diverged_loss_stops_the_epoch_at_the_next_50th_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sum over the processes, and so the check, comes every 50 steps: a loss that is NaN
    from the first step stops an epoch of 120 steps after 50."""
    means, steps = _fake_epoch(monkeypatch, [2] * 120, [(math.nan, 0)] * 120, [0.0, 0.0, 0.0])
    assert steps == 50 and math.isnan(means[0])


def _other_process(counts: list[list[float]] | list[float]):
    """A ``total`` that adds another process's ``counts`` to this one's."""
    return lambda values, world: values + torch.tensor(counts, dtype=values.dtype)


def test_validation_and_test_counts_are_summed_over_the_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process's 21 validation images and another's 9, all 9 of them right: accuracy and
    errors are over the 30 images."""
    data = scan(write_folder(tmp_path, per_class=2, val_per_class=3, classes=7))
    torch.manual_seed(0)
    cfg = imagenet_preset(**TINY, init="kaiming")
    run = ddp.setup(cfg, data, World(), torch.device("cpu"), workers=0)
    alone, errors_alone = ddp.validate(run), ddp.test(run)
    assert run.model.training  # testing too puts the net back as it found it
    names = folder_protocols(cfg.test_scales())
    monkeypatch.setattr(ddp, "total", _other_process([9.0, 9.0]))
    assert ddp.validate(run) == pytest.approx((21 * alone + 9) / 30)
    monkeypatch.setattr(ddp, "total", _other_process([[9.0, 9.0]] * len(names) + [[9.0, 0.0]]))
    errors = ddp.test(run)
    for name in names:
        for kind in ("top1_error", "top5_error"):
            right = 21 * (1 - errors_alone[name][kind] / 100)
            assert errors[name][kind] == pytest.approx(100 * (1 - (right + 9) / 30)), name


def test_the_run_is_set_up_with_the_papers_optimiser_and_its_test_views(tmp_path: Path) -> None:
    """SGD with the recipe's rate, momentum and weight decay; the weights the seed draws; a
    schedule that stops at its last drop; validation sees only the centre crop at the single
    scale (the middle of the jittered range 32..40, 36), the test loader every test scale, both
    in evaluation batches."""
    data = scan(write_folder(tmp_path, per_class=4))
    recipe = {"lr": 0.02, "momentum": 0.8, "weight_decay": 3e-4, "seed": 3, "max_drops": 1}
    cfg = imagenet_preset(**{**TINY, **recipe, "jitter": (32, 40), "eval_scales": None,
                             "eval_batch_size": 4, "patience": 0, "scale": 48})  # fmt: skip
    run = ddp.setup(cfg, data, World(), torch.device("cpu"), workers=0)
    group = run.opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.02, 0.8, 3e-4)
    torch.manual_seed(3)
    drawn = initialise(build(cfg.spec(3)), cfg.init).state_dict()
    assert all(torch.equal(v, drawn[k]) for k, v in run.model.state_dict().items())
    for accuracy in (0.5, 0.4, 0.3):  # two epochs without improvement: one drop, the last
        run.scheduler.step(accuracy)
    assert group["lr"] == pytest.approx(0.002)
    assert run.val.batch_size == run.test.batch_size == 4
    assert not run.train.pin_memory  # pinned host memory is for copies to CUDA only
    assert not run.bf16 and replace(run, device=torch.device("cuda", 0)).bf16  # autocast: CUDA
    for views, scales in ((run.val.dataset, ()), (run.test.dataset, (32, 36, 40))):
        assert (views.crop, views.centre, views.scales) == (32, 36, scales)
    assert run.train.batch_size == 8 and len(run.train) == 1  # 12 images, one batch of 8


def test_an_imagenet_run_resumes_only_its_own_data_and_records_each_epochs_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation accuracy stuck at 0.5 over 6 epochs: with patience 2 the rate drops after the
    third epoch without a better one (epoch 4), so epochs 5 and 6 train at a tenth of it. A
    rerun with the finished checkpoint trains no more and keeps its times (wall time counts the
    first process too); the same run on other data, or with another recipe, starts over."""
    monkeypatch.setattr(ddp, "train_epoch", lambda run, epoch, bar: (1.5, 0.25))
    monkeypatch.setattr(ddp, "validate", lambda run: 0.5)
    data = scan(write_folder(tmp_path / "data", per_class=4))
    cfg, ckpt = imagenet_preset(**{**TINY, "epochs": 6}), tmp_path / "c.pt"

    def run(data, cfg: ImageNetConfig = cfg) -> dict:
        return train_imagenet(cfg, data, World(), torch.device("cpu"), run_id="imagenet/t",
                              checkpoint=ckpt, workers=0, progress=False)  # fmt: skip

    first = run(data)
    assert first["status"] == "completed" and first["diverged_epoch"] is None
    assert [h["lr"] for h in first["history"]] == pytest.approx([0.01] * 4 + [0.001] * 2)
    state = torch.load(ckpt, weights_only=False)
    torch.save({**state, "train_time": 500.0, "wall_time": 1000.0}, ckpt)
    again = run(data)
    assert again["history"] == first["history"] and again["train_time_s"] == 500.0
    assert 1000 <= again["wall_time_s"] < 1000 + 60
    assert run(data, imagenet_preset(**{**TINY, "epochs": 6, "lr": 0.02}))["train_time_s"] < 500
    other = write_folder(tmp_path / "other", per_class=5)
    assert run(scan(other))["train_time_s"] < 500


def test_the_imagenet_schedule_follows_validation_not_training_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Training accuracy climbs every epoch while validation accuracy is stuck at 0.5: the
    plateau is the validation one, so the rate drops after the third epoch without a better
    validation accuracy, as the paper's recipe says. Without progress, nothing is shown."""
    climbing = iter([(1.5, 0.1 * e) for e in range(1, 7)])
    monkeypatch.setattr(ddp, "train_epoch", lambda run, epoch, bar: next(climbing))
    monkeypatch.setattr(ddp, "validate", lambda run: 0.5)
    data = scan(write_folder(tmp_path / "data", per_class=4))
    cfg = imagenet_preset(**{**TINY, "epochs": 6})
    result = train_imagenet(cfg, data, World(), torch.device("cpu"), run_id="imagenet/t",
                            workers=0, progress=False)  # fmt: skip
    assert [h["lr"] for h in result["history"]] == pytest.approx([0.01] * 4 + [0.001] * 2)
    assert [h["val_acc"] for h in result["history"]] == [0.5] * 6
    assert capsys.readouterr().err == ""


def test_jittering_draws_every_scale_of_its_range_both_ends_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S is drawn from [smin, smax] inclusive: over 60 draws from [32, 34], all of 32, 33, 34."""
    data = scan(write_folder(tmp_path, per_class=2))
    drawn: list[int] = []
    rescale_as_before = rescale

    def recording(image: torch.Tensor, shorter: int) -> torch.Tensor:
        drawn.append(shorter)
        return rescale_as_before(image, shorter)

    monkeypatch.setattr(imagenet, "rescale", recording)
    cfg = imagenet_preset(**{**AUGMENTED, "jitter": (32, 34)})
    images = TrainImages([data.train[0]] * 60, cfg, axis_stats(0.5, 0.25, (0.0, 0.0, 0.0)))
    for i in range(60):
        images[i]
    assert set(drawn) == {32, 33, 34}


def test_a_crop_of_a_tall_image_reaches_its_bottom_edge(tmp_path: Path) -> None:
    """On an image higher than wide (40 x 32), the crop's top offset ranges over the height:
    every crop is 32 x 32, some start at row 8 (40 - 32), none lower."""
    image = torch.arange(40, dtype=torch.float64)[:, None].repeat(3, 1, 32)  # each row its index
    path = tmp_path / "tall.png"
    write_png(image.to(torch.uint8), str(path))
    cfg = imagenet_preset(**{**TINY, "flip": False, "jitter": (32, 32)})
    images = TrainImages([(str(path), 0)] * 64, cfg, axis_stats(0.0, 1.0, (0.0, 0.0, 0.0)))
    crops = [images[i][0] for i in range(64)]
    assert all(crop.shape == (3, 32, 32) for crop in crops)
    tops = {int(crop[0, 0, 0]) for crop in crops}  # the crop's first row
    assert tops <= set(range(9)) and 8 in tops


def test_the_listing_covers_png_images_validation_images_and_class_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .png image is an image; renaming a validation image or a class folder changes the
    checksum; '~' in the data path is the home folder."""
    root = write_folder(tmp_path / "data", per_class=2)
    first = scan(root)
    write_png(torch.zeros(3, 32, 32, dtype=torch.uint8), str(root / "train" / "class2" / "p.png"))
    with_png = scan(root)
    assert len(with_png.train) == len(first.train) + 1
    assert with_png.train[-1] == (str(root / "train" / "class2" / "p.png"), 2)
    (root / "train" / "class2" / "p.png").unlink()
    (root / "val" / "class1" / "1.jpg").rename(root / "val" / "class1" / "7.jpg")
    renamed = scan(root)
    assert renamed.train == first.train and renamed.checksum != first.checksum
    (root / "val" / "class1" / "7.jpg").rename(root / "val" / "class1" / "1.jpg")
    assert scan(root).checksum == first.checksum
    for split in ("train", "val"):
        (root / split / "class2").rename(root / split / "class3")
    renamed_class = scan(root)  # the same file names and labels, in another class folder
    assert renamed_class.classes == ["class0", "class1", "class3"]
    assert [label for _, label in renamed_class.train] == [label for _, label in first.train]
    assert renamed_class.checksum != first.checksum
    monkeypatch.setenv("HOME", str(tmp_path))
    assert scan("~/data").train == renamed_class.train


def test_augmentation_seeds_are_63_bit_and_depend_on_the_order_of_their_parts() -> None:
    seeds = [seed_for(s, e, i) for s in (0, 7) for e in (0, 1, 5) for i in (0, 2, 3, 11)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**63 for s in seeds)
    assert seed_for(0, 1, 2) != seed_for(0, 2, 1) != seed_for(1, 0, 2)


def test_the_processes_agree_only_on_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """``agree`` takes the lowest and highest value over the processes (here this one's and
    another's, 5), and names both when they differ; under NCCL it reduces on the GPU, the only
    place NCCL can."""

    def all_reduce(values: torch.Tensor, op=dist.ReduceOp.SUM) -> None:
        other = torch.tensor([5, -5])
        reduce = {dist.ReduceOp.MIN: torch.minimum, dist.ReduceOp.MAX: torch.maximum}
        values.copy_(reduce.get(op, torch.add)(values, other))

    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    distributed.agree(5, World(0, 2), "the epoch")
    for mine, low, high in ((3, 3, 5), (8, 5, 8)):
        with pytest.raises(DistributedError, match=f"about the epoch: from {low} to {high}$"):
            distributed.agree(mine, World(0, 2), "the epoch")
    distributed.agree(3, World(), "the epoch")  # one process agrees with itself
    moved: list[torch.Tensor] = []
    monkeypatch.setattr(torch.Tensor, "cuda", lambda t: moved.append(t) or t)
    monkeypatch.setattr(dist, "get_backend", lambda: "nccl")
    distributed.agree(5, World(0, 2), "the epoch")
    assert [t.tolist() for t in moved] == [[5, -5]]


def test_a_process_joins_the_group_at_its_global_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 3 of 4 (device 1 of its node) joins as rank 3 over gloo on the CPU, or over NCCL
    bound to its CUDA device; a world of one joins nothing."""
    joined: list[tuple] = []
    monkeypatch.setattr(dist, "init_process_group", lambda *a, **k: joined.append((a, k)))
    distributed.start(World(), torch.device("cpu"))
    assert joined == []
    distributed.start(World(3, 4, 1), torch.device("cpu"))
    assert joined == [(("gloo",), {"rank": 3, "world_size": 4, "device_id": None})]
    distributed.start(World(3, 4, 1), torch.device("cuda", 1))
    assert joined[1] == (
        ("nccl",),
        {"rank": 3, "world_size": 4, "device_id": torch.device("cuda", 1)},
    )


def test_empty_rendezvous_variables_are_unset() -> None:
    """An exported but empty variable is not set: all empty is a world of one, and a set of
    variables with an empty one names it; of several missing, the first is named, with those
    found."""
    assert distributed.detect(dict.fromkeys(distributed.RENDEZVOUS, "")) == World()
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": ""}  # fmt: skip
    with pytest.raises(DistributedError, match="rendezvous variable MASTER_PORT is not set"):
        distributed.detect(env)
    only = "rendezvous variable LOCAL_RANK is not set (found RANK, WORLD_SIZE)"
    with pytest.raises(DistributedError, match=re.escape(only)):
        distributed.detect({"RANK": "1", "WORLD_SIZE": "2"})
    lone = "rendezvous variable RANK is not set (found MASTER_ADDR)"  # one left in the shell
    with pytest.raises(DistributedError, match=re.escape(lone)):
        distributed.detect({"MASTER_ADDR": "10.0.0.1"})


def test_collectives_act_only_in_a_world_of_several_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With another process holding 10 everywhere, ``total`` adds its values and ``share`` gives
    rank 0's object; ``stop`` leaves the group it joined, and nothing else. A world of one has
    no group: its values and objects are its own."""
    monkeypatch.setattr(dist, "all_reduce", lambda values: values.add_(10))
    monkeypatch.setattr(
        dist, "broadcast_object_list", lambda box, src: box.__setitem__(0, f"rank {src}'s")
    )
    left: list[int] = []
    monkeypatch.setattr(dist, "destroy_process_group", lambda: left.append(1))
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    assert distributed.total(torch.ones(2), World(1, 2)).tolist() == [11.0, 11.0]
    assert distributed.share("mine", World(1, 2)) == "rank 0's"
    assert distributed.total(torch.ones(2), World()).tolist() == [1.0, 1.0]
    assert distributed.share("mine", World()) == "mine"
    distributed.stop(World())
    assert left == []
    distributed.stop(World(1, 2))
    assert left == [1]
    monkeypatch.setattr(dist, "is_initialized", lambda: False)  # it failed before joining
    distributed.stop(World(1, 2))
    assert left == [1]


def test_every_image_is_read_as_rgb_and_an_unreadable_one_is_named(tmp_path: Path) -> None:
    """ImageNet holds greyscale JPEGs: they come as three channels, like the colour ones; an
    empty file is a ``DataError`` that names it."""
    grey = tmp_path / "grey.jpg"
    write_jpeg(torch.full((1, 4, 6), 100, dtype=torch.uint8), str(grey))
    assert read_image(str(grey)).shape == (3, 4, 6)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="empty.jpg: cannot decode this image"):
        read_image(str(tmp_path / "empty.jpg"))


def test_a_data_error_in_a_loader_worker_is_its_own_message(tmp_path: Path) -> None:
    """The error a worker process meets comes back as the worker's own message, without the
    DataLoader's traceback or the exception's module path."""
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a JPEG")
    loader = eval_loader(EvalImages([(str(bad), 0)], 32, 32, ()), 1, World(), workers=1)
    with pytest.raises(DataError) as caught:
        list(batches(loader))
    assert str(caught.value).startswith(f"{bad}: cannot decode this image (")
    assert "\n" not in str(caught.value)


def test_a_subset_as_large_as_the_data_is_the_data_as_listed() -> None:
    """Asking for as many images as there are (or more, or none in particular) is the same run
    as asking for all of them: the same items in the same order; fewer are distinct items, in
    the listing's order."""
    items = [(f"{i}.jpg", i % 3) for i in range(10)]
    assert subset(items, None) == subset(items, 10) == subset(items, 11) == items
    part = subset(items, 4)
    assert len(set(part)) == 4 and part == [item for item in items if item in part]


def test_each_epoch_reads_its_own_shuffle_and_augmentation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``train_epoch`` for epoch 3 sets the sampler's epoch (its shuffle) and the images' epoch
    (their random crops, flips and colour shifts) to 3, so a resumed epoch repeats its own."""
    items = [(f"{i}.jpg", 0) for i in range(2)]
    stats = axis_stats(0.0, 1.0, (1.0, 1.0, 1.0))
    images = TrainImages(items, imagenet_preset(**TINY), stats)
    batch = (torch.zeros(2, 3, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), None)
    monkeypatch.setattr(ddp, "train_step", lambda run, x, y: (torch.tensor(1.0), torch.tensor(0)))
    monkeypatch.setattr(ddp, "batches", lambda loader: iter([batch]))  # no images read
    run = SimpleNamespace(
        model=torch.nn.Identity(), train=train_loader(images, 2, World(), 0, False),
        cfg=SimpleNamespace(seed=0), world=World(), device=torch.device("cpu"), stats=stats,
    )  # fmt: skip
    ddp.train_epoch(run, 3, SimpleNamespace(update=lambda: None, set_postfix=lambda **_: None))
    assert (run.train.sampler.epoch, images.epoch) == (3, 3)


def test_the_run_records_its_training_time_epoch_times_and_wall_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a clock where each epoch trains for 10 s and validates for 1 s: every epoch line takes
    11 s, training 10 s an epoch, the whole run 22 s (1 step of 8 images an epoch: 16 images in
    20 s); the checkpoint keeps the wall time, which a rerun of the finished run adds to."""
    clock = [100.0]

    def advance(seconds: float, value):
        clock[0] += seconds
        return value

    monkeypatch.setattr(ddp, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(ddp, "train_epoch", lambda run, epoch, bar: advance(10, (1.5, 0.25)))
    monkeypatch.setattr(ddp, "validate", lambda run: advance(1, 0.5))
    data = scan(write_folder(tmp_path / "data", per_class=4))
    cfg, ckpt = imagenet_preset(**{**TINY, "epochs": 2}), tmp_path / "c.pt"
    first, again = (
        train_imagenet(
            cfg,
            data,
            World(),
            torch.device("cpu"),
            run_id="imagenet/t",
            checkpoint=ckpt,
            workers=0,
            progress=False,
        )  # fmt: skip
        for _ in range(2)
    )
    assert first["history"][1] == {"epoch": 2, "train_loss": 1.5, "train_acc": 0.25,
                                   "val_acc": 0.5, "lr": 0.01, "seconds": 11.0}  # fmt: skip
    assert [h["seconds"] for h in first["history"]] == [11.0, 11.0]
    assert (first["run_id"], first["grid"]) == ("imagenet/t", "imagenet")
    assert (first["train_time_s"], first["wall_time_s"], first["images_per_s"]) == (20, 22, 0.8)
    assert (again["train_time_s"], again["wall_time_s"]) == (20, 22)


def test_only_rank_0_writes_the_checkpoint_results_and_net(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 1 of 2 trains its share (batches of 4) and returns the results, but writes nothing:
    rank 0 writes for the run. It checks with the others that all start from epoch 0. Its
    collectives stand in for the other process here."""
    monkeypatch.setattr(ddp, "train_epoch", lambda run, epoch, bar: (1.5, 0.25))
    monkeypatch.setattr(ddp, "validate", lambda run: 0.5)
    monkeypatch.setattr(ddp, "share", lambda obj, world: axis_stats(0.5, 0.25, (1.0, 1.0, 1.0)))
    agreed: list[tuple[int, World]] = []
    monkeypatch.setattr(ddp, "agree", lambda value, world, what: agreed.append((value, world)))
    monkeypatch.setattr(ddp, "total", lambda values, world: values)
    monkeypatch.setattr(ddp, "DistributedDataParallel", lambda model, device_ids: model)
    data = scan(write_folder(tmp_path / "data", per_class=4))
    paths = {"checkpoint": tmp_path / "c.pt", "out": tmp_path / "r.json",
             "model_path": tmp_path / "net.pt"}  # fmt: skip
    result = train_imagenet(imagenet_preset(**TINY), data, World(1, 2), torch.device("cpu"),
                            run_id="imagenet/t", workers=0, progress=False, **paths)  # fmt: skip
    assert result["status"] == "completed" and result["provenance"]["per_rank_batch"] == 4
    assert not any(path.exists() for path in paths.values())
    assert agreed == [(0, World(1, 2))]


def test_several_processes_step_through_ddp_on_their_own_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A world of one steps with the net itself; in a world of two, the steps go through
    ``DistributedDataParallel``, on the process's CUDA device, or on no device id on the CPU."""
    wrapped: list = []
    monkeypatch.setattr(
        ddp, "DistributedDataParallel", lambda model, device_ids: wrapped.append(device_ids) or 0
    )
    net = torch.nn.Linear(1, 1)
    for world, device in ((World(), "cpu"), (World(1, 2), "cpu"), (World(1, 2, 1), "cuda:1")):
        run = SimpleNamespace(model=net, step=net, world=world, device=torch.device(device))
        ddp.wrap(run)
        assert run.step is (net if world.size == 1 else 0)
    assert wrapped == [None, [1]]


def test_a_warm_started_run_begins_from_the_layers_of_net_a(tmp_path: Path) -> None:
    """The paper's way to the deeper nets: net B's first convolution and its FC layers start as
    those of the saved net A named (as text, as the command line gives it), not as drawn."""
    data = scan(write_folder(tmp_path / "data", per_class=4))
    torch.manual_seed(5)
    net_a = build(imagenet_preset(**TINY).spec(3))  # its random weights stand in for training
    save_model(net_a, tmp_path / "a.pt")
    cfg = imagenet_preset(**TINY, arch="vgg13", warm_start=str(tmp_path / "a.pt"))
    run = ddp.setup(cfg, data, World(), torch.device("cpu"), workers=0)
    b, a = run.model.state_dict(), net_a.state_dict()
    last_fc = [k for k in a if k.startswith("classifier.")][-2]  # the last layer's weight
    assert torch.equal(b["features.0.weight"], a["features.0.weight"])
    assert torch.equal(b[last_fc], a[last_fc])


def test_labels_and_images_follow_alphabetical_order_not_the_order_on_disk(
    tmp_path: Path,
) -> None:
    """Class folders and images made in a shuffled order are listed alphabetically, so the
    labels (ImageNet's sorted synset ids) are the same on every file system."""
    shuffled = [3, 0, 6, 1, 7, 4, 2, 5]
    for split in ("train", "val"):
        for c in shuffled:
            folder = tmp_path / split / f"n{c}"
            folder.mkdir(parents=True)
            for i in shuffled[:3]:
                write_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8), str(folder / f"{i}.jpg"))
    data = scan(tmp_path)
    assert data.classes == [f"n{c}" for c in range(8)]
    expected = [
        (str(tmp_path / "val" / f"n{c}" / f"{i}.jpg"), c) for c in range(8) for i in (0, 3, 6)
    ]
    assert data.val == expected
