"""Tables numbered as tables, each with a link to its CSV.

The book's tables are ``{glue:figure}`` directives (myst-nb) whose ``:name:`` starts with
``tbl-``, so Sphinx would number them as figures ("Fig. 7"). This extension, loaded through
``sphinx: local_extensions:`` in ``_config.yml``, does two things at read time, in one
transform (:class:`NumberTables`):

1. every ``nodes.figure`` labelled ``tbl-...`` becomes a :class:`table_figure`, a subclass of
   ``nodes.figure`` registered as an enumerable node of type ``"table"``: Sphinx numbers it in
   the table sequence ("Table 3.2", also in ``{numref}``) and renders it as a figure (its
   translators dispatch on the node's class hierarchy, so ``visit_figure`` applies);
2. every table labelled ``tbl-<slug>`` (a table figure, or a real ``nodes.table`` such as a
   captioned ``list-table``) gets a "Download CSV" link at the end of its caption: a
   ``download_reference`` to ``<numbered_tables_csv_dir>/<slug><suffix>.csv``, the first
   suffix of ``numbered_tables_csv_suffixes`` whose file exists. Sphinx's download collector
   copies the file into ``_downloads/`` of the HTML output. A table with no CSV gets a warning
   that names its label and the expected path (the book is built with ``-W``, so this fails).

Order of events: the transform runs while a document is read, at priority 800, before
``SphinxDomains`` (850; the std domain records labels and titles) and before
``DoctreeReadEvent`` (880; emits ``doctree-read``, where the download collector picks up
the links). Figure and table numbers are assigned later still, once every document is read
(``env-get-updated``, TocTreeCollector.assign_figure_numbers), from the pickled doctrees in
which the table figures already have their own class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.locale import _
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

PREFIX = "tbl-"
LINK_TEXT = "Download CSV"


class table_figure(nodes.figure):  # lower case, as docutils names its node classes
    """A figure that shows a table: numbered as a table, rendered as a figure."""


class csv_link(nodes.inline):
    """The "Download CSV" link in a table's caption.

    Its text is left out of ``astext()``, so titles taken from the caption (``{ref}`` text,
    ``{numref}`` with ``{name}``) do not end in "Download CSV".
    """

    def astext(self) -> str:
        return ""


def table_label(node: nodes.Element) -> str | None:
    """The node's ``tbl-`` label (its name as written, else its id), if it has one."""
    for key in ("names", "ids"):
        for label in node.get(key, []):
            if label.startswith(PREFIX):
                return label
    return None


def csv_candidates(label: str, csv_dir: str, suffixes: list[str]) -> list[str]:
    """The CSV paths, relative to the source folder, that may hold this table, in order."""
    slug = label[len(PREFIX) :]
    return [f"{csv_dir.strip('/')}/{slug}{suffix}.csv" for suffix in suffixes]


class NumberTables(SphinxTransform):
    """Turn ``tbl-`` figures into table figures and add their CSV links (see module doc)."""

    default_priority = 800

    def apply(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(nodes.figure)):
            if type(node) is nodes.figure and table_label(node):
                # Changing the class in place keeps every reference to the node
                # (parent, document.ids) valid.
                node.__class__ = table_figure
        for node in list(self.document.findall(nodes.Element)):
            if isinstance(node, table_figure | nodes.table) and (label := table_label(node)):
                self.add_csv_link(node, label)

    def add_csv_link(self, node: nodes.Element, label: str) -> None:
        config = self.config
        candidates = csv_candidates(
            label, config.numbered_tables_csv_dir, list(config.numbered_tables_csv_suffixes)
        )
        srcdir = Path(self.env.srcdir)
        found = next((rel for rel in candidates if (srcdir / rel).is_file()), None)
        if found is None:
            # A missing dependency makes Sphinx read the document again next time, when the
            # CSV may exist.
            self.env.note_dependency(candidates[0])
            logger.warning(
                "table %s has no CSV: expected %s (or %s)",
                label,
                candidates[0],
                ", ".join(Path(rel).name for rel in candidates[1:]) or "nothing else",
                location=node,
                type="numbered_tables",
                subtype="missing_csv",
            )
            return
        link = addnodes.download_reference(
            "",
            "",
            nodes.Text(LINK_TEXT),
            reftarget="/" + found,  # "/..." is relative to the source folder
            refdoc=self.env.docname,
            refdomain="",
            reftype="download",
            refexplicit=True,
            refwarn=False,
            classes=["csv-download"],  # styled by _static/tables.css
        )
        caption = self.caption_of(node, label)
        caption += csv_link("", "", nodes.Text(" "), link, classes=["csv-link"])

    @staticmethod
    def caption_of(node: nodes.Element, label: str) -> nodes.Element:
        """The table's caption (a figure's caption, a table's title), made if it has none."""
        kind = nodes.title if isinstance(node, nodes.table) else nodes.caption
        for child in node.children:
            if isinstance(child, kind):
                return child
        logger.warning(
            "table %s has no caption, so it is not numbered",
            label,
            location=node,
            type="numbered_tables",
            subtype="no_caption",
        )
        caption = kind()
        if kind is nodes.title:
            node.insert(0, caption)
        else:
            legends = [
                i for i, child in enumerate(node.children) if isinstance(child, nodes.legend)
            ]
            node.insert(legends[0] if legends else len(node.children), caption)
        return caption


def visit_table_figure_html(self: Any, node: table_figure) -> None:
    self.context.append(len(self.body))
    self.visit_figure(node)


def depart_table_figure_html(self: Any, node: table_figure) -> None:
    """As a figure, but its permalink is titled "Link to this table", as a table's is."""
    self.depart_figure(node)
    image, table = f'title="{_("Link to this image")}"', f'title="{_("Link to this table")}"'
    for i in range(self.context.pop(), len(self.body)):
        self.body[i] = self.body[i].replace(image, table)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("numbered_tables_csv_dir", "results/tables", "env", [str])
    app.add_config_value(
        "numbered_tables_csv_suffixes", ["", "-cpu", "-smoke"], "env", (list, tuple)
    )
    app.add_enumerable_node(
        table_figure, "table", html=(visit_table_figure_html, depart_table_figure_html)
    )
    app.add_node(csv_link)
    app.add_transform(NumberTables)
    return {
        "version": "1.0",
        "env_version": 1,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
