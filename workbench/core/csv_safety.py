"""Spreadsheet-safe CSV cells: no text cell we write starts a formula.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and
strip a leading tab or carriage return on the way there (CSV or formula injection, OWASP). Every
CSV the workbench writes passes its *text* cells through :func:`neutralize`: such a cell gets a
leading apostrophe (``'=HYPERLINK(...)``), which spreadsheets show as text. Numbers in numeric
columns are written as numbers: a score of ``-0.5`` stays ``-0.5``.

The rule is reversible, so our own readers undo it with :func:`restore` and a round trip is
lossless: a cell gets one more apostrophe whenever it starts, after any apostrophes it already
has, with one of the characters above.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralize", "neutralize_frame", "restore"]

#: First characters that make a spreadsheet evaluate (or shift into) a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _risky(text: str) -> bool:
    return text.lstrip("'")[:1] in FORMULA_STARTS


def neutralize(values):
    """The CSV-safe form of ``values`` (a str, or an array / sequence of str).

    Returns the same kind: a str for a str, an object array otherwise.
    """
    if isinstance(values, str):
        return "'" + values if _risky(values) else values
    arr = np.asarray(values, dtype=object)
    return np.asarray([("'" + v if _risky(v) else v) if isinstance(v, str) else v for v in arr],
                      dtype=object).reshape(arr.shape)  # fmt: skip


def restore(values):
    """Undo :func:`neutralize` (a str, or an array / sequence of str)."""
    if isinstance(values, str):
        return values[1:] if values[:1] == "'" and _risky(values) else values
    arr = np.asarray(values, dtype=object)
    return np.asarray(
        [(v[1:] if v[:1] == "'" and _risky(v) else v) if isinstance(v, str) else v for v in arr],
        dtype=object,
    ).reshape(arr.shape)


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell neutralised (column names too); numeric, boolean
    and categorical-of-numbers columns are left as they are."""
    out = {}
    for name, col in df.items():
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object) if col.cat.categories.dtype.kind in "OUS" else col
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            col = pd.Series(neutralize(col.to_numpy(dtype=object)), index=col.index, dtype=object)
        out[neutralize(str(name))] = col
    return pd.DataFrame(out, index=df.index)
