"""Results files: schema, atomic writes, loading, aggregation over seeds, CSV export."""

import copy
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from vggrepro.results.io import (
    aggregate,
    export_csv,
    load_result,
    load_runs,
    runs_frame,
    save_result,
    write_json,
)
from vggrepro.results.schema import SCHEMA, ResultError, validate


def test_a_real_result_passes_the_schema(tiny_run: dict) -> None:
    assert validate(json.loads(json.dumps(tiny_run))) is not None


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda r: r.pop("seed"), "result: 'seed' is a required property"),
        (lambda r: r["provenance"].pop("device"), "result.provenance: 'device' is a required"),
        (lambda r: r.update(seed="0"), "result.seed: '0' is not of type 'integer'"),
        (lambda r: r.update(seed=True), "result.seed: True is not of type 'integer'"),
        (lambda r: r.update(seed=-1), "result.seed: -1 is less than the minimum of 0"),
        (lambda r: r.update(smoke=1), "result.smoke: 1 is not of type 'boolean'"),
        (lambda r: r.update(wall_time_s=False), "result.wall_time_s: False is not of type"),
        (lambda r: r.update(status="crashed"), "result.status: 'crashed' is not one of"),
        (lambda r: r.update(status="diverged"), "diverged_epoch must be set"),
        (lambda r: r.update(diverged_epoch=2), "diverged_epoch must be set exactly when"),
        (lambda r: r["provenance"].update(backend="mpi"), "provenance.backend: 'mpi' is not one"),
        (lambda r: r.update(model_sha256="abc"), "result.model_sha256: 'abc' does not match"),
        (lambda r: r.update(started="yesterday"), "result.started: 'yesterday' does not match"),
        (lambda r: r.update(finished="2026-13"), "result.finished: '2026-13' does not match"),
        (lambda r: r["history"][0].pop("val_acc"), "result.history[0]: 'val_acc' is a required"),
        (lambda r: r["history"][0].update(val_acc=1.5), "history[0].val_acc: 1.5 is greater"),
        (lambda r: r["test"]["centre"].pop("top5_error"), "result.test.centre: 'top5_error'"),
        (
            lambda r: r["test"]["centre"].update(top1_error=250.0),
            "result.test.centre.top1_error: 250.0 is greater than the maximum of 100",
        ),
        (lambda r: r["config"].pop("lr"), "result.config: 'lr' is a required property"),
        (lambda r: r["data"].update(checksum="abc"), "result.data.checksum: 'abc' does not match"),
        (  # a digest with more around it: the pattern is the whole string, not a part
            lambda r: r["data"].update(checksum="sha256:" + "0" * 64),
            "result.data.checksum: 'sha256:000",
        ),
        (lambda r: r["data"].update(checksum="a" * 65), "result.data.checksum: 'aaaa"),
        (lambda r: r.update(model_sha256="a" * 65), "result.model_sha256: 'aaaa"),
        (lambda r: r.update(schema=99), "result.schema: 1 was expected"),
        (lambda r: r["provenance"].update(device=""), "provenance.device: '' should be non-empty"),
        (lambda r: r.update(preset="full"), "result.preset: 'full' is not one of"),
    ],
)
def test_a_malformed_result_is_rejected_with_the_field_named(
    tiny_run: dict, damage, words: str
) -> None:
    bad = copy.deepcopy(tiny_run)
    damage(bad)
    with pytest.raises(ResultError) as info:
        validate(bad)
    assert words in str(info.value)


def required(schema: dict, path: tuple = ()) -> list[tuple]:
    """The path of every required field of ``schema``, nested objects included."""
    out = []
    for name in schema.get("required", []):
        out.append((*path, name))
        out += required(schema["properties"][name], (*path, name))
    return out


@pytest.mark.parametrize("path", required(SCHEMA), ids="/".join)
def test_every_required_field_is_required(tiny_run: dict, path: tuple) -> None:
    bad = copy.deepcopy(tiny_run)
    parent = bad
    for name in path[:-1]:
        parent = parent[name]
    del parent[path[-1]]
    with pytest.raises(ResultError, match=f"'{path[-1]}' is a required property"):
        validate(bad)


def test_loading_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ResultError, match="broken.json: not valid JSON"):
        load_result(tmp_path / "broken.json")
    (tmp_path / "broken.json").write_bytes(b'{"run_id": "\xff"}')  # not UTF-8
    with pytest.raises(ResultError, match="broken.json: not valid JSON"):
        load_result(tmp_path / "broken.json")
    (tmp_path / "broken.json").write_text("[]")
    with pytest.raises(ResultError, match="broken.json: a results file must hold"):
        load_runs(tmp_path)


def test_writes_are_atomic(tmp_path: Path) -> None:
    path = write_json({"a": 1}, tmp_path / "x.json")

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json({"a": Unserialisable()}, path)
    assert json.loads(path.read_text()) == {"a": 1}  # the old file survives
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left


def test_nan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_json({"loss": float("nan")}, tmp_path / "nan.json")


def _seeded(tiny_run: dict, arch: str, seed: int, top1: float) -> dict:
    r = copy.deepcopy(tiny_run)
    r["run_id"] = f"g/{arch}-s{seed}"
    r["seed"] = seed
    r["config"]["arch"] = arch
    r["test"]["centre"]["top1_error"] = top1
    return r


def test_aggregate_over_seeds(tiny_run: dict, tmp_path: Path) -> None:
    values = {"vgg11": [10.0, 12.0, 14.0], "vgg19": [8.0, 9.0]}
    for arch, errors in values.items():
        for seed, e in enumerate(errors):
            save_result(_seeded(tiny_run, arch, seed, e), tmp_path / "g" / f"{arch}-s{seed}.json")
    frame = runs_frame(load_runs(tmp_path))
    assert list(frame["run_id"]) == [
        "g/vgg11-s0",
        "g/vgg11-s1",
        "g/vgg11-s2",
        "g/vgg19-s0",
        "g/vgg19-s1",
    ]
    table = aggregate(frame).set_index("arch")
    for arch, errors in values.items():
        s = pd.Series(errors)
        assert table.loc[arch, "centre/top1 mean"] == pytest.approx(s.mean())
        assert table.loc[arch, "centre/top1 std"] == pytest.approx(s.std())  # sample std
        assert table.loc[arch, "seeds"] == len(errors)
    path = export_csv(table, tmp_path / "tables" / "depth.csv")  # row labels, named: kept
    back = pd.read_csv(path)
    assert list(back["arch"]) == ["vgg11", "vgg19"]
    filtered = table.reset_index().iloc[[1]]  # row numbers, unnamed: left out
    assert list(pd.read_csv(export_csv(filtered, tmp_path / "f.csv")).columns) == list(filtered)
    assert load_runs(tmp_path) and all(r["run_id"].startswith("g/") for r in load_runs(tmp_path))


def test_aggregate_keeps_batch_norm_and_plain_nets_apart(tiny_run: dict) -> None:
    plain = [_seeded(tiny_run, "vgg11", s, e) for s, e in enumerate([30.0, 32.0])]
    bn = [_seeded(tiny_run, "vgg11", s, e) for s, e in enumerate([20.0, 22.0])]
    for r in bn:
        r["config"]["batch_norm"] = True
        r["run_id"] = r["run_id"].replace("vgg11", "vgg11_bn")
    table = aggregate(runs_frame(plain + bn)).set_index("batch_norm")
    assert list(table["seeds"]) == [2, 2]
    assert table.loc[False, "centre/top1 mean"] == pytest.approx(31.0)
    assert table.loc[True, "centre/top1 mean"] == pytest.approx(21.0)


def test_a_warm_started_run_is_labelled_apart_from_its_scheme(tiny_run: dict) -> None:
    warm = json.loads(json.dumps(tiny_run))
    warm["config"]["warm_start"] = "checkpoints/init/vgg11_paper-s0.model.pt"
    frame = runs_frame([tiny_run, warm])
    init = tiny_run["config"]["init"]
    assert list(frame["init"]) == [init, f"{init}+warm"]
    # and the tables average them apart by default: two rows of one seed, not one of two
    table = aggregate(frame)
    assert list(table["init"]) == [init, f"{init}+warm"] and list(table["seeds"]) == [1, 1]


def test_a_csv_value_that_rounds_to_zero_has_no_sign(tmp_path: Path) -> None:
    frame = pd.DataFrame({"gain": [-0.0, -1e-9, -0.00004, -0.00006, 2.5]})
    lines = export_csv(frame, tmp_path / "t.csv").read_text().split()
    assert lines == ["gain", "0.0000", "0.0000", "0.0000", "-0.0001", "2.5000"]


def test_json_files_under_a_tables_folder_are_not_runs(tiny_run: dict, tmp_path: Path) -> None:
    write_json({"not": "a run"}, tmp_path / "tables" / "t.json")
    save_result(tiny_run, tmp_path / "g" / "r.json")
    assert [r["run_id"] for r in load_runs(tmp_path)] == [tiny_run["run_id"]]


def test_paths_given_as_text_are_read_and_written(tiny_run: dict, tmp_path: Path) -> None:
    """Scripts pass folders and files as strings: each function takes them and a written file
    is one JSON object ending in a newline, returned as a ``Path``."""
    written = save_result(tiny_run, str(tmp_path / "g" / "r.json"))
    assert written == tmp_path / "g" / "r.json" and isinstance(written, Path)
    assert written.read_text().endswith("}\n")
    assert load_result(str(written)) == json.loads(json.dumps(tiny_run))
    assert [r["run_id"] for r in load_runs(str(tmp_path))] == [tiny_run["run_id"]]


def test_missing_folder_has_no_runs(tmp_path: Path) -> None:
    assert load_runs(tmp_path / "nothing") == []


def test_the_schema_requires_every_field_a_run_writes(tiny_run: dict) -> None:
    """A field dropped from the schema would let results files without it through."""
    optional = {"model_sha256"}  # shared_with too, in runs copied from another grid
    assert set(SCHEMA["required"]) == set(tiny_run) - optional
    for part in ("data", "test"):
        inner = SCHEMA["properties"][part]
        if part == "test":
            inner = inner["additionalProperties"]
            assert set(inner["required"]) == set(tiny_run["test"]["centre"])
        else:
            assert set(inner["required"]) == set(tiny_run[part])
    history = SCHEMA["properties"]["history"]["items"]["required"]
    assert set(history) == set(tiny_run["history"][0]) - {"seconds"}


def with_records(tiny_run: dict) -> dict:
    """A copy of ``tiny_run`` with a ``retest`` and a ``probe`` record, as
    ``vggrepro.engine.retest`` and ``vggrepro.report.features.record_probe`` add them."""
    run = copy.deepcopy(tiny_run)
    run["retest"] = {
        "scales": [32, 64],
        "protocols": ["dense@64"],
        "centre_top1_error_again": run["test"]["centre"]["top1_error"],
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:00:09.5Z",
        "wall_time_s": 9.5,
        "provenance": run["provenance"],
    }
    row = {"stage": 1, "rf": 6, "ncm trained": 0.3, "ncm trained se": 0.01, "ncm random": 0.2,
           "ncm random se": 0.01, "purity trained": 0.4, "purity random": 0.3, "dead trained": 0,
           "dead random": 1, "n_test": 100}  # fmt: skip
    run["probe"] = {
        "rows": [row, {**row, "stage": 2}],
        "n_fit": 100,
        "n_test": 100,
        "k": 20,
        "chance_purity": 0.19,
        "data": {"source": "cifar10-jpeg", "checksum": "a" * 64},
        "started": "2026-01-01T00:00:00Z",
        "finished": "2026-01-01T00:00:03Z",
        "wall_time_s": 3.0,
        "provenance": run["provenance"],
    }
    return validate(run)


def numeric(schema: dict, path: tuple = ()) -> list[tuple]:
    """The path of every field the schema types as an integer or a number (``0`` stands for any
    item of an array, ``"centre"`` for any protocol under ``test``)."""
    types = schema.get("type", [])
    out = (
        [path] if {"integer", "number"} & set([types] if isinstance(types, str) else types) else []
    )
    for name, inner in schema.get("properties", {}).items():
        out += numeric(inner, (*path, name))
    if "items" in schema:
        out += numeric(schema["items"], (*path, 0))
    if isinstance(schema.get("additionalProperties"), dict):
        out += numeric(schema["additionalProperties"], (*path, "centre"))
    return out


NUMERIC = {
    ("seed",), ("diverged_epoch",), ("params",), ("history", 0, "epoch"),
    ("history", 0, "train_loss"), ("history", 0, "train_acc"), ("history", 0, "val_acc"),
    ("history", 0, "lr"), ("test", "centre", "top1_error"), ("test", "centre", "top5_error"),
    ("wall_time_s",), ("train_time_s",), ("images_per_s",), ("data", "n_train"),
    ("data", "n_val"), ("data", "n_test"), ("retest", "scales", 0),
    ("retest", "centre_top1_error_again"), ("retest", "wall_time_s"),
    ("provenance", "world_size"), ("provenance", "per_rank_batch"),
    ("retest", "provenance", "world_size"), ("retest", "provenance", "per_rank_batch"),
    ("probe", "rows", 0, "stage"), ("probe", "rows", 0, "ncm trained"),
    ("probe", "rows", 0, "ncm trained se"), ("probe", "rows", 0, "ncm random"),
    ("probe", "rows", 0, "ncm random se"), ("probe", "rows", 0, "purity trained"),
    ("probe", "rows", 0, "purity random"), ("probe", "rows", 0, "dead trained"),
    ("probe", "rows", 0, "dead random"), ("probe", "rows", 0, "n_test"), ("probe", "n_fit"),
    ("probe", "n_test"), ("probe", "k"), ("probe", "chance_purity"), ("probe", "wall_time_s"),
    ("probe", "provenance", "world_size"), ("probe", "provenance", "per_rank_batch"),
}  # fmt: skip
"""Every integer or number a results file holds."""


def put(run: dict, path: tuple, value: object) -> dict:
    """``run`` with the field at ``path`` set to ``value`` (a diverged run for diverged_epoch)."""
    parent = run
    for name in path[:-1]:
        parent = parent[name]
    parent[path[-1]] = value
    if path == ("diverged_epoch",):
        run["status"] = "diverged"
    return run


def test_the_schema_types_every_count_and_measure_as_a_number() -> None:
    assert set(numeric(SCHEMA)) == NUMERIC


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("path", sorted(NUMERIC, key=str), ids=lambda p: "/".join(map(str, p)))
def test_no_number_field_takes_a_bool(tiny_run: dict, path: tuple, flag: bool) -> None:
    """JSON Schema keeps booleans apart from numbers; Python's ``isinstance(True, int)`` does
    not, so a hand-written check would let them through."""
    with pytest.raises(ResultError, match=f"{flag} is not of type"):
        validate(put(with_records(tiny_run), path, flag))


@pytest.mark.parametrize(
    "path, bad, good",
    [
        (("seed",), -1, 0),
        (("diverged_epoch",), 0, 1),
        (("params",), 0, 1),
        (("history", 0, "epoch"), 0, 1),
        (("history", 0, "train_acc"), 1.01, 1.0),
        (("history", 0, "train_acc"), -0.01, 0.0),
        (("history", 0, "val_acc"), 1.5, 1.0),
        (("history", 0, "lr"), 0.0, 1e-12),
        (("history", 0, "lr"), -0.1, 0.1),
        (("test", "centre", "top1_error"), 250.0, 100.0),
        (("test", "centre", "top1_error"), -0.5, 0.0),
        (("test", "centre", "top5_error"), 100.5, 100.0),
        (("wall_time_s",), -1.0, 0.0),
        (("train_time_s",), -1.0, 0.0),
        (("images_per_s",), -1.0, 0.0),
        (("data", "n_train"), -1, 0),
        (("data", "n_val"), -1, 0),
        (("data", "n_test"), -1, 0),
        (("retest", "scales", 0), 0, 1),
        (("provenance", "world_size"), 0, 1),
        (("provenance", "per_rank_batch"), 0, 1),
        (("retest", "centre_top1_error_again"), 101.0, 100.0),
        (("retest", "wall_time_s"), -1.0, 0.0),
        (("probe", "rows", 0, "stage"), 0, 1),
        (("probe", "rows", 0, "n_test"), 0, 1),
        (("probe", "rows", 0, "ncm trained"), 1.01, 1.0),
        (("probe", "rows", 0, "ncm random se"), -0.01, 0.0),
        (("probe", "rows", 0, "purity random"), 1.5, 1.0),
        (("probe", "rows", 0, "dead trained"), -1, 0),
        (("probe", "k"), 0, 1),
        (("probe", "chance_purity"), -0.1, 0.0),
        (("probe", "n_fit"), -1, 0),
    ],
    ids=lambda v: "/".join(map(str, v)) if isinstance(v, tuple) else str(v),
)
def test_out_of_range_values_are_rejected_and_the_bounds_accepted(
    tiny_run: dict, path: tuple, bad: float, good: float
) -> None:
    assert validate(put(with_records(tiny_run), path, good))
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    with pytest.raises(ResultError, match=rf"^result{re.escape(where)}: {bad} is (less|greater)"):
        validate(put(with_records(tiny_run), path, bad))


@pytest.mark.parametrize("field", [("started",), ("finished",), ("retest", "started")])
@pytest.mark.parametrize(
    "stamp",
    [
        "2026-01-01 00:00:00+00:00",  # no T
        "2026-01-01T00:00:00",  # no time zone
        "2026-01-01",
        "2026-1-01T00:00:00Z",
        "2026-01-01T00:00+00:00",  # no seconds
        "2026-01-01T00:00:00+0000",
        "2026-01-01T00:00:00Z trailing",
        "2026-13-45T25:61:61Z",  # the right shape, no such time
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00+00:00",
        "",
        1767225600,
        None,
    ],
)
def test_malformed_timestamps_are_rejected(tiny_run: dict, field: tuple, stamp: object) -> None:
    with pytest.raises(ResultError, match=f"{field[-1]}: "):
        validate(put(with_records(tiny_run), field, stamp))


@pytest.mark.parametrize(
    "stamp",
    ["2026-01-01T00:00:00Z", "2026-01-01T23:59:59.123456+05:30", "2026-06-30T12:00:00-08:00"],
)
def test_well_formed_timestamps_are_accepted(tiny_run: dict, stamp: str) -> None:
    assert validate(put(with_records(tiny_run), ("finished",), stamp))
    assert re.fullmatch(SCHEMA["properties"]["started"]["pattern"], tiny_run["started"])


def test_every_record_requires_what_is_written_into_it(tiny_run: dict) -> None:
    """Provenance, config, the retest and the probe records (the top level, data, test and
    history are checked above): each requires what the book reads from it, and a run writes
    all of that."""
    properties = SCHEMA["properties"]
    machine = {"device", "device_type", "torch", "cuda", "git_commit", "git_dirty"}
    assert set(properties["provenance"]["required"]) == machine
    assert machine <= set(tiny_run["provenance"])  # and python, platform, cudnn: optional
    retest = with_records(tiny_run)["retest"]
    assert set(properties["retest"]["required"]) == set(retest)
    assert properties["retest"]["properties"]["provenance"] == properties["provenance"]
    probe = with_records(tiny_run)["probe"]
    assert set(properties["probe"]["required"]) == set(probe)
    assert properties["probe"]["properties"]["provenance"] == properties["provenance"]
    row = properties["probe"]["properties"]["rows"]["items"]["required"]
    assert set(row) == set(probe["rows"][0]) - {"rf"}  # the geometry columns are the table's
    read = {"arch", "batch_norm", "init", "width", "fc_width", "epochs", "batch_size", "lr"}
    assert set(properties["config"]["required"]) == read
    assert read <= set(tiny_run["config"])


@pytest.mark.parametrize("status", ["completed", "stalled"])
def test_a_run_that_was_tested_must_have_test_metrics(tiny_run: dict, status: str) -> None:
    result = {**copy.deepcopy(tiny_run), "status": status, "test": {}}
    with pytest.raises(ResultError, match="must have test metrics"):
        validate(result)


def test_aggregate_counts_only_diverged_runs_as_diverged(tiny_run: dict) -> None:
    runs = []
    for seed, status in enumerate(["completed", "stalled", "diverged"]):
        run = {**copy.deepcopy(tiny_run), "seed": seed, "status": status}
        if status == "diverged":
            run.update(diverged_epoch=1, test={})
        runs.append(run)
    table = aggregate(runs_frame(runs))
    assert table["seeds"].tolist() == [3] and table["diverged"].tolist() == [1]


def test_best_val_acc_is_the_best_epoch_not_the_last_or_the_worst(tiny_run: dict) -> None:
    run = copy.deepcopy(tiny_run)
    first = run["history"][0]
    run["history"] = [
        {**first, "epoch": e, "val_acc": acc} for e, acc in enumerate([0.2, 0.5, 0.4], 1)
    ]
    assert runs_frame([run]).loc[0, "best_val_acc"] == pytest.approx(0.5)


def test_the_runs_frame_keeps_top1_and_top5_apart(tiny_run: dict) -> None:
    run = copy.deepcopy(tiny_run)
    run["test"]["centre"].update(top1_error=40.0, top5_error=7.5)
    row = runs_frame([run]).iloc[0]
    assert (row["centre/top1"], row["centre/top5"]) == (40.0, 7.5)


def test_a_runs_row_reads_its_results_file(tiny_run: dict) -> None:
    """The columns the chapters tabulate, each against the field it comes from."""
    three = copy.deepcopy(tiny_run)
    three["history"] = [dict(tiny_run["history"][0], epoch=e, val_acc=a)
                        for e, a in ((1, 0.2), (2, 0.5), (3, 0.4))]  # fmt: skip
    row = runs_frame([three]).iloc[0]
    assert row["epochs_run"] == 3 and row["best_val_acc"] == 0.5
    assert pd.isna(row["diverged_epoch"])  # completed: it never diverged
    assert row["centre/top1"] == three["test"]["centre"]["top1_error"]
    assert row["centre/top5"] == three["test"]["centre"]["top5_error"]
    assert (row["run_id"], row["seed"], row["status"]) == (
        three["run_id"], three["seed"], three["status"],
    )  # fmt: skip
    three.update(grid="depth", params=123_457, wall_time_s=61.5, images_per_s=812.25)
    three["config"].update(arch="vgg13", batch_norm=True)
    three["provenance"]["device"] = "Some GPU"
    row = runs_frame([three]).iloc[0]
    assert (row["grid"], row["arch"], row["batch_norm"], row["params"]) == (
        "depth", "vgg13", True, 123_457,
    )  # fmt: skip
    assert (row["wall_time_s"], row["images_per_s"], row["device"]) == (61.5, 812.25, "Some GPU")


def test_aggregate_counts_the_seeds_with_a_metric_and_averages_the_wall_time(
    tiny_run: dict,
) -> None:
    """Three seeds, one diverged without test metrics: 3 seeds, but the top-1 mean, standard
    deviation (sqrt 8) and count are over the two tested; wall times 10, 20, 60 s mean 30."""
    runs = [_seeded(tiny_run, "vgg11", s, e) for s, e in enumerate([10.0, 14.0, 99.0])]
    runs[2].update(status="diverged", diverged_epoch=1, test={})
    for r, t in zip(runs, (10.0, 20.0, 60.0), strict=True):
        r["wall_time_s"] = t
    row = aggregate(runs_frame(runs)).iloc[0]
    assert row["seeds"] == 3 and row["diverged"] == 1
    assert row["centre/top1 count"] == 2
    assert row["centre/top1 mean"] == pytest.approx(12.0)
    assert row["centre/top1 std"] == pytest.approx(8.0**0.5)  # n - 1: not 2.0
    assert row["wall_time_s mean"] == pytest.approx(30.0)
    assert row["wall_time_s count"] == 3


def test_every_preset_may_be_named_and_each_tier_has_the_books_folder(tiny_run: dict) -> None:
    """The book reads the GPU runs from results/runs/, the CPU tier from results/cpu/ and the
    smoke runs from results/smoke/; a results file may also come from the ImageNet recipe."""
    from vggrepro.results.schema import TIERS

    assert TIERS == {"reduced": "runs", "cpu": "cpu", "smoke": "smoke"}
    for preset in ("reduced", "cpu", "smoke", "imagenet"):
        assert validate({**copy.deepcopy(tiny_run), "preset": preset})["preset"] == preset


def test_a_diverged_run_needs_no_test_metrics(tiny_run: dict) -> None:
    run = {**copy.deepcopy(tiny_run), "status": "diverged", "diverged_epoch": 1, "test": {}}
    assert validate(run) is run


def test_runs_load_in_run_id_order_not_file_order(tiny_run: dict, tmp_path: Path) -> None:
    for folder, run_id in (("a", "z/vgg19-s0"), ("b", "m/vgg11-s1"), ("c", "m/vgg11-s0")):
        save_result({**copy.deepcopy(tiny_run), "run_id": run_id}, tmp_path / folder / "r.json")
    assert [r["run_id"] for r in load_runs(tmp_path)] == ["m/vgg11-s0", "m/vgg11-s1", "z/vgg19-s0"]


def test_aggregate_keeps_grids_apart(tiny_run: dict) -> None:
    """The same net in two grids (say depth and lrn) is two rows, not one of two seeds."""
    runs = [_seeded(tiny_run, "vgg11", s, e) for s, e in enumerate([30.0, 21.0])]
    runs[0]["grid"], runs[1]["grid"] = "depth", "lrn"
    table = aggregate(runs_frame(runs))
    assert list(table["grid"]) == ["depth", "lrn"] and list(table["seeds"]) == [1, 1]
    assert list(table["centre/top1 mean"]) == [30.0, 21.0]


def test_an_invalid_result_is_refused_and_not_written(tiny_run: dict, tmp_path: Path) -> None:
    bad = {**copy.deepcopy(tiny_run), "seed": -1}
    with pytest.raises(ResultError, match=r"r\.json\.seed: -1 is less than the minimum"):
        save_result(bad, tmp_path / "g" / "r.json")
    assert not (tmp_path / "g" / "r.json").exists()


def test_aggregate_averages_each_runs_best_validation_accuracy_over_seeds(tiny_run: dict) -> None:
    """Best epochs 0.5 and 0.8 (last epochs 0.4 and 0.8): mean 0.65 over two seeds."""
    runs = [_seeded(tiny_run, "vgg11", s, 10.0) for s in range(2)]
    first = tiny_run["history"][0]
    for run, accs in zip(runs, ([0.2, 0.5, 0.4], [0.3, 0.8]), strict=True):
        run["history"] = [{**first, "epoch": e, "val_acc": a} for e, a in enumerate(accs, 1)]
    row = aggregate(runs_frame(runs)).iloc[0]
    assert row["best_val_acc mean"] == pytest.approx(0.65)
    assert row["best_val_acc count"] == 2


def test_the_runs_frame_of_a_run_diverged_before_its_first_epoch(tiny_run: dict) -> None:
    """No epoch recorded: no best validation accuracy (NaN, not 0), none run, and the epoch it
    diverged at."""
    run = {**copy.deepcopy(tiny_run), "status": "diverged", "diverged_epoch": 1, "test": {}}
    run["history"] = []
    row = runs_frame([run]).iloc[0]
    assert pd.isna(row["best_val_acc"]) and row["epochs_run"] == 0
    assert (row["status"], row["diverged_epoch"]) == ("diverged", 1)


def test_aggregate_keeps_the_runs_order_and_puts_the_counts_first(tiny_run: dict) -> None:
    """Configurations stay in the order their runs come (the grid's, not alphabetical), each
    row led by its configuration, then the seeds and diverged counts, then the metrics."""
    runs = [_seeded(tiny_run, arch, 0, 10.0) for arch in ("vgg19", "vgg11")]
    runs[0]["grid"], runs[1]["grid"] = "lrn", "depth"
    table = aggregate(runs_frame(runs))
    assert list(table["arch"]) == ["vgg19", "vgg11"] and list(table["grid"]) == ["lrn", "depth"]
    assert list(table.columns[:6]) == ["grid", "arch", "batch_norm", "init", "seeds", "diverged"]
    assert list(table.columns[6:9]) == ["centre/top1 mean", "centre/top1 std", "centre/top1 count"]
    by_init = aggregate(runs_frame(runs), by=["init"])  # the two nets, pooled
    assert list(by_init.columns[:3]) == ["init", "seeds", "diverged"]
    assert list(by_init["seeds"]) == [2]


@pytest.mark.parametrize(
    "path, good, bad",
    [
        (("provenance", "backend"), ["nccl", "gloo", None], "mpi"),
        (("provenance", "device_type"), ["cpu", "cuda"], "mps"),
        (("provenance", "cuda"), [None, "12.4"], 12.4),
        (("provenance", "git_dirty"), [True, False, None], "yes"),
        (("model_sha256",), [None, "0123456789abcdef" * 4], "0123456789ABCDEF" * 4),
        (("retest", "protocols"), [[], ["dense@64", "multi-crop"]], [64]),
        (("probe", "rows"), [], []),  # one row or more (with_records has two), never none
        (("probe", "data", "checksum"), ["f" * 64], "f" * 63),
        (("status",), ["completed", "stalled"], "interrupted"),
    ],
    ids=lambda v: "/".join(map(str, v)) if isinstance(v, tuple) else None,
)
def test_each_field_takes_every_value_it_documents_and_refuses_another(
    tiny_run: dict, path: tuple, good: list, bad: object
) -> None:
    """Enumerated and nullable fields: each documented value passes (a null where the field is
    unknown or absent), a value of another kind or outside the list fails."""
    for value in good:
        validate(put(with_records(tiny_run), path, value))
    with pytest.raises(ResultError, match=".".join(map(str, path))):
        validate(put(with_records(tiny_run), path, bad))
