"""Provenance: the commit and its state, also in a copy of the tree without .git."""

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vggrepro.engine import provenance


def test_a_checkout_reports_its_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VGGREPRO_GIT_COMMIT", raising=False)
    commit, dirty = provenance.git_commit()
    assert len(commit) == 40 and isinstance(dirty, bool)


def test_the_commit_is_the_packages_checkout_wherever_the_command_runs(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started from a folder outside the checkout (a scratch folder, a notebook's) still
    records the commit of the code it ran, not "unknown" or another repository's."""
    monkeypatch.delenv("VGGREPRO_GIT_COMMIT", raising=False)
    package = Path(provenance.__file__).resolve().parent
    expected = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    monkeypatch.chdir(tmp_path)  # no repository here
    assert provenance.git_commit()[0] == expected


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
    monkeypatch.setenv("VGGREPRO_GIT_COMMIT", "")  # set but empty: git answers
    commit, dirty = provenance.git_commit()
    assert len(commit) == 40 and isinstance(dirty, bool)


def test_pick_device_prefers_what_is_asked() -> None:
    assert provenance.pick_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert provenance.pick_device(None).type == expected


def test_rewritten_results_leave_the_code_clean_and_an_edited_module_does_not(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VGGREPRO_GIT_COMMIT", raising=False)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "run.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    assert provenance.git_commit(tmp_path)[1] is False
    (tmp_path / "results" / "run.json").write_text('{"rewritten": true}')
    assert provenance.git_commit(tmp_path)[1] is False  # a results file is an output
    (tmp_path / "notes.py").write_text("y = 1\n")
    assert provenance.git_commit(tmp_path)[1] is False  # an untracked file is not the code
    (tmp_path / "code.py").write_text("x = 2\n")
    assert provenance.git_commit(tmp_path)[1] is True


def test_timestamps_are_utc_with_their_offset() -> None:
    """The results schema needs the offset; a naive local time would be refused there."""
    from datetime import UTC, datetime

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", provenance.now())  # to the second
    stamp = datetime.fromisoformat(provenance.now())
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_a_machine_without_git_reports_an_unknown_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "git")

    monkeypatch.delenv("VGGREPRO_GIT_COMMIT", raising=False)
    monkeypatch.setattr(subprocess, "run", missing)
    assert provenance.git_commit() == ("unknown", None)


@pytest.mark.parametrize(
    ("processor", "expected"), [("Intel(R) Xeon(R)", "Intel(R) Xeon(R)"), ("", "aarch64")]
)
def test_a_cpu_is_named_by_its_processor_else_its_machine_with_its_cores(
    monkeypatch: pytest.MonkeyPatch, processor: str, expected: str
) -> None:
    monkeypatch.setattr(platform, "processor", lambda: processor)
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert provenance.device_name(torch.device("cpu")) == f"CPU: {expected} (7 cores)"


def test_the_record_names_the_device_and_the_software_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VGGREPRO_GIT_COMMIT", "c0ffee")
    monkeypatch.setattr(provenance, "device_name", lambda device: f"named {device}")
    record = provenance.provenance(torch.device("cuda", 1))  # never touched: only named
    assert record["device"] == "named cuda:1" and record["device_type"] == "cuda"
    assert record["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert record["torch"] == torch.__version__ and record["cuda"] == torch.version.cuda
    assert (record["git_commit"], record["git_dirty"]) == ("c0ffee", None)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    assert record["cudnn"] == cudnn and record["platform"] == platform.platform()


def test_only_a_cuda_device_is_waited_for_and_named_by_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sync`` waits for a CUDA device's queue (a CPU has none); a CUDA device is named by
    the driver, not as a CPU."""
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", waited.append)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"GPU {device.index}")
    provenance.sync(torch.device("cpu"))
    provenance.sync(torch.device("cuda", 1))
    assert waited == [torch.device("cuda", 1)]
    assert provenance.device_name(torch.device("cuda", 1)) == "GPU 1"
