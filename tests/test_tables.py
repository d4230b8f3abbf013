import math

import pandas as pd
import pytest

from vggrepro.report.tables import html, readable


def test_a_named_index_becomes_a_column_and_row_numbers_go() -> None:
    labelled = pd.DataFrame({"params": [1, 2]}, index=pd.Index(["A", "B"], name="config"))
    assert list(readable(labelled).columns) == ["config", "params"]
    filtered = pd.DataFrame({"x": [1, 2, 3]}).iloc[[2, 0]]  # row numbers left by a filter
    assert list(readable(filtered).columns) == ["x"]
    assert list(readable(filtered)["x"]) == [3, 1]


def test_missing_values_say_so_and_headers_have_no_empty_row() -> None:
    frame = pd.DataFrame({"a": [1.5, math.nan], "b": [None, "x"]})
    frame.columns.name = "metric"  # pandas would print it in a header row of its own
    shown = html(frame, missing="not measured").data
    assert "NaN" not in shown and "None" not in shown and shown.count("not measured") == 2
    assert "<th>metric</th>" not in shown and shown.count("<tr") == 3  # header + 2 rows
    assert "<tbody>\n    <tr>\n      <th>" not in shown  # no index cells


def test_unnamed_row_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="need a name"):
        readable(pd.DataFrame({"x": [1]}, index=["row"]))
    with pytest.raises(ValueError, match="need a name"):  # fractions label rows, not number them
        readable(pd.DataFrame({"x": [1, 2]}, index=[0.5, 1.5]))


def test_cells_are_escaped_and_missing_values_read_as_a_dash_by_default() -> None:
    shown = html(pd.DataFrame({"x": ["<b>bold</b>", None]})).data
    assert "&lt;b&gt;bold&lt;/b&gt;" in shown and "<b>" not in shown
    assert readable(pd.DataFrame({"a": [None, 1.5]}))["a"].tolist() == ["—", 1.5]


def test_a_named_multi_index_becomes_columns_and_the_callers_frame_is_kept() -> None:
    """Table 1's (block, row) index turns into two columns; the frame passed in keeps its
    index and its column axis name."""
    index = pd.MultiIndex.from_tuples([("stage 1", "1"), ("stage 1", "pool")],
                                      names=["block", "row"])  # fmt: skip
    frame = pd.DataFrame({"A": ["conv3-64", "maxpool"]}, index=index)
    frame.columns.name = "config"
    shown = readable(frame)
    assert list(shown.columns) == ["block", "row", "A"]
    assert shown.values.tolist() == [["stage 1", "1", "conv3-64"], ["stage 1", "pool", "maxpool"]]
    assert frame.columns.name == "config" and frame.index.names == ["block", "row"]
    assert "border" not in html(frame).data  # no HTML border: the book's CSS draws the rules
