import json
from pathlib import Path

import pytest
from conftest import TINY, tiny_cifar

from vggrepro import cli
from vggrepro.engine import retest as retest_module
from vggrepro.engine.data import CIFAR10
from vggrepro.engine.presets import preset
from vggrepro.engine.retest import AGAIN_TOLERANCE, retest, retest_grid
from vggrepro.engine.train import train
from vggrepro.results.io import load_result, save_result


def _record(tmp_path: Path, data: CIFAR10, seed: int = 0) -> tuple[Path, Path]:
    """A tiny run tested with the centre and flip only, as the CPU tier trains; its files."""
    cfg = preset("smoke", epochs=1, eval_scales=(), seed=seed, **TINY)
    out = tmp_path / "results" / "depth" / f"vgg11-s{seed}.json"
    model = tmp_path / "models" / "depth" / f"vgg11-s{seed}.model.pt"
    train(cfg, data, run_id=f"depth/vgg11-s{seed}", out=out, model_path=model, progress=False)
    return out, model


def test_retest_adds_every_protocol_with_provenance_and_keeps_what_was_recorded(
    tmp_path: Path, tiny: CIFAR10
) -> None:
    out, model = _record(tmp_path, tiny)
    before = load_result(out)
    assert set(before["test"]) == {"centre", "flip"}
    after = retest(out, model, tiny, scales=(32, 64))
    assert load_result(out) == after  # written, and valid against the schema
    added = {"dense@32", "dense@32+flip", "dense@64", "dense@64+flip", "dense multi-scale"}
    added |= {"multi-crop", "dense + multi-crop"}
    assert set(after["test"]) == {"centre", "flip"} | added
    assert after["test"]["centre"] == before["test"]["centre"]
    assert after["retest"]["protocols"] == sorted(added) and after["retest"]["scales"] == [32, 64]
    assert after["retest"]["provenance"]["device_type"] == "cpu"
    # At the training size the dense net sees what the plain net sees.
    assert after["test"]["dense@32"]["top1_error"] == pytest.approx(
        after["test"]["centre"]["top1_error"]
    )
    assert retest_grid(out.parent, tmp_path / "models", tiny, scales=(32, 64)) == []  # done


def test_another_net_or_other_data_is_refused(tmp_path: Path, tiny: CIFAR10) -> None:
    out, _ = _record(tmp_path, tiny, seed=0)
    _, other_model = _record(tmp_path, tiny, seed=1)
    with pytest.raises(ValueError, match="not the net"):
        retest(out, other_model, tiny, scales=(32,))
    other = tiny_cifar()
    other.checksum = "1" * 64
    _, model = _record(tmp_path, tiny, seed=0)
    with pytest.raises(ValueError, match="other data"):
        retest(out, model, other, scales=(32,))
    assert "retest" not in load_result(out)


def test_a_run_that_recorded_no_weights_digest_takes_no_net(tmp_path: Path, tiny: CIFAR10) -> None:
    """A results file without ``model_sha256`` (a run that saved no net) cannot vouch for any
    net: retesting it with one is refused, however well the net would fit."""
    out, model = _record(tmp_path, tiny)
    unvouched = {**load_result(out), "model_sha256": None}
    save_result(unvouched, out)
    with pytest.raises(ValueError, match=r"is not the net of .* \(other weights\)"):
        retest(out, model, tiny, scales=(32,))
    assert load_result(out) == unvouched


def test_a_diverged_run_is_refused_alone_and_left_alone_in_its_grid(
    tmp_path: Path, tiny: CIFAR10
) -> None:
    out, model = _record(tmp_path, tiny)
    diverged = {**load_result(out), "status": "diverged", "diverged_epoch": 1, "test": {}}
    save_result(diverged, out)
    with pytest.raises(ValueError, match="a diverged run has no trained net to test"):
        retest(out, model, tiny, scales=(32,))
    model.unlink()  # a diverged run saves no net: the grid must not ask for one
    assert retest_grid(out.parent, tmp_path / "models", tiny, scales=(32,)) == []
    assert load_result(out) == diverged


def test_a_missing_net_is_named_before_anything_is_retested(
    tmp_path: Path, tiny: CIFAR10, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, model = _record(tmp_path, tiny, seed=0)
    _record(tmp_path, tiny, seed=1)
    model.unlink()
    with pytest.raises(ValueError, match=r"1 run\(s\): .*vgg11-s0.model.pt"):
        retest_grid(out.parent, tmp_path / "models", tiny)
    assert all("retest" not in json.loads(p.read_text()) for p in out.parent.glob("*.json"))
    monkeypatch.setattr(cli, "load_cifar10", lambda *a, **k: tiny)
    argv = ["retest", "depth", "--out", str(tmp_path / "results")]
    assert cli.main([*argv, "--checkpoints", str(tmp_path / "ckpt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no saved net for 2 run(s)") and err.count("\n") == 1


@pytest.mark.parametrize("shift", [-5.0, 5.0])
def test_a_net_that_tests_far_from_the_recorded_error_is_refused(
    tmp_path: Path, tiny: CIFAR10, shift: float
) -> None:
    out, model = _record(tmp_path, tiny)
    result = json.loads(out.read_text())
    result["test"]["centre"]["top1_error"] = min(
        100.0, max(0.0, result["test"]["centre"]["top1_error"] + shift)
    )
    out.write_text(json.dumps(result))
    with pytest.raises(ValueError, match="not the net that run tested"):
        retest(out, model, tiny, scales=(32,))


def test_a_run_shared_from_another_grid_is_retested_with_that_grids_net(
    tmp_path: Path, tiny: CIFAR10
) -> None:
    out, _ = _record(tmp_path, tiny)  # the net lives under models/depth/
    twin = json.loads(out.read_text()) | {"grid": "other", "run_id": "other/vgg11-s0"}
    twin["shared_with"] = "depth/vgg11-s0"
    folder = tmp_path / "results" / "other"
    folder.mkdir()
    (folder / "vgg11-s0.json").write_text(json.dumps(twin))
    assert retest_grid(folder, tmp_path / "models", tiny, scales=(32,), progress=False) == [
        folder / "vgg11-s0.json"
    ]
    assert load_result(folder / "vgg11-s0.json")["retest"]["scales"] == [32]  # as asked


@pytest.mark.parametrize(("again", "accepted"), [(AGAIN_TOLERANCE, True), (0.06, False)])
def test_the_centre_error_may_come_back_exactly_the_tolerance_away_and_no_further(
    tmp_path: Path, tiny: CIFAR10, monkeypatch: pytest.MonkeyPatch, again: float, accepted: bool
) -> None:
    """The net is tested again by a stand-in that gives a chosen centre error; the recorded
    centre stays as it was, and the error found again is recorded beside it."""
    out, model = _record(tmp_path, tiny)
    result = load_result(out)
    result["test"]["centre"] = {"top1_error": 0.0, "top5_error": 0.0}
    save_result(result, out)
    asked = []

    def evaluate(net, batches, scales: tuple[int, ...]) -> dict:
        asked.append(scales)
        return {
            "centre": {"top1_error": again, "top5_error": 0.0},
            "dense@96": {"top1_error": 12.5, "top5_error": 2.5},
        }

    monkeypatch.setattr(retest_module, "evaluate", evaluate)
    if not accepted:
        with pytest.raises(ValueError, match="not the net that run tested"):
            retest(out, model, tiny, scales=(96,))
        assert "retest" not in load_result(out)
        return
    after = retest(out, model, tiny, scales=(96,))
    assert asked == [(96,)]
    assert after["retest"]["centre_top1_error_again"] == again
    assert after["test"]["centre"] == {"top1_error": 0.0, "top5_error": 0.0}
    assert after["test"]["dense@96"] == {"top1_error": 12.5, "top5_error": 2.5}
    assert after["retest"]["protocols"] == ["dense@96"] and load_result(out) == after


def test_by_default_a_grid_is_retested_at_the_reduced_presets_scales(
    tmp_path: Path, tiny: CIFAR10
) -> None:
    """Without ``scales``, each run is tested at 32, 64 and 96 pixels (score maps of 1x1, 2x2
    and 3x3), and the file records those scales and the protocols they add."""
    out, _ = _record(tmp_path, tiny)
    assert retest_grid(out.parent, tmp_path / "models", tiny, progress=False) == [out]
    after = load_result(out)
    assert after["retest"]["scales"] == [32, 64, 96]
    assert {"dense@96", "dense@96+flip", "dense multi-scale"} <= set(after["retest"]["protocols"])
