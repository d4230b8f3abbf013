"""The claims ledger's computed verdicts."""

import copy

import pytest

from vggrepro import claims
from vggrepro.recorded import GridRecord


@pytest.mark.parametrize("check", claims.STATIC_CHECKS)
def test_static_checks_give_a_known_verdict_with_evidence(check) -> None:
    v = check()
    assert v.verdict in claims.VERDICTS
    assert v.source in {"paper", "blog"} and v.chapter.startswith("book/")
    assert any(ch.isdigit() for ch in v.evidence)  # the number behind the verdict


def test_fc_claim_is_refuted_by_the_mac_share() -> None:
    v = claims.fc_share()
    assert v.verdict == "not reproduced"
    low, high = v.evidence.split("do only ")[1].split("%")[0].split("–")
    assert float(high) < 80


def test_an_unknown_verdict_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of"):
        claims.Verdict("blog", "x", "maybe", "1", "book/cost")


def test_position_information_is_measured() -> None:
    verdict, numbers = claims.position_information()
    assert numbers["conv_error"] < 1e-5  # the feature map follows the shift exactly
    assert numbers["conv_changed"] > 1e-3  # ... and the shift did move it
    assert numbers["fc_error"] < 1e-5
    assert verdict.verdict == "partly"


def fake_record(
    tiny_run: dict, grid: str, errors: dict[str, list[float]], tier: str = "reduced"
) -> GridRecord:
    """A non-smoke record with the given centre top-1 errors per architecture (seeds 0..n-1);
    a name ending in ``_bn`` is that architecture with batch norm.

    Test data for the verdict logic only: copies of one real tiny run with its numbers replaced.
    """
    runs = []
    for arch, values in errors.items():
        for seed, e in enumerate(values):
            r = copy.deepcopy(tiny_run)
            r.update(smoke=False, seed=seed, run_id=f"{grid}/{arch}-s{seed}", grid=grid)
            r.update(preset=tier)
            bn = arch.endswith("_bn")
            r["config"].update(arch=arch.removesuffix("_bn"), batch_norm=bn, smoke=False)
            r["test"]["centre"]["top1_error"] = e
            runs.append(r)
    return GridRecord(grid, runs, tier=tier, source="test")


def test_pair_claims_follow_the_t_test(tiny_run: dict) -> None:
    clear = fake_record(
        tiny_run, "filters", {"vgg13": [20.0, 20.5, 19.5], "vgg13_5x5": [25.0, 25.5, 24.5]}
    )
    noisy = fake_record(
        tiny_run, "filters", {"vgg13": [20.0, 24.0, 16.0], "vgg13_5x5": [21.0, 25.0, 17.0]}
    )
    args = ("paper", "5x5 is worse", "vgg13", "vgg13_5x5", "higher", "book/ablations")
    assert claims.pair_claim(clear, *args).verdict == "reproduced"
    assert claims.pair_claim(noisy, *args).verdict == "not reproduced"
    reverse = ("paper", "5x5 is better", "vgg13", "vgg13_5x5", "lower", "book/ablations")
    assert claims.pair_claim(clear, *reverse).verdict == "not reproduced"


def test_depth_claims_need_a_clear_fall(tiny_run: dict) -> None:
    falling = {"vgg11": [30.0, 30.4, 29.6], "vgg19": [25.0, 25.4, 24.6]}
    both = falling | {"vgg11_bn": [28.0, 28.4, 27.6], "vgg19_bn": [24.0, 24.4, 23.6]}
    record = fake_record(tiny_run, "depth", both)
    assert {v.verdict for v in claims.depth_claims(record)} == {"reproduced"}
    # Batch-norm nets alone (the CPU tier records them first): partly, and the ledger says why
    # and at which scale.
    bn_only = {"vgg11_bn": [28.0, 28.4, 27.6], "vgg19_bn": [24.0, 24.4, 23.6]}
    record = fake_record(tiny_run, "depth", bn_only, tier="cpu")
    verdicts = claims.depth_claims(record)
    assert {v.verdict for v in verdicts} == {"partly"}
    assert "Without batch norm: not testable, no runs recorded" in verdicts[0].evidence
    assert verdicts[0].scale.startswith("CPU tier (CPU scale: conv widths 1/16")
    flat = {"vgg11": [30.0, 32.0, 28.0], "vgg19": [30.5, 32.5, 28.5]}
    record = fake_record(tiny_run, "depth", flat)
    assert {v.verdict for v in claims.depth_claims(record)} == {"not reproduced"}


def test_smoke_records_decide_nothing(tiny_run: dict) -> None:
    record = GridRecord("lrn", [tiny_run], tier="smoke", source="results/smoke/lrn")
    v = claims.pair_claim(record, "paper", "x", "vgg11", "vgg11_lrn", "not lower", "book/ablations")
    assert v.verdict == "not testable here" and "smoke" in v.evidence
