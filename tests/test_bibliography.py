"""The book's bibliography: every citation resolves, no label is a mangled key, the works the book
names are cited where it names them, and the blog summary is a full reference."""

import re
from pathlib import Path

import pytest
import yaml
from pybtex.database import BibliographyData, parse_file
from pybtex.plugin import find_plugin

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.S | re.M)
BIBLIOGRAPHY = re.compile(r"^```\{bibliography\}\n((?::[\w-]+:.*\n)*)```", re.M)

NAMED = {
    "chengyangfu": "chengyangfu_vggcifar10",
    "kuangliu": "kuangliu_pytorchcifar",
    "Dive into Deep Learning": "zhang2023d2l",
    "d2l": "zhang2023d2l",
    "airbench": "jordan2024airbench",
}
"""How the book names a work it uses, and the key it must cite it by in the same paragraph."""


def chapters() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(BOOK.glob("*.md"))}


def paragraphs(text: str) -> list[str]:
    """The prose of a chapter (code cells removed), one string per paragraph or caption."""
    return [p for p in re.split(r"\n\s*\n", CODE_CELL.sub("", text)) if p.strip()]


def cited(text: str) -> set[str]:
    return {key.strip() for keys in CITE.findall(text) for key in keys.split(",")}


@pytest.fixture(scope="module")
def bib() -> BibliographyData:
    return parse_file(str(BOOK / "references.bib"))


def style_name() -> str:
    """The style the book's bibliography is formatted in: the directive's ``:style:`` option,
    else ``bibtex_default_style`` in ``_config.yml``, else sphinxcontrib-bibtex's "alpha"."""
    (options,) = [m for text in chapters().values() for m in BIBLIOGRAPHY.findall(text)]
    style = re.search(r"^:style:\s*(\S+)", options, re.M)
    if style:
        return style.group(1)
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config.get("sphinx", {}).get("config", {}).get("bibtex_default_style", "alpha")


def test_every_citation_resolves(bib: BibliographyData) -> None:
    keys = set().union(*(cited(text) for text in chapters().values()))
    assert keys and keys <= set(bib.entries), sorted(keys - set(bib.entries))


def test_no_citation_label_is_a_mangled_key(bib: BibliographyData) -> None:
    """Labels as sphinxcontrib-bibtex makes them, with the book's style, for the entries the book
    cites: short tokens, not a squashed author name (the "alpha" style turned the organisations
    that wrote torchvision and fvcore into "TorchVisionmacontributors16" and
    "FacebookAResearch19")."""
    keys = sorted(set().union(*(cited(text) for text in chapters().values())))
    style = find_plugin("pybtex.style.formatting", style_name())()
    labels = [entry.label for entry in style.format_entries(bib.entries[k] for k in keys)]
    assert len(labels) == len(keys)
    long = [label for label in labels if len(label) > 6 or not label.isalnum()]
    assert not long, long


def test_named_works_are_cited_where_the_book_names_them() -> None:
    uncited = [
        (name, chapter, paragraph[:80])
        for chapter, text in chapters().items()
        for paragraph in paragraphs(text)
        for name, key in NAMED.items()
        if name.lower() in paragraph.lower() and key not in cited(paragraph)
    ]
    assert not uncited, uncited
    everywhere = set().union(*(cited(text) for text in chapters().values()))
    assert set(NAMED.values()) <= everywhere  # each is used, so each is cited somewhere


def test_the_blog_summary_is_a_reference_and_its_quotes_are_translations(
    bib: BibliographyData,
) -> None:
    """Author, title, blog and date as REFERENCE.md gives them; the claims chapter cites it and
    says that it is in Korean and that the book's quotations from it are translations."""
    entry = bib.entries["minglet2024vgg"]
    assert [str(p) for p in entry.persons["author"]] == ["{m\\_inglet}"]
    assert entry.fields["title"].startswith("{VGGNet} 아직도 정리 못했다면")
    assert "Day to\\_day" in entry.fields["howpublished"]
    assert (entry.fields["month"], entry.fields["year"]) == ("1 April", "2024")
    introduced = [p for p in paragraphs(chapters()["claims.md"]) if "minglet2024vgg" in cited(p)]
    assert introduced, "the claims chapter does not cite the blog"
    assert "Korean" in introduced[0] and "translation" in introduced[0]
