"""The training loop: a full run, determinism, divergence, and resuming after a kill."""

import dataclasses
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, tiny_cifar
from tqdm import tqdm

from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.initialisation import initialise
from vggrepro.arch.models import build
from vggrepro.engine import presets
from vggrepro.engine import train as train_module
from vggrepro.engine.checkpoint import load_checkpoint, save_checkpoint
from vggrepro.engine.data import CIFAR10, split_validation
from vggrepro.engine.evaluate import evaluate
from vggrepro.engine.loader import DeviceLoader
from vggrepro.engine.nets import load_model, save_model, weights_digest
from vggrepro.engine.presets import PLAIN_LR, PRESETS, STALL_MARGIN, TrainConfig, preset, stalled
from vggrepro.engine.train import train
from vggrepro.results.io import load_result, load_runs
from vggrepro.results.schema import validate


def strip_times(result: dict) -> dict:
    """A result without the fields that measure time or say when and where it ran."""
    skip = {"wall_time_s", "train_time_s", "images_per_s", "started", "finished", "provenance"}
    out = {k: v for k, v in result.items() if k not in skip}
    out["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in result["history"]]
    return out


def test_a_run_learns_and_records_everything(tiny: CIFAR10, tmp_path: Path) -> None:
    cfg = preset("smoke", epochs=4, batch_norm=True, dropout=0.0, **{**TINY, "batch_size": 10})
    result = train(cfg, tiny, run_id="t/run", out=tmp_path / "r.json", progress=False)
    assert load_result(tmp_path / "r.json") == json.loads(json.dumps(result))
    assert result["status"] == "completed" and len(result["history"]) == 4
    assert result["smoke"] is True and result["preset"] == "smoke"
    assert result["data"] == {
        "source": "synthetic", "checksum": "0" * 64, "n_train": 100, "n_val": 20, "n_test": 40,
    }  # fmt: skip
    assert result["provenance"]["device_type"] == "cpu"
    assert result["images_per_s"] > 0
    losses = [h["train_loss"] for h in result["history"]]
    assert losses[-1] < losses[0]  # colour-coded classes are easy to learn
    assert result["test"]["centre"]["top1_error"] < 60  # chance is 90
    expected = {"centre", "flip", "dense@32", "dense@32+flip", "dense@64", "dense multi-scale"}
    assert expected <= set(result["test"])
    assert {"multi-crop", "dense + multi-crop"} <= set(result["test"])


def test_same_seed_same_run_other_seed_other_run(tiny: CIFAR10) -> None:
    cfg = preset("smoke", epochs=2, **TINY)
    a = train(cfg, tiny, run_id="a", progress=False)
    b = train(cfg, tiny, run_id="a", progress=False)
    c = train(preset("smoke", epochs=2, seed=1, **TINY), tiny, run_id="a", progress=False)
    assert strip_times(a) == strip_times(b)
    assert a["history"][0]["train_loss"] != c["history"][0]["train_loss"]


def test_divergence_stops_the_run_and_says_so(tiny: CIFAR10, tmp_path: Path) -> None:
    cfg = preset("smoke", epochs=5, lr=1e4, init="paper_literal", **TINY)
    result = train(cfg, tiny, run_id="boom", out=tmp_path / "boom.json", progress=False)
    assert result["status"] == "diverged"
    assert result["diverged_epoch"] == 1
    assert result["test"] == {} and result["history"] == []
    validate(load_result(tmp_path / "boom.json"))


def test_stalled_needs_the_whole_stretch_at_chance() -> None:
    at = [{"train_acc": 0.1 + STALL_MARGIN}] * 3
    assert stalled(at, 3, 10) and not stalled(at, 4, 10) and not stalled(at, None, 10)
    assert not stalled([*at[:2], {"train_acc": 0.1 + 2 * STALL_MARGIN}], 3, 10)
    assert stalled([{"train_acc": 0.9}, *at], 3, 10)  # the last epochs count
    # chance is 1 / classes, and "at chance" reaches one point above it
    assert stalled([{"train_acc": 0.205}], 1, 5) and not stalled([{"train_acc": 0.215}], 1, 5)


@pytest.mark.parametrize("margin, status, epochs", [(1.0, "stalled", 2), (-1.0, "completed", 4)])
def test_a_run_at_chance_stops_as_stalled_and_is_still_tested(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, margin, status, epochs
) -> None:
    monkeypatch.setattr(presets, "STALL_MARGIN", margin)  # 1.0: every accuracy is "chance"
    cfg = preset("smoke", epochs=4, stall_epochs=2, **TINY)
    model = tmp_path / "net.pt"
    result = train(cfg, tiny, run_id="s", out=tmp_path / "s.json", model_path=model, progress=False)
    assert result["status"] == status and len(result["history"]) == epochs
    assert "centre" in result["test"] and result["model_sha256"] and model.exists()
    validate(load_result(tmp_path / "s.json"))


def test_a_bad_stall_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="stall_epochs must be None or at least 1"):
        preset("smoke", stall_epochs=0)


def test_learning_rate_drops_by_ten_on_a_plateau(tiny: CIFAR10) -> None:
    # With a learning rate of 1e-9 validation accuracy never improves after epoch 1; with
    # patience 0 every later epoch divides the rate by 10, at most max_drops times.
    cfg = preset("smoke", epochs=6, patience=0, max_drops=2, lr=1e-9, **TINY)
    lrs = [h["lr"] for h in train(cfg, tiny, run_id="p", progress=False)["history"]]
    assert lrs == pytest.approx([1e-9, 1e-9, 1e-10, 1e-11, 1e-11, 1e-11], rel=1e-5)
    assert len(set(lrs)) == 3  # exactly max_drops drops, no extra sliver below the floor


def test_step_schedule_drops_at_fixed_fractions_of_the_budget(tiny: CIFAR10) -> None:
    # 0.34 and 0.67 of 6 epochs: divided after epochs 2 and 4, whatever validation says.
    cfg = preset("smoke", epochs=6, schedule="step", milestones=(0.34, 0.67), lr=0.1, **TINY)
    assert cfg.drop_epochs() == [2, 4] and cfg.planned_drops() == 2
    lrs = [h["lr"] for h in train(cfg, tiny, run_id="s", progress=False)["history"]]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"schedule": "cosine"}, "unknown schedule 'cosine'"),
        ({"schedule": "step"}, "milestones are given exactly when"),
        ({"milestones": (0.5,)}, "milestones are given exactly when"),
        ({"schedule": "step", "milestones": (0.5, 0.5)}, "must rise strictly within"),
        ({"schedule": "step", "milestones": (0.5, 1.0)}, "must rise strictly within"),
        ({"schedule": "step", "milestones": (0.0, 0.5)}, "must rise strictly within"),
        ({"n_train": 63, "batch_size": 64}, "n_train=63 training images make no full batch"),
        ({"stall_epochs": 0}, "stall_epochs must be None or at least 1"),
    ],
)
def test_a_bad_schedule_is_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset("smoke", **options)


def test_the_boundaries_of_a_schedule_are_accepted() -> None:
    assert preset("smoke", n_train=64, batch_size=64).n_train == 64
    assert preset("smoke", stall_epochs=1).stall_epochs == 1
    assert preset("smoke", schedule="step", milestones=(0.01, 0.99)).milestones == (0.01, 0.99)


def test_cpu_preset_keeps_the_papers_optimiser_and_drops_within_its_budget() -> None:
    cfg = preset("cpu")
    assert (cfg.momentum, cfg.weight_decay, cfg.dropout, cfg.lr_factor) == (0.9, 5e-4, 0.5, 0.1)
    assert cfg.flip and cfg.crop_padding > 0 and not cfg.smoke
    assert cfg.schedule == "step" and cfg.planned_drops() == 2
    assert all(e < cfg.epochs for e in cfg.drop_epochs())
    assert cfg.eval_scales == () and cfg.n_train is None  # the full training split
    assert cfg.stall_epochs is not None and cfg.stall_epochs < cfg.epochs // 2
    # as measured for two cores: quarter widths, batch 128 in bf16, drops after epochs 13 and 19
    assert (cfg.width, cfg.fc_width, cfg.batch_size, cfg.cpu_bf16) == (0.25, 512, 128, True)
    assert (cfg.epochs, cfg.drop_epochs(), cfg.stall_epochs) == (22, [13, 19], 5)


def test_the_smoke_preset_is_a_tiny_run_that_says_so() -> None:
    """A few hundred images, one epoch, tiny widths, two test scales; flagged as a smoke run."""
    cfg = preset("smoke")
    assert (cfg.width, cfg.fc_width, cfg.epochs, cfg.batch_size) == (1 / 16, 32, 1, 64)
    assert (cfg.n_train, cfg.n_val, cfg.n_test) == (512, 250, 250)
    assert (cfg.eval_scales, cfg.eval_batch_size) == ((32, 64), 250)
    assert cfg.smoke and cfg.preset == "smoke"


def test_plain_nets_take_the_papers_rate_at_the_cpu_tier_unless_told() -> None:
    assert preset("cpu", batch_norm=True).lr == PRESETS["cpu"]["lr"] == 0.05
    assert preset("cpu").lr == preset("cpu", batch_norm=False).lr == PLAIN_LR["cpu"] == 0.01
    assert preset("cpu", lr=0.05).lr == 0.05  # an explicit rate wins
    assert preset("reduced").lr == preset("reduced", batch_norm=True).lr  # no plain rate there


def test_cpu_bf16_trains_in_bf16_autocast(tiny: CIFAR10) -> None:
    options = {"epochs": 3, "batch_norm": True, "dropout": 0.0, **{**TINY, "batch_size": 10}}
    fp32 = train(preset("smoke", **options), tiny, run_id="f", progress=False)
    bf16 = train(preset("smoke", cpu_bf16=True, **options), tiny, run_id="b", progress=False)
    losses = [h["train_loss"] for h in bf16["history"]]
    assert losses[-1] < losses[0] and bf16["config"]["cpu_bf16"]
    # Same seed and data: only the arithmetic differs, so the losses differ a little.
    first = fp32["history"][0]["train_loss"]
    assert losses[0] != first and losses[0] == pytest.approx(first, rel=0.05)


def test_a_recorded_config_reads_back_with_defaults_for_newer_options() -> None:
    cfg = preset("cpu", seed=2)
    recorded = json.loads(json.dumps(dataclasses.asdict(cfg)))  # tuples become lists
    assert TrainConfig.from_dict(recorded) == cfg
    del recorded["schedule"], recorded["milestones"]  # as written before they existed
    assert TrainConfig.from_dict(recorded).schedule == "plateau"
    recorded["retired_option"] = 1  # an option since removed is ignored, not an error
    assert TrainConfig.from_dict(recorded).schedule == "plateau"


def test_saved_model_round_trips_in_fp16(tiny: CIFAR10, tmp_path: Path) -> None:
    cfg = preset("smoke", epochs=1, **TINY)
    train(cfg, tiny, run_id="m", model_path=tmp_path / "m.pt", progress=False)
    model = load_model(tmp_path / "m.pt").eval()
    save_model(model, tmp_path / "half.pt", dtype=torch.float16)
    half = load_model(tmp_path / "half.pt").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), half(x), rtol=1e-2, atol=1e-2)
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "m.pt").stat().st_size


def test_a_missing_net_stays_a_missing_file_and_a_foreign_file_is_named(tmp_path: Path) -> None:
    """A path with no file is an OSError (FileNotFoundError) that callers report as such; a
    file that is there but holds no saved net is a ValueError naming it."""
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.pt is not a net saved by --save-model"):
        load_model(tmp_path / "junk.pt")


def test_a_saved_net_missing_one_weight_is_refused_not_left_at_its_initial_values(
    tmp_path: Path,
) -> None:
    """A net file whose state lacks one tensor (the last classifier's bias, say) would load
    with that tensor freshly initialised: it is refused, naming the file."""
    net = build(VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=8))
    saved = torch.load(save_model(net, tmp_path / "net.pt"), weights_only=True)
    last = list(saved["state_dict"])[-1]
    del saved["state_dict"][last]
    torch.save(saved, tmp_path / "short.pt")
    with pytest.raises(ValueError, match=r"short\.pt is not a net saved by --save-model \(Runt"):
        load_model(tmp_path / "short.pt")


def test_the_weights_digest_covers_every_weight_and_the_batch_norm_statistics(
    tmp_path: Path,
) -> None:
    """Two nets that differ only in one running statistic, or one weight, have different
    digests; the same weights saved and loaded again have the same one."""
    torch.manual_seed(0)
    net = build(VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=8,
                        batch_norm=True))  # fmt: skip
    first = weights_digest(net)
    assert weights_digest(load_model(save_model(net, tmp_path / "net.pt"))) == first
    assert weights_digest(build(net.spec)) != first  # other weights
    net.features[1].running_var[0] += 1.0  # a buffer, not a parameter
    second = weights_digest(net)
    assert second != first
    net.classifier[-1].bias.data[0] += 1.0
    assert weights_digest(net) not in (first, second)


def test_an_epochs_loss_and_accuracy_are_means_over_images(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of 20 and 10 images with mean losses 2 and 5 and 5 and 10 hits: the epoch's
    mean loss is (40 + 50) / 30 = 3, its accuracy 15 / 30."""
    steps = iter([(torch.tensor(2.0), torch.tensor(5)), (torch.tensor(5.0), torch.tensor(10))])
    monkeypatch.setattr(train_module, "train_step", lambda run, x, y: next(steps))
    batches = [(torch.zeros(n, 1), torch.zeros(n, dtype=torch.long)) for n in (20, 10)]
    run = SimpleNamespace(model=torch.nn.Linear(1, 1), device=torch.device("cpu"), train=batches)
    loss, acc = train_module.train_epoch(run, tqdm(disable=True), epoch=0)
    assert (loss, acc) == (pytest.approx(3.0), pytest.approx(0.5))


def test_validation_needs_exactly_one_image_per_class() -> None:
    data = SimpleNamespace(classes=list(range(10)))
    train_module._check_validation(preset("smoke", n_val=10), data)
    with pytest.raises(ValueError, match="n_val=9: validation needs at least one image"):
        train_module._check_validation(preset("smoke", n_val=9), data)


def test_a_loss_diverges_above_100_or_when_not_finite() -> None:
    assert presets.diverged(float("nan")) and presets.diverged(float("inf"))
    assert presets.diverged(100.01) and not presets.diverged(100.0)
    assert not presets.diverged(2.3)


def test_a_milestone_never_drops_the_rate_before_the_first_epoch() -> None:
    cfg = preset("smoke", epochs=10, schedule="step", milestones=(0.04, 0.5, 0.97))
    assert cfg.drop_epochs() == [1, 5, 10]
    assert cfg.planned_drops() == 2  # a drop after the last epoch is never made


def test_unknown_preset_or_option_is_named() -> None:
    with pytest.raises(ValueError, match="reduced"):
        preset("huge")
    with pytest.raises(ValueError, match="learning_rate"):
        preset("smoke", learning_rate=0.1)
    assert PRESETS["smoke"]["smoke"] is True


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_result(tiny_folder: Path, tmp_path: Path) -> None:
    """Kill a training process after its first checkpoint; the rerun must match a clean run."""
    args = [
        sys.executable, "-m", "vggrepro", "train", "--smoke", "--quiet", "--arch", "vgg13",
        "--epochs", "8", "--batch-size", "10", "--n-val", "20", "--data", str(tiny_folder),
        "--cache", str(tmp_path / "cache"),
    ]  # fmt: skip
    # Bitwise equality across processes needs MKL's reproducible mode: otherwise its kernels
    # may sum in an order that depends on how each process happened to align its buffers.
    env = {**os.environ, "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "1"}
    clean = subprocess.run(
        [*args, "--out", str(tmp_path / "clean"), "--checkpoints", str(tmp_path / "ck-clean")],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "completed" in clean.stdout

    ckpt_dir = tmp_path / "ck-killed"
    command = [*args, "--out", str(tmp_path / "killed"), "--checkpoints", str(ckpt_dir)]
    proc = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        found = list((ckpt_dir / "single").glob("vgg13-kaiming-s0-*.ckpt.pt"))
        if found:
            (ckpt,) = found
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    interrupted_at = torch.load(ckpt, weights_only=False)["epoch"]
    assert interrupted_at in range(1, 8)  # killed between its first and last epoch
    assert not list((tmp_path / "killed").glob("*.json"))  # no results file from the kill

    subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    (resumed,) = load_runs(tmp_path / "killed")
    (reference,) = load_runs(tmp_path / "clean")
    assert strip_times(resumed) == strip_times(reference)


def test_a_checkpoint_resumes_only_the_same_run_on_the_same_data(
    tiny: CIFAR10, tmp_path: Path
) -> None:
    cfg = preset("smoke", epochs=2, **TINY)
    ckpt = tmp_path / "run.ckpt.pt"
    first = train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    again = train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    assert again["train_time_s"] == first["train_time_s"]  # resumed after its last epoch
    other = dataclasses.replace(tiny, checksum="1" * 64)  # same images, another source
    fresh = train(cfg, other, run_id="r", checkpoint=ckpt, progress=False)
    assert fresh["train_time_s"] != first["train_time_s"]  # trained from scratch
    assert fresh["data"]["checksum"] == "1" * 64


def test_no_validation_images_is_refused_before_training(tiny: CIFAR10) -> None:
    with pytest.raises(ValueError, match="at least one image per class"):
        train(preset("smoke", **{**TINY, "n_val": 0}), tiny, run_id="x", progress=False)


def test_too_few_images_for_one_batch_is_refused(tiny: CIFAR10) -> None:
    with pytest.raises(ValueError, match="no full batch of 512"):
        train(preset("smoke", **{**TINY, "batch_size": 512}), tiny, run_id="x", progress=False)


def test_two_training_steps_follow_sgd_with_momentum_and_weight_decay(
    tiny: CIFAR10, tmp_path: Path
) -> None:
    """One batch per epoch, no augmentation, no dropout: two epochs are two SGD steps on the
    same 20 images, redone here by hand from PyTorch's definition of SGD:
    v <- momentum * v + grad + weight_decay * w, then w <- w - lr * v (v = 0 at first).
    Large momentum and decay, so that dropping either changes the weights far beyond rounding."""
    options = {**TINY, "n_train": 20, "crop_padding": 0, "flip": False, "dropout": 0.0}
    cfg = preset(
        "smoke", epochs=2, lr=0.1, momentum=0.5, weight_decay=0.05, eval_scales=(), **options
    )
    train(cfg, tiny, run_id="sgd", model_path=tmp_path / "net.pt", progress=False)
    trained = load_model(tmp_path / "net.pt").state_dict()

    split = train_module.prepare(tiny, cfg, torch.device("cpu"))
    (images, labels), mean, std = split.train, split.mean, split.std
    assert len(labels) == cfg.batch_size  # one step per epoch, on every training image
    x = (images / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    x = x.contiguous(memory_format=torch.channels_last)
    torch.manual_seed(cfg.seed)
    net = initialise(build(cfg.spec(len(tiny.classes))), cfg.init)
    net = net.to(memory_format=torch.channels_last)
    params = list(net.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    for _ in range(cfg.epochs):
        grads = torch.autograd.grad(F.cross_entropy(net(x), labels), params)
        with torch.no_grad():
            for w, g, v in zip(params, grads, velocity, strict=True):
                v.mul_(cfg.momentum).add_(g + cfg.weight_decay * w)
                w.sub_(cfg.lr * v)
    for name, w in net.state_dict().items():
        torch.testing.assert_close(
            trained[name], w, rtol=1e-4, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}"
        )


@pytest.mark.parametrize(
    "accuracies, factors",
    [
        ((0.2, 0.3, 0.4, 0.5), (1, 1, 1, 1)),  # rising: never a plateau
        ((0.5, 0.4, 0.3, 0.3), (1, 1, 0.1, 0.01)),  # no gain after epoch 1: patience 0 drops
    ],
)
def test_the_plateau_rule_reads_validation_accuracy_as_higher_is_better(
    tiny: CIFAR10, monkeypatch: pytest.MonkeyPatch, accuracies: tuple, factors: tuple
) -> None:
    scripted = iter(accuracies)
    monkeypatch.setattr(train_module, "accuracy", lambda model, batches: next(scripted))
    cfg = preset("smoke", epochs=4, patience=0, max_drops=3, lr=0.1, eval_scales=(), **TINY)
    history = train(cfg, tiny, run_id="p", progress=False)["history"]
    assert [h["val_acc"] for h in history] == list(accuracies)
    assert [h["lr"] for h in history] == pytest.approx([0.1 * f for f in factors])


class RecordingLoader(DeviceLoader):
    """A DeviceLoader that keeps every instance made, in order: training, validation, test."""

    made: list[DeviceLoader] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordingLoader.made.append(self)


@pytest.fixture
def loaders(monkeypatch: pytest.MonkeyPatch) -> list[DeviceLoader]:
    """The loaders the next ``train`` call makes (training, validation, test)."""
    monkeypatch.setattr(RecordingLoader, "made", [])
    monkeypatch.setattr(train_module, "DeviceLoader", RecordingLoader)
    return RecordingLoader.made


def test_every_loader_normalises_with_the_training_splits_own_statistics(
    loaders: list[DeviceLoader],
) -> None:
    """Mean and std per channel of the training split alone, computed here from their
    definition, and what the net then sees: training pixels at mean 0 and std 1 per channel."""
    cfg = preset("smoke", epochs=1, crop_padding=0, flip=False, eval_scales=(), **TINY)
    data = tiny_cifar()
    data.train_images[:, 0, 0, 0] = torch.arange(len(data.train_labels))  # an index per image
    held_out = split_validation(data, cfg.n_val, seed=0)[2][:, 0, 0, 0].long()
    data.train_images[held_out] = 255  # white: statistics that counted them would be far off
    train(cfg, data, run_id="n", progress=False)
    pixels = split_validation(data, cfg.n_val, seed=0)[0].double() / 255
    mean = pixels.mean(dim=(0, 2, 3))
    std = pixels.std(dim=(0, 2, 3), unbiased=False)
    assert (data.train_images.double().mean(dim=(0, 2, 3)) / 255 - mean).abs().min() > 0.05
    assert len(loaders) == 3  # training, validation, test
    for loader in loaders:
        assert loader.mean.flatten().tolist() == pytest.approx(mean.tolist(), abs=1e-7)
        assert loader.std.flatten().tolist() == pytest.approx(std.tolist(), abs=1e-7)
    x = torch.cat([x for x, _ in loaders[0]]).double()  # one more epoch, unaugmented
    assert len(x) == len(pixels)
    assert x.mean(dim=(0, 2, 3)).tolist() == pytest.approx([0.0] * 3, abs=1e-6)
    assert x.std(dim=(0, 2, 3), unbiased=False).tolist() == pytest.approx([1.0] * 3, abs=1e-6)


@pytest.mark.parametrize("n_train", [None, 40])
def test_training_never_sees_a_validation_image(
    n_train: int | None, loaders: list[DeviceLoader]
) -> None:
    """Each training image carries its index in one pixel: the images the training loop and the
    validation read share no index, the validation split takes its share of every class, and
    without a subset the two cover the training set exactly."""
    data = tiny_cifar()
    n = len(data.train_labels)
    data.train_images[:, 0, 0, 0] = torch.arange(n)  # 120 images: an index fits a uint8
    cfg = preset("smoke", epochs=1, eval_scales=(), **{**TINY, "n_train": n_train})
    result = train(cfg, data, run_id="v", progress=False)
    train_batches, val_batches, test_batches = loaders
    seen = train_batches.images[:, 0, 0, 0].long()
    held_out = val_batches.images[:, 0, 0, 0].long()
    assert len(set(seen.tolist())) == len(seen) == (n_train or n - cfg.n_val)
    assert len(set(held_out.tolist())) == len(held_out) == cfg.n_val
    assert not set(seen.tolist()) & set(held_out.tolist())
    if n_train is None:
        assert sorted(seen.tolist() + held_out.tolist()) == list(range(n))
    assert torch.equal(train_batches.labels, data.train_labels[seen])  # labels travel along
    assert torch.equal(val_batches.labels, data.train_labels[held_out])
    assert torch.equal(val_batches.labels.bincount(), torch.full((10,), cfg.n_val // 10))
    assert torch.equal(test_batches.images, data.test_images)
    assert result["data"]["n_train"] == len(seen) and result["data"]["n_val"] == len(held_out)


def test_a_run_stopped_and_resumed_matches_a_straight_run(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast, in-process twin of the slow kill test: 4 epochs straight against 2 epochs, a
    stop right after the second checkpoint, and a resumed run. Dropout and augmentation draw
    from the generators, momentum lives in the optimiser and the plateau rule's best accuracy
    in the scheduler: the resumed run must restore them all to end where the straight run did."""
    accuracies = [0.5, 0.4, 0.45, 0.45]  # scripted: with patience 0, drops after epochs 2 and 3
    scripted = iter([])
    monkeypatch.setattr(train_module, "accuracy", lambda model, batches: next(scripted))
    cfg = preset("smoke", epochs=4, patience=0, dropout=0.5, lr=0.05, eval_scales=(), **TINY)

    scripted = iter(accuracies)
    straight = train(cfg, tiny, run_id="r", progress=False)

    saves, save = [], train_module.save_checkpoint

    def stop_after_the_second_checkpoint(path: Path, *args: object) -> None:
        save(path, *args)
        saves.append(path)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", stop_after_the_second_checkpoint)
    scripted = iter(accuracies)
    ckpt = tmp_path / "run.ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    torch.manual_seed(12345)  # the resumed run must restore every generator, not inherit these
    resumed = train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    assert len(saves) == 4  # epochs 1 and 2 before the stop, 3 and 4 after it
    assert [h["lr"] for h in straight["history"]] == pytest.approx([0.05, 0.05, 5e-3, 5e-4])
    assert strip_times(resumed) == strip_times(straight)


def test_a_drop_due_after_the_last_epoch_is_not_planned() -> None:
    cfg = preset("smoke", epochs=10, schedule="step", milestones=(0.5, 0.96))
    assert cfg.drop_epochs() == [5, 10]  # the second would come after the last epoch
    assert cfg.planned_drops() == 1


def test_throughput_counts_the_images_of_every_epoch(tiny: CIFAR10) -> None:
    result = train(
        preset("smoke", epochs=2, eval_scales=(), **TINY), tiny, run_id="t", progress=False
    )
    batch, n_train = TINY["batch_size"], result["data"]["n_train"]
    images = n_train // batch * batch * 2  # full batches only, both epochs
    assert result["images_per_s"] * result["train_time_s"] == pytest.approx(images)


@pytest.mark.parametrize(
    "content, error",
    [
        (b"not a checkpoint", "UnpicklingError"),  # another file under the checkpoint's name
        (b"", "EOFError"),  # a write that never began
        (b"PK\x03\x04cut short", "RuntimeError"),  # a zip archive cut short
    ],
)
def test_an_unreadable_checkpoint_is_named_whatever_torch_raises(
    content: bytes, error: str, tmp_path: Path
) -> None:
    path = tmp_path / "run.ckpt.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^{path}: unreadable checkpoint \({error}\); delete"):
        load_checkpoint(path, {"run": "x"}, {}, torch.device("cpu"))


def test_a_checkpoint_without_one_of_the_runs_parts_is_refused_not_half_resumed(
    tmp_path: Path,
) -> None:
    """A checkpoint of this run that lacks the optimizer's state (written by an older version,
    or edited by hand) is an error naming the file and the missing part: resuming the weights
    with a fresh momentum buffer and schedule would silently change the run."""
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    progress = {"epoch": 1, "history": [], "train_time": 0.0, "wall_time": 0.0}
    cpu, path = torch.device("cpu"), tmp_path / "run.ckpt.pt"
    save_checkpoint(path, {"run": "x"}, {"model": net}, progress, cpu)
    assert load_checkpoint(path, {"run": "x"}, {"model": net}, cpu) == progress
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, {"run": "x"}, {"model": net, "opt": opt}, cpu)
    assert str(info.value) == f"{path}: checkpoint lacks opt; delete it to start this run over"


def test_a_checkpoint_of_another_device_or_config_is_not_resumed(
    tiny: CIFAR10, tmp_path: Path
) -> None:
    """A marker training time written into the checkpoint shows whether a run resumed from it:
    the same run does; a run on another device type, or with another seed, starts over."""
    cfg = preset("smoke", epochs=1, eval_scales=(), **TINY)
    ckpt = tmp_path / "run.ckpt.pt"

    def rewrite(**fields: object) -> None:
        state = torch.load(ckpt, weights_only=False)
        torch.save({**state, "train_time": 1000.0, **fields}, ckpt)

    train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    rewrite()
    assert train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)["train_time_s"] == 1000.0
    rewrite(device_type="cuda")  # as if written by a run on a GPU
    assert train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)["train_time_s"] < 1000
    rewrite()
    other = preset("smoke", epochs=1, eval_scales=(), seed=1, **TINY)
    assert train(other, tiny, run_id="r", checkpoint=ckpt, progress=False)["train_time_s"] < 1000


def test_a_resumed_run_counts_the_time_of_the_interrupted_process(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after epoch 1 of 2, its checkpoint says 500 s of training and 1000 s of wall
    time: the resumed run adds its own second epoch to both, and its throughput counts the
    2 x 100 images of both epochs."""
    cfg = preset("smoke", epochs=2, eval_scales=(), **TINY)
    ckpt = tmp_path / "run.ckpt.pt"
    save = train_module.save_checkpoint

    def stop_after_saving(path: Path, *args: object) -> None:
        save(path, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", stop_after_saving)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    state = torch.load(ckpt, weights_only=False)
    assert state["epoch"] == 1
    torch.save({**state, "train_time": 500.0, "wall_time": 1000.0}, ckpt)
    resumed = train(cfg, tiny, run_id="r", checkpoint=ckpt, progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert 500.0 < resumed["train_time_s"] < 560.0
    assert 1000.0 < resumed["wall_time_s"] < 1060.0
    assert 1000.0 < torch.load(ckpt, weights_only=False)["wall_time"] <= resumed["wall_time_s"]
    assert resumed["images_per_s"] * resumed["train_time_s"] == pytest.approx(200)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # no real steps
def test_the_history_has_one_line_per_completed_epoch_until_divergence(
    tiny: CIFAR10, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripted epochs (loss, accuracy) and validation accuracies; the third epoch's loss of
    150 diverges. Step schedule with drops after epochs 1 and 3: rates 0.1, then 0.01."""
    epochs = iter([(2.0, 0.3), (1.5, 0.5), (150.0, 0.6)])
    monkeypatch.setattr(train_module, "train_epoch", lambda run, bar, epoch: next(epochs))
    val = iter([0.25, 0.45])
    monkeypatch.setattr(train_module, "accuracy", lambda model, batches: next(val))
    cfg = preset(
        "smoke", epochs=5, schedule="step", milestones=(0.2, 0.6), lr=0.1, eval_scales=(), **TINY
    )
    result = train(cfg, tiny, run_id="h", progress=False)
    assert strip_times(result)["history"] == [
        {"epoch": 1, "train_loss": 2.0, "train_acc": 0.3, "val_acc": 0.25, "lr": 0.1},
        {
            "epoch": 2,
            "train_loss": 1.5,
            "train_acc": 0.5,
            "val_acc": 0.45,
            "lr": pytest.approx(0.01),
        },
    ]
    assert all(h["seconds"] >= 0 for h in result["history"])
    assert (result["status"], result["diverged_epoch"]) == ("diverged", 3)
    assert result["test"] == {} and result["model_sha256"] is None
    # 100 training images in batches of 20, over the two epochs of the history
    assert result["images_per_s"] * result["train_time_s"] == pytest.approx(200)


def test_training_takes_full_batches_only_and_validation_reads_its_images_in_order(
    tiny: CIFAR10, loaders: list[DeviceLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 training images in batches of 30: three steps of 30 per epoch, the last 10 images
    left out, so two epochs train on 180 images."""
    sizes: list[int] = []
    step = train_module.train_step

    def recording(run: object, x: torch.Tensor, y: torch.Tensor) -> tuple:
        sizes.append(len(y))
        return step(run, x, y)

    monkeypatch.setattr(train_module, "train_step", recording)
    cfg = preset("smoke", epochs=2, eval_scales=(), **{**TINY, "batch_size": 30})
    result = train(cfg, tiny, run_id="b", progress=False)
    assert sizes == [30] * 6
    assert result["images_per_s"] * result["train_time_s"] == pytest.approx(180)
    for held_out in loaders[1:]:  # validation and test: in order, unaugmented, every epoch
        x, y = (torch.cat(t) for t in zip(*held_out, strict=True))
        assert torch.equal(y, held_out.labels)
        assert torch.equal(torch.cat([x for x, _ in held_out]), x)


def test_an_epoch_stops_at_the_first_sync_after_its_mean_loss_diverges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """70 steps whose first 50 losses are 1000: the check after step 50 stops the epoch there,
    with a mean loss of 1000."""
    calls: list[int] = []

    def step(run: object, x: torch.Tensor, y: torch.Tensor) -> tuple:
        calls.append(1)
        return torch.tensor(1000.0 if len(calls) <= 50 else 1.0), torch.tensor(0)

    monkeypatch.setattr(train_module, "train_step", step)
    batches = [(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long))] * 70
    run = SimpleNamespace(model=torch.nn.Linear(1, 1), device=torch.device("cpu"), train=batches)
    loss, acc = train_module.train_epoch(run, tqdm(disable=True), epoch=0)
    assert (len(calls), loss, acc) == (50, 1000.0, 0.0)


def test_the_weights_digest_is_sha256_of_names_and_fp32_bytes_in_order() -> None:
    """Recomputed by hand for a 2 -> 1 linear layer held in fp64."""
    layer = torch.nn.Linear(2, 1).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -1.0]]))
        layer.bias.fill_(2.0)
    expected = hashlib.sha256(
        b"weight" + struct.pack("<2f", 0.5, -1.0) + b"bias" + struct.pack("<f", 2.0)
    ).hexdigest()
    assert weights_digest(layer) == expected


def test_exactly_one_full_batch_of_training_images_is_enough(tiny: CIFAR10) -> None:
    """TINY leaves 100 training images: a batch of 100 is one full batch, of 101 none."""
    cpu = torch.device("cpu")
    split = train_module.prepare(tiny, preset("smoke", **{**TINY, "batch_size": 100}), cpu)
    assert split.sizes["n_train"] == 100
    with pytest.raises(ValueError, match=r"^100 training images .* no full batch of 101;"):
        train_module.prepare(tiny, preset("smoke", **{**TINY, "batch_size": 101}), cpu)


@pytest.mark.parametrize("n_train, n_test", [(None, 20), (60, None), (40, 30)])
def test_the_training_and_test_subsets_take_each_their_own_size(
    tiny: CIFAR10, n_train: int | None, n_test: int | None
) -> None:
    """Of 100 training (after 20 held out) and 40 test images; None keeps them all."""
    cfg = preset("smoke", **{**TINY, "n_train": n_train, "n_test": n_test})
    split = train_module.prepare(tiny, cfg, torch.device("cpu"))
    sizes = {"n_train": n_train or 100, "n_val": 20, "n_test": n_test or 40}
    assert split.sizes == sizes
    assert (len(split.train[1]), len(split.val[1]), len(split.test[1])) == tuple(sizes.values())


def test_a_run_that_diverges_saves_no_net(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its weights are no result: no model file, no digest, no test metrics."""
    monkeypatch.setattr(train_module, "train_epoch", lambda run, bar, epoch: (150.0, 0.1))
    cfg = preset("smoke", epochs=2, eval_scales=(), **TINY)
    result = train(cfg, tiny, run_id="d", progress=False, model_path=tmp_path / "m.pt")
    assert (result["status"], result["diverged_epoch"], result["history"]) == ("diverged", 1, [])
    assert result["model_sha256"] is None and result["test"] == {}
    assert not (tmp_path / "m.pt").exists()


def test_the_reduced_preset_is_the_papers_recipe_at_cifar_scale() -> None:
    """The module's recipe: SGD at 1e-2, momentum 0.9, decay 5e-4, batch 256, dropout 0.5, the
    rate divided by 10 on a validation plateau at most three times; halved conv widths and an FC
    head of 512 on 32 px images, tested at 32, 64 and 96 px; 5000 held-out images."""
    cfg = preset("reduced")
    recipe = (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.batch_size, cfg.dropout, cfg.lr_factor)
    assert recipe == (1e-2, 0.9, 5e-4, 256, 0.5, 0.1)
    assert (cfg.schedule, cfg.patience, cfg.max_drops, cfg.planned_drops()) == ("plateau", 2, 3, 3)
    assert preset("reduced", max_drops=1).planned_drops() == 1  # the plateau rule's own cap
    assert (cfg.arch, cfg.init, cfg.width, cfg.fc_width, cfg.epochs) == (
        "vgg11", "kaiming", 0.5, 512, 30,
    )  # fmt: skip
    assert (cfg.crop_padding, cfg.flip, cfg.jitter) == (4, True, None)
    assert (cfg.n_val, cfg.n_train, cfg.n_test, cfg.eval_scales) == (5000, None, None, (32, 64, 96))
    assert (cfg.stall_epochs, cfg.compile, cfg.cpu_bf16, cfg.smoke) == (5, False, False, False)


def test_a_configs_net_has_its_widths_depth_norm_and_dropout() -> None:
    """``spec`` carries every option that shapes the net, at the resolution and class count
    asked for (CIFAR's 10 classes at 32 px by default)."""
    cfg = preset("smoke", arch="vgg13", batch_norm=True, width=0.25, fc_width=24, dropout=0.3)
    spec = cfg.spec(7, resolution=64)
    assert spec == VGGSpec("vgg13", 7, 64, width=0.25, fc_width=24, batch_norm=True, dropout=0.3)
    assert (spec.config, spec.num_classes, spec.resolution) == ("B", 7, 64)
    assert (spec.width, spec.fc_width, spec.batch_norm, spec.dropout) == (0.25, 24, True, 0.3)
    assert (cfg.spec().num_classes, cfg.spec().resolution) == (10, 32)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")  # no real steps
@pytest.mark.parametrize(
    "schedule, lrs",
    [
        ({"patience": 0}, [0.1, 0.1, 0.05]),  # no gain after epoch 1: halved after epoch 2
        ({"schedule": "step", "milestones": (0.34, 0.67)}, [0.1, 0.05, 0.025]),
    ],
)
def test_either_schedule_divides_the_rate_by_the_configured_factor(
    tiny: CIFAR10, monkeypatch: pytest.MonkeyPatch, schedule: dict, lrs: list[float]
) -> None:
    """With ``lr_factor`` 0.5 each drop halves the rate (not the paper's division by 10)."""
    scripted = iter([0.5, 0.4, 0.4])
    monkeypatch.setattr(train_module, "accuracy", lambda model, batches: next(scripted))
    monkeypatch.setattr(train_module, "train_epoch", lambda run, bar, epoch: (2.0, 0.5))
    cfg = preset("smoke", epochs=3, lr=0.1, lr_factor=0.5, eval_scales=(), **schedule, **TINY)
    history = train(cfg, tiny, run_id="f", progress=False)["history"]
    assert [h["lr"] for h in history] == pytest.approx(lrs)


def test_a_results_file_records_the_run_its_saved_net_and_that_nets_test_errors(
    tiny: CIFAR10, tmp_path: Path, loaders: list[DeviceLoader]
) -> None:
    """The result names its run (grid "single" unless given), seed and whole configuration; its
    parameter count and weights digest are those of the net saved to ``model_path``, and its
    test errors are that net's on the test split (every image of it, at every test scale)."""
    cfg = preset("smoke", epochs=1, seed=3, eval_scales=(32, 64), **TINY)
    result = train(cfg, tiny, run_id="g/r", model_path=tmp_path / "m.pt", progress=False)
    assert (result["run_id"], result["grid"], result["seed"]) == ("g/r", "single", 3)
    assert result["config"] == dataclasses.asdict(cfg)
    net = load_model(tmp_path / "m.pt")
    assert result["params"] == sum(p.numel() for p in net.parameters())
    assert result["model_sha256"] == weights_digest(net)
    test_batches = loaders[2]
    assert torch.equal(test_batches.labels, tiny.test_labels)
    assert result["test"] == evaluate(net, test_batches, cfg.eval_scales)


def test_a_net_saved_to_a_path_given_as_text_loads_back_unchanged(tmp_path: Path) -> None:
    """``save_model`` takes a path as text too and returns it as a ``Path``; by default it keeps
    the weights in fp32, so the net read back (from a path as text) has the same digest."""
    torch.manual_seed(0)
    net = build(VGGSpec("A", num_classes=10, resolution=32, width=1 / 16, fc_width=8,
                        batch_norm=True))  # fmt: skip
    saved = save_model(net, str(tmp_path / "net.pt"))
    assert isinstance(saved, Path) and saved == tmp_path / "net.pt"
    assert weights_digest(load_model(str(saved))) == weights_digest(net)


def test_a_warm_started_run_starts_from_net_as_layers(tiny: CIFAR10, tmp_path: Path) -> None:
    """A deeper net whose ``warm_start`` names a saved net A (as text, as a results file
    records it) starts with A's first convolution and A's classifier, not its own draws."""
    torch.manual_seed(7)
    net_a = build(preset("smoke", **TINY).spec())
    cfg = preset("smoke", arch="vgg13", warm_start=str(save_model(net_a, tmp_path / "a.pt")),
                 **TINY)  # fmt: skip
    cpu = torch.device("cpu")
    model = train_module.setup(cfg, tiny, train_module.prepare(tiny, cfg, cpu), cpu).model
    assert torch.equal(model.features[0].weight, net_a.features[0].weight)
    assert torch.equal(model.classifier[-1].weight, net_a.classifier[-1].weight)


def test_a_run_given_no_epochs_reports_no_throughput(tiny: CIFAR10) -> None:
    """No epoch, no training time: its net is still tested, and its throughput reads 0."""
    result = train(preset("smoke", epochs=0, eval_scales=(), **TINY), tiny, run_id="z",
                   progress=False)  # fmt: skip
    assert (result["history"], result["train_time_s"], result["images_per_s"]) == ([], 0.0, 0.0)
    assert "centre" in result["test"]


def test_the_training_batches_are_drawn_as_configured_and_the_held_out_ones_plainly(
    tiny: CIFAR10,
) -> None:
    """The training loader augments with the run's padding, flips and jitter, drops a last
    partial batch and draws from a generator seeded with the run's seed; validation and test
    are read in order, unaugmented, in batches of ``eval_batch_size``. The steps run on the
    net itself, in fp32, unless compiling or bf16 is asked for."""
    options = {**TINY, "batch_size": 30, "eval_batch_size": 15}
    cfg = preset("smoke", seed=5, crop_padding=2, flip=False, jitter=(32, 40), **options)
    cpu = torch.device("cpu")
    run = train_module.setup(cfg, tiny, train_module.prepare(tiny, cfg, cpu), cpu)
    drawn = (run.train.crop_padding, run.train.flip, run.train.jitter, run.train.batch_size)
    assert drawn == (2, False, (32, 40), 30) and run.train.train and len(run.train) == 3
    seeded = torch.Generator().manual_seed(5).get_state()
    assert torch.equal(run.train.generator.get_state(), seeded)
    for held_out in (run.val, run.test):
        assert not held_out.train and held_out.batch_size == 15
    assert run.step is run.model and not run.bf16  # not compiled, fp32 unless asked
