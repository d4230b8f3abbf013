"""The mutation check's script (benchmarks/mutants.py): its mutants still fit the source, and
one planted bug is caught in a copy while the real source stays untouched."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "benchmarks" / "mutants.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


mutants = load()
ORDER = ("fresh", "issue", *(f"round{i}" for i in range(2, 18)))
"""The sets in the order they were written."""
EVERY = sum((mutants.SETS[name] for name in ORDER), ())
"""Every set, in order: what ``SETS["all"]`` must hold."""


@pytest.mark.parametrize(
    "mutant",
    EVERY,
    ids=lambda m: m.name,
)
def test_every_mutant_changes_one_place_of_the_current_source(mutant) -> None:
    """A mutant whose text the source no longer holds must be updated, not silently skipped."""
    text = (ROOT / mutants.PACKAGE / mutant.file).read_text(encoding="utf-8")
    assert text.count(mutant.old) == 1, f"update mutant {mutant.name} to {mutant.file}"
    assert mutants.check(mutant) != text
    assert all((ROOT / t).is_file() for t in mutants.COVERING[mutant.file])


def test_mutant_names_are_unique_and_the_fresh_set_is_large_enough() -> None:
    names = [m.name for m in mutants.SETS["all"]]
    assert len(names) == len(set(names))
    assert all(len(mutants.SETS[name]) >= 20 for name in ORDER if name != "issue")  # 18 bugs
    assert mutants.SETS["all"] == EVERY


def before(name: str) -> tuple:
    """Every mutant of the sets written before set ``name``."""
    return sum((mutants.SETS[n] for n in ORDER[: ORDER.index(name)]), ())


BLIND_ROUNDS = [  # (round, the sets before it, the most mutants it may plant in one module)
    ("round2", before("round2"), None),
    ("round3", before("round3"), 3),
    *((f"round{i}", before(f"round{i}"), 2) for i in range(4, 18)),
]


@pytest.mark.parametrize("name, earlier, most", BLIND_ROUNDS, ids=[r[0] for r in BLIND_ROUNDS])
def test_each_blind_round_plants_its_bugs_in_new_places(name: str, earlier: tuple, most) -> None:
    """A blind round measures the suite on code the earlier sets did not mutate: none of its
    mutants changes text an earlier mutant changes, and it spreads over the modules."""
    for m in mutants.SETS[name]:
        same_file = [e for e in earlier if e.file == m.file]
        clashes = [e.name for e in same_file if e.old in m.old or m.old in e.old]
        assert not clashes, f"{m.name} mutates the place of {clashes}"
    files = [m.file for m in mutants.SETS[name]]
    assert most is None or max(files.count(f) for f in files) <= most


def test_a_planted_bug_is_caught_in_a_copy_and_the_source_is_untouched() -> None:
    source = ROOT / mutants.PACKAGE / "report/tables.py"
    before = source.read_text(encoding="utf-8")
    bug = mutants.Mutant(
        "error-message-reworded",
        "report/tables.py",
        "a table's row labels need a name: set frame.index.name",
        "unnamed row labels",
        "changed text",
    )
    planted = mutants.run_one(bug, ["tests/test_tables.py"], timeout=300)
    assert (planted.verdict, planted.caught) == ("caught", True)
    # The copy imports and passes the file's first tests: only the one that reads the message
    # fails (pytest -x stops there).
    assert planted.detail.startswith("FAILED tests/test_tables.py::test_unnamed_row_labels_are")
    assert source.read_text(encoding="utf-8") == before
    report = mutants.table([planted])
    assert "| error-message-reworded | report/tables.py | changed text | caught |" in report
    assert report.endswith("caught 1 of 1 mutants: 100 %")


def test_the_book_stage_refuses_a_checkout_with_changes(tmp_path) -> None:
    """It restores every file the build changes, so it must not start where work is unsaved."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "notes.txt").write_text("unsaved work")
    with pytest.raises(SystemExit, match="has uncommitted changes"):
        mutants.book_run(tmp_path, timeout=10, checkout=tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "unsaved work"
