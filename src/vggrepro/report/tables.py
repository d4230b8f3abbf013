"""How the book shows a table: no pandas index column, no empty header row, no ``NaN``."""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

MISSING = "—"
"""What an empty cell shows unless the caller says what is missing."""


def readable(frame: pd.DataFrame, missing: str = MISSING) -> pd.DataFrame:
    """``frame`` with its named index turned into its first column(s) and missing values
    replaced by ``missing``; an unnamed row-number index is dropped."""
    out = frame.copy()
    out.columns.name = None
    if any(name is not None for name in out.index.names):
        out = out.reset_index()
    elif _row_numbers(out.index):
        out = out.reset_index(drop=True)
    else:
        raise ValueError("a table's row labels need a name: set frame.index.name")
    return out.astype(object).where(out.notna(), missing)


def html(frame: pd.DataFrame, missing: str = MISSING) -> HTML:
    """``frame`` as the HTML table the book shows (see ``readable``), for ``glue``."""
    shown = readable(frame, missing)
    return HTML(shown.to_html(index=False, classes="dataframe", border=0, escape=True))


def _row_numbers(index: pd.Index) -> bool:
    """Whether an unnamed index only numbers rows (a range, or what is left of one after
    filtering or sorting) rather than labelling them."""
    return pd.api.types.is_integer_dtype(index) and not isinstance(index, pd.MultiIndex)
