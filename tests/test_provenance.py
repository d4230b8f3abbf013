"""Provenance: the commit and its state, also in a copy of the tree without .git."""

import subprocess

import pytest
import torch

from vggrepro import provenance


def test_a_checkout_reports_its_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VGGREPRO_GIT_COMMIT", raising=False)
    commit, dirty = provenance.git_commit()
    assert len(commit) == 40 and isinstance(dirty, bool)


def test_a_copy_without_git_reports_the_given_commit_and_an_unknown_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_git(*args, **kwargs):
        raise subprocess.CalledProcessError(128, "git")

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.setenv("VGGREPRO_GIT_COMMIT", "abc123")
    assert provenance.git_commit() == ("abc123", None)
    record = provenance.provenance(torch.device("cpu"))
    assert record["git_commit"] == "abc123" and record["git_dirty"] is None
    monkeypatch.delenv("VGGREPRO_GIT_COMMIT")
    assert provenance.git_commit() == ("unknown", None)


def test_an_explicit_commit_wins_over_a_stale_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VGGREPRO_GIT_COMMIT", raising=False)
    assert provenance.git_commit()[0] != "f" * 40  # this checkout's own .git answers
    monkeypatch.setenv("VGGREPRO_GIT_COMMIT", "f" * 40)
    assert provenance.git_commit() == ("f" * 40, None)


def test_pick_device_prefers_what_is_asked() -> None:
    assert provenance.pick_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert provenance.pick_device(None).type == expected
