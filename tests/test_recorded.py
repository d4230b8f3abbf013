"""What the book reads: GPU tier first, then the CPU tier, then smoke runs, never a silent mix."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vggrepro.files import project_root
from vggrepro.results import recorded
from vggrepro.results.io import save_result
from vggrepro.results.schema import ResultError


def tier(run: dict, preset: str, run_id: str | None = None) -> dict:
    """The same run relabelled as a run of another tier's preset."""
    r = copy.deepcopy(run)
    r["smoke"], r["preset"] = preset == "smoke", preset
    r["config"]["smoke"], r["config"]["preset"] = preset == "smoke", preset
    r["run_id"] = run_id or r["run_id"]
    return r


def test_gpu_tier_wins_over_cpu_tier_which_wins_over_smoke(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert record.tier == "smoke" and record.smoke and record.source.endswith("smoke/lrn")
    assert "Smoke numbers, not the reproduction" in recorded.tier_note(record)
    assert "not the reproduction" in record.label

    save_result(tier(tiny_run, "cpu"), tmp_path / "cpu" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert record.tier == "cpu" and not record.smoke and record.source.endswith("cpu/lrn")
    note = recorded.tier_note(record)
    assert note.startswith(":::{note}") and "CPU tier" in note and "Smoke" not in note
    # The scale in words, from the run's own configuration.
    assert record.label == (
        "CPU tier (CPU scale: conv widths 1/16 of the paper's, FC-32, 1 epoch, "
        "the full synthetic training set (100 images, 20 held out))"
    )

    save_result(tier(tiny_run, "reduced"), tmp_path / "runs" / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    assert record.tier == "reduced" and recorded.tier_note(record).startswith(":::{note}\n**GPU")
    assert record.label.startswith("GPU tier (GPU scale:")
    assert record.frame.loc[0, "smoke"] == False  # noqa: E712 (a numpy bool)


def test_recorded_tiers_are_every_tier_but_smoke(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    assert recorded.recorded_tiers("lrn", tmp_path) == []
    save_result(tier(tiny_run, "cpu"), tmp_path / "cpu" / "lrn" / "vgg11-s0.json")
    save_result(tier(tiny_run, "reduced"), tmp_path / "runs" / "lrn" / "vgg11-s0.json")
    records = recorded.recorded_tiers("lrn", tmp_path)
    assert [r.tier for r in records] == ["reduced", "cpu"]
    assert [r.tier_name for r in records] == ["GPU tier", "CPU tier"]
    assert records[1].source.endswith("cpu/lrn") and len(records[1].runs) == 1


def test_a_tier_without_the_required_protocols_is_passed_over(
    tiny_run: dict, tmp_path: Path
) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    cheap = tier(tiny_run, "cpu")
    cheap["test"] = {k: v for k, v in cheap["test"].items() if k in ("centre", "flip")}
    save_result(cheap, tmp_path / "cpu" / "lrn" / "vgg11-s0.json")
    assert recorded.load_grid("lrn", tmp_path).tier == "cpu"
    needs = ("centre", "dense multi-scale")
    assert recorded.load_grid("lrn", tmp_path, require=needs).tier == "smoke"


def test_a_subset_is_named_as_such(tiny_run: dict) -> None:
    run = tier(tiny_run, "cpu")
    run["config"]["n_train"], run["data"]["n_train"] = 60, 60
    assert recorded.scale([run]).endswith("1 epoch, a subset of 60 training images of synthetic")


@pytest.mark.parametrize(
    "folder, preset", [("runs", "smoke"), ("cpu", "reduced"), ("cpu", "smoke")]
)
def test_a_folder_holding_another_tier_is_refused_naming_the_file(
    tiny_run: dict, tmp_path: Path, folder: str, preset: str
) -> None:
    own = {"runs": "reduced", "cpu": "cpu"}[folder]
    save_result(tier(tiny_run, own), tmp_path / folder / "lrn" / "a-s0.json")
    save_result(tier(tiny_run, preset, "lrn/b-s0"), tmp_path / folder / "lrn" / "b-s0.json")
    with pytest.raises(ValueError, match=rf"come from another tier: .*b-s0.json \({preset}\)"):
        recorded.load_grid("lrn", tmp_path)


@pytest.mark.parametrize("preset, name", [
    ("smoke", "ablation-lrn-smoke.csv"), ("cpu", "ablation-lrn-cpu.csv"),
    ("reduced", "ablation-lrn.csv"),
])  # fmt: skip
def test_table_names_say_their_tier(
    tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preset: str, name: str
) -> None:
    monkeypatch.setattr(recorded, "TABLES", tmp_path / "tables")
    folder = {"smoke": "smoke", "cpu": "cpu", "reduced": "runs"}[preset]
    save_result(tier(tiny_run, preset), tmp_path / folder / "lrn" / "vgg11-s0.json")
    record = recorded.load_grid("lrn", tmp_path)
    path = recorded.export_table(recorded.summary(record), "ablation-lrn", record)
    assert path.name == name and path.exists()


def test_provenance_and_wall_times_come_from_the_files(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    runs = recorded.all_runs(tmp_path)
    table = recorded.provenance_table(runs)
    assert table.loc[0, "tier"] == "CPU smoke runs"
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
    (folder / "c.json").write_text(
        json.dumps(
            {
                "benchmark": "cpu_tier",
                **common,
                "variants": {
                    "old": {"images_per_s": 100.0},
                    "one process per core": {"images_per_s": 150.0},
                },
                "ratio": 1.5,
            }
        )  # fmt: skip
    )
    table = recorded.benchmarks(tmp_path).set_index("file")
    assert table.loc["a.json", "ratio"] == 3.0
    assert table.loc["a.json", "baseline images/s"] == 10.0
    assert table.loc["b.json", "images/s"] == 2.0
    assert table.loc["c.json", "images/s"] == 150.0 and table.loc["c.json", "ratio"] == 1.5
    assert table.loc["c.json", "against"].startswith("old CPU path")


def test_a_retest_counts_towards_the_protocols_and_scales_a_grid_was_tested_with() -> None:
    def run(status: str, test: dict, **extra) -> dict:
        return {"status": status, "test": test, "config": {"eval_scales": []}, **extra}

    both = {"centre": {}, "flip": {}}
    every = both | {p: {} for p in recorded.PROTOCOLS}
    retested = run("completed", every, retest={"scales": [32, 64]})
    record = recorded.GridRecord("depth", [retested, run("diverged", {})], "cpu", "x")
    assert record.tested_with(recorded.PROTOCOLS) and record.test_scales == [32, 64]
    record = recorded.GridRecord("depth", [retested, run("completed", both)], "cpu", "x")
    assert not record.tested_with(recorded.PROTOCOLS) and record.test_scales == [32, 64]
    # Only completed runs must have them: a stalled run tested at the centre does not count.
    record = recorded.GridRecord("depth", [retested, run("stalled", both)], "cpu", "x")
    assert record.tested_with(recorded.PROTOCOLS)


def test_wall_times_add_up_the_trained_runs_and_count_the_shared_ones(tiny_run: dict) -> None:
    runs = [
        {**tiny_run, "wall_time_s": 10.0, "images_per_s": 100.0},
        {**tiny_run, "wall_time_s": 30.0, "images_per_s": 300.0},
        {**tiny_run, "wall_time_s": 30.0, "shared_with": "depth/vgg11-s0"},
    ]
    row = recorded.wall_times(runs).iloc[0]
    assert row["runs"] == 2 and row["wall_time_s"] == pytest.approx(40.0)
    assert row["images_per_s"] == pytest.approx(200.0) and row["shared"] == 1


@pytest.mark.parametrize("dirty, suffix", [(False, ""), (True, "+dirty"), (None, " (dirty?)")])
def test_the_provenance_table_says_whether_the_commit_was_clean(
    tiny_run: dict, dirty: bool | None, suffix: str
) -> None:
    run = copy.deepcopy(tiny_run)
    run["provenance"]["git_dirty"] = dirty
    commit = recorded.provenance_table([run]).loc[0, "commit"]
    assert commit == run["provenance"]["git_commit"][:10] + suffix


def test_the_status_line_names_each_grids_tier(tiny_run: dict, tmp_path: Path) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    save_result(tier(tiny_run, "cpu", "init/vgg11-s0"), tmp_path / "cpu" / "init" / "a.json")
    line = recorded.status(["lrn", "depth", "init"], tmp_path)
    assert line == "init: CPU tier; lrn: CPU smoke runs; depth: nothing recorded"


def test_complete_tiers_are_the_tiers_that_hold_every_grid(tiny_run: dict, tmp_path: Path) -> None:
    grids = ["depth", "lrn"]
    for grid in grids:
        for preset, folder in (("cpu", "cpu"), ("smoke", "smoke")):
            run = tier(tiny_run, preset, f"{grid}/vgg11-s0")
            save_result({**run, "grid": grid}, tmp_path / folder / grid / "vgg11-s0.json")
    save_result(tier(tiny_run, "reduced", "depth/vgg11-s0"), tmp_path / "runs" / "depth" / "a.json")
    found = recorded.complete_tiers(grids, tmp_path)  # the GPU tier lacks lrn; smoke never counts
    assert [{g: r.tier for g, r in records.items()} for records in found] == [
        {"depth": "cpu", "lrn": "cpu", "protocols": "cpu"}
    ]
    assert found[0]["protocols"] is found[0]["depth"]


def test_wall_times_average_the_images_per_second_of_the_trained_runs() -> None:
    """Trained runs at 100, 100 and 400 images/s: their mean is 200, their median 100."""
    run = {"grid": "depth", "preset": "cpu", "provenance": {"device": "cpu"}, "wall_time_s": 1.0}
    runs = [{**run, "images_per_s": v} for v in (100.0, 100.0, 400.0)]
    runs.append({**run, "images_per_s": 1000.0, "shared_with": "lrn/vgg11-s0"})
    row = recorded.wall_times(runs).iloc[0]
    assert row["tier"] == "CPU tier" and row["runs"] == 3 and row["shared"] == 1
    assert row["images_per_s"] == pytest.approx(200.0) and row["wall_time_s"] == 3.0


def test_a_grid_without_shared_runs_counts_zero_shared_not_a_gap() -> None:
    """Two grids, one sharing a run with the other: the sharing one counts 1, the other 0 (an
    integer column the book prints as counts, with no empty cell)."""
    run = {"preset": "cpu", "provenance": {"device": "cpu"}, "wall_time_s": 2.0}
    runs = [
        {**run, "grid": "depth", "images_per_s": 50.0},
        {**run, "grid": "lrn", "images_per_s": 70.0},
        {**run, "grid": "lrn", "images_per_s": 90.0, "shared_with": "depth/vgg11-s0"},
    ]
    table = recorded.wall_times(runs).set_index("grid")
    assert table["shared"].to_dict() == {"depth": 0, "lrn": 1}
    assert table["shared"].dtype.kind == "i" and table["runs"].to_dict() == {"depth": 1, "lrn": 1}


def test_each_benchmark_row_reads_its_own_measured_and_baseline_fields(tmp_path: Path) -> None:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    common = {"measured": "2026-01-01T00:00:00+00:00", "device": "X", "torch": "2"}
    outputs = {
        "a.json": {"benchmark": "throughput", "fast": {"images_per_s": 30.0},
                   "naive": {"images_per_s": 10.0}, "ratio": 3.0},
        "b.json": {"benchmark": "vgg16_step", "images_per_s": 2.0, "model_tflops": 0.2,
                   "mfu": 0.05},
        "c.json": {"benchmark": "cpu_tier", "ratio": 1.5, "variants": {
            "old": {"images_per_s": 100.0}, "one process per core": {"images_per_s": 150.0}}},
    }  # fmt: skip
    for name, b in outputs.items():
        (folder / name).write_text(json.dumps(b | common))
    table = recorded.benchmarks(tmp_path).set_index("file")
    assert table.index.tolist() == ["a.json", "b.json", "c.json"]
    assert table.loc["a.json", "images/s"] == 30.0
    assert table.loc["a.json", "against"] == "naive DataLoader"
    assert table.loc["b.json", "model TFLOP/s"] == 0.2 and table.loc["b.json", "MFU"] == 0.05
    assert table.loc["c.json", "baseline images/s"] == 100.0
    # when each was measured and with which torch, each from its own field
    assert table.loc["b.json", ["measured", "torch"]].tolist() == ["2026-01-01T00:00:00+00:00", "2"]


def test_the_scale_lists_every_value_in_order_with_thousands_separators() -> None:
    def run(width: float, epochs: int) -> dict:
        config = {"width": width, "fc_width": 256, "epochs": epochs, "n_train": None}
        data = {"n_train": 45000, "n_val": 5000, "source": "CIFAR-10"}
        return {"config": config, "data": data}

    assert recorded.scale([run(0.5, 30), run(0.25, 15), run(0.25, 30)]) == (
        "conv widths 1/4 or 1/2 of the paper's, FC-256, 15 or 30 epochs, "
        "the full CIFAR-10 training set (45,000 images, 5,000 held out)"
    )


def test_a_record_of_an_unknown_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tier 'gpu'; valid: reduced, cpu, smoke"):
        recorded.GridRecord("lrn", [], "gpu", "x")


def test_a_table_without_a_record_has_no_tier_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorded, "TABLES", tmp_path / "tables")
    frame = recorded.provenance_table([])
    assert recorded.export_table(frame, "claims") == tmp_path / "tables" / "claims.csv"


def test_a_tiers_runs_are_in_run_id_order_not_file_name_order(
    tiny_run: dict, tmp_path: Path
) -> None:
    folder = tmp_path / "cpu" / "lrn"
    save_result(tier(tiny_run, "cpu", "lrn/vgg11_lrn-s0"), folder / "a.json")
    save_result(tier(tiny_run, "cpu", "lrn/vgg11-s1"), folder / "b.json")
    save_result(tier(tiny_run, "cpu", "lrn/vgg11-s0"), folder / "c.json")
    runs = recorded.load_tier(folder, "cpu")
    assert [r["run_id"] for r in runs] == ["lrn/vgg11-s0", "lrn/vgg11-s1", "lrn/vgg11_lrn-s0"]
    assert [r["run_id"] for r in recorded.load_grid("lrn", tmp_path).runs] == [
        r["run_id"] for r in runs
    ]


def test_the_test_scales_join_the_training_scales_and_the_retests_in_order() -> None:
    """Scales 48 and 32 in training, 40 in another run's, 64 and 32 in a later retest."""

    def run(eval_scales: list[int], **extra) -> dict:
        return {"status": "completed", "test": {}, "config": {"eval_scales": eval_scales}, **extra}

    runs = [run([48, 32]), run([40], retest={"scales": [64, 32]})]
    assert recorded.GridRecord("depth", runs, "cpu", "x").test_scales == [32, 40, 48, 64]


def test_the_status_line_names_the_best_tier_a_grid_is_recorded_at(
    tiny_run: dict, tmp_path: Path
) -> None:
    save_result(tiny_run, tmp_path / "smoke" / "lrn" / "vgg11-s0.json")
    save_result(tier(tiny_run, "reduced"), tmp_path / "runs" / "lrn" / "vgg11-s0.json")
    save_result(tier(tiny_run, "cpu", "depth/vgg11-s0"), tmp_path / "cpu" / "depth" / "a.json")
    save_result(tier(tiny_run, "smoke", "depth/vgg11-s0"), tmp_path / "smoke" / "depth" / "a.json")
    line = recorded.status(["depth", "lrn"], tmp_path)
    assert line == "lrn: GPU tier; depth: CPU tier"


def test_each_tier_note_counts_the_runs_and_names_the_grid_and_the_devices(
    tiny_run: dict,
) -> None:
    """Three runs on two devices: the notes count three runs, not two devices."""
    runs = [tier(tiny_run, "cpu", f"lrn/vgg11-s{s}") for s in range(3)]
    runs[2]["provenance"]["device"] = "Other CPU"
    devices = sorted({tiny_run["provenance"]["device"], "Other CPU"})
    note = recorded.tier_note(recorded.GridRecord("lrn", runs, "cpu", "results/cpu/lrn"))
    assert "**CPU tier.** These 3 runs of the `lrn` grid were trained to the end" in note
    assert f"of their schedule on {'; '.join(devices)}, at CPU scale: conv widths" in note
    note = recorded.tier_note(recorded.GridRecord("lrn", runs, "reduced", "results/runs/lrn"))
    assert note.startswith(":::{note}\n**GPU tier.** These 3 runs of the `lrn` grid were ")
    assert f"on {'; '.join(devices)}, at GPU scale: conv widths" in note


def test_the_smoke_note_gives_the_commands_that_record_the_grid_at_a_real_tier(
    tiny_run: dict,
) -> None:
    runs = [tiny_run, {**tiny_run, "run_id": "depth/vgg13-s0"}]
    note = recorded.tier_note(recorded.GridRecord("depth", runs, "smoke", "results/smoke/depth"))
    assert note.startswith(":::{warning}\n") and note.endswith("\n:::")
    assert "`results/smoke/depth` holds only CPU smoke runs of the `depth` grid: 2 runs" in note
    assert "(`python -m vggrepro run depth --preset cpu --workers 2`)" in note
    assert "or on a GPU (`python -m vggrepro run depth`)" in note


def test_a_grid_recorded_at_no_tier_is_one_error_naming_the_commands_and_trains_nothing(
    tmp_path: Path,
) -> None:
    message = (
        f"no recorded runs of grid 'lrn' under {tmp_path}: record them with `make smoke` "
        "(CPU smoke runs) or `python -m vggrepro run lrn`"
    )
    with pytest.raises(ResultError) as info:
        recorded.load_grid("lrn", tmp_path)
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cuda, shown", [(None, "—"), ("12.4", "12.4")])
def test_the_provenance_table_reads_each_column_from_its_own_field(
    tiny_run: dict, cuda: str | None, shown: str
) -> None:
    run = copy.deepcopy(tiny_run)
    run["provenance"]["cuda"] = cuda
    run.update(seed=7, status="stalled", wall_time_s=12.5)
    run.update(started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:00:12+00:00")
    row = recorded.provenance_table([run]).iloc[0]
    assert row["CUDA"] == shown and row["torch"] == run["provenance"]["torch"]
    assert (row["seed"], row["status"], row["wall time (s)"]) == (7, "stalled", 12.5)
    assert row["finished"] == "2026-01-01T00:00:12+00:00"


@pytest.mark.skipif(bool(os.environ.get("VGGREPRO_RESULTS")), reason="another folder is set")
def test_by_default_the_checkouts_results_folder_is_read(tmp_path: Path) -> None:
    """Run from the checkout with no folder given, the book reads the runs committed under
    ``results/`` there and names each grid's folder relative to the checkout; its tables go
    to ``results/tables``."""
    assert recorded.RESULTS == recorded.ROOT / "results" and recorded.ROOT.is_dir()
    assert recorded.TABLES == recorded.RESULTS / "tables"
    record = recorded.load_grid("lrn")
    assert record.source == f"results/{recorded.TIERS[record.tier]}/lrn"
    assert recorded.recorded_tiers("lrn")[0].source == record.source
    assert [r.source for r in recorded.complete_tiers(["depth"])[0].values()] == [
        f"results/{recorded.TIERS[record.tier]}/depth"
    ] * 2
    assert "lrn: " in recorded.status(["lrn"]) and "nothing" not in recorded.status(["lrn"])
    assert "throughput-cpu.json" in recorded.benchmarks()["file"].tolist()
    # A folder outside the checkout is named as it was given.
    assert recorded.load_tier(tmp_path / "cpu" / "lrn", "cpu") == []
    save_result(tier(recorded.load_grid("lrn").runs[0], "cpu"), tmp_path / "cpu" / "lrn" / "a.json")
    assert recorded.load_grid("lrn", tmp_path).source == str(tmp_path / "cpu" / "lrn")


@pytest.mark.parametrize("given", [True, False])
def test_outside_a_checkout_the_results_folder_is_the_given_one_else_the_working_folders(
    tmp_path: Path, given: bool
) -> None:
    """An installed package used from a folder that is no checkout reads ``$VGGREPRO_RESULTS``
    when set, else ``results/`` of the working folder (never the checkout it came from)."""
    code = "from vggrepro.results import recorded; print(recorded.RESULTS, recorded.TABLES)"
    env = os.environ | {"VGGREPRO_RESULTS": str(tmp_path / "mine") if given else ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    results = tmp_path / ("mine" if given else "results")
    assert out.stdout.split() == [str(results), str(results / "tables")]


def test_a_checkout_needs_both_the_book_config_and_a_results_folder(tmp_path: Path) -> None:
    """A folder with only ``_config.yml`` (some other book) or only a ``results`` folder is no
    checkout: a folder below both is taken as it is."""
    (tmp_path / "results").mkdir()
    (tmp_path / "book" / "results").mkdir(parents=True)  # a folder, not the config file
    (tmp_path / "book" / "_config.yml").mkdir()
    start = tmp_path / "book" / "chapter"
    start.mkdir()
    assert project_root(start) == start.resolve()
    (tmp_path / "book" / "_config.yml").rmdir()
    (tmp_path / "book" / "results").rmdir()
    (tmp_path / "book" / "_config.yml").touch()
    assert project_root(start) == start.resolve()


def test_a_run_of_the_imagenet_recipe_is_named_by_its_preset(tiny_run: dict) -> None:
    """A preset without a CIFAR tier (the ImageNet recipe) is shown by its own name in the
    provenance and wall-time tables."""
    run = {**copy.deepcopy(tiny_run), "preset": "imagenet"}
    assert recorded.provenance_table([run]).loc[0, "tier"] == "imagenet"
    assert recorded.wall_times([run]).loc[0, "tier"] == "imagenet"
