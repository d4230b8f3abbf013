"""Experiment grids, the command line, and a smoke grid on the real offline archive."""

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import TINY

import vggrepro.engine.grids as grids
from vggrepro.cli import main
from vggrepro.engine.data import CIFAR10
from vggrepro.engine.nets import load_model, weights_digest
from vggrepro.results.io import aggregate, load_result, load_runs, runs_frame, save_result


def test_every_grid_names_real_configurations() -> None:
    from vggrepro.arch.configs import resolve

    for runs in grids.GRIDS.values():
        for options in runs.values():
            resolve(options["arch"])
    assert set(grids.GRIDS["depth"]) == {
        f"{a}{bn}" for a in ("vgg11", "vgg13", "vgg16", "vgg19") for bn in ("", "_bn")
    }


def test_init_grid_trains_the_warm_start_source_first(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = grids.run_grid(
        "init", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", seeds=(0,), tier="smoke",
        progress=False, eval_scales=(32,), epochs=1, **TINY,
    )  # fmt: skip
    assert [r["run_id"] for r in runs][0] == "init/vgg11_paper-s0"
    assert len(runs) == len(grids.GRIDS["init"])
    warm = next(r for r in runs if r["run_id"] == "init/vgg19_warm-s0")
    source = tmp_path / "ck" / "init" / "vgg11_paper-s0.model.pt"
    assert warm["config"]["warm_start"] == str(source)
    assert load_model(source).spec.config == "A"
    assert all(r["smoke"] for r in runs)
    assert len(list((tmp_path / "r" / "init").glob("*.json"))) == len(runs)

    # Started again, the grid finds every result recorded and trains nothing.
    def refuse(*args, **kwargs):
        raise AssertionError("a recorded run was trained again")

    monkeypatch.setattr(grids, "train", refuse)
    source.unlink()  # the warm start's net is gone, but every run that needed it is recorded
    again = grids.run_grid(
        "init", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", seeds=(0,), tier="smoke",
        progress=False, eval_scales=(32,), epochs=1, **TINY,
    )  # fmt: skip
    assert [r["run_id"] for r in again] == [r["run_id"] for r in runs]


def test_each_seed_warm_starts_from_the_source_net_of_its_own_seed(
    tiny: CIFAR10, tmp_path: Path
) -> None:
    names = grids._ordered(grids.GRIDS["init"])
    recorded, (first, rest) = grids._plan(
        "init", names, (0, 1), tiny, "smoke", tmp_path / "r", tmp_path / "ck", {}
    )
    assert recorded == {} and {j.run_id for j in first} == {"init/vgg11_paper-s0",
                                                            "init/vgg11_paper-s1"}  # fmt: skip
    warm = {j.run_id: Path(j.cfg.warm_start) for j in rest if j.cfg.warm_start}
    assert warm == {
        f"init/vgg19_warm-s{s}": tmp_path / "ck" / "init" / f"vgg11_paper-s{s}.model.pt"
        for s in (0, 1)
    }
    assert [j.cfg.seed for j in first] == [0, 1]


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Training stubbed: the run ids ``run_grid`` trains, in order, each recorded as completed."""
    ids: list[str] = []

    def fake_train(cfg, data, *, run_id: str, **kwargs) -> dict:
        ids.append(run_id)
        return {"run_id": run_id, "status": "completed", "test": {}}

    monkeypatch.setattr(grids, "train", fake_train)
    return ids


def test_the_all_grid_trains_only_the_runs_asked_for_in_the_grids_that_hold_them(
    tiny: CIFAR10, tmp_path: Path, trained: list[str]
) -> None:
    grids.check("all", ("vgg11_lrn", "vgg19_warm"))  # runs of two different grids
    with pytest.raises(ValueError, match="grid lrn has no run 'vgg19_warm'"):
        grids.check("lrn", ("vgg19_warm",))
    runs = grids.run_grid(
        "all", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", seeds=(0, 1),
        tier="smoke", progress=False, runs=("vgg11_lrn",),
    )  # fmt: skip
    assert trained == [r["run_id"] for r in runs] == ["lrn/vgg11_lrn-s0", "lrn/vgg11_lrn-s1"]


def test_the_all_grid_without_runs_trains_every_grid(
    tiny: CIFAR10, tmp_path: Path, trained: list[str]
) -> None:
    """No ``runs`` and no ``seeds``: every grid of ``GRIDS`` takes part and reports all of its
    runs, each for the default seeds of the tier asked for."""
    runs = grids.run_grid(
        "all", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", tier="smoke", progress=False
    )
    per_seed = sum(len(grid) for grid in grids.GRIDS.values())
    assert len(runs) == len(grids.SMOKE_SEEDS) * per_seed
    assert {run_id.split("/")[0] for run_id in trained} == set(grids.GRIDS)
    assert {run_id.rsplit("-s", 1)[1] for run_id in trained} == {"0", "1"}


def test_the_device_asked_for_reaches_every_run_of_every_grid(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``device`` given to the ``all`` grid is the device each run trains on."""
    devices = []

    def fake_train(cfg, data, *, run_id: str, device: str | None, **kwargs) -> dict:
        devices.append(device)
        return {"run_id": run_id, "status": "completed", "test": {}}

    monkeypatch.setattr(grids, "train", fake_train)
    grids.run_grid(
        "all", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", seeds=(0,), tier="smoke",
        runs=("vgg11_lrn", "vgg13_5x5"), device="meta", progress=False,
    )  # fmt: skip
    assert devices == ["meta", "meta"]


def test_one_run_left_is_trained_in_this_process_whatever_the_workers(
    tiny: CIFAR10, tmp_path: Path, trained: list[str]
) -> None:
    """With two workers but a single run to train, no worker process is started: the run is
    trained here (where the stubbed ``train`` sees it)."""
    runs = grids.run_grid(
        "lrn", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", seeds=(0,), tier="smoke",
        runs=("vgg11",), workers=2, progress=False,
    )  # fmt: skip
    assert trained == [r["run_id"] for r in runs] == ["lrn/vgg11-s0"]


def test_a_run_recorded_by_another_grid_is_shared_not_trained_again(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"seeds": (0,), "tier": "smoke", "progress": False, "eval_scales": (32,), "epochs": 1}
    grids.run_grid("lrn", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", **options, **TINY)
    trained = []
    real_train = grids.train

    def counting_train(cfg, *args, **kwargs):
        trained.append(f"{cfg.arch}{'_bn' if cfg.batch_norm else ''}")
        return real_train(cfg, *args, **kwargs)

    monkeypatch.setattr(grids, "train", counting_train)
    runs = grids.run_grid(
        "depth", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", **options, **TINY
    )
    shared = next(r for r in runs if r["run_id"] == "depth/vgg11-s0")
    assert shared["shared_with"] == "lrn/vgg11-s0" and shared["grid"] == "depth"
    assert sorted(trained) == sorted(set(grids.GRIDS["depth"]) - {"vgg11"})
    assert load_result(tmp_path / "r" / "depth" / "vgg11-s0.json")["shared_with"] == "lrn/vgg11-s0"


def test_a_shared_run_names_the_trained_run_never_another_copy(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third grid holding ``vgg11`` shares ``lrn``'s trained run, not ``depth``'s copy of it
    (which is found first: ``depth/`` sorts before ``lrn/``)."""
    options = {"seeds": (0,), "tier": "smoke", "progress": False, "eval_scales": (32,), "epochs": 1}
    monkeypatch.setitem(grids.GRIDS, "third", {"vgg11": {"arch": "vgg11"}})
    where = {"out": tmp_path / "r", "checkpoints": tmp_path / "ck"}
    grids.run_grid("lrn", tiny, **where, **options, **TINY)
    monkeypatch.setattr(grids, "train", lambda *a, **k: pytest.fail("a recorded run was trained"))
    grids.run_grid("depth", tiny, runs=("vgg11",), **where, **options, **TINY)
    assert load_result(tmp_path / "r" / "depth" / "vgg11-s0.json")["shared_with"] == "lrn/vgg11-s0"
    (third,) = grids.run_grid("third", tiny, **where, **options, **TINY)
    assert third["shared_with"] == "lrn/vgg11-s0" and third["run_id"] == "third/vgg11-s0"


def test_runs_limits_the_grid_and_unknown_runs_are_named(tiny: CIFAR10, tmp_path: Path) -> None:
    options = {"seeds": (0,), "tier": "smoke", "progress": False, "eval_scales": (32,), "epochs": 1}
    runs = grids.run_grid(
        "depth", tiny, out=tmp_path / "r", checkpoints=tmp_path / "ck", runs=("vgg11_bn",),
        **options, **TINY,
    )  # fmt: skip
    assert [r["run_id"] for r in runs] == ["depth/vgg11_bn-s0"]
    assert [p.name for p in (tmp_path / "r" / "depth").iterdir()] == ["vgg11_bn-s0.json"]
    with pytest.raises(ValueError, match="grid depth has no run 'vgg20_bn'"):
        grids.run_grid("depth", tiny, out=tmp_path, checkpoints=tmp_path, runs=("vgg20_bn",))
    too_many = (os.cpu_count() or 1) + 1  # more one-thread processes than cores oversubscribe
    for workers in (too_many, 0):  # no worker at all would train nothing
        with pytest.raises(ValueError, match="workers must be between 1 and the"):
            grids.run_grid("depth", tiny, out=tmp_path, checkpoints=tmp_path, workers=workers)


def recorded_vgg11(tiny: CIFAR10, tmp_path: Path, epochs: int) -> tuple[dict, Path, dict]:
    """The lrn grid's vgg11 (seed 0) recorded at smoke size: the grid options, its results file
    and what that file holds."""
    options = {"seeds": (0,), "tier": "smoke", "progress": False, "eval_scales": (32,)}
    kwargs = {"out": tmp_path / "r", "checkpoints": tmp_path / "ck", **options, **TINY}
    grids.run_grid("lrn", tiny, runs=("vgg11",), epochs=epochs, **kwargs)
    path = tmp_path / "r" / "lrn" / "vgg11-s0.json"
    return {**kwargs, "epochs": epochs}, path, load_result(path)


def test_a_run_recorded_before_an_option_existed_is_not_trained_again(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs, path, old = recorded_vgg11(tiny, tmp_path, epochs=1)
    del old["config"]["schedule"], old["config"]["milestones"]  # as recorded before them
    save_result(old, path)
    monkeypatch.setattr(grids, "train", lambda *a, **k: pytest.fail("trained again"))
    (again,) = grids.run_grid("lrn", tiny, runs=("vgg11",), **kwargs)
    assert again == old
    # A recorded option that differs from the preset's still counts as another run.
    old["config"]["schedule"], old["config"]["milestones"] = "step", [0.5]
    save_result(old, path)
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        grids.run_grid("lrn", tiny, runs=("vgg11",), **kwargs)


def test_a_stall_rule_added_later_keeps_only_the_runs_it_would_not_have_changed(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs, path, old = recorded_vgg11(tiny, tmp_path, epochs=3)
    del old["config"]["stall_epochs"]  # recorded before the rule existed: it never stopped
    for h, acc in zip(old["history"], (0.5, 0.1, 0.5), strict=True):
        h["train_acc"] = acc  # never two epochs in a row at chance
    save_result(old, path)
    monkeypatch.setattr(grids, "train", lambda *a, **k: pytest.fail("trained again"))
    (again,) = grids.run_grid("lrn", tiny, runs=("vgg11",), stall_epochs=2, **kwargs)
    assert again == old
    # Two epochs at chance: under the rule this run would have stopped, so it is another run.
    old["history"][2]["train_acc"] = 0.1
    save_result(old, path)
    with pytest.raises(pytest.fail.Exception, match="trained again"):
        grids.run_grid("lrn", tiny, runs=("vgg11",), stall_epochs=2, **kwargs)


@pytest.mark.slow
def test_workers_train_runs_in_processes_of_their_own(tiny: CIFAR10, tmp_path: Path) -> None:
    options = {"seeds": (0, 1), "tier": "smoke", "progress": False, "eval_scales": (32,)}
    kwargs = {"runs": ("vgg11_bn", "vgg13_bn"), "epochs": 2, **options, **TINY}
    parallel = grids.run_grid(
        "depth", tiny, out=tmp_path / "p", checkpoints=tmp_path / "pk", workers=2, **kwargs
    )
    assert [r["run_id"] for r in parallel] == [
        "depth/vgg11_bn-s0", "depth/vgg13_bn-s0", "depth/vgg11_bn-s1", "depth/vgg13_bn-s1",
    ]  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker ran
    try:
        serial = grids.run_grid(
            "depth", tiny, out=tmp_path / "s", checkpoints=tmp_path / "sk", **kwargs
        )
    finally:
        torch.set_num_threads(threads)
    for p, s in zip(parallel, serial, strict=True):
        assert p["status"] == s["status"] == "completed"
        assert [h["train_loss"] for h in p["history"]] == pytest.approx(
            [h["train_loss"] for h in s["history"]], rel=1e-4
        )
    assert len(list((tmp_path / "p" / "depth").glob("*.json"))) == 4


def test_unknown_grid_lists_the_valid_ones(tiny: CIFAR10, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="depth, init"):
        grids.run_grid("width", tiny, out=tmp_path, checkpoints=tmp_path)


def test_help_documents_every_option(capsys: pytest.CaptureFixture) -> None:
    for command, options in {
        "train": [
            "--arch",
            "--bn",
            "--init",
            "--seed",
            "--smoke",
            "--data",
            "--epochs",
            "--jitter",
        ],
        "run": [
            "--smoke",
            "--seeds",
            "--out",
            "--data",
            "--compile",
            "--quiet",
            "--preset",
            "--workers",
            "--runs",
        ],  # fmt: skip
    }.items():
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        for option in options:
            assert option in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "0"], "must be a positive integer"),
        (["train", "--arch", "vgg20"], "invalid choice: 'vgg20'"),
        (["train", "--jitter", "40"], "expected SMIN,SMAX"),
        (["train", "--init", "xavier"], "invalid choice: 'xavier'"),
        (["run", "everything"], "invalid choice: 'everything'"),
        (["train", "--lr", "-1"], "must be a positive finite number"),
        (["train", "--n-val", "0"], "must be a positive multiple of 10"),
        (["train", "--n-val", "15"], "must be a positive multiple of 10"),
        (["train", "--n-val", "-10"], "must be a positive multiple of 10"),
    ],
)
def test_bad_option_values_are_refused_clearly(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unknown_run_is_refused_before_any_data_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing = tmp_path / "nowhere.tar.gz"  # never read: the run names are checked first
    argv = ["run", "depth", "--preset", "cpu", "--runs", "vgg11_bn", "vgg20_bn"]
    assert main([*argv, "--data", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "grid depth has no run 'vgg20_bn'" in err and str(missing) not in err


def test_more_workers_than_cores_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    workers = str((os.cpu_count() or 1) + 1)
    assert main(["run", "depth", "--workers", workers, "--data", str(tmp_path / "none")]) == 2
    assert "more than the" in capsys.readouterr().err


def test_a_missing_data_path_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nowhere.tar.gz"
    assert main(["train", "--smoke", "--data", str(missing), "--cache", str(tmp_path)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_train_command_writes_a_result(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = [
        "train", "--smoke", "--quiet", "--bn", "--epochs", "1", "--n-val", "20",
        "--batch-size", "20", "--data", str(tiny_folder), "--cache", str(tmp_path / "c"),
        "--out", str(tmp_path / "out"), "--checkpoints", str(tmp_path / "ck"),
        "--save-model", str(tmp_path / "m.pt"),
    ]  # fmt: skip
    assert main(argv) == 0
    (result,) = load_runs(tmp_path / "out")
    assert result["config"]["batch_norm"] and result["data"]["source"] == "folder:tiny-cifar0"
    result_file = next((tmp_path / "out").glob("*.json"))
    export = [
        "export",
        str(tmp_path / "m.pt"),
        str(tmp_path / "half.pt"),
        "--result",
        str(result_file),
    ]
    assert main(export) == 0
    assert load_result(tmp_path / "half.json") == result
    assert result["model_sha256"] == weights_digest(load_model(tmp_path / "m.pt"))

    # Another configuration is another run: its own results file and checkpoint.
    assert main([*argv[:-2], "--lr", "0.5"]) == 0
    assert len(list((tmp_path / "out").glob("*.json"))) == 2
    assert len(list((tmp_path / "ck" / "single").glob("*.ckpt.pt"))) == 2

    # The results file of another run (other weights, same net) is refused, and nothing written.
    other = next(p for p in (tmp_path / "out").glob("*.json") if p != result_file)
    refused = [*export[:2], str(tmp_path / "x.pt"), "--result", str(other)]
    assert main(refused) == 2
    assert "is the results file of another run" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.json").exists()
    assert main(["export", str(tmp_path / "none.pt"), str(tmp_path / "y.pt")]) == 2
    state = torch.load(tmp_path / "half.pt", weights_only=True)["state_dict"]
    assert state["features.0.weight"].dtype == torch.float16


@pytest.mark.slow
def test_smoke_depth_grid_on_the_offline_archive(real_cifar: CIFAR10, tmp_path: Path) -> None:
    runs = grids.run_grid(
        "depth", real_cifar, out=tmp_path / "smoke", checkpoints=tmp_path / "ck", tier="smoke",
        progress=False,
    )  # fmt: skip
    assert len(runs) == len(grids.GRIDS["depth"]) * len(grids.SMOKE_SEEDS)
    assert all(r["smoke"] and r["data"]["source"] == "cifar10-jpeg" for r in runs)
    table = aggregate(runs_frame(load_runs(tmp_path / "smoke")))
    assert len(table) == 8 and (table["seeds"] == 2).all()


def test_as_many_workers_as_cores_is_allowed_and_one_more_is_not() -> None:
    cores = os.cpu_count() or 1
    grids.check("depth", workers=cores)  # one process per core: the CPU tier's setting
    with pytest.raises(ValueError, match="workers must be between 1 and"):
        grids.check("depth", workers=cores + 1)
    with pytest.raises(ValueError, match="workers must be between 1 and"):
        grids.check("depth", workers=0)  # no process at all would train nothing


def test_a_run_recorded_on_other_data_is_not_the_same_run(tiny_run: dict, tiny: CIFAR10) -> None:
    recorded = json.loads(json.dumps(tiny_run))  # as read back from its results file
    cfg = grids.TrainConfig.from_dict(recorded["config"])
    assert recorded["data"]["checksum"] == tiny.checksum
    assert grids._same(recorded, cfg, tiny)
    tiny.checksum = "f" * 64  # the same images read from another source
    assert not grids._same(recorded, cfg, tiny)


def test_a_recorded_warm_start_matches_its_net_wherever_the_nets_folder_moved() -> None:
    """The grid compares warm-start nets by file name: a results folder recorded with the nets
    in one checkpoints folder is still the same run when they live in another."""
    here = {"arch": "vgg19", "warm_start": "/old/checkpoints/init/vgg11_paper-s0.model.pt"}
    there = {**here, "warm_start": "/new/place/init/vgg11_paper-s0.model.pt"}
    other = {**here, "warm_start": "/old/checkpoints/init/vgg11_paper-s1.model.pt"}
    assert grids._comparable(here) == grids._comparable(there)
    assert grids._comparable(here) != grids._comparable(other)


def test_results_come_seed_by_seed_and_the_default_seeds_follow_the_tier(
    tiny: CIFAR10, tmp_path: Path, trained: list[str]
) -> None:
    where = {"out": tmp_path / "r", "checkpoints": tmp_path / "ck", "progress": False}
    runs = grids.run_grid("depth", tiny, seeds=(2, 0), runs=("vgg13_bn", "vgg11"), **where)
    assert [r["run_id"] for r in runs] == [
        "depth/vgg11-s2", "depth/vgg13_bn-s2", "depth/vgg11-s0", "depth/vgg13_bn-s0",
    ]  # fmt: skip
    for tier, seeds in (("smoke", grids.SMOKE_SEEDS), ("cpu", grids.SEEDS)):
        runs = grids.run_grid("lrn", tiny, tier=tier, runs=("vgg11",), **where)
        assert [r["run_id"] for r in runs] == [f"lrn/vgg11-s{s}" for s in seeds]
    assert grids.SMOKE_SEEDS == (0, 1) and grids.SEEDS == (0, 1, 2)


def test_a_job_keeps_its_checkpoint_and_net_apart_under_its_grid_with_the_options_given(
    tiny: CIFAR10, tmp_path: Path
) -> None:
    out, ck = tmp_path / "r", tmp_path / "ck"
    _, (first, (job,)) = grids._plan(
        "lrn", ["vgg11_lrn"], (3,), tiny, "cpu", out, ck, {"epochs": 7}
    )
    assert first == [] and job.run_id == "lrn/vgg11_lrn-s3"
    assert job.path == out / "lrn" / "vgg11_lrn-s3.json"
    assert job.checkpoint == ck / "lrn" / "vgg11_lrn-s3.ckpt.pt"
    assert job.model_path == ck / "lrn" / "vgg11_lrn-s3.model.pt"
    assert (job.cfg.arch, job.cfg.seed, job.cfg.preset) == ("vgg11_lrn", 3, "cpu")
    assert job.cfg.epochs == 7  # the options given to the grid


def test_a_warm_start_source_with_its_net_kept_is_not_trained_for_a_missing_run(
    tiny: CIFAR10, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vgg11_paper`` is recorded but ``vgg19_warm`` is not: the source is trained again only
    when its saved net is gone too."""
    out, ck = tmp_path / "r", tmp_path / "ck"
    source = {"run_id": "init/vgg11_paper-s0", "status": "completed"}
    recorded_only = {"vgg11_paper-s0": source}
    monkeypatch.setattr(grids, "_existing", lambda path, cfg, data: recorded_only.get(path.stem))
    names = ["vgg11_paper", "vgg19_warm"]
    net = ck / "init" / "vgg11_paper-s0.model.pt"
    net.parent.mkdir(parents=True)
    net.touch()
    recorded, (first, rest) = grids._plan("init", names, (0,), tiny, "smoke", out, ck, {})
    assert recorded == {"init/vgg11_paper-s0": source} and first == []
    assert [j.run_id for j in rest] == ["init/vgg19_warm-s0"]
    net.unlink()
    recorded, (first, rest) = grids._plan("init", names, (0,), tiny, "smoke", out, ck, {})
    assert recorded == {} and [j.run_id for j in first] == ["init/vgg11_paper-s0"]
    assert [j.run_id for j in rest] == ["init/vgg19_warm-s0"]
    # Once the run that needs it is recorded too, the source's net is no longer needed.
    recorded_only["vgg19_warm-s0"] = {"run_id": "init/vgg19_warm-s0", "status": "completed"}
    (out / "init").mkdir(parents=True)
    (out / "init" / "vgg19_warm-s0.json").touch()
    recorded, waves = grids._plan("init", names, (0,), tiny, "smoke", out, ck, {})
    assert sorted(recorded) == ["init/vgg11_paper-s0", "init/vgg19_warm-s0"] and waves == ([], [])


def test_a_warm_start_source_is_trained_in_its_grid_even_when_another_grid_has_it(
    tiny: CIFAR10, tiny_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm run needs the source's net under its own grid's folder, so the source is
    trained there, not shared; a run no other run needs is shared from its twin."""
    monkeypatch.setattr(grids, "_twin", lambda out, cfg, data: json.loads(json.dumps(tiny_run)))
    out, ck = tmp_path / "r", tmp_path / "ck"
    names = ["vgg11_paper", "vgg19_paper"]
    recorded, (first, rest) = grids._plan("init", names, (0,), tiny, "smoke", out, ck, {})
    assert [j.run_id for j in first] == ["init/vgg11_paper-s0"] and rest == []
    assert list(recorded) == ["init/vgg19_paper-s0"]
    assert recorded["init/vgg19_paper-s0"]["shared_with"] == tiny_run["run_id"]


def test_a_run_that_stopped_as_stalled_is_another_run_under_another_stall_rule(
    tiny_run: dict, tiny: CIFAR10
) -> None:
    """Its history never at chance, a run recorded under another stall rule counts as the
    same run, unless it stopped as stalled: then the rule changed it."""
    recorded = json.loads(json.dumps(tiny_run))
    for h in recorded["history"]:
        h["train_acc"] = 0.9
    cfg = grids.TrainConfig.from_dict(recorded["config"])
    other_rule = dataclasses.replace(cfg, stall_epochs=(cfg.stall_epochs or 1) + 2)
    assert grids._same(recorded, cfg, tiny) and grids._same(recorded, other_rule, tiny)
    recorded["status"] = "stalled"
    assert grids._same(recorded, cfg, tiny)  # the same rule: it would stop the same way
    assert not grids._same(recorded, other_rule, tiny)


def test_a_results_file_cut_short_or_off_the_schema_is_no_recorded_run(
    tiny: CIFAR10, tmp_path: Path
) -> None:
    """Such a run is trained again, as a missing one is; the grid does not stop on it."""
    cfg = grids.preset("smoke", **TINY)
    path = tmp_path / "vgg11-s0.json"
    assert grids._existing(path, cfg, tiny) is None
    path.write_text('{"run_id": "lrn/vgg11-s0", ')
    assert grids._existing(path, cfg, tiny) is None
    path.write_text(json.dumps({"run_id": "lrn/vgg11-s0"}))
    assert grids._existing(path, cfg, tiny) is None


def test_a_job_trains_under_its_grids_name_with_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(grids, "train", lambda *args, **kwargs: calls.append((args, kwargs)))
    cfg = grids.preset("smoke", seed=2)
    job = grids.Job(cfg, "init/vgg19_warm-s2", tmp_path / "r.json", tmp_path / "c.pt",
                    tmp_path / "m.pt")  # fmt: skip
    grids._train(job, "data", "cpu", False, position=3)
    assert calls == [
        (
            (cfg, "data"),
            {"run_id": "init/vgg19_warm-s2", "grid": "init", "out": job.path,
             "checkpoint": job.checkpoint, "device": "cpu", "progress": False,
             "model_path": job.model_path, "position": 3},
        )
    ]  # fmt: skip
