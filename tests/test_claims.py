"""The claims ledger's computed verdicts."""

import pytest

from vggrepro import claims


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
