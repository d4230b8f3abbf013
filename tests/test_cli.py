"""User mistakes on the command line: one clear line on stderr and exit code 2, before any data
loads or any training starts; Ctrl-C says how to resume."""

import dataclasses
import os
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.error import URLError

import pytest
import torch
import torchvision
from conftest import TINY, tiny_cifar

import vggrepro.cli as cli
import vggrepro.engine.train as training
from vggrepro.arch.models import build
from vggrepro.cli import main, parser, run_tag
from vggrepro.engine.distributed import World
from vggrepro.engine.nets import save_model
from vggrepro.engine.presets import TrainConfig, imagenet_preset, preset
from vggrepro.engine.train import train
from vggrepro.report import features
from vggrepro.results.io import load_result, save_result
from vggrepro.results.schema import ResultError

MISSING = "no-such-archive.tar.gz"  # every case below must fail before this is looked at


def saved_net(path: Path, width: float) -> Path:
    """A net A of the smoke preset's shape except for ``width``, saved as --save-model does."""
    return save_model(build(preset("smoke", arch="vgg11", width=width).spec()), path)


def truncated_checkpoint(path: Path) -> Path:
    """A checkpoint cut short, as a kill during a copy or a full disk leaves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"w": torch.zeros(4096)}, "epoch": 1}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def single_checkpoint(argv: list[str], checkpoints: Path) -> Path:
    """Where ``train`` keeps the checkpoint of the run that ``argv`` names."""
    return checkpoints / "single" / f"{run_tag(cli.config(parser().parse_args(argv)))}.ckpt.pt"


def cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Mistakes found without the data, each with a part of its one-line message."""
    (tmp / "a-file").write_text("not a folder")
    (tmp / "a-folder").mkdir()
    (tmp / "garbage.pt").write_bytes(b"not a saved net")
    (tmp / "out" / "lrn").mkdir(parents=True)
    (tmp / "out" / "lrn" / "vgg11-s0.json").write_bytes(b'{"run_id": "lrn/vgg11-s0\xff"}')
    (tmp / "cut" / "lrn").mkdir(parents=True)
    (tmp / "cut" / "lrn" / "vgg11-s0.json").write_text('{"run_id": ')  # UTF-8, cut short
    truncated_checkpoint(tmp / "ck" / "smoke" / "lrn" / "vgg11_lrn-s1.ckpt.pt")
    single = ["train", "--smoke", "--seed", "3", "--checkpoints", str(tmp / "ck")]
    truncated_checkpoint(single_checkpoint(single, tmp / "ck"))
    (tmp / "ck2").mkdir()
    (tmp / "ck2" / "single").write_text("not a folder")
    return {
        "width-rounds-to-zero": (["train", "--width", "0.001"], "rounds the 64-channel layers"),
        "width-overflows": (["train", "--width", "1e300"], "more parameters than a tensor"),
        "width-past-memory": (["train", "--width", "100000"], "GiB, more than the"),
        "no-full-batch": (
            ["train", "--n-train", "100", "--batch-size", "128"], "make no full batch of 128"
        ),
        "warm-start-missing": (["train", "--warm-start", str(tmp / "none.pt")], "no such file"),
        "warm-start-folder": (
            ["train", "--warm-start", str(tmp / "a-folder")], "a folder; give a net saved by"
        ),
        "warm-start-not-a-net": (
            ["train", "--warm-start", str(tmp / "garbage.pt")], "not a net saved by --save-model"
        ),
        "warm-start-other-width": (
            [
                "train", "--smoke", "--arch", "vgg19",
                "--warm-start", str(saved_net(tmp / "wide.pt", width=0.5)),
            ],
            "cannot warm-start",
        ),
        "out-is-a-file": (["train", "--out", str(tmp / "a-file")], "--out"),
        "checkpoints-is-a-file": (["train", "--checkpoints", str(tmp / "a-file")], "--checkpoints"),
        "save-model-in-a-file": (
            ["train", "--save-model", str(tmp / "a-file" / "m.pt")], "--save-model"
        ),
        "save-model-is-a-folder": (
            ["train", "--save-model", str(tmp / "a-folder")], "--save-model"
        ),
        "train-truncated-checkpoint": (
            single, f"{single_checkpoint(single, tmp / 'ck')}: unreadable checkpoint"
        ),
        "run-out-is-a-file": (["run", "lrn", "--out", str(tmp / "a-file")], "--out"),
        "run-checkpoints-is-a-file": (
            ["run", "lrn", "--checkpoints", str(tmp / "a-file")], "--checkpoints"
        ),
        "run-results-not-utf8": (
            ["run", "lrn", "--smoke", "--out", str(tmp / "out")],
            f"{tmp / 'out' / 'lrn' / 'vgg11-s0.json'}: not a readable results file (not UTF-8",
        ),
        "retest-results-not-utf8": (
            ["retest", "lrn", "--out", str(tmp / "out")],
            f"{tmp / 'out' / 'lrn' / 'vgg11-s0.json'}: not valid JSON ('utf-8' codec",
        ),
        "run-truncated-checkpoint": (
            ["run", "lrn", "--smoke", "--checkpoints", str(tmp / "ck")],
            f"{tmp / 'ck' / 'smoke' / 'lrn' / 'vgg11_lrn-s1.ckpt.pt'}: unreadable checkpoint "
            "(cut short, or not a checkpoint); delete it to start this run over",
        ),
        "run-results-not-json": (
            ["run", "lrn", "--smoke", "--out", str(tmp / "cut")],
            f"{tmp / 'cut' / 'lrn' / 'vgg11-s0.json'}: not a readable results file (Expecting",
        ),
        "run-all-truncated-checkpoint": (  # "all" checks the checkpoints of every grid
            ["run", "all", "--smoke", "--checkpoints", str(tmp / "ck")],
            f"{tmp / 'ck' / 'smoke' / 'lrn' / 'vgg11_lrn-s1.ckpt.pt'}: unreadable checkpoint",
        ),
        "single-checkpoints-is-a-file": (  # train keeps its checkpoints in <folder>/single
            ["train", "--checkpoints", str(tmp / "ck2")], f"--checkpoints {tmp / 'ck2' / 'single'}"
        ),
        "run-unknown-run": (["run", "lrn", "--runs", "vgg11_lrn", "nope"], "has no run 'nope'"),
        "imagenet-options-without-imagenet": (
            ["train", "--smoke", "--scale", "40", "--loader-workers", "2"],
            "--loader-workers, --scale: options of --preset imagenet only",
        ),
        "cifar-options-with-imagenet": (
            ["train", "--preset", "imagenet", "--n-val", "20", "--cache", "c", "--smoke"],
            "--cache, --n-val, --smoke: not an option of --preset imagenet",
        ),
    }  # fmt: skip


CASE_NAMES = [
    "width-rounds-to-zero", "width-overflows", "width-past-memory", "no-full-batch",
    "warm-start-missing", "warm-start-folder", "warm-start-not-a-net", "warm-start-other-width",
    "out-is-a-file", "checkpoints-is-a-file", "save-model-in-a-file", "save-model-is-a-folder",
    "train-truncated-checkpoint", "run-out-is-a-file", "run-checkpoints-is-a-file",
    "run-results-not-utf8", "retest-results-not-utf8", "run-truncated-checkpoint",
    "run-results-not-json", "run-all-truncated-checkpoint", "single-checkpoints-is-a-file",
    "run-unknown-run", "imagenet-options-without-imagenet", "cifar-options-with-imagenet",
]  # fmt: skip


def test_every_case_is_tried(tmp_path: Path) -> None:
    assert sorted(cases(tmp_path)) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_mistakes_are_one_line_before_the_data_loads(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, message = cases(tmp_path)[name]
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: pytest.fail("the data was loaded"))
    monkeypatch.chdir(tmp_path)  # the default --out and --checkpoints land here
    assert main([*argv, "--data", MISSING]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--jitter", "73,37"], "needs 32 <= SMIN <= SMAX"),
        (["train", "--jitter", "16,40"], "needs 32 <= SMIN <= SMAX"),
        (["train", "--jitter", "37"], "expected SMIN,SMAX such as 37,73, got '37'"),
        (["train", "--width", "inf"], "must be a positive finite number"),
        (["train", "--lr", "nan"], "must be a positive finite number"),
        (["train", "--lr", "0"], "must be a positive finite number"),  # zero is not positive
        (["train", "--batch-size", "0"], "must be a positive integer"),
        (["train", "--width", "-0.5"], "must be a positive finite number"),
        (["train", "--width", "nan"], "must be a positive finite number"),
        (["train", "--seed", "-1"], "must be an integer from 0"),  # the schema's range
        (["train", "--seed", str(2**64)], "must be an integer from 0"),  # past torch's RNG
        (["run", "lrn", "--seeds", "0", "-1"], "must be an integer from 0"),
    ],
)
def test_bad_values_are_refused_by_the_parser(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--data", MISSING])
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train"], ["run", "lrn"], ["retest", "lrn"]])
def test_cuda_without_a_gpu_is_named(
    command: list[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*command, "--device", "cuda", "--data", MISSING]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_an_empty_data_path_is_refused(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["train", "--smoke", "--data", "", "--out", str(tmp_path)]) == 2
    assert "empty path" in capsys.readouterr().err


def test_torchvision_without_a_network_is_one_line(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    argv = ["train", "--smoke", "--data", "torchvision", "--cache", str(tmp_path)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot download CIFAR-10 through torchvision" in err and "--data" in err


def test_a_split_the_data_cannot_give_is_refused_before_training(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    common = ["train", "--smoke", "--quiet", "--data", str(tiny_folder)]
    common += ["--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    common += ["--checkpoints", str(tmp_path / "ck")]
    assert main([*common, "--n-val", "200"]) == 2  # 12 training images per class
    assert "n_val=200 validation images: class airplane has 12 images, need 20" in (
        capsys.readouterr().err
    )
    assert main([*common, "--n-val", "120"]) == 2  # all of them: none left to train on
    assert "0 training images (after holding out n_val=120" in capsys.readouterr().err
    assert main([*common, "--n-val", "20", "--batch-size", "500"]) == 2
    assert "no full batch of 500" in capsys.readouterr().err
    assert list((tmp_path / "o").glob("*.json")) == []
    assert list((tmp_path / "ck").rglob("*.pt")) == []  # refused before the first epoch


def test_a_grid_the_data_cannot_give_is_one_line_before_training(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The smoke preset holds out 25 images per class; the tiny data has 12."""
    argv = ["run", "lrn", "--smoke", "--quiet", "--seeds", "0", "--data", str(tiny_folder)]
    argv += ["--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--checkpoints", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err
    assert err == "error: n_val=250 validation images: class airplane has 12 images, need 25\n"
    assert list((tmp_path / "o").rglob("*.json")) == []
    assert list((tmp_path / "ck").rglob("*.pt")) == []


def test_a_truncated_checkpoint_is_named_with_the_way_out(tmp_path: Path) -> None:
    cfg = preset("smoke", epochs=1, **TINY)
    ckpt = tmp_path / "run.ckpt.pt"
    train(cfg, tiny_cifar(), run_id="r", checkpoint=ckpt, progress=False)
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(ValueError, match="unreadable checkpoint .*delete it to start this run"):
        train(cfg, tiny_cifar(), run_id="r", checkpoint=ckpt, progress=False)


def test_a_results_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe{not json")
    with pytest.raises(ResultError, match="bad.json: not valid JSON"):
        load_result(path)


def test_ctrl_c_during_training_keeps_the_checkpoint_and_the_rerun_resumes(
    tiny_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = [
        "train", "--smoke", "--quiet", "--epochs", "2", "--n-val", "20", "--batch-size", "20",
        "--data", str(tiny_folder), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
        "--checkpoints", str(tmp_path / "ck"),
    ]  # fmt: skip
    validations = []
    validate = training.accuracy

    def ctrl_c_in_epoch_two(*args, **kwargs):  # Ctrl-C once epoch 1's checkpoint is written
        validations.append(1)
        if len(validations) == 2:
            raise KeyboardInterrupt
        return validate(*args, **kwargs)

    monkeypatch.setattr(training, "accuracy", ctrl_c_in_epoch_two)
    try:
        assert main(argv) == 130
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C left main as a traceback")
    err = capsys.readouterr().err
    assert err == (
        f"interrupted: every finished epoch is kept in its checkpoint under {tmp_path / 'ck'}; "
        "run the same command again to resume\n"
    )
    (checkpoint,) = (tmp_path / "ck" / "single").glob("*.ckpt.pt")
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    assert list((tmp_path / "o").glob("*.json")) == []

    validations.clear()
    monkeypatch.setattr(
        training, "accuracy", lambda *a, **k: validations.append(1) or validate(*a, **k)
    )
    assert main(argv) == 0
    assert len(validations) == 1  # resumed: only epoch 2 was trained again
    (result,) = (load_result(p) for p in (tmp_path / "o").glob("*.json"))
    assert [h["epoch"] for h in result["history"]] == [1, 2]


def test_ctrl_c_elsewhere_is_one_line(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "export", interrupt)
    assert main(["export", str(tmp_path / "m.pt"), str(tmp_path / "h.pt")]) == 130
    assert capsys.readouterr().err == "interrupted: export stopped before it finished\n"


def test_ctrl_c_says_how_to_resume(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_cifar10", interrupt)
    assert main(["train", "--smoke", "--out", str(tmp_path), "--checkpoints", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted:") and "run the same command again" in err
    assert err.count("\n") == 1


# Every training option is part of the run's name, so no two configurations share files.
OTHER_VALUES = {
    "arch": "vgg13", "batch_norm": True, "init": "paper", "warm_start": "a.pt", "width": 0.25,
    "fc_width": 64, "dropout": 0.25, "epochs": 31, "batch_size": 128, "lr": 0.02,
    "momentum": 0.8, "weight_decay": 1e-4, "lr_factor": 0.5, "schedule": "step",
    "patience": 3, "max_drops": 2, "milestones": (0.25, 0.75), "crop_padding": 2, "flip": False,
    "jitter": (37, 73), "n_val": 1000, "n_train": 1000, "n_test": 1000,
    "eval_scales": (32,), "eval_batch_size": 500, "seed": 1, "stall_epochs": 3,
    "compile": True, "cpu_bf16": True, "preset": "cpu", "smoke": True,
}  # fmt: skip
"""Another value of every ``TrainConfig`` field (a field added later must be added here)."""


def test_every_option_of_a_run_changes_its_name() -> None:
    base = TrainConfig()
    assert sorted(OTHER_VALUES) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    tags = {run_tag(base)}
    for name, value in OTHER_VALUES.items():
        other = {name: value}
        if name in ("schedule", "milestones"):  # each needs the other
            other = {"schedule": "step", "milestones": (0.5,), **other}
        tags.add(run_tag(dataclasses.replace(base, **other)))
    assert len(tags) == 1 + len(OTHER_VALUES)
    assert run_tag(TrainConfig()) == run_tag(base)  # and the same run finds its files again


@pytest.mark.parametrize(
    "option, value, field, expected",
    [
        ("--arch", "vgg13", "arch", "vgg13"), ("--bn", None, "batch_norm", True),
        ("--init", "glorot", "init", "glorot"), ("--warm-start", "a.pt", "warm_start", "a.pt"),
        ("--seed", "4", "seed", 4), ("--preset", "cpu", "preset", "cpu"),
        ("--smoke", None, "smoke", True), ("--width", "0.25", "width", 0.25),
        ("--fc-width", "64", "fc_width", 64), ("--batch-size", "32", "batch_size", 32),
        ("--lr", "0.5", "lr", 0.5), ("--jitter", "40,50", "jitter", (40, 50)),
        ("--n-train", "300", "n_train", 300), ("--n-val", "30", "n_val", 30),
        ("--n-test", "70", "n_test", 70), ("--epochs", "3", "epochs", 3),
        ("--compile", None, "compile", True),
    ],
)  # fmt: skip
def test_every_train_option_reaches_the_configuration_and_the_name(
    option: str, value: str | None, field: str, expected: object
) -> None:
    base = cli.config(parser().parse_args(["train"]))
    cfg = cli.config(parser().parse_args(["train", option] + ([value] if value else [])))
    assert getattr(cfg, field) == expected != getattr(base, field)
    assert run_tag(cfg) != run_tag(base)


@pytest.fixture(scope="module")
def trained(tiny_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A net saved by ``train --save-model`` and the results file of the run that trained it."""
    tmp_path = tmp_path_factory.mktemp("trained")
    argv = [
        "train", "--smoke", "--quiet", "--n-val", "20", "--batch-size", "20",
        "--data", str(tiny_folder), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
        "--checkpoints", str(tmp_path / "ck"), "--save-model", str(tmp_path / "m.pt"),
    ]  # fmt: skip
    assert main(argv) == 0
    (result,) = (tmp_path / "o").glob("*.json")
    return tmp_path / "m.pt", result


@pytest.mark.parametrize(
    "change, message",
    [
        ({"config": {"width": 0.125}}, "is the results file of another run|(another net)"),
        ({"model_sha256": "0" * 64}, "is the results file of another run|(other weights)"),
        ({"model_sha256": None}, "records no model_sha256"),  # cannot tell
    ],
)
def test_export_refuses_a_results_file_it_cannot_match_and_writes_nothing(
    change: dict, message: str, trained: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    model, result_path = trained
    result = load_result(result_path)
    result = {**result, **change, "config": {**result["config"], **change.get("config", {})}}
    other = save_result(result, tmp_path / "other.json")
    capsys.readouterr()
    assert main(["export", str(model), str(tmp_path / "x.pt"), "--result", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert all(part in err for part in message.split("|"))  # and why: another net or weights
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.json").exists()


def test_export_writes_no_net_where_its_results_file_cannot_go(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model, result = trained
    (tmp_path / "x.json").mkdir()  # the results file's place is taken by a folder
    assert main(["export", str(model), str(tmp_path / "x.pt"), "--result", str(result)]) == 2
    assert "x.json is a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    assert main(["export", str(model), str(tmp_path / "y.pt"), "--result", str(result)]) == 0
    assert load_result(tmp_path / "y.json") == load_result(result)
    state = torch.load(tmp_path / "y.pt", weights_only=True)["state_dict"]
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    assert floats and set(floats) == {torch.float16}  # half the size to ship


def test_export_removes_its_net_when_the_results_file_cannot_be_written(
    trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "save_result", disk_full)
    model, result = trained
    assert main(["export", str(model), str(tmp_path / "x.pt"), "--result", str(result)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither the net nor a temporary file


def net_with_result(trained: tuple[Path, Path], folder: Path, **change) -> Path:
    """The trained net copied to ``folder``/net.pt with its results file (``change`` applied)
    beside it as net.json, as ``results/models`` holds them."""
    model, result = trained
    folder.mkdir(exist_ok=True)
    (folder / "net.pt").write_bytes(model.read_bytes())
    save_result({**load_result(result), **change}, folder / "net.json")
    return folder / "net.pt"


def test_probe_records_the_probes_in_the_nets_results_file(
    trained: tuple[Path, Path], tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    net = net_with_result(trained, tmp_path / "models", smoke=False, preset="cpu")
    before = load_result(net.with_suffix(".json"))
    argv = ["probe", str(net), "--data", str(tiny_folder), "--cache", str(tmp_path / "c")]
    assert main([*argv, "--quiet"]) == 0
    assert f"recorded in {net.with_suffix('.json')}" in capsys.readouterr().out
    after = load_result(net.with_suffix(".json"))
    assert {k: v for k, v in after.items() if k != "probe"} == before
    assert after["probe"]["data"]["checksum"] == before["data"]["checksum"]
    assert [row["stage"] for row in after["probe"]["rows"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "setup, message",
    [
        ("missing", "none.pt: no such saved net"),
        ("no-results-file", "net.json"),
        ("smoke", "a smoke model has no features to probe"),
        ("other-data", "was trained on other data"),
    ],
)
def test_probe_mistakes_are_one_line(
    setup: str, message: str, trained: tuple[Path, Path], tiny_folder: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A missing net or results file and a smoke net are refused before the data loads; data
    other than the run's once it has loaded, with the results file left as it was."""
    net = net_with_result(trained, tmp_path, smoke=setup == "smoke", preset="cpu")
    data = ["--data", MISSING]
    if setup == "missing":
        net = tmp_path / "none.pt"
    elif setup == "no-results-file":
        net.with_suffix(".json").unlink()
    elif setup == "other-data":
        other = dataclasses.replace(tiny_cifar(), source="other", checksum="f" * 64)
        monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: other)
    if setup != "other-data":
        monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: pytest.fail("data loaded"))
    before = net.with_suffix(".json").read_bytes() if net.with_suffix(".json").exists() else None
    assert main(["probe", str(net), *data]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    if before is not None:
        assert net.with_suffix(".json").read_bytes() == before


@pytest.mark.parametrize("n_val", ["0", "5", "-10", "15"])
def test_a_validation_split_of_no_image_per_class_or_an_odd_size_is_refused(n_val: str) -> None:
    with pytest.raises(SystemExit) as e:
        parser().parse_args(["train", "--n-val", n_val])
    assert e.value.code == 2
    assert parser().parse_args(["train", "--n-val", "10"]).n_val == 10


def test_the_size_check_counts_weights_gradients_and_momentum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = preset("smoke", arch="vgg11")
    with torch.device("meta"):
        params = sum(p.numel() for p in cli.build(cfg.spec()).parameters())
    device = torch.device("cpu")
    monkeypatch.setattr(cli, "_memory", lambda device: 3 * 4 * params)  # exactly enough
    cli._check_size(cfg, device)
    monkeypatch.setattr(cli, "_memory", lambda device: 3 * 4 * params - 1)  # weights fit
    with pytest.raises(cli.UsageError, match="weights, gradients and momentum alone need"):
        cli._check_size(cfg, device)
    monkeypatch.setattr(cli, "_memory", lambda device: 2**10)  # the message's sizes in GiB
    with pytest.raises(cli.UsageError) as info:
        cli._check_size(cfg, device)
    assert str(info.value) == (
        f"--width {cfg.width:g} and --fc-width {cfg.fc_width}: a net of {params:.3g} parameters, "
        f"whose weights, gradients and momentum alone need {12 * params / 2**30:.3g} GiB, more "
        "than the 9.54e-07 GiB of the cpu"
    )


def test_the_parsers_boundaries_are_accepted_and_one_step_beyond_refused(
    capsys: pytest.CaptureFixture,
) -> None:
    argv = ["train", "--jitter", "32,32", "--seed", str(2**63 - 1), "--epochs", "1"]
    args = parser().parse_args(argv)
    assert args.jitter == (32, 32) and args.seed == 2**63 - 1 and args.epochs == 1
    for bad in (["--seed", str(2**63)], ["--seed", "-1"], ["--jitter", "31,40"], ["--epochs", "0"]):
        with pytest.raises(SystemExit) as stop:
            parser().parse_args(["train", *bad])
        assert stop.value.code == 2
    assert "from 0 to 2**63 - 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, tier", [(["--smoke"], "smoke"), (["--preset", "cpu"], "cpu"), ([], "runs")]
)
def test_run_writes_to_its_tiers_folders_by_default(
    argv: list[str], tier: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    """``run`` records under results/<tier folder> and checkpoints under .checkpoints/<tier
    folder> (``results.TIERS``): --smoke is the smoke tier whatever --preset says."""

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_cifar10", interrupt)  # the folders are made before the data
    monkeypatch.chdir(tmp_path)
    assert main(["run", "lrn", *argv, "--data", MISSING]) == 130
    assert capsys.readouterr().err == (  # Ctrl-C in a grid run says how to resume it too
        "interrupted: every finished epoch is kept in its checkpoint under .checkpoints; "
        "run the same command again to resume\n"
    )
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [tier]
    assert sorted(p.name for p in (tmp_path / ".checkpoints").iterdir()) == [tier]


def test_retest_reads_the_presets_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main(["retest", "lrn", "--preset", "smoke", "--data", MISSING]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"error: {Path('results/smoke/lrn')}: no recorded runs of the lrn grid to retest\n"
    )


def test_an_error_of_several_lines_is_printed_on_one(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a message holds (a path's error, a wrapped sentence), ``main`` prints one line."""

    def refuse(args) -> int:
        raise cli.UsageError("first line\n  second\tline \n")

    monkeypatch.setattr(cli, "_run", refuse)
    assert main(["chapter", "depth"]) == 2
    assert capsys.readouterr().err == "error: first line second line\n"


def test_python_dash_m_exits_with_the_commands_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """``python -m vggrepro`` ends the process with ``main``'s exit code (2 for a mistake)."""
    import runpy

    monkeypatch.setattr("sys.argv", ["vggrepro", "chapter", "nope", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("vggrepro", run_name="__main__")
    assert info.value.code == 2 and "unknown chapter 'nope'" in capsys.readouterr().err


def test_the_documented_defaults_are_the_parsers() -> None:
    """The defaults that ``--help`` states: results/single, .checkpoints, 8 loader workers, the
    reduced preset for train and run, one worker, retest's CPU tier at the scales of score
    maps of 1x1, 2x2 and 3x3 (multiples of the 32 px images), and chapter's notebooks folder
    and cell timeout."""
    t = parser().parse_args(["train"])
    assert (t.out, t.checkpoints, t.loader_workers) == (
        Path("results/single"), Path(".checkpoints"), 8
    )  # fmt: skip
    assert (t.preset, t.smoke, t.seed, t.arch, t.init) == ("reduced", False, 0, "vgg11", "kaiming")
    r = parser().parse_args(["run", "lrn"])
    assert (r.preset, r.workers, r.out, r.seeds, r.runs) == ("reduced", 1, None, None, None)
    x = parser().parse_args(["retest", "lrn"])
    assert (x.preset, x.scales, x.checkpoints) == ("cpu", [32 * k for k in (1, 2, 3)],
                                                   Path(".checkpoints"))  # fmt: skip
    c = parser().parse_args(["chapter", "depth"])
    assert (c.out, c.timeout) == (cli.chapters.NOTEBOOKS, cli.chapters.TIMEOUT)


def test_a_runs_name_is_its_net_init_and_seed_then_a_digest() -> None:
    """'vgg11_bn-kaiming-s0-' and 8 hex digits: batch norm shows as '_bn', none as nothing."""
    assert re.fullmatch(r"vgg11-kaiming-s0-[0-9a-f]{8}", run_tag(TrainConfig()))
    cfg = TrainConfig(arch="vgg13", batch_norm=True, init="paper", seed=17)
    assert re.fullmatch(r"vgg13_bn-paper-s17-[0-9a-f]{8}", run_tag(cfg))


def test_run_hands_its_options_to_the_grid_and_counts_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every option of ``run`` reaches ``run_grid``: the smoke tier's checkpoint folder, seeds
    in the order given, the runs, workers, device, no progress bars with --quiet, --epochs and
    --compile; options not given are left to the grid."""
    calls, loads, data = [], [], object()
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: loads.append((a, k)) or data)
    monkeypatch.setattr(cli, "run_grid", lambda *a, **k: calls.append((a, k)) or ["a", "b"])
    workers = min(2, os.cpu_count() or 1)
    out, ck = tmp_path / "o", tmp_path / "ck"
    common = ["--out", str(out), "--checkpoints", str(ck), "--data", "d.tar"]
    argv = ["run", "lrn", "--smoke", "--seeds", "5", "2", "--runs", "vgg11_lrn", "--quiet"]
    argv += ["--workers", str(workers), "--epochs", "3", "--compile", "--device", "cpu"]
    assert main([*argv, *common, "--cache", str(tmp_path / "c")]) == 0
    assert loads == [(("d.tar", tmp_path / "c"), {"progress": False})]
    assert calls == [(("lrn", data), {
        "out": out, "checkpoints": ck / "smoke", "seeds": (5, 2), "tier": "smoke",
        "runs": ("vgg11_lrn",), "workers": workers, "device": "cpu", "progress": False,
        "compile": True, "epochs": 3,
    })]  # fmt: skip
    assert capsys.readouterr().out == f"2 runs recorded under {out}\n"
    calls.clear()
    assert main(["run", "lrn", *common]) == 0
    assert calls == [(("lrn", data), {
        "out": out, "checkpoints": ck / "runs", "seeds": None, "tier": "reduced", "runs": None,
        "workers": 1, "device": None, "progress": True, "compile": False,
    })]  # fmt: skip


@pytest.mark.parametrize(
    "status, test, shown",
    [
        ("completed", {"centre": {"top1_error": 12.3456}}, "12.35%"),
        ("stalled", {"centre": {"top1_error": 40.0}}, "40.00%"),
        ("diverged", {}, "nan%"),  # a diverged run is never tested
    ],
)
def test_train_runs_under_its_name_and_reports_the_status(
    status: str, test: dict, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``train`` names the run 'single/<tag>' with its results file, checkpoint and net where
    the options say, and prints its status and centre error, or nan when it was not tested."""
    calls, data = [], object()
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: data)
    result = {"status": status, "test": test}
    monkeypatch.setattr(cli, "train", lambda *a, **k: calls.append((a, k)) or result)
    out, ck, net = tmp_path / "o", tmp_path / "ck", tmp_path / "nets" / "m.pt"
    argv = ["train", "--smoke", "--seed", "4", "--quiet", "--device", "cpu", "--data", "d"]
    argv += ["--out", str(out), "--checkpoints", str(ck), "--save-model", str(net)]
    cfg = cli.config(parser().parse_args(argv))
    tag = run_tag(cfg)
    assert main(argv) == 0
    assert calls == [((cfg, data), {
        "run_id": f"single/{tag}", "out": out / f"{tag}.json",
        "checkpoint": ck / "single" / f"{tag}.ckpt.pt", "device": "cpu", "progress": False,
        "model_path": net,
    })]  # fmt: skip
    expected = f"{tag}: {status}, centre top-1 error {shown} -> {out / tag}.json\n"
    assert capsys.readouterr().out == expected


def test_retest_reads_the_cpu_tier_and_its_nets_by_default(
    tiny_run: dict, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """With no --preset, ``retest`` retests results/cpu/<grid> with the nets the CPU tier saved
    under .checkpoints/cpu, at the default scales, and counts the runs it changed; the options
    given choose the tier's nets, the folder, scales, device and progress bars."""
    monkeypatch.chdir(tmp_path)
    save_result(tiny_run, tmp_path / "results" / "cpu" / "lrn" / "vgg11-s0.json")
    calls, data = [], object()
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: data)
    monkeypatch.setattr(cli, "retest_grid", lambda *a, **k: calls.append((a, k)) or ["x"])
    assert main(["retest", "lrn", "--data", MISSING]) == 0
    folder = Path("results") / "cpu" / "lrn"
    assert calls == [((folder, Path(".checkpoints") / "cpu", data), {
        "scales": (32, 64, 96), "device": None, "progress": True,
    })]  # fmt: skip
    assert capsys.readouterr().out == f"1 runs retested under {folder}\n"
    calls.clear()  # the reduced tier's nets are under <checkpoints>/runs, its results in --out
    out, ck = tmp_path / "o", tmp_path / "ck"
    save_result(tiny_run, out / "lrn" / "vgg11-s0.json")
    argv = ["retest", "lrn", "--preset", "reduced", "--out", str(out), "--checkpoints", str(ck)]
    argv += ["--scales", "64", "--device", "cpu", "--quiet", "--data", MISSING]
    assert main(argv) == 0
    assert calls == [((out / "lrn", ck / "runs", data), {
        "scales": (64,), "device": "cpu", "progress": False,
    })]  # fmt: skip


@pytest.mark.parametrize("kind", ["torch-file-without-a-spec", "not-a-torch-file", "truncated"])
def test_exporting_a_file_that_is_not_a_saved_net_is_one_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A torch file without a net's spec (a checkpoint, say), bytes that torch cannot unpickle,
    or a saved net cut short: each is refused in one line naming the file, nothing written."""
    source = tmp_path / "other.pt"
    if kind == "torch-file-without-a-spec":
        torch.save({"epoch": 3}, source)
    elif kind == "not-a-torch-file":
        source.write_bytes(b"not a net at all")
    else:
        whole = saved_net(tmp_path / "whole.pt", width=0.25).read_bytes()
        source.write_bytes(whole[: len(whole) // 2])
    assert main(["export", str(source), str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(source) in err and "not a net saved by --save-model" in err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize(
    "test, shown", [({"centre": {"top1_error": 12.3456}}, "12.35%"), ({}, "nan%")]
)
def test_an_imagenet_run_writes_under_results_imagenet_and_its_checkpoint_folder(
    test: dict, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    """``train --preset imagenet`` with no --out writes results/imagenet/<tag>.json, keeps its
    checkpoint under <checkpoints>/imagenet (a cut-off one is refused), warm-starts from a net
    of the data's classes, and hands the options given (and only those) to the ImageNet
    trainer."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    small = {"width": 0.0625, "fc_width": 16}
    net_a = save_model(build(imagenet_preset(**small).spec(3)), tmp_path / "a.pt")
    data = SimpleNamespace(classes=["c0", "c1", "c2"])
    monkeypatch.setattr(cli, "scan", lambda folder: data)
    calls = []
    result = {"status": "completed", "test": test}
    monkeypatch.setattr(cli, "train_imagenet", lambda *a, **k: calls.append((a, k)) or result)
    ck, net = tmp_path / "ck", tmp_path / "nets" / "m.pt"
    argv = [
        "train", "--preset", "imagenet", "--arch", "vgg13", "--warm-start", str(net_a),
        "--width", "0.0625", "--fc-width", "16", "--eval-scales", "256", "384", "--seed", "2",
        "--device", "cpu", "--quiet", "--loader-workers", "3", "--checkpoints", str(ck),
        "--save-model", str(net),
    ]  # fmt: skip
    assert main(argv) == 2  # no --data: nothing to train on
    assert "--preset imagenet needs --data" in capsys.readouterr().err
    torchrun = {"RANK": "0", "WORLD_SIZE": "3", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": "29500"}  # fmt: skip
    with monkeypatch.context() as env:  # the preset's batch of 256 over 3 processes
        for name, value in torchrun.items():
            env.setenv(name, value)
        env.setattr(cli.distributed, "start", lambda *a: pytest.fail("joined a process group"))
        assert main([*argv, "--data", "imnet"]) == 2
    assert "global batch of 256 does not divide evenly over 3" in capsys.readouterr().err
    assert main([*argv, "--data", "imnet"]) == 0
    cfg = imagenet_preset(
        arch="vgg13", warm_start=str(net_a), eval_scales=(256, 384), seed=2, **small
    )
    tag, out = run_tag(cfg), Path("results") / "imagenet"
    assert calls == [((cfg, data, World(), torch.device("cpu")), {
        "run_id": f"imagenet/{tag}", "out": out / f"{tag}.json",
        "checkpoint": ck / "imagenet" / f"{tag}.ckpt.pt", "model_path": net, "workers": 3,
        "progress": False,
    })]  # fmt: skip
    assert (tmp_path / out).is_dir() and (ck / "imagenet").is_dir() and net.parent.is_dir()
    assert (
        capsys.readouterr().out
        == f"{tag}: completed, centre top-1 error {shown} -> {out / tag}.json\n"
    )
    checkpoint = truncated_checkpoint(ck / "imagenet" / f"{tag}.ckpt.pt")
    assert main([*argv, "--data", "imnet"]) == 2 and len(calls) == 1  # named, not resumed
    assert f"{checkpoint}: unreadable checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "run"])
def test_a_cifar_command_under_torchrun_is_refused(
    command: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several processes started by torchrun would train the same CIFAR run: refused, naming the
    command; a world of one (WORLD_SIZE=1) is not refused for it."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: pytest.fail("the data was loaded"))
    argv = [command, *(["lrn"] if command == "run" else []), "--smoke", "--data", MISSING]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: started as one of 2 processes (torchrun), but only --preset imagenet trains "
        f"across processes; run {command} without torchrun\n"
    )
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(cli, "_run_grid", lambda args: 0)
    monkeypatch.setattr(cli, "_train_one", lambda args: 0)
    assert main(argv) == 0


@pytest.mark.parametrize("outcome", ["written", "cell-failed", "cell-timed-out"])
def test_chapter_reports_a_failing_or_stalled_cell_with_exit_code_one(
    outcome: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chapter`` runs the named chapter into --out with --timeout; a cell that fails or runs
    past the timeout is named with the way out, exit code 1; a written notebook, exit code 0."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    calls = []

    def execute(name: str, out: Path, timeout: int) -> Path:
        calls.append((name, out, timeout))
        if outcome == "cell-failed":
            raise CellExecutionError("the cell's traceback", "ZeroDivisionError", "division")
        if outcome == "cell-timed-out":
            raise CellTimeoutError("Cell execution timed out")
        return out / f"{name}.ipynb"

    monkeypatch.setattr(cli.chapters, "execute", execute)
    out = tmp_path / "nb"
    code = main(["chapter", "depth", "--out", str(out), "--timeout", "7"])
    assert calls == [("depth", out, 7)] and out.is_dir()
    captured = capsys.readouterr()
    if outcome == "written":
        assert code == 0
        notebook = out / "depth.ipynb"
        assert (
            captured.out == f"wrote {notebook} (open it in Jupyter: jupyter notebook {notebook})\n"
        )
    elif outcome == "cell-failed":
        assert code == 1 and "the cell's traceback" in captured.err
        assert captured.err.endswith("error: a cell of chapter 'depth' failed (above)\n")
    else:
        assert code == 1 and captured.err == (
            "error: a cell of chapter 'depth' ran past --timeout 7 s and was stopped; give it "
            "longer with --timeout\n"
        )


def test_export_without_a_results_file_writes_the_net_alone(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Without --result, ``export`` writes the fp16 net and no results file; a DEST that is a
    folder is refused in one line, nothing written."""
    model, _ = trained
    (tmp_path / "taken.pt").mkdir()
    assert main(["export", str(model), str(tmp_path / "taken.pt")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'taken.pt'} is a folder; give the file to write\n"
    )
    assert list((tmp_path / "taken.pt").iterdir()) == []
    dest = tmp_path / "nets" / "x.pt"
    assert main(["export", str(model), str(dest)]) == 0
    assert capsys.readouterr().out == f"wrote {dest}\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x.pt"]
    state = torch.load(dest, weights_only=True)["state_dict"]
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}


def test_the_memory_of_a_device_is_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA device's memory is what CUDA reports for it; the CPU's, the machine's physical
    memory (MemTotal of /proc/meminfo, up to what the kernel keeps for itself)."""
    asked = []
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda device: asked.append(device) or SimpleNamespace(total_memory=5 * 2**30),
    )
    assert cli._memory(torch.device("cuda", 1)) == 5 * 2**30
    assert asked == [torch.device("cuda", 1)]
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text()).group(1)) * 1024
        assert total <= cli._memory(torch.device("cpu")) < 1.1 * total


def test_probe_without_a_net_probes_the_best_saved_one(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``probe`` with no NET takes the best saved net under results/models (here a smoke one,
    which is refused by its path before the data loads)."""
    net = net_with_result(trained, tmp_path / "models", smoke=True)
    best = features.SavedNet(net, load_result(net.with_suffix(".json")))
    monkeypatch.setattr(features, "find_saved_net", lambda: best)
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main(["probe", "--data", MISSING]) == 2
    assert capsys.readouterr().err == f"error: {net}: a smoke model has no features to probe\n"
