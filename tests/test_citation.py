"""CITATION.cff: valid CFF 1.2.0 keys, consistent with pyproject.toml, and named in the README."""

import datetime
import tomllib
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with the book extra")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cff() -> dict[str, Any]:
    """The parsed CITATION.cff."""
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_required_keys(cff: dict[str, Any]) -> None:
    """The four keys CFF 1.2.0 requires, with the right shapes."""
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"].strip()
    assert cff["title"].startswith("VGG, reproduced")
    assert cff["authors"] == [{"name": "The vggrepro authors"}]


def test_matches_the_package(cff: dict[str, Any]) -> None:
    """Version and licence agree with pyproject.toml; the release date is a real date."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"] == "MIT"
    assert datetime.date.fromisoformat(str(cff["date-released"])) == datetime.date(2026, 11, 28)


def test_cites_the_paper(cff: dict[str, Any]) -> None:
    """The paper is a reference: authors, title, ICLR 2015, arXiv 1409.1556."""
    (paper,) = [r for r in cff["references"] if "Very Deep Convolutional" in r["title"]]
    assert paper["title"] == "Very Deep Convolutional Networks for Large-Scale Image Recognition"
    assert [(a["family-names"], a["given-names"]) for a in paper["authors"]] == [
        ("Simonyan", "Karen"),
        ("Zisserman", "Andrew"),
    ]
    assert paper["year"] == 2015
    assert "ICLR" in paper["conference"]["name"]
    assert any("1409.1556" in str(i["value"]) for i in paper["identifiers"])


def test_message_explains_citing_a_table(cff: dict[str, Any]) -> None:
    """The message says to cite a table by the book, its label and its CSV file."""
    message = " ".join(cff["message"].split())
    assert "results/tables/" in message
    assert "label" in message and "CSV" in message


def test_readme_points_to_it() -> None:
    """The README tells readers where the citation metadata live."""
    assert "CITATION.cff" in (ROOT / "README.md").read_text(encoding="utf-8")
