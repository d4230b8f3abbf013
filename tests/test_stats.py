"""Recipe comparison, learning curves and the depth verdict, on synthetic runs."""

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from vggrepro.engine.presets import preset
from vggrepro.report import depth, significance, training
from vggrepro.results.io import runs_frame
from vggrepro.results.recorded import GridRecord
from vggrepro.results.schema import validate


def fake_run(
    arch: str,
    bn: bool,
    seed: int,
    top1: float | None,
    *,
    epochs: int = 3,
    smoke: bool = False,
    diverged_epoch: int | None = None,
) -> dict:
    """A results dict that passes the schema; ``top1=None`` with ``diverged_epoch`` diverges."""
    cfg = preset("smoke" if smoke else "reduced", arch=arch, batch_norm=bn, seed=seed)
    history = [
        {
            "epoch": e,
            "train_loss": 2.0 / e + seed,
            "train_acc": 0.1 * e,
            "val_acc": 0.1 * e + 0.01 * seed,
            "lr": 0.01 if e < 3 else 0.001,
            "seconds": 1.0,
        }
        for e in range(1, (diverged_epoch - 1 if diverged_epoch else epochs) + 1)
    ]
    test = {} if top1 is None else {"centre": {"top1_error": top1, "top5_error": top1 / 3}}
    run = {
        "schema": 1,
        "run_id": f"depth/{arch}{'_bn' if bn else ''}-s{seed}",
        "grid": "depth",
        "preset": cfg.preset,
        "smoke": smoke,
        "seed": seed,
        "status": "diverged" if diverged_epoch else "completed",
        "diverged_epoch": diverged_epoch,
        "config": asdict(cfg),
        "params": 1000,
        "history": history,
        "test": test,
        "wall_time_s": 10.0,
        "train_time_s": 9.0,
        "images_per_s": 100.0,
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:00:10+00:00",
        "provenance": {
            "device": "test device",
            "device_type": "cpu",
            "torch": "x",
            "cuda": None,
            "git_commit": "0" * 40,
            "git_dirty": False,
        },
        "data": {
            "source": "synthetic",
            "checksum": "0" * 64,
            "n_train": 1,
            "n_val": 1,
            "n_test": 1,
        },
    }
    return validate(run)


ARCHS = ("vgg11", "vgg13", "vgg16", "vgg19")


def grid(means: dict[bool, list[float]], noise=(-0.1, 0.0, 0.1), **kw) -> list[dict]:
    """Runs whose centre top-1 error is ``mean + noise[seed]`` for each arch and BN setting."""
    return [
        fake_run(arch, bn, seed, m + n, **kw)
        for bn, ms in means.items()
        for arch, m in zip(ARCHS, ms, strict=True)
        for seed, n in enumerate(noise)
    ]


def test_pooled_std_matches_the_definition_and_skips_single_values() -> None:
    a, b = np.array([1.0, 2.0, 4.0]), np.array([10.0, 13.0])
    want = math.sqrt(((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / math.sqrt(3)
    got = significance.pooled_std([a.std(ddof=1), b.std(ddof=1), 99.0], [3, 2, 1])
    assert got == pytest.approx(want)
    # A single run's spread is undefined (pandas gives NaN): it must not poison the pool.
    lone = significance.pooled_std([a.std(ddof=1), float("nan"), b.std(ddof=1)], [3, 1, 2])
    assert lone == pytest.approx(want)
    assert math.isnan(significance.pooled_std([5.0, float("nan")], [1, 0]))


def test_by_depth_orders_by_weight_layers() -> None:
    assert depth.by_depth(["vgg19", "vgg11", "vgg16", "vgg13", "vgg11"]) == list(ARCHS)


def test_depth_effect_measures_a_clear_monotonic_fall() -> None:
    frame = runs_frame(grid({False: [10.0, 9.0, 8.0, 7.5], True: [9.0, 9.0, 9.05, 8.95]}))
    effect = depth.depth_effect(frame).set_index("batch_norm")
    plain, bn = effect.loc[False], effect.loc[True]
    assert plain["change"] == pytest.approx(-2.5)
    assert plain["pooled_std"] == pytest.approx(0.1)
    assert plain["ratio"] == pytest.approx(-25.0)
    assert plain["t"] == pytest.approx(-2.5 / (0.1 * math.sqrt(2 / 3)))
    assert plain["vgg13→vgg16"] == pytest.approx(-1.0)
    assert plain["clear"] and plain["monotonic"]
    assert plain["last_step"] == "vgg16→vgg19" and plain["last_change"] == pytest.approx(-0.5)
    assert not bn["clear"] and not bn["monotonic"]
    assert (effect["runs"] == 12).all() and (effect["diverged"] == 0).all()


def test_depth_by_tier_gives_each_tier_its_own_verdict() -> None:
    falls = GridRecord("depth", grid({True: [10.0, 9.0, 8.0, 7.0]}), "reduced", "runs/depth")
    rises = grid({True: [7.0, 8.0, 9.0, 10.0]})
    for run in rises:
        run["preset"] = run["config"]["preset"] = "cpu"
    table = depth.depth_by_tier([falls, GridRecord("depth", rises, "cpu", "cpu/depth")])
    assert list(table["tier"]) == ["GPU tier", "CPU tier"]
    assert list(table["change"]) == pytest.approx([-3.0, 3.0])
    # t is the whole change over its standard error (seed std 0.1, three seeds per depth).
    assert list(table["t"]) == pytest.approx([s * 3.0 / (0.1 * math.sqrt(2 / 3)) for s in (-1, 1)])
    assert table["verdict"][0].startswith("with batch norm, top-1 error falls from vgg11")
    assert table["verdict"][1].startswith("with batch norm, top-1 error rises from vgg11")
    assert (table["runs"] == 12).all() and table["batch_norm"].all()
    assert "conv widths 1/2" in table["scale"][0]
    assert list(table["shallow_error"]) == pytest.approx([10.0, 7.0])
    assert list(table["deep_error"]) == pytest.approx([7.0, 10.0])
    assert list(table["t_crit"]) == pytest.approx([significance.t_critical(8)] * 2)


def test_depth_effect_keeps_diverged_runs_out_of_the_means_but_counts_them() -> None:
    runs = grid({False: [10.0, 9.0, 8.0, 7.0]})
    runs = [r for r in runs if r["run_id"] != "depth/vgg19-s2"]
    runs.append(fake_run("vgg19", False, 2, None, diverged_epoch=2))
    effect = depth.depth_effect(runs_frame(runs)).iloc[0]
    assert effect["diverged"] == 1 and effect["runs"] == 12
    assert effect["deep_error"] == pytest.approx(6.95)  # seeds 0 and 1 only
    assert effect["missing"] == ""


def test_a_depth_with_only_diverged_runs_makes_the_verdict_untestable() -> None:
    runs = [
        r for r in grid({False: [10.0, 9.0, 8.0, 7.0]}) if not r["run_id"].startswith("depth/vgg19")
    ]
    runs += [fake_run("vgg19", False, s, None, diverged_epoch=1) for s in range(3)]
    frame = runs_frame(runs)
    assert depth.depth_effect(frame).iloc[0]["missing"] == "vgg19"
    verdict = depth.depth_verdict(frame)
    assert "not testable" in verdict and "vgg19" in verdict and "3 of 12 runs diverged" in verdict


def test_the_verdict_reads_falls_saturates_and_no_change_from_the_numbers() -> None:
    frame = runs_frame(grid({False: [10.0, 9.0, 8.0, 8.05], True: [9.0, 9.05, 8.95, 9.0]}))
    verdict = depth.depth_verdict(frame)
    plain, bn = verdict.split(". With batch norm")
    assert plain.startswith("Without batch norm, top-1 error falls from vgg11 to vgg19")
    assert "not at every step" in plain and "vgg16→vgg19 is within the seed noise" in plain
    assert "shows no clear change" in bn
    still = depth.depth_verdict(runs_frame(grid({False: [10.0, 9.0, 8.0, 7.0]})))
    assert "monotonically" in still and "still falls at vgg16→vgg19 (-1.00)" in still
    # -3 points over a seed std of 0.1 with 3 seeds a depth: t = -3 / (0.1 sqrt(2/3)), 8 dof
    numbers = "(-3.00 points, 30.0x the seed-to-seed std of 0.10; |t| = 36.7 against 2.31)"
    assert f"falls from vgg11 to vgg19 {numbers}, monotonically" in still


def test_stalled_runs_are_counted_and_named_in_the_verdict() -> None:
    runs = grid({False: [10.0, 9.0, 8.0, 7.0]})
    runs[0]["status"] = "stalled"  # it still has its test metrics
    effect = depth.depth_effect(runs_frame(runs)).iloc[0]
    assert (effect["stalled"], effect["diverged"], effect["runs"]) == (1, 0, 12)
    # A stalled run stopped at chance: it is counted, not averaged (vgg11: seeds 1 and 2 only).
    assert effect["shallow_error"] == pytest.approx(10.05)
    verdict = depth.depth_verdict(runs_frame(runs))
    assert "(-1.00); 1 of 12 runs stalled at chance and were stopped. With" in verdict


def test_the_verdict_says_why_a_setting_cannot_be_tested() -> None:
    one_depth = [r for r in grid({False: [10.0, 9.0, 8.0, 7.0]}) if "vgg11-" in r["run_id"]]
    assert depth.depth_verdict(runs_frame(one_depth)).startswith(
        "Without batch norm: not testable, only one depth (vgg11) was run."
    )
    one_seed = grid({False: [10.0, 9.0, 8.0, 7.0]}, noise=(0.0,))
    assert "no seed-to-seed spread to compare with" in depth.depth_verdict(runs_frame(one_seed))


def test_the_verdict_says_when_the_deepest_step_rises_again() -> None:
    verdict = depth.depth_verdict(runs_frame(grid({False: [10.0, 8.0, 6.0, 7.0]})))
    assert "falls from vgg11 to vgg19" in verdict and "but not at every step" in verdict
    assert "it rises again at vgg16→vgg19 (+1.00)" in verdict


def test_a_setting_without_runs_is_named_untestable_not_dropped() -> None:
    verdict = depth.depth_verdict(runs_frame(grid({True: [10.0, 9.0, 8.0, 7.0]})))
    bn, plain = verdict.split(". Without batch norm")
    assert bn.startswith("With batch norm, top-1 error falls from vgg11 to vgg19")
    assert plain == ": not testable, no runs recorded."
    empty = GridRecord("depth", [], tier="reduced", source="runs/depth")
    assert depth.depth_verdict(empty) == "not testable: no runs"
    assert training.training_verdict(empty) == "not testable: no runs"


def test_smoke_runs_get_no_verdict_whatever_their_numbers() -> None:
    runs = grid({False: [10.0, 9.0, 8.0, 7.0]}, smoke=True)
    record = GridRecord("depth", runs, tier="smoke", source="results/smoke/depth")
    assert depth.depth_verdict(record) == significance.SMOKE_VERDICT
    assert depth.depth_verdict(record.frame) == significance.SMOKE_VERDICT
    assert depth.depth_verdict(record.frame, smoke=False).startswith("Without batch norm")
    real = GridRecord("depth", grid({False: [10.0, 9.0, 8.0, 7.0]}), tier="reduced", source="x")
    assert depth.depth_verdict(real) != significance.SMOKE_VERDICT


def test_learning_curves_hold_every_epoch_and_means_count_the_runs_left() -> None:
    runs = [fake_run("vgg11", False, s, 10.0) for s in range(2)]
    runs.append(fake_run("vgg11", False, 2, None, diverged_epoch=3))  # two epochs recorded
    curves = training.learning_curves(runs)
    assert list(curves.columns) == list(training.CURVE_COLUMNS)
    assert len(curves) == 3 + 3 + 2
    assert set(curves.loc[curves["seed"] == 2, "status"]) == {"diverged"}
    means = training.mean_curves(curves).set_index("epoch")
    assert means["runs"].tolist() == [3, 3, 2]
    assert means.loc[1, "val_acc"] == pytest.approx(0.1 + 0.01)  # seeds 0, 1, 2
    assert means.loc[3, "train_loss"] == pytest.approx(2.0 / 3 + 0.5)  # seeds 0, 1
    assert (means.loc[3, "lr"], means.loc[2, "train_acc"]) == pytest.approx((0.001, 0.2))
    assert training.learning_curves([]).empty


def test_mean_curves_average_the_seeds_not_their_median() -> None:
    """Three seeds at 10 %, 20 % and 90 % validation accuracy: the curve shows their mean,
    40 %, as the training chapter's caption says ("averaged over seeds"), not the middle
    seed's 20 %."""
    rows = [
        dict.fromkeys(training.CURVE_COLUMNS, 0.0)
        | {"arch": "vgg11", "batch_norm": False, "seed": s, "epoch": 1, "val_acc": acc}
        for s, acc in enumerate((0.1, 0.2, 0.9))
    ]
    means = training.mean_curves(pd.DataFrame(rows))
    assert means["val_acc"].tolist() == [pytest.approx(0.4)] and means["runs"].tolist() == [3]


def test_recipe_comparison_reads_the_config_not_a_copy() -> None:
    table = training.recipe_comparison(preset("reduced")).set_index("setting")
    assert table.loc["batch size", "kept"] and table.loc["weight decay", "kept"]
    assert table.loc["conv channels", "here"] == "32..256"
    assert not table.loc["epochs", "kept"] and table.loc["epochs", "why"]
    changed = training.recipe_comparison(preset("reduced", lr=0.1, width=1.0)).set_index("setting")
    assert not changed.loc["learning rate", "kept"] and changed.loc["learning rate", "here"] == 0.1
    assert changed.loc["conv channels", "here"] == "64..512"
    assert isinstance(table, pd.DataFrame) and table["kept"].dtype == bool


def test_recipe_comparison_describes_each_presets_schedule_crop_and_arithmetic() -> None:
    cpu = training.recipe_comparison(preset("cpu")).set_index("setting")
    assert cpu.loc["when the learning rate drops", "here"] == (
        "after epochs 13 and 19 of 22, fixed in advance"
    )
    assert cpu.loc["arithmetic of the training steps", "here"].endswith("on the CPU too")
    assert cpu.loc["batch size", "why"] == training.WHY_CPU["batch_size"]
    assert cpu.loc["momentum", "why"] == ""
    # Fixed drops at 13 and 19 of 22 epochs: two drops, not the plateau rule's ceiling of three
    # (which the paper's count of three would then wrongly be "kept" against).
    assert cpu.loc["learning-rate drops", "here"] == 2 == preset("cpu").planned_drops()
    assert not cpu.loc["learning-rate drops", "kept"] and preset("cpu").max_drops == 3
    gpu = training.recipe_comparison(preset("reduced")).set_index("setting")
    assert gpu.loc["when the learning rate drops", "here"] == "after 2 epochs without improvement"
    assert gpu.loc["stopping a run stuck at chance", "here"] == "after 5 epochs in a row at chance"
    assert gpu.loc["random crop", "here"] == "32 px from the image padded by 4 px"
    assert gpu.loc["arithmetic of the training steps", "here"].endswith("fp32 on the CPU")
    assert gpu.loc["batch size", "why"] != training.WHY_CPU["batch_size"]


def test_lr_drops_and_the_run_table_read_the_schedule() -> None:
    history = [{"epoch": e, "lr": lr} for e, lr in enumerate([0.01, 0.01, 0.001, 0.001, 1e-4], 1)]
    assert training.lr_drops(history) == [3, 5]
    runs = [fake_run("vgg13", True, 0, 10.0), fake_run("vgg11", False, 1, None, diverged_epoch=2)]
    table = training.run_table(runs).set_index("arch")
    assert table.loc["vgg13", "drop_epochs"] == "3" and table.loc["vgg13", "lr_drops"] == 1
    assert table.loc["vgg13", "best_epoch"] == 3 and table.loc[
        "vgg13", "best_val_acc"
    ] == pytest.approx(0.3)
    assert table.loc["vgg11", "epochs_run"] == 1 and table.loc["vgg11", "diverged_epoch"] == 2
    # ``epochs`` is the run's budget, not the epochs it ran before diverging.
    assert table.loc["vgg11", "epochs"] == preset("reduced").epochs != 1


def test_timing_averages_per_configuration_in_depth_order() -> None:
    runs = [
        fake_run(a, bn, s, 10.0) for a in ("vgg19", "vgg11") for bn in (True, False) for s in (0, 1)
    ]
    runs[0]["images_per_s"] = 300.0  # vgg19_bn seed 0; seed 1 keeps 100
    out = training.timing(runs)
    assert out[["arch", "batch_norm"]].values.tolist() == [
        ["vgg11", False], ["vgg19", False], ["vgg11", True], ["vgg19", True],
    ]  # fmt: skip
    last = out.iloc[-1]
    assert last["runs"] == 2 and last["images_per_s"] == 200.0
    assert last["s_per_epoch"] == pytest.approx(9.0 / 3)


def test_training_verdict_names_diverged_runs_and_a_short_budget() -> None:
    runs = grid({False: [10.0, 9.0, 8.0, 7.0]})[:-1]
    runs.append(fake_run("vgg19", False, 2, None, diverged_epoch=2))
    stalled = fake_run("vgg19", False, 3, 90.0)  # stopped at chance: neither completed nor
    stalled["status"] = "stalled"  # diverged, and its accuracy is no completed run's
    for h in stalled["history"]:
        h["val_acc"] = 0.1
    runs.append(stalled)
    record = GridRecord("depth", runs, tier="reduced", source="x")
    verdict = training.training_verdict(record)
    assert verdict.startswith("11 of 13 runs completed and 1 diverged (depth/vgg19-s2 at epoch 2)")
    assert "11 of 11 completed runs ended before their last learning-rate drop" in verdict
    assert verdict.endswith("; best validation accuracy 30.0% to 32.0%.")
    assert training.training_verdict(record, smoke=True) == significance.SMOKE_VERDICT
    smoke = grid({False: [10.0, 9.0, 8.0, 7.0]}, smoke=True)
    smoke = GridRecord("depth", smoke, tier="smoke", source="results/smoke/depth")
    assert training.training_verdict(smoke) == significance.SMOKE_VERDICT
    assert training.training_verdict(smoke, smoke=False).startswith("12 of 12 runs completed")


def test_a_step_schedule_counts_its_own_planned_drops() -> None:
    # Fixed drops after epochs 2 and 4 of 6 (max_drops, which only the plateau rule reads, is 3).
    runs = []
    for seed in (0, 1):
        run = fake_run("vgg11", True, seed, 10.0, epochs=6)
        run["config"].update(preset("cpu", epochs=6, milestones=(0.34, 0.67)).__dict__)
        run["config"]["milestones"] = [0.34, 0.67]
        for h in run["history"]:
            h["lr"] = 0.05 * 0.1 ** ((h["epoch"] > 2) + (h["epoch"] > 4))
        runs.append(run)
    record = GridRecord("depth", runs, tier="cpu", source="x")
    assert training.run_table(runs)["planned_drops"].tolist() == [2, 2]
    verdict = training.training_verdict(record)
    assert "every completed run made all its learning-rate drops" in verdict
    runs[1]["history"] = runs[1]["history"][:4]  # stopped before its second drop
    assert "1 of 2 completed runs ended before" in training.training_verdict(record)


def test_final_fit_reads_the_last_epoch_and_says_which_net_fits_less() -> None:
    runs = [fake_run(a, True, s, 10.0, epochs=4) for a in ("vgg19", "vgg11") for s in (0, 1)]
    runs.append(fake_run("vgg19", True, 2, None, diverged_epoch=3))  # not a finished fit
    for r in runs[:2]:
        r["history"][-1]["train_acc"] = 0.25  # vgg19 ends lower than vgg11's 0.4
    table = training.final_fit(runs)
    assert table["arch"].tolist() == ["vgg11", "vgg19"] and table["runs"].tolist() == [2, 2]
    assert table["train_acc"].tolist() == pytest.approx([0.4, 0.25])
    assert table["val_acc"].tolist() == pytest.approx([0.405, 0.405])
    note = training.fit_note(table)
    assert note.startswith("With batch norm, vgg19 ends training at 25.0 % training accuracy")
    assert "against 40.0 % for vgg11" in note and "learned less" in note
    runs[0]["history"][-1]["train_acc"] = runs[1]["history"][-1]["train_acc"] = 0.5
    assert "at least as well" in training.fit_note(training.final_fit(runs))


# Two-sided 95 % critical values of Student's t, t(0.975; df), from the NIST/SEMATECH
# e-Handbook of Statistical Methods, section 1.3.6.7.2, "Critical values of the Student's t
# distribution" (https://www.itl.nist.gov/div898/handbook/eda/section3/eda3672.htm).
STUDENT_T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042, 100: 1.984,
}  # fmt: skip


@pytest.mark.parametrize("df", list(STUDENT_T_975))
def test_t_critical_matches_the_nist_table(df: int) -> None:
    assert significance.t_critical(df) == pytest.approx(STUDENT_T_975[df], abs=5e-4)


def test_depth_effect_tests_with_the_pooled_degrees_of_freedom() -> None:
    """Each depth's seeds give n - 1 degrees of freedom to the pooled std: 4 x (3 - 1) = 8; with
    one run diverged, 2 + 2 + 2 + 1 = 7."""
    runs = grid({False: [10.0, 9.0, 8.0, 7.5]})
    assert depth.depth_effect(runs_frame(runs)).iloc[0]["t_crit"] == pytest.approx(
        STUDENT_T_975[8], abs=5e-4
    )
    runs = [r for r in runs if r["run_id"] != "depth/vgg19-s2"]
    runs.append(fake_run("vgg19", False, 2, None, diverged_epoch=2))
    assert depth.depth_effect(runs_frame(runs)).iloc[0]["t_crit"] == pytest.approx(
        STUDENT_T_975[7], abs=5e-4
    )


@pytest.mark.parametrize("n_a, n_b", [(2, 2), (3, 3), (3, 5), (2, 10)])
def test_two_arms_have_na_plus_nb_minus_two_degrees_of_freedom(n_a: int, n_b: int) -> None:
    runs = [fake_run("vgg11", False, s, 10.0 + s % 3) for s in range(n_a)]
    runs += [fake_run("vgg13", False, s, 20.0 - s % 2) for s in range(n_b)]
    c = significance.pairwise(runs_frame(runs), "vgg11", "vgg13")
    assert c.df == n_a + n_b - 2
    assert c.t_crit == pytest.approx(STUDENT_T_975[n_a + n_b - 2], abs=5e-4)
    lo, hi = c.interval
    assert (hi - lo) / 2 == pytest.approx(c.t_crit * c.se)
    assert f"against {STUDENT_T_975[n_a + n_b - 2]:.2f}" in c.verdict


@pytest.mark.parametrize("n", [2, 5, 9])
def test_paired_runs_have_n_minus_one_degrees_of_freedom(n: int) -> None:
    frame = runs_frame([fake_run("vgg11", False, s, 10.0 + s) for s in range(n)])
    frame["flip/top1"] = frame["centre/top1"] - 1.0 - 0.1 * (frame["seed"] % 2)
    c = significance.paired(frame, "centre", "flip")
    assert (c.n_a, c.df) == (n, n - 1)
    assert c.t_crit == pytest.approx(STUDENT_T_975[n - 1], abs=5e-4)


def test_pairwise_and_paired_give_scipys_t_tests() -> None:
    """The comparisons' t statistics are Student's: scipy's pooled two-sample test for
    independent seeds, its paired test for two protocols on the same runs."""
    from scipy import stats as scipy_stats

    a, b = [20.1, 21.3, 20.7], [22.0, 21.4, 23.1]
    frame = pd.DataFrame(
        {"arch": ["a"] * 3 + ["b"] * 3, "centre/top1": a + b,
         "flip/top1": [19.0, 21.0, 20.1, 21.2, 21.0, 22.4],
         "status": ["completed"] * 6, "smoke": [False] * 6}
    )  # fmt: skip
    c = significance.pairwise(frame, "a", "b")
    assert c.t == pytest.approx(scipy_stats.ttest_ind(b, a, equal_var=True).statistic)
    p = significance.paired(frame, "centre", "flip")
    flip = [19.0, 21.0, 20.1, 21.2, 21.0, 22.4]
    assert p.t == pytest.approx(scipy_stats.ttest_rel(flip, a + b).statistic)


def test_timing_takes_the_mean_over_seeds_per_device_and_skips_runs_without_epochs() -> None:
    """Seeds at 100, 100 and 400 images/s average 200 (their median is 100); seconds per epoch
    are 9/3 and 12/3, the run that diverged before its first epoch has none (not 0.5/0)."""
    runs = [fake_run("vgg11", False, s, 10.0) for s in (0, 1)]
    runs.append(fake_run("vgg11", False, 2, None, diverged_epoch=1))  # no epoch recorded
    runs.append(fake_run("vgg11", False, 3, 10.0))
    runs[1]["train_time_s"] = 12.0
    runs[2].update(images_per_s=400.0, train_time_s=0.5)
    runs[3]["provenance"]["device"] = "other device"
    runs[3]["images_per_s"] = 50.0
    out = training.timing(runs)
    assert out["device"].tolist() == ["test device", "other device"]
    assert out["runs"].tolist() == [3, 1]
    first = out.iloc[0]
    assert first["images_per_s"] == pytest.approx(200.0)
    assert first["s_per_epoch"] == pytest.approx(3.5)
    assert first["epochs_run"] == pytest.approx(2.0)
    assert first["wall_time_s"] == pytest.approx(10.0)  # not the 9, 12 and 0.5 s of training
    assert first["weight_layers"] == 11 and out.iloc[1]["images_per_s"] == 50.0


def test_a_rise_in_learning_rate_is_no_drop_and_the_best_epoch_is_not_the_last() -> None:
    history = [{"epoch": e, "lr": lr} for e, lr in enumerate([0.01, 0.1, 0.1, 0.01], 1)]
    assert training.lr_drops(history) == [4]
    run = fake_run("vgg11", False, 0, 10.0, epochs=4)
    for h, acc in zip(run["history"], (0.2, 0.6, 0.5, 0.4), strict=True):
        h["val_acc"] = acc
    row = training.run_table([run]).iloc[0]
    assert row["best_epoch"] == 2 and row["best_val_acc"] == pytest.approx(0.6)
    assert row["epochs_run"] == 4 and row["lr_drops"] == 1 and row["drop_epochs"] == "3"


def test_final_fit_averages_three_seeds_and_an_equal_fit_is_not_called_worse() -> None:
    """Last-epoch training accuracy 10 %, 20 %, 90 % (mean 40 %, median 20 %) and validation
    accuracy 30 %, 30 %, 90 % (mean 50 %) for both depths: a gap of zero is "at least as well"."""
    runs = [fake_run(a, False, s, 10.0, epochs=2) for a in ("vgg11", "vgg19") for s in range(3)]
    for r in runs:
        r["history"][-1]["train_acc"] = (0.1, 0.2, 0.9)[r["seed"]]
        r["history"][-1]["val_acc"] = (0.3, 0.3, 0.9)[r["seed"]]
    table = training.final_fit(runs)
    assert table["runs"].tolist() == [3, 3]
    assert table["train_acc"].tolist() == pytest.approx([0.4, 0.4])
    assert table["val_acc"].tolist() == pytest.approx([0.5, 0.5])
    note = training.fit_note(table)
    assert note.startswith("Without batch norm, vgg19 ends training at 40.0 % training accuracy")
    assert "at least as well" in note and "learned less" not in note


def test_a_flat_step_is_not_a_monotonic_fall() -> None:
    """vgg13 and vgg16 at the same mean: the error falls overall, but not at every step."""
    frame = runs_frame(grid({False: [10.0, 9.0, 9.0, 7.0]}))
    effect = depth.depth_effect(frame).iloc[0]
    assert effect["clear"] and not effect["monotonic"]
    assert effect["vgg13→vgg16"] == pytest.approx(0.0)
    assert "falls from vgg11 to vgg19 (-3.00 points" in depth.depth_verdict(frame)
    assert "but not at every step" in depth.depth_verdict(frame)


def test_a_frame_with_any_smoke_run_gets_no_verdict() -> None:
    runs = grid({False: [10.0, 9.0, 8.0, 7.0]})
    runs[0] = fake_run("vgg11", False, 0, 9.9, smoke=True)
    assert depth.depth_verdict(runs_frame(runs)) == significance.SMOKE_VERDICT


def test_recipe_comparison_names_the_warm_start_and_jitter_and_explains_every_cpu_change() -> None:
    """The ``cpu`` preset's changes that ``WHY_CPU`` does not explain (the input size, the
    crop) keep the paper recipe's reason, never an empty one."""
    cfg = preset("cpu", init="paper", warm_start="a.pt", jitter=(24, 40))
    table = training.recipe_comparison(cfg).set_index("setting")
    assert table.loc["initialisation", "here"] == "paper + warm start"
    assert table.loc["scale jittering", "here"] == "S in [24; 40]"
    assert table.loc["input (px)", "why"] == training.PAPER_RECIPE["resolution"].why
    assert table.loc["random crop", "why"] == training.PAPER_RECIPE["crop"].why
    assert (table.loc[~table["kept"], "why"] != "").all()
    plain = training.recipe_comparison(preset("cpu", init="paper")).set_index("setting")
    assert plain.loc["initialisation", "here"] == "paper"


def test_final_fit_leaves_stalled_runs_out_and_one_depth_gets_no_sentence() -> None:
    """A stalled run stopped at chance is no finished fit: vgg19's two completed runs end at
    20 % training accuracy, not (20 + 20 + 10) / 3 % with the stalled one."""
    runs = [fake_run(a, False, s, 10.0, epochs=2) for a in ("vgg11", "vgg19") for s in (0, 1)]
    stalled = fake_run("vgg19", False, 2, 90.0, epochs=2)
    stalled["status"] = "stalled"
    stalled["history"][-1]["train_acc"] = 0.1
    table = training.final_fit([*runs, stalled])
    assert table["runs"].tolist() == [2, 2]
    assert table["train_acc"].tolist() == pytest.approx([0.2, 0.2])
    one_depth = training.final_fit([r for r in runs if r["config"]["arch"] == "vgg11"])
    assert len(one_depth) == 1 and training.fit_note(one_depth) == ""


def test_the_depth_verdict_and_the_tiers_read_the_protocol_they_are_given() -> None:
    """Centre-crop error falls with depth while the flip view's rises: each protocol gets its
    own verdict."""
    runs = grid({False: [10.0, 9.0, 8.0, 7.0]})
    for r in runs:
        flip = 20.0 - r["test"]["centre"]["top1_error"]
        r["test"]["flip"] = {"top1_error": flip, "top5_error": flip / 3}
    frame = runs_frame(runs)
    assert depth.depth_verdict(frame).startswith("Without batch norm, top-1 error falls")
    flip = depth.depth_verdict(frame, protocol="flip")
    assert flip.startswith("Without batch norm, top-1 error rises from vgg11 to vgg19 (+3.00")
    record = GridRecord("depth", runs, "reduced", "runs/depth")
    assert depth.depth_by_tier([record], protocol="flip")["change"].tolist() == pytest.approx([3.0])
    assert depth.depth_by_tier([record])["change"].tolist() == pytest.approx([-3.0])


def test_pairwise_reads_a_full_column_name_and_a_frame_without_a_smoke_column() -> None:
    """A protocol given as 'centre/top5' is that column (not 'centre/top5/top1'), as is
    ``metric="top5"``; a frame without a ``smoke`` column holds no smoke run."""
    frame = pd.DataFrame(
        {"arch": ["a"] * 3 + ["b"] * 3,
         "centre/top1": [10.0, 11.0, 12.0, 20.0, 21.0, 22.0],
         "centre/top5": [3.0, 4.0, 5.0, 0.5, 1.0, 1.5],
         "status": ["completed"] * 6}
    )  # fmt: skip
    for c in (
        significance.pairwise(frame, "a", "b", "centre/top5"),
        significance.pairwise(frame, "a", "b", metric="top5"),
    ):
        assert (c.mean_a, c.mean_b, c.metric) == (4.0, 1.0, "centre/top5")
        assert not c.smoke and c.testable
        assert c.verdict.startswith("b has clearly lower top5 error than a: b − a = -3.00")


def test_a_smoke_comparison_has_no_interval_and_its_ends_are_inside_it() -> None:
    """Smoke runs get no confidence interval, whatever their numbers; a claimed difference
    exactly at either end of a real interval is inside it, and just past an end is not."""
    arms = {"arch": ["a"] * 3 + ["b"] * 3, "centre/top1": [49.0, 50.0, 51.0, 52.5, 53.5, 54.5],
            "status": ["completed"] * 6}  # fmt: skip
    smoke = significance.pairwise(pd.DataFrame(arms | {"smoke": [True] * 6}), "a", "b")
    assert all(math.isnan(x) for x in smoke.interval)
    row = smoke.row()
    assert math.isnan(row["95% CI low"]) and math.isnan(row["95% CI high"])
    c = significance.pairwise(pd.DataFrame(arms | {"smoke": [False] * 6}), "a", "b")
    lo, hi = c.interval
    half = STUDENT_T_975[4] * math.sqrt(2 / 3)
    assert (lo, hi) == (pytest.approx(3.5 - half, abs=1e-3), pytest.approx(3.5 + half, abs=1e-3))
    assert " is inside " in significance.magnitude_verdict(c, lo, "absolute")
    assert " is inside " in significance.magnitude_verdict(c, hi, "absolute")
    assert " is below " in significance.magnitude_verdict(c, lo - 1e-6, "absolute")
    assert " is above " in significance.magnitude_verdict(c, hi + 1e-6, "absolute")


def test_a_comparisons_table_row_gives_each_arm_its_own_numbers() -> None:
    """Each column of ``Comparison.row`` holds its own arm's figure: the arms here differ in
    runs, divergences, means and spreads, so no column can borrow the other arm's."""
    frame = pd.DataFrame(
        {"arch": ["a"] * 4 + ["b"] * 4,
         "centre/top1": [10.0, 12.0, 14.0, math.nan, 18.0, 20.0, 22.0, 24.0],
         "status": ["completed"] * 3 + ["diverged"] + ["completed"] * 4}
    )  # fmt: skip
    c = significance.pairwise(frame, "a", "b")
    row = c.row()
    lo, hi = row.pop("95% CI low"), row.pop("95% CI high")
    assert row == {
        "a": "a", "b": "b", "metric": "centre/top1", "runs a": 3, "runs b": 4,
        "diverged a": 1, "diverged b": 0, "mean a": 12.0, "std a": 2.0, "mean b": 21.0,
        "std b": pytest.approx(math.sqrt(20 / 3)), "b - a (points)": 9.0,
        "b - a (% of a)": 75.0, "seed noise": pytest.approx(math.sqrt(28 / 5)),
        "verdict": c.verdict,
    }  # fmt: skip
    half = significance.t_critical(5) * math.sqrt(28 / 5) * math.sqrt(1 / 3 + 1 / 4)
    assert (lo, hi) == (pytest.approx(9.0 - half), pytest.approx(9.0 + half))
