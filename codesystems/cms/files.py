"""Rows of a CMS edit file: tab- or comma-separated, with copyright lines and headers first.

CMS prefixes its tables with AMA copyright text and a header row (sometimes over two lines):
every line before the first row that starts with a code is skipped; after it, every non-empty
line must be a row, and a bad one is reported with the file's name and the line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from codesystems.cpt.files import read_text
from terminology.errors import ImportFailed

CODE = re.compile(r"^[0-9A-Z]{5}$")


def edit_rows(path: Path, min_columns: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for every data row of `path`."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    text = read_text(path)
    delimiter = "\t" if "\t" in text[:65536] else ","
    started = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=delimiter))]
        if not started:
            if not CODE.match(cells[0]):
                continue  # copyright text, header rows
            started = True
        if not CODE.match(cells[0]):
            raise ImportFailed(f"{path.name} line {number}: {cells[0][:20]!r} is not a "
                               "CPT or HCPCS code")
        if len(cells) < min_columns:
            raise ImportFailed(f"{path.name} line {number}: expected at least {min_columns} "
                               f"columns, found {len(cells)}")
        yield number, cells
    if not started:
        raise ImportFailed(f"{path.name}: no edits found (no line starts with a code)")


def whole_number(text: str, where: str, what: str) -> int:
    cleaned = text.strip()
    if not re.fullmatch(r"\d+", cleaned):
        raise ImportFailed(f"{where}: {what} {cleaned[:20]!r} is not a whole number")
    return int(cleaned)
