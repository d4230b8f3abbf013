"""What the book reads: reproduction first, then recorded smoke runs, never a silent mix."""

import copy
from pathlib import Path

import pytest

from vggrepro import recorded
from vggrepro.results import save_result
from vggrepro.train import preset, train

TINY = {"n_val": 20, "n_train": None, "n_test": None, "batch_size": 20, "eval_batch_size": 40}


@pytest.fixture(scope="module")
def smoke_run() -> dict:
    from conftest import tiny_cifar

    cfg = preset("smoke", epochs=1, eval_scales=(32,), **TINY)
    return train(cfg, tiny_cifar(), run_id="lrn/vgg11-s0", grid="lrn", progress=False)


def full(run: dict) -> dict:
    """The same run relabelled as a full (non-smoke) run, as a GPU grid would record it."""
    r = copy.deepcopy(run)
    r["smoke"], r["preset"] = False, "reduced"
    r["config"]["smoke"], r["config"]["preset"] = False, "reduced"
    return r


def test_reproduction_wins_over_smoke(smoke_run: dict, tmp_path: Path) -> None:
    save_result(smoke_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert record.smoke and record.source.endswith("smoke/lrn")
    assert "Smoke numbers, not the reproduction" in recorded.smoke_warning(record)
    assert "not the reproduction" in record.label

    save_result(full(smoke_run), tmp_path / "runs" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert not record.smoke and recorded.smoke_warning(record) == ""
    assert record.frame.loc[0, "smoke"] == False  # noqa: E712 (a numpy bool)


def test_a_folder_mixing_smoke_and_full_runs_is_refused(smoke_run: dict, tmp_path: Path) -> None:
    save_result(smoke_run, tmp_path / "runs" / "lrn" / "a-s0.json")
    save_result(full(smoke_run), tmp_path / "runs" / "lrn" / "b-s0.json")
    with pytest.raises(ValueError, match="mixes smoke and full runs"):
        recorded.load_grid("lrn", tmp_path)


def test_smoke_tables_get_a_smoke_suffix(
    smoke_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorded, "TABLES", tmp_path / "tables")
    save_result(smoke_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    path = recorded.export_table(recorded.summary(record), "ablation-lrn", record)
    assert path.name == "ablation-lrn-smoke.csv" and path.exists()


def test_provenance_and_wall_times_come_from_the_files(smoke_run: dict, tmp_path: Path) -> None:
    save_result(smoke_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    runs = recorded.all_runs(tmp_path)
    table = recorded.provenance_table(runs)
    assert table.loc[0, "kind"] == "smoke"
    assert table.loc[0, "commit"].startswith(smoke_run["provenance"]["git_commit"][:10])
    assert table.loc[0, "data"] == "synthetic (000000000000)"
    times = recorded.wall_times(runs)
    assert times.loc[0, "wall_time_s"] == pytest.approx(smoke_run["wall_time_s"])
    assert times.loc[0, "runs"] == 1
