"""Verdict logic for the ablation and evaluation chapters, on synthetic and real tiny runs."""

import copy
import math

import pandas as pd
import pytest
import scipy.stats

from vggrepro import reference
from vggrepro.arch.configs import VGGSpec
from vggrepro.engine.presets import preset
from vggrepro.engine.train import train
from vggrepro.report import ablations as ab
from vggrepro.report import significance
from vggrepro.results.io import runs_frame

PROTOCOLS = ("centre", "dense@32+flip", "dense multi-scale", "multi-crop", "dense + multi-crop")


def run_row(arch: str, seed: int, top1: float | None, smoke: bool = False, **extra) -> dict:
    """One row of a runs frame; ``top1=None`` makes a diverged run (no test metrics)."""
    row = {
        "run_id": f"g/{arch}-s{seed}",
        "arch": arch,
        "batch_norm": False,
        "init": "kaiming",
        "seed": seed,
        "smoke": smoke,
        "status": "completed" if top1 is not None else "diverged",
        "diverged_epoch": None if top1 is not None else 3,
        "epochs_run": 5 if top1 is not None else 2,
        "best_val_acc": 0.5,
        "centre/top1": math.nan if top1 is None else top1,
        "centre/top5": math.nan if top1 is None else top1 / 3,
    }
    return row | extra


def frame(arms: dict[str, list[float | None]], smoke: bool = False) -> pd.DataFrame:
    return pd.DataFrame(
        [run_row(arch, s, v, smoke) for arch, vs in arms.items() for s, v in enumerate(vs)]
    )


@pytest.mark.parametrize("df, value", [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228)])
def test_t_critical_matches_the_published_table(df: int, value: float) -> None:
    assert significance.t_critical(df) == pytest.approx(value, abs=1e-3)


def test_t_critical_approaches_the_normal_quantile() -> None:
    assert significance.t_critical(10_000) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="degree of freedom"):
        significance.t_critical(0)


def test_pairwise_reports_means_difference_and_pooled_std() -> None:
    c = significance.pairwise(frame({"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 22.0]}), "a", "b")
    assert (c.mean_a, c.mean_b, c.n_a, c.n_b) == (11.0, 21.0, 3, 3)
    assert c.diff == pytest.approx(10.0)
    assert c.relative == pytest.approx(100 * 10 / 11)
    assert c.noise == pytest.approx(1.0)
    assert c.clear and c.verdict == (
        "b has clearly higher top1 error than a: b − a = +10.00 points (+90.9 % relative), "
        "|t| = 12.25 against 2.78, seed noise 1.00 points"
    )  # t = 10 / (1 * sqrt(1/3 + 1/3)) with 4 degrees of freedom
    lo, hi = c.interval
    assert lo < 10 < hi and hi - lo == pytest.approx(
        2 * significance.t_critical(4) * math.sqrt(2 / 3)
    )


def test_a_difference_inside_the_seed_noise_is_not_a_win() -> None:
    c = significance.pairwise(frame({"a": [10.0, 14.0, 12.0], "b": [11.0, 13.0, 10.0]}), "a", "b")
    assert not c.clear
    assert c.verdict.startswith("no clear difference")


def test_smoke_data_gives_no_verdict() -> None:
    c = significance.pairwise(frame({"a": [10.0, 11.0], "b": [50.0, 51.0]}, smoke=True), "a", "b")
    assert c.verdict == significance.SMOKE_VERDICT
    assert significance.claim_verdict(c, "higher") == significance.SMOKE_VERDICT
    assert significance.magnitude_verdict(c, 7, "absolute") == significance.SMOKE_VERDICT


def test_diverged_runs_are_counted_not_dropped() -> None:
    c = significance.pairwise(frame({"a": [10.0, None, 12.0], "b": [None, None, 20.0]}), "a", "b")
    assert (c.n_a, c.diverged_a, c.n_b, c.diverged_b) == (2, 1, 1, 2)
    assert not c.testable
    assert "b: 1 completed, 2 diverged" in c.verdict


def test_pairwise_rejects_an_unknown_arm() -> None:
    with pytest.raises(ValueError, match="no runs with arch == 'zz'"):
        significance.pairwise(frame({"a": [1.0, 2.0]}), "a", "zz")


def test_pairwise_tells_the_arms_apart_by_the_column_it_is_given() -> None:
    """With ``key="init"`` the arms are two initialisations of one architecture."""
    inits = {"glorot": [30.0, 31.0, 32.0], "kaiming": [20.0, 21.0, 22.0]}
    rows = [run_row("vgg19", s, e, init=i) for i, es in inits.items() for s, e in enumerate(es)]
    c = significance.pairwise(pd.DataFrame(rows), "glorot", "kaiming", key="init")
    assert (c.a, c.b, c.n_a, c.n_b, c.diff) == ("glorot", "kaiming", 3, 3, -10.0)
    with pytest.raises(ValueError, match=r"init == 'paper'; found \['glorot', 'kaiming'\]"):
        significance.pairwise(pd.DataFrame(rows), "glorot", "paper", key="init")


@pytest.mark.parametrize(
    "b, claim, status",
    [
        ([5.0, 6.0, 7.0], "lower", "supported"),
        ([5.0, 6.0, 7.0], "higher", "contradicted"),
        ([5.0, 6.0, 7.0], "not lower", "contradicted"),
        ([15.0, 16.0, 17.0], "not lower", "supported"),
        ([9.0, 13.0, 11.5], "lower", "inconclusive"),
        ([9.0, 13.0, 11.5], "not lower", "supported"),
    ],
)
def test_claim_verdicts(b: list[float], claim: str, status: str) -> None:
    c = significance.pairwise(frame({"a": [10.0, 11.0, 12.0], "b": b}), "a", "b")
    assert significance.claim_verdict(c, claim).split(" ", 1)[0] == status


def test_magnitude_verdict_reads_absolute_and_relative() -> None:
    # a = 50 +- 1, b = 53.5 +- 1: 3.5 points absolute, 7 % relative
    c = significance.pairwise(frame({"a": [49.0, 50.0, 51.0], "b": [52.5, 53.5, 54.5]}), "a", "b")
    assert "+7 points is above" in significance.magnitude_verdict(c, 7, "absolute")
    assert "+7 % is inside" in significance.magnitude_verdict(c, 7, "relative")
    # Relative to arm a's 50 %: the pooled 95 % interval 3.5 +- t(4) sqrt(2/3) points, over 50.
    half = scipy.stats.t.ppf(0.975, 4) * math.sqrt(2 / 3)
    lo, hi = (100 * (3.5 + s * half) / 50 for s in (-1, 1))
    relative = f"[{lo:+.2f}, {hi:+.2f}] % (measured +7.00 %)"
    assert relative in significance.magnitude_verdict(c, 7, "relative")
    assert "+1 points is below" in significance.magnitude_verdict(c, 1, "absolute")
    with pytest.raises(ValueError, match="reading"):
        significance.magnitude_verdict(c, 7, "both")


def test_a_t_statistic_without_spread_is_infinite_zero_or_unknown() -> None:
    t = significance.t_statistic
    assert (t(2.0, 0.0), t(-2.0, 0.0), t(0.0, 0.0), t(3.0, 1.5)) == (math.inf, -math.inf, 0.0, 2.0)
    assert math.isnan(t(math.nan, 0.0)) and math.isnan(t(1.0, math.nan))
    same = significance.pairwise(frame({"a": [10.0] * 3, "b": [12.0] * 3}), "a", "b")
    assert same.t == math.inf and same.clear


def test_bad_claims_protocols_and_runs_are_named() -> None:
    c = significance.pairwise(frame({"a": [49.0, 50.0, 51.0], "b": [52.5, 53.5, 54.5]}), "a", "b")
    with pytest.raises(ValueError, match="unknown claim 'better'; valid: lower, higher"):
        significance.claim_verdict(c, "better")
    with pytest.raises(ValueError, match="no column 'nope/top1'"):
        significance.paired(protocol_frame(), "centre", "nope")
    with pytest.raises(ValueError, match=r"no protocol 'dense@48\+flip'"):
        ab.single_scale(protocol_frame(), 48)
    table = ab.init_table(ab.init_outcomes(init_frame([30.0, 31.0], [30.0, 32.0]), 10_000))
    with pytest.raises(ValueError, match="no run 'zz'"):
        ab.trains(table, "zz")


def test_a_table_shows_a_verdicts_status_or_the_whole_smoke_sentence() -> None:
    supported = significance.Verdict(significance.Status.SUPPORTED, "supported (t = 5)")
    assert significance.headline(supported) == "supported"
    smoke = significance.SMOKE_VERDICT
    assert significance.headline(smoke) == str(smoke) and len(str(smoke)) > 20


def test_a_run_trains_only_strictly_below_chance_minus_the_margin() -> None:
    assert ab.chance_margin(100, z=0) == 0
    o = ab.init_outcomes(init_frame([90.0, 89.99], [30.0, 31.0]), n_test=10_000, z=0)
    paper = o[o["run"] == "vgg19_paper"].set_index("seed")["outcome"]
    assert list(paper) == ["stuck near chance", "trained"]


def protocol_frame(smoke: bool = False) -> pd.DataFrame:
    """Three runs of one config; multi-scale is 2 points (+- 0.1) better than single scale."""
    rows = []
    for seed, base in enumerate([20.0, 24.0, 22.0]):
        offsets = [0.0, -0.5, -2.5, -1.0, -3.0]
        errors = {p: base + o for p, o in zip(PROTOCOLS, offsets, strict=True)}
        errors["dense multi-scale"] += 0.1 * (seed - 1)
        metrics = {f"{p}/top1": e for p, e in errors.items()}
        metrics |= {f"{p}/top5": e / 4 for p, e in errors.items()}
        rows.append(run_row("vgg16", seed, base, smoke) | metrics)
    rows.append(run_row("vgg16", 3, None, smoke))
    return pd.DataFrame(rows)


def test_protocols_come_in_the_papers_order() -> None:
    f = protocol_frame()
    f["dense@48/top1"] = f["dense@48+flip/top1"] = 1.0
    f["flip/top1"] = f["dense@32/top1"] = f["dense@256/top1"] = 1.0
    assert ab.protocols(f) == [
        "centre", "flip", "dense@32", "dense@32+flip", "dense@48", "dense@48+flip", "dense@256",
        "dense multi-scale", "multi-crop", "dense + multi-crop",
    ]  # fmt: skip


def test_protocol_table_means_and_paired_gains() -> None:
    t = ab.protocol_table(protocol_frame()).set_index("protocol")
    assert list(t.index) == list(PROTOCOLS)
    assert (t["runs"] == 3).all() and (t["diverged"] == 1).all()
    assert t.loc["centre", "top1 mean"] == pytest.approx(22.0)
    assert t.loc["centre", "top1 std"] == pytest.approx(2.0)
    assert t.loc["multi-crop", "top1 gain over centre mean"] == pytest.approx(1.0)
    assert t.loc["multi-crop", "top1 gain over centre std"] == pytest.approx(0.0)
    assert t.loc["dense + multi-crop", "top5 mean"] == pytest.approx(19.0 / 4)
    assert t.loc["dense multi-scale", "top5 std"] == pytest.approx(
        t.loc["dense multi-scale", "top1 std"] / 4
    )
    assert t.loc["dense multi-scale", "top1 std"] != pytest.approx(2.0)  # its own spread


def test_paired_uses_the_spread_of_per_run_differences() -> None:
    # the runs differ by 4 points from each other, the protocols by 2 +- 0.1 within a run
    c = significance.paired(protocol_frame(), "dense@32+flip", "dense multi-scale")
    assert c.paired and c.n_a == 3 and c.df == 2
    assert c.diverged_a == c.diverged_b == 1  # the fourth run has no test metrics
    assert c.diff == pytest.approx(-2.0)
    assert c.noise == pytest.approx(0.1)
    assert c.clear


def test_protocol_tables_keep_each_batch_norm_setting_apart_by_default() -> None:
    """By default a configuration is an architecture with its batch-norm setting: vgg16 with
    batch norm, 3 points lower everywhere, gets rows of its own."""
    plain = protocol_frame()
    bn = plain.assign(batch_norm=True, run_id=plain["run_id"] + "_bn")
    bn[[c for c in bn if c.endswith("/top1")]] -= 3.0
    both = pd.concat([plain, bn], ignore_index=True)
    table = ab.protocol_table(both)
    assert list(table.groupby("batch_norm").size()) == [5, 5]
    centre = table[table["protocol"] == "centre"].set_index("batch_norm")["top1 mean"]
    assert centre.to_dict() == {False: pytest.approx(22.0), True: pytest.approx(19.0)}
    gains = ab.protocol_gains(both)
    assert list(gains.groupby("batch_norm")["runs"].sum()) == [12, 12]
    assert list(ab.protocol_claims(both)["batch_norm"]) == [False, True]


def test_protocol_claims_on_clear_data() -> None:
    row = ab.protocol_claims(protocol_frame()).iloc[0]
    assert row["multi-scale - single (points)"] == pytest.approx(-2.0)
    assert row["both - dense (points)"] == pytest.approx(-0.5)
    assert row["both - multi-crop (points)"] == pytest.approx(-2.0)
    assert row["multi-scale beats single scale"].startswith("supported")
    assert row["dense + multi-crop beats both"] == "supported"
    assert significance.tally(
        ab.protocol_claims(protocol_frame())["multi-scale beats single scale"]
    ) == ("supported in 1 of 1 configurations")
    smoke = ab.protocol_claims(protocol_frame(smoke=True))
    assert significance.tally(smoke["dense + multi-crop beats both"]) == significance.SMOKE_VERDICT


def test_combine_takes_the_weakest_part() -> None:
    def v(status: significance.Status) -> significance.Verdict:
        return significance.Verdict(status, f"{status} (details)")

    S = significance.Status
    assert significance.combine([v(S.SUPPORTED), v(S.SUPPORTED)]) == "supported"
    assert significance.combine([v(S.SUPPORTED), v(S.INCONCLUSIVE)]).status == S.INCONCLUSIVE
    assert significance.combine([v(S.CONTRADICTED), v(S.INCONCLUSIVE)]) == "contradicted"
    assert significance.combine([v(S.NOT_TESTABLE), v(S.SUPPORTED)]) == "not testable"
    smoke = [significance.SMOKE_VERDICT, v(S.CONTRADICTED)]
    assert significance.combine(smoke) is significance.SMOKE_VERDICT


def test_a_verdict_is_its_sentence_and_carries_its_status() -> None:
    """No verdict is parsed back by its first word: a sentence that starts with another
    status's word keeps its own status."""
    odd = significance.Verdict(significance.Status.INCONCLUSIVE, "supported by nothing yet")
    assert odd == "supported by nothing yet" and odd.status == "inconclusive"
    assert significance.tally(pd.Series([odd, odd], dtype=object)) == (
        "inconclusive in 2 of 2 configurations"
    )


def init_frame(paper: list[float | None], glorot: list[float | None]) -> pd.DataFrame:
    rows = []
    for name, init, values in [
        ("vgg19_paper", "paper", paper),
        ("vgg19_paper_literal", "paper_literal", [None, None]),
        ("vgg19_glorot", "glorot", glorot),
        ("vgg19_kaiming", "kaiming", [30.0, 31.0]),
        ("vgg19_warm", "paper+warm", [89.8, 35.0]),
    ]:
        for seed, v in enumerate(values):
            rows.append(run_row("vgg19", seed, v, init=init) | {"run_id": f"init/{name}-s{seed}"})
    return pd.DataFrame(rows)


def test_init_outcomes_classify_runs() -> None:
    o = ab.init_outcomes(init_frame([None, 89.5], [30.0, 88.0]), n_test=10_000)
    # the book's one rule: 1.96 binomial standard errors of 90 % on 10,000 images
    assert o.attrs["chance_margin"] == pytest.approx(significance.z_critical() * 0.3)
    outcome = dict(zip(o["run"] + "/" + o["seed"].astype(str), o["outcome"], strict=True))
    assert outcome["vgg19_paper/0"] == "diverged in epoch 3"
    assert outcome["vgg19_paper/1"] == "stuck near chance"  # 89.5 > 90 - 0.59
    assert outcome["vgg19_glorot/1"] == "trained"  # 88.0 < 89.1
    # on a small test set 88 % is within the noise of chance
    small = ab.init_outcomes(init_frame([None, 89.5], [30.0, 88.0]), n_test=250)
    assert not small.loc[(small["run"] == "vgg19_glorot") & (small["seed"] == 1), "trained"].item()


def test_init_table_and_verdict() -> None:
    rows = init_frame([None, None], [30.0, 32.0])
    rows.loc[rows["run_id"] == "init/vgg19_paper-s0", "diverged_epoch"] = 5
    table = ab.init_table(ab.init_outcomes(rows, n_test=10_000))
    paper = table.set_index("run").loc["vgg19_paper"]
    assert (paper["diverged"], paper["trained"], paper["diverged in epochs"]) == (2, 0, "3, 5")
    assert table.set_index("run").at["vgg19_glorot", "diverged in epochs"] == "–"
    assert ab.trains(table, "vgg19_paper") == "does not train"
    assert ab.trains(table, "vgg19_glorot") == "trains"
    assert ab.trains(table, "vgg19_warm") == "trains in 1 of 2 seeds"
    verdict = ab.init_verdict(table, smoke=False)
    assert "the paper's N(0, 0.01²) init it does not train" in verdict
    assert "the literal reading N(0, 0.1²) it does not train" in verdict
    assert verdict.endswith("Fixed by Glorot's init.")
    assert ab.init_verdict(table, smoke=True) == significance.SMOKE_VERDICT


def test_a_stalled_run_is_named_and_counted_as_stuck() -> None:
    rows = init_frame([89.9, 89.9], [30.0, 32.0])
    rows.loc[0, ["status", "epochs_run"]] = ["stalled", 5]
    o = ab.init_outcomes(rows, n_test=10_000)
    assert o["outcome"].iloc[0] == "stalled: stopped at chance after 5 epochs"
    table = ab.init_table(o).set_index("run")
    assert (table.at["vgg19_paper", "stuck"], table.at["vgg19_paper", "trained"]) == (2, 0)
    assert table.at["vgg19_paper", "diverged"] == 0  # stalled is not diverged


def test_init_verdict_says_when_the_warm_start_had_no_trained_source() -> None:
    rows = init_frame([89.9, 89.9], [89.9, 89.9])
    rows.loc[rows["run_id"].str.startswith("init/vgg19_warm"), "centre/top1"] = 89.9
    source = [run_row("vgg11", s, 89.9, init="paper") | {"run_id": f"init/vgg11_paper-s{s}"}
              for s in (0, 1)]  # fmt: skip
    table = ab.init_table(ab.init_outcomes(pd.concat([rows, pd.DataFrame(source)]), 10_000))
    verdict = ab.init_verdict(table, smoke=False)
    assert "Neither Glorot's init nor the warm start fixes it here." in verdict
    assert verdict.endswith("vgg11_paper, which itself does not train from the paper's init "
                            "here, so it had nothing trained to pass on.")  # fmt: skip
    trained_source = table.assign(trained=table["trained"].where(table["run"] != "vgg11_paper", 2))
    assert "nothing trained to pass on" not in ab.init_verdict(trained_source, smoke=False)


def test_init_verdict_names_both_fixes_and_blames_no_source_of_a_warm_start_that_trains() -> None:
    """When Glorot's init and the warm start both train, the verdict names both; a warm start
    that trains needs no excuse, even if its vgg11 source did not train."""
    rows = init_frame([89.9, 89.9], [30.0, 32.0])
    rows.loc[rows["run_id"].str.startswith("init/vgg19_warm"), "centre/top1"] = 35.0
    source = [run_row("vgg11", s, 89.9, init="paper") | {"run_id": f"init/vgg11_paper-s{s}"}
              for s in (0, 1)]  # fmt: skip
    table = ab.init_table(ab.init_outcomes(pd.concat([rows, pd.DataFrame(source)]), 10_000))
    assert ab.trains(table, "vgg11_paper") == "does not train"
    verdict = ab.init_verdict(table, smoke=False)
    assert verdict.endswith("Fixed by Glorot's init and the warm start from a trained vgg11.")


def test_init_verdict_when_the_papers_init_trains() -> None:
    table = ab.init_table(ab.init_outcomes(init_frame([30.0, 31.0], [30.0, 32.0]), n_test=10_000))
    assert ab.init_verdict(table, smoke=False).endswith("needs no fix at this scale.")


def test_recipe_differences() -> None:
    a = [{"config": {"arch": "vgg13", "seed": 0, "lr": 0.01, "eval_scales": [32, 48]}}]
    b = [{"config": {"arch": "vgg16_1x1", "seed": 1, "lr": 0.01, "eval_scales": [32, 48]}}]
    assert ab.recipe_differences(a, b) == []
    b[0]["config"]["lr"] = 0.1
    assert ab.recipe_differences(a, b) == ["lr"]
    assert ab.recipe_differences(a, b, ignore=("seed",)) == ["arch", "lr"]


def test_paper_protocol_table_holds_tables_3_to_5() -> None:
    t = ab.paper_protocol_table().set_index(["config", "protocol"])
    assert t.loc[("D", "dense + multi-crop"), "top1"] == 24.4
    assert t.loc[("E", "multi-crop"), "top5"] == 7.4
    # the paper's own claim holds in its own numbers
    for config in ("D", "E"):
        assert t.loc[(config, "dense + multi-crop"), "top1"] == t.loc[config, "top1"].min()


def test_paper_table3_orders_as_the_paper_says() -> None:
    t = {k: top1 for k, (top1, _) in reference.PAPER_TABLE3.items()}
    assert t["A-LRN"] >= t["A"] and t["D"] < t["C"] < t["B"]


def test_relu_variance_gain_multiplies_layer_factors() -> None:
    spec = VGGSpec("A", num_classes=10, resolution=32, width=0.125, fc_width=16)
    # A at width 1/8: convs 3->8, 8->16, 16->32, 32->32, 32->64, 64->64, 64->64, 64->64
    fan_ins = [9 * c for c in (8, 16, 32, 32, 64, 64, 64)]
    expected = math.prod(n * 0.01**2 / 2 for n in fan_ins)
    assert ab.relu_variance_gain(spec, 0.01) == pytest.approx(expected)
    # the paper's std vanishes through E at full width; the literal reading explodes
    assert ab.relu_variance_gain(VGGSpec("E"), 0.01) < 1e-6
    assert ab.relu_variance_gain(VGGSpec("E"), 0.1) > 1e6


def test_sampled_std_reads_the_schemes() -> None:
    assert ab.sampled_std("paper") == pytest.approx(0.01, rel=0.01)
    assert ab.sampled_std("paper_literal") == pytest.approx(0.1, rel=0.01)
    assert ab.sampled_std("kaiming") == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.01)


def test_run_name() -> None:
    assert ab.run_name("init/vgg19_paper-s0") == "vgg19_paper"
    assert ab.run_name("1x1/vgg16_1x1-s12") == "vgg16_1x1"


@pytest.fixture(scope="module")
def real_runs() -> list[dict]:
    """A real tiny run, and a copy of it relabelled as a second architecture."""
    from conftest import tiny_cifar

    tiny = {"n_val": 20, "n_train": None, "n_test": None, "batch_size": 20, "eval_batch_size": 40}
    run = train(preset("smoke", **tiny), tiny_cifar(), run_id="g/vgg11-s0", progress=False)
    other = copy.deepcopy(run)
    other["config"]["arch"], other["run_id"] = "vgg11_lrn", "g/vgg11_lrn-s0"
    return [run, other]


def test_real_runs_flow_through_every_function(real_runs: list[dict]) -> None:
    f = runs_frame(real_runs)
    assert significance.pairwise(f, "vgg11", "vgg11_lrn").verdict == significance.SMOKE_VERDICT
    assert ab.protocols(f)[:2] == ["centre", "flip"] and ab.protocols(f)[-1] == "dense + multi-crop"
    t = ab.protocol_table(f)
    assert len(t) == 2 * len(ab.protocols(f)) and t["top1 mean"].notna().all()
    assert (
        ab.protocol_claims(f)["multi-scale beats single scale"] == significance.SMOKE_VERDICT
    ).all()
    h = ab.history_frame(real_runs)
    assert len(h) == sum(len(r["history"]) for r in real_runs)
    assert h["val_acc"].between(0, 1).all()


def test_protocol_gains_are_judged_against_the_spread_of_per_run_gains() -> None:
    f = protocol_frame()
    f.loc[:2, "flip/top1"] = f.loc[:2, "centre/top1"] + [-1.0, 1.0, -0.5]  # a gain of noise
    f.loc[3, "flip/top1"] = None
    g = ab.protocol_gains(f, by=("arch",)).set_index("protocol")
    assert "centre" not in g.index and (g["runs"] == 3).all()
    assert g.loc["dense multi-scale", "gain mean (points)"] == pytest.approx(2.5)
    assert g.loc["dense multi-scale", "gain std (points)"] == pytest.approx(0.1)
    assert g.loc["dense multi-scale", "beats the centre view"].startswith("supported")
    assert g.loc["flip", "gain mean (points)"] == pytest.approx(1 / 6)
    assert g.loc["flip", "beats the centre view"].startswith("inconclusive")


def test_variance_gain_multiplies_over_every_conv_behind_a_relu_and_not_the_first() -> None:
    spec = VGGSpec("A", width=0.25, resolution=32, num_classes=10)
    convs = [ly for ly in spec.features() if ly.kind == "conv"]
    std = 0.05
    expected = math.prod(9 * ly.in_channels * std**2 / 2 for ly in convs[1:])
    assert ab.relu_variance_gain(spec, std) == pytest.approx(expected)
    # The first conv sees the image, not a ReLU's output: its 3 input channels are not counted.
    assert ab.relu_variance_gain(spec, std) != pytest.approx(expected * 9 * 3 * std**2 / 2)


def test_a_tier_recorded_before_the_literal_reading_joined_the_grid_still_has_a_verdict() -> None:
    frame = init_frame([None, None], [30.0, 32.0])
    older = frame[~frame["run_id"].str.startswith("init/vgg19_paper_literal")]
    table = ab.init_table(ab.init_outcomes(older, n_test=10_000))
    verdict = ab.init_verdict(table, smoke=False)
    assert "literal" not in verdict and "from Glorot's init it trains" in verdict
    assert "vgg19_paper_literal" not in ab.init_states(table)


def test_init_by_tier_has_one_block_and_one_verdict_per_tier(tiny_run: dict) -> None:
    import copy

    from vggrepro.results.recorded import GridRecord

    def runs(preset: str) -> list[dict]:
        out = []
        for name, init in (("vgg19_paper", "paper"), ("vgg19_glorot", "glorot"),
                           ("vgg19_kaiming", "kaiming"), ("vgg19_warm", "paper")):  # fmt: skip
            r = copy.deepcopy(tiny_run)
            r["run_id"], r["grid"], r["preset"], r["smoke"] = (
                f"init/{name}-s0",
                "init",
                preset,
                False,
            )
            r["config"].update(arch="vgg19", init=init, preset=preset, smoke=False)
            out.append(r)
        return out

    records = [GridRecord("init", runs(t), t, f"{t}/init") for t in ("reduced", "cpu")]
    table = ab.init_by_tier(records)
    assert list(table["tier"].unique()) == ["GPU tier", "CPU tier"]
    assert len(table) == 8 and set(table.attrs["verdicts"]) == {"GPU tier", "CPU tier"}
    assert ab.init_by_tier([]).empty and ab.init_by_tier([]).attrs["verdicts"] == {}


def test_seed_errors_list_every_run_of_each_arm_by_seed(tiny_run: dict) -> None:
    import copy

    from vggrepro.results.recorded import GridRecord

    runs = []
    for arch, seed, err in (("vgg11", 0, 25.0), ("vgg11", 1, 26.0), ("vgg11_lrn", 0, 24.0)):
        r = copy.deepcopy(tiny_run)
        r["run_id"], r["grid"], r["seed"] = f"lrn/{arch}-s{seed}", "lrn", seed
        r["config"].update(arch=arch, seed=seed)
        r["test"]["centre"]["top1_error"] = err
        runs.append(r)
    table = ab.seed_errors(GridRecord("lrn", runs, "smoke", "smoke/lrn"), ("vgg11", "vgg11_lrn"))
    assert list(table["arch"]) == ["vgg11", "vgg11_lrn"]
    assert table.loc[0, ["seed 0", "seed 1"]].tolist() == [25.0, 26.0]
    assert table.loc[1, "seed 0"] == 24.0 and pd.isna(table.loc[1, "seed 1"])
    assert set(table["grid"]) == {"lrn"}
    # arms come in the order asked for, and an arm without runs is left out
    record = GridRecord("lrn", runs, "smoke", "smoke/lrn")
    asked = ab.seed_errors(record, ("vgg11_lrn", "vgg13", "vgg11"))
    assert list(asked["arch"]) == ["vgg11_lrn", "vgg11"] and asked.loc[1, "seed 1"] == 26.0


def test_init_table_averages_the_trained_seeds_only() -> None:
    """The paper's init trains in seeds 0 and 1 (30 and 32 %) and sticks at chance in seed 2:
    the trained error is 31 ± 1.41, not the mean over all three; best validation accuracy
    0.2, 0.3, 0.7 averages 0.4 (its median is 0.3)."""
    rows = init_frame([30.0, 32.0, 89.9], [30.0, 34.0])
    paper = rows["run_id"].str.startswith("init/vgg19_paper-")
    rows.loc[paper, "best_val_acc"] = [0.2, 0.3, 0.7]
    row = ab.init_table(ab.init_outcomes(rows, n_test=10_000)).set_index("run").loc["vgg19_paper"]
    assert (row["seeds"], row["trained"], row["stuck"]) == (3, 2, 1)
    assert row["centre top-1 (trained) mean"] == pytest.approx(31.0)
    assert row["centre top-1 (trained) std"] == pytest.approx(math.sqrt(2))
    assert row["best val acc mean"] == pytest.approx(0.4)


def test_init_outcomes_measure_the_margin_around_the_chance_they_are_given() -> None:
    """At chance 50 % on 100 images, one standard error is 5 points (not the 3 of 90 %):
    46 % error is not below 50 - 5, 44 % is."""
    rows = pd.DataFrame([run_row("vgg19", s, e) for s, e in enumerate((46.0, 44.0))])
    o = ab.init_outcomes(rows, n_test=100, chance=50.0, z=1.0)
    assert o.attrs["chance_margin"] == pytest.approx(5.0)
    assert o["outcome"].tolist() == ["stuck near chance", "trained"]


def test_history_frame_copies_each_epochs_numbers_under_the_grids_run_name() -> None:
    runs = [
        {"run_id": "init/vgg19_paper-s1", "seed": 1, "status": "diverged", "diverged_epoch": 3,
         "history": [{"epoch": e, "val_acc": 0.1 * e, "train_loss": 2.5 - e, "train_acc": 0.3,
                      "lr": 0.01} for e in (1, 2)]},
    ]  # fmt: skip
    assert ab.history_frame(runs).to_dict("records") == [
        {"run": "vgg19_paper", "seed": 1, "status": "diverged", "diverged_epoch": 3, "epoch": e,
         "val_acc": 0.1 * e, "train_loss": 2.5 - e}
        for e in (1, 2)
    ]  # fmt: skip
