import subprocess
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from vggrepro import chapters, cli

CHAPTER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

# A chapter

```{code-cell} ipython3
import subprocess
from pathlib import Path

print(6 * 7, Path.cwd().name)
```
"""
SLOW = CHAPTER.replace("print(6 * 7", "import time; print(time.sleep(4)")  # a 4 s cell


@pytest.fixture
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "other-book"  # not named like the checkout's book/, to tell them apart
    folder.mkdir()
    (folder / "answer.md").write_text(CHAPTER)
    (folder / "failing.md").write_text(CHAPTER.replace("6 * 7", "1 / 0"))
    (folder / "prose.md").write_text("# No code here\n")
    return folder


def test_a_chapter_runs_alone_in_the_book_folder_and_keeps_its_outputs(
    book: Path, tmp_path: Path
) -> None:
    assert chapters.chapter_names(book) == ["answer", "failing"]
    path = chapters.execute("answer", tmp_path / "new" / "out", book=book)  # folders made
    assert path == tmp_path / "new" / "out" / "answer.ipynb"
    assert not list(book.glob("*.ipynb"))  # the book's sources are left as they were
    cells = nbformat.read(path, as_version=4).cells
    printed = [o["text"] for c in cells if c.cell_type == "code" for o in c.outputs]
    assert printed == ["42 other-book\n"]  # it ran in the folder it was given


def test_an_unknown_chapter_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    assert cli.main(["chapter", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown chapter 'nope'" in err and "depth" in err


def test_a_failing_cell_names_the_chapter_and_exits_1(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chapters, "BOOK", book)
    assert cli.main(["chapter", "failing", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "chapter 'failing' failed" in err
    assert not (tmp_path / "failing.ipynb").exists()


def test_executed_chapters_go_where_the_readme_says_and_git_ignores() -> None:
    """By default ``chapter depth`` writes ``_build/notebooks/depth.ipynb`` (README, Makefile,
    ``--help``), under the build folder git ignores, so re-running a chapter dirties nothing."""
    path = chapters.NOTEBOOKS / "depth.ipynb"
    assert path.relative_to(chapters.ROOT).as_posix() == "_build/notebooks/depth.ipynb"
    assert cli.parser().parse_args(["chapter", "depth"]).out == chapters.NOTEBOOKS
    for doc in ("README.md", "Makefile"):
        assert "_build/notebooks/depth.ipynb" in (chapters.ROOT / doc).read_text()
    if (chapters.ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=chapters.ROOT)
        assert ignored.returncode == 0


def test_a_cell_that_runs_past_the_timeout_is_stopped(tmp_path: Path) -> None:
    """``execute``'s ``timeout`` bounds each cell: a 4 s cell under a 1 s limit is stopped
    and no notebook is written."""
    from nbclient.exceptions import CellTimeoutError

    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "slow.md").write_text(SLOW)
    with pytest.raises(CellTimeoutError):
        chapters.execute("slow", tmp_path / "out", book=folder, timeout=1)
    assert not (tmp_path / "out" / "slow.ipynb").exists()


def test_a_stalled_cell_is_one_line_naming_the_chapter_and_its_timeout(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chapter`` passes ``--timeout`` on; a cell that runs past it ends in one line and exit
    code 1, not nbclient's traceback."""
    (book / "slow.md").write_text(SLOW)
    monkeypatch.setattr(chapters, "BOOK", book)
    assert cli.main(["chapter", "slow", "--out", str(tmp_path), "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "chapter 'slow' ran past --timeout 1 s" in err
    assert not (tmp_path / "slow.ipynb").exists()
    assert cli.parser().parse_args(["chapter", "slow"]).timeout == 1200


def test_by_default_the_chapters_are_the_books_pages_with_code() -> None:
    """Without a folder, ``chapter_names`` reads the book's sources (not the executed
    notebooks): the computed chapters are there, each a page of ``book/``."""
    names = chapters.chapter_names()
    assert {"architecture", "cost", "depth", "training", "claims"} <= set(names)
    assert names == sorted(names)
    assert all((chapters.BOOK / f"{name}.md").is_file() for name in names)


def test_chapters_are_listed_by_name_and_a_prose_page_is_no_chapter(
    book: Path, tmp_path: Path
) -> None:
    """``chapter_names`` is sorted whatever order the folder lists its files in; a page with no
    code cell is refused like an unknown name, with the valid names in order."""
    for name in ("zeta", "mu", "beta", "omega", "kappa", "delta"):
        (book / f"{name}.md").write_text(CHAPTER)
    expected = ["answer", "beta", "delta", "failing", "kappa", "mu", "omega", "zeta"]
    assert chapters.chapter_names(book) == expected
    with pytest.raises(ValueError) as info:
        chapters.execute("prose", tmp_path / "out", book=book)
    assert str(info.value) == f"unknown chapter 'prose'; valid: {', '.join(expected)}"
    assert not (tmp_path / "out").exists()


def test_execute_gives_each_cell_the_configured_timeout_by_default(
    book: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``timeout``, a cell may run ``TIMEOUT`` (1200) seconds, in the python3 kernel."""
    import nbclient

    made = []

    class Client:
        def __init__(self, notebook, **kwargs) -> None:
            made.append(kwargs)

        def execute(self) -> None:
            pass

    monkeypatch.setattr(nbclient, "NotebookClient", Client)
    path = chapters.execute("answer", tmp_path, book=book)
    assert path == tmp_path / "answer.ipynb" and path.is_file()
    assert made == [
        {"timeout": 1200, "kernel_name": "python3", "resources": {"metadata": {"path": book}}}
    ]


def test_execute_writes_under_the_build_folder_by_default_never_into_the_book(
    book: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``out`` the executed notebook goes to ``_build/notebooks`` (ignored by git), not
    beside the sources. The kernel is stubbed; the file written is removed afterwards."""
    import nbclient

    monkeypatch.setattr(nbclient, "NotebookClient", lambda notebook, **kwargs: SimpleNamespace(
        execute=lambda: None))  # fmt: skip
    path = chapters.execute("answer", book=book)
    try:
        assert path == chapters.NOTEBOOKS / "answer.ipynb" and path.is_file()
    finally:
        path.unlink()
    assert not list(chapters.BOOK.glob("*.ipynb")) and not list(book.glob("*.ipynb"))


def test_the_chapter_command_passes_name_folder_and_timeout_and_says_where_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chapter NAME --out DIR --timeout S`` runs NAME into DIR with S seconds a cell and
    prints where to open it; an --out it cannot write to is one line before anything runs."""
    calls = []

    def execute(name: str, out: Path, **kwargs) -> Path:
        calls.append((name, out, kwargs))
        return out / f"{name}.ipynb"

    monkeypatch.setattr(chapters, "execute", execute)
    out = tmp_path / "made" / "here"
    assert cli.main(["chapter", "depth", "--out", str(out), "--timeout", "7"]) == 0
    assert calls == [("depth", out, {"timeout": 7})] and out.is_dir()
    path = out / "depth.ipynb"
    assert capsys.readouterr().out == (
        f"wrote {path} (open it in Jupyter: jupyter notebook {path})\n"
    )
    (tmp_path / "a-file").write_text("not a folder")
    assert cli.main(["chapter", "depth", "--out", str(tmp_path / "a-file")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {tmp_path / 'a-file'}: cannot write there")
    assert err.count("\n") == 1 and len(calls) == 1
