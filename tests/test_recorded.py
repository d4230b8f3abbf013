"""What the book reads: reproduction first, then recorded smoke runs, never a silent mix."""

import copy
import json
from pathlib import Path

import pytest

from vggrepro import recorded
from vggrepro.results import save_result


def full(run: dict) -> dict:
    """The same run relabelled as a full (non-smoke) run, as a GPU grid would record it."""
    r = copy.deepcopy(run)
    r["smoke"], r["preset"] = False, "reduced"
    r["config"]["smoke"], r["config"]["preset"] = False, "reduced"
    return r


def test_reproduction_wins_over_smoke(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert record.smoke and record.source.endswith("smoke/lrn")
    assert "Smoke numbers, not the reproduction" in recorded.smoke_warning(record)
    assert "not the reproduction" in record.label

    save_result(full(tiny_run), tmp_path / "runs" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert not record.smoke and recorded.smoke_warning(record) == ""
    assert record.frame.loc[0, "smoke"] == False  # noqa: E712 (a numpy bool)


def test_a_folder_mixing_smoke_and_full_runs_is_refused(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "runs" / "lrn" / "a-s0.json")
    save_result(full(tiny_run), tmp_path / "runs" / "lrn" / "b-s0.json")
    with pytest.raises(ValueError, match="mixes smoke and full runs"):
        recorded.load_grid("lrn", tmp_path)


def test_smoke_tables_get_a_smoke_suffix(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorded, "TABLES", tmp_path / "tables")
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    path = recorded.export_table(recorded.summary(record), "ablation-lrn", record)
    assert path.name == "ablation-lrn-smoke.csv" and path.exists()


def test_provenance_and_wall_times_come_from_the_files(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    runs = recorded.all_runs(tmp_path)
    table = recorded.provenance_table(runs)
    assert table.loc[0, "kind"] == "smoke"
    assert table.loc[0, "commit"].startswith(tiny_run["provenance"]["git_commit"][:10])
    assert table.loc[0, "data"] == "synthetic (000000000000)"
    times = recorded.wall_times(runs)
    assert times.loc[0, "wall_time_s"] == pytest.approx(tiny_run["wall_time_s"])
    assert times.loc[0, "runs"] == 1


def test_benchmark_outputs_are_tabulated(tmp_path: Path) -> None:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    common = {"measured": "2026-01-01T00:00:00+00:00", "device": "X", "torch": "2"}
    (folder / "a.json").write_text(
        json.dumps(
            {
                "benchmark": "throughput",
                **common,
                "fast": {"images_per_s": 30.0},
                "naive": {"images_per_s": 10.0},
                "ratio": 3.0,
            }
        )  # fmt: skip
    )
    (folder / "b.json").write_text(
        json.dumps(
            {
                "benchmark": "vgg16_step",
                **common,
                "images_per_s": 2.0,
                "model_tflops": 0.2,
                "mfu": None,
            }
        )  # fmt: skip
    )
    table = recorded.benchmarks(tmp_path).set_index("file")
    assert table.loc["a.json", "fast / naive"] == 3.0
    assert table.loc["b.json", "images/s"] == 2.0
