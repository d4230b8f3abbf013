"""The training loop: a full run, determinism, divergence, and resuming after a kill."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY

from vggrepro import train as train_module
from vggrepro.data import CIFAR10
from vggrepro.results import load_result, load_runs, validate
from vggrepro.train import (
    PLAIN_LR,
    PRESETS,
    STALL_MARGIN,
    TrainConfig,
    load_model,
    preset,
    save_model,
    stalled,
    train,
)


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


@pytest.mark.parametrize("margin, status, epochs", [(1.0, "stalled", 2), (-1.0, "completed", 4)])
def test_a_run_at_chance_stops_as_stalled_and_is_still_tested(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, margin, status, epochs
) -> None:
    monkeypatch.setattr(train_module, "STALL_MARGIN", margin)  # 1.0: every accuracy is "chance"
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
    ],
)
def test_a_bad_schedule_is_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset("smoke", **options)


def test_cpu_preset_keeps_the_papers_optimiser_and_drops_within_its_budget() -> None:
    cfg = preset("cpu")
    assert (cfg.momentum, cfg.weight_decay, cfg.dropout, cfg.lr_factor) == (0.9, 5e-4, 0.5, 0.1)
    assert cfg.flip and cfg.crop_padding > 0 and not cfg.smoke
    assert cfg.schedule == "step" and cfg.planned_drops() == 2
    assert all(e < cfg.epochs for e in cfg.drop_epochs())
    assert cfg.eval_scales == () and cfg.n_train is None  # the full training split
    assert cfg.stall_epochs is not None and cfg.stall_epochs < cfg.epochs // 2


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
