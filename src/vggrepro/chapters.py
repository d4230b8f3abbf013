"""Re-execute one chapter of the book on its own, as a Jupyter notebook with its outputs.

The chapters are MyST Markdown notebooks (``book/<name>.md``); ``execute`` reads one with
myst-nb's reader, runs it with nbclient in the ``book/`` folder (as the book build does) and
writes ``_build/notebooks/<name>.ipynb``, which any Jupyter opens. Needs the ``book`` extra.
"""

from __future__ import annotations

from pathlib import Path

from vggrepro.files import project_root

ROOT = project_root()

BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "_build" / "notebooks"
TIMEOUT = 1200
"""Seconds a cell may run before it is stopped, as ``execute: timeout`` in ``_config.yml``."""


def chapter_names(book: Path | None = None) -> list[str]:
    """The chapters that can be executed: the MyST notebooks in ``book`` (default: ``BOOK``)."""
    book = book or BOOK
    return sorted(p.stem for p in book.glob("*.md") if "```{code-cell}" in p.read_text())


def execute(
    name: str, out: Path = NOTEBOOKS, book: Path | None = None, timeout: int = TIMEOUT
) -> Path:
    """Run chapter ``name`` top to bottom; write and return its executed ``.ipynb``.

    Raises ``ValueError`` for an unknown chapter and nbclient's ``CellExecutionError`` (with
    the failing cell and its traceback) when a cell fails.
    """
    import nbformat
    from myst_nb.core.read import read_myst_markdown_notebook
    from nbclient import NotebookClient

    book = book or BOOK
    names = chapter_names(book)
    if name not in names:
        raise ValueError(f"unknown chapter {name!r}; valid: {', '.join(names)}")
    source = book / f"{name}.md"
    notebook = read_myst_markdown_notebook(source.read_text(), path=source)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": book}}
    )
    client.execute()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path
