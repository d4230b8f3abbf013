"""User mistakes on the command line: one clear line on stderr and exit code 2, before any data
loads or any training starts; Ctrl-C says how to resume."""

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from conftest import TINY, tiny_cifar

import vggrepro.cli as cli
from vggrepro.cli import main
from vggrepro.models import build
from vggrepro.results import ResultError, load_result
from vggrepro.train import preset, save_model, train

MISSING = "no-such-archive.tar.gz"  # every case below must fail before this is looked at


def saved_net(path: Path, width: float) -> Path:
    """A net A of the smoke preset's shape except for ``width``, saved as --save-model does."""
    return save_model(build(preset("smoke", arch="vgg11", width=width).spec()), path)


def cases(tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "a-file").write_text("not a folder")
    (tmp / "garbage.pt").write_bytes(b"not a saved net")
    return [
        (["train", "--width", "0.001"], "rounds the 64-channel layers to zero channels"),
        (["train", "--warm-start", str(tmp / "none.pt")], "no such file"),
        (["train", "--warm-start", str(tmp / "garbage.pt")], "not a net saved by --save-model"),
        (
            [
                "train",
                "--smoke",
                "--arch",
                "vgg19",
                "--warm-start",
                str(saved_net(tmp / "wide.pt", width=0.5)),
            ],
            "cannot warm-start",
        ),  # fmt: skip
        (["train", "--out", str(tmp / "a-file")], "--out"),
        (["train", "--checkpoints", str(tmp / "a-file")], "--checkpoints"),
        (["train", "--save-model", str(tmp / "a-file" / "m.pt")], "--save-model"),
        (["run", "lrn", "--out", str(tmp / "a-file")], "--out"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_mistakes_are_one_line_before_the_data_loads(
    index: int, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, message = cases(tmp_path)[index]
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main([*argv, "--data", MISSING]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--jitter", "73,37"], "needs 32 <= SMIN <= SMAX"),
        (["train", "--jitter", "16,40"], "needs 32 <= SMIN <= SMAX"),
        (["train", "--width", "inf"], "must be a positive finite number"),
        (["train", "--lr", "nan"], "must be a positive finite number"),
    ],
)
def test_bad_values_are_refused_by_the_parser(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_cuda_without_a_gpu_is_named(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "--device", "cuda", "--data", MISSING]) == 2
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
    assert main([*common, "--n-val", "200"]) == 2  # 12 training images per class
    assert "need 20" in capsys.readouterr().err
    assert main([*common, "--n-val", "20", "--batch-size", "500"]) == 2
    assert "no full batch of 500" in capsys.readouterr().err
    assert list((tmp_path / "o").glob("*.json")) == []


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
