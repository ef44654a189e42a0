"""CSV files clientflow writes (the bulk report): every cell safe to open in a spreadsheet.

A spreadsheet may read a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return as a formula, and a name (or a message that shows one) comes from the data, which
others type: `=HYPERLINK("http://x","y")` would become a live link. As OWASP recommends
(CSV injection), such a cell is written with a `'` in front, which spreadsheets read as
"this is text" and do not show. Every CSV writer goes through `CsvRows`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)


def cell(value: Any) -> str:
    """The text of one cell: `'` put in front of one a spreadsheet would run as a formula, anything else unchanged."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class CsvRows:
    """Rows of named cells written to `handle` (opened with newline=""), the header first, each cell through `cell`."""

    def __init__(self, handle: TextIO, fields: Iterable[str]) -> None:
        self.fields = tuple(fields)
        self.writer = csv.writer(handle)
        self.writer.writerow([cell(name) for name in self.fields])

    def write(self, row: Mapping[str, Any]) -> None:
        """One row; a field it lacks is an empty cell."""
        self.writer.writerow([cell(row.get(name)) for name in self.fields])
