"""book/_ext/numbered_tables.py in a tiny throw-away Sphinx project (myst-parser, no notebooks).

A ``{figure}`` named ``tbl-x`` stands for a glued table (``{glue:figure}`` makes the same
``nodes.figure``), a ``list-table`` named ``tbl-z`` for a real table, and a ``{figure}`` named
``fig-y`` for a figure. The chapter sits under a ``:numbered:`` toctree, as the book's
chapters do in _toc.yml, and the project uses the book's own numfig settings.
"""

import io
import re
from pathlib import Path

import pytest
import yaml
from sphinx.application import Sphinx
from sphinx.util.docutils import docutils_namespace, patch_docutils

ROOT = Path(__file__).resolve().parents[1]
BOOK_CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
EXT_DIR = ROOT / BOOK_CONFIG["sphinx"]["local_extensions"]["numbered_tables"]
NUMFIG = {
    key: BOOK_CONFIG["sphinx"]["config"][key] for key in ("numfig_format", "numfig_secnum_depth")
}

CONF = f"""
import sys
sys.path.insert(0, {str(EXT_DIR)!r})
extensions = ["myst_parser", "numbered_tables"]
numfig = True
numfig_format = {NUMFIG["numfig_format"]!r}
numfig_secnum_depth = {NUMFIG["numfig_secnum_depth"]!r}
html_theme = "basic"
exclude_patterns = ["_build", "results"]
"""
INDEX = """# The book

```{toctree}
:numbered:
chapter
```
"""
CHAPTER = """# A chapter

```{figure} pic.svg
:name: tbl-x

A table caption.
```

```{figure} pic.svg
:name: fig-y

A figure caption.
```

```{list-table} A list table.
:name: tbl-z
:header-rows: 1

* - a
  - b
* - 1
  - 2
```

See {numref}`tbl-x`, {numref}`fig-y` and {numref}`tbl-z`; by title: {ref}`tbl-x`.
"""
PIC = '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"/>'
CSV_X = "a,b\n1,2\n"


def make_project(root: Path, csv_files: dict[str, str]) -> Path:
    src = root / "src"
    (src / "results" / "tables").mkdir(parents=True)
    for name, text in {"conf.py": CONF, "index.md": INDEX, "chapter.md": CHAPTER}.items():
        (src / name).write_text(text)
    (src / "pic.svg").write_text(PIC)
    for name, text in csv_files.items():
        (src / "results" / "tables" / name).write_text(text)
    return src


def build(src: Path) -> tuple[Path, str, str]:
    """Build the project as HTML: (output folder, chapter.html, warnings)."""
    out, warnings = src.parent / "html", io.StringIO()
    # As sphinx-build does: what the extensions register with docutils is undone afterwards,
    # so a second build in this process starts clean.
    with patch_docutils(str(src)), docutils_namespace():
        app = Sphinx(
            str(src), str(src), str(out), str(src.parent / "doctrees"), "html",
            status=None, warning=warnings, freshenv=True,
        )  # fmt: skip
        app.build()
    text = re.sub(r"\x1b\[[0-9;]*m", "", warnings.getvalue())  # no colours
    return out, (out / "chapter.html").read_text(), text


def element(html: str, tag: str, label: str) -> str:
    """The HTML of the element <tag ... id="label">, up to its end tag (no nesting)."""
    match = re.search(rf'<{tag}\b[^>]*\bid="{label}"[^>]*>.*?</{tag}>', html, re.S)
    assert match, f'no <{tag} id="{label}"> in the page'
    return match.group(0)


def caption_number(block: str) -> str:
    match = re.search(r'<span class="caption-number">([^<]*)</span>', block)
    assert match, f"no caption number in {block}"
    return match.group(1).strip()


def csv_links(block: str) -> list[tuple[str, str]]:
    """(href, text) of each CSV download link (class csv-download, styled by _static/tables.css)."""
    links = re.findall(r'<a class="([^"]*)"[^>]*href="([^"]+)"[^>]*>(.*?)</a>', block)
    return [
        (href, text)
        for classes, href, text in links
        if {"reference", "download", "internal", "csv-download"} <= set(classes.split())
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """x has its own CSV (and a smoke one, not used); z has only a CPU-tier one."""
    root = tmp_path_factory.mktemp("tables")
    csvs = {"x.csv": CSV_X, "x-smoke.csv": "smoke\n", "z-cpu.csv": "c,d\n3,4\n"}
    return build(make_project(root, csvs))


def test_tables_are_numbered_as_tables_per_chapter(built: tuple[Path, str, str]) -> None:
    _, html, _ = built
    assert caption_number(element(html, "figure", "tbl-x")) == "Table 1.1"
    assert caption_number(element(html, "figure", "fig-y")) == "Fig. 1.1"
    assert caption_number(element(html, "table", "tbl-z")) == "Table 1.2"
    assert 'title="Link to this table"' in element(html, "figure", "tbl-x")
    assert 'title="Link to this image"' in element(html, "figure", "fig-y")


def test_numref_reads_table(built: tuple[Path, str, str]) -> None:
    _, html, _ = built
    refs = dict(re.findall(r'href="#([^"]+)"><span class="std std-numref">([^<]*)</span>', html))
    assert refs == {"tbl-x": "Table 1.1", "fig-y": "Fig. 1.1", "tbl-z": "Table 1.2"}


def test_ref_title_leaves_out_the_link(built: tuple[Path, str, str]) -> None:
    _, html, _ = built
    ref = re.search(r'href="#tbl-x"><span class="std std-ref">([^<]*)</span>', html)
    assert ref and ref.group(1) == "A table caption."


def test_csv_link_in_caption_and_copied(built: tuple[Path, str, str]) -> None:
    out, html, _ = built
    caption = re.search(r"<figcaption>.*?</figcaption>", element(html, "figure", "tbl-x"), re.S)
    assert caption, "tbl-x has no caption"
    (href, text), *more = csv_links(caption.group(0)) or [("", "")]
    assert not more and text == "Download CSV", csv_links(caption.group(0))
    assert Path(href).name == "x.csv"  # the tier-less CSV wins over x-smoke.csv
    assert (out / href).read_text() == CSV_X
    # A real table (list-table) gets its link in its <caption>, here to the CPU tier's CSV.
    table_caption = re.search(r"<caption>.*?</caption>", element(html, "table", "tbl-z"), re.S)
    assert table_caption and [Path(h).name for h, _ in csv_links(table_caption.group(0))] == [
        "z-cpu.csv"
    ]
    assert not csv_links(element(html, "figure", "fig-y"))


def test_no_warnings_when_every_table_has_its_csv(built: tuple[Path, str, str]) -> None:
    assert built[2] == ""


def test_missing_csv_warns(tmp_path: Path) -> None:
    _, html, warnings = build(make_project(tmp_path, {"z-cpu.csv": "c,d\n3,4\n"}))
    lines = warnings.splitlines()
    assert len(lines) == 1, warnings  # one warning, for tbl-x only (tbl-z has its CPU CSV)
    assert "WARNING" in lines[0] and "tbl-x" in lines[0] and "results/tables/x.csv" in lines[0]
    assert not csv_links(element(html, "figure", "tbl-x"))
    assert caption_number(element(html, "figure", "tbl-x")) == "Table 1.1"


def test_book_numbers_its_chapters() -> None:
    """_toc.yml numbers every part's chapters, and only the chapters: their sections keep the
    headings they have (the root stays unnumbered)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert all(part.get("numbered") == 1 for part in toc["parts"])
    assert (EXT_DIR / "numbered_tables.py").is_file()
