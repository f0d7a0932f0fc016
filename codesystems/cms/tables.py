"""CMS edit tables read by column name, and the summary an import prints.

Every CMS table opens with notice rows (the AMA's CPT notice, a title), then a header row, then
data. The header is found by its names, not by its position: each wanted column has a pattern
over the normalized header cell (lower case, letters and digits only, so `Add-On_Code`,
`Addon Code` and `ADD ON CODE` are one name). A header may be wrapped over up to four rows, as in
the PTP text files; rows right after the header whose first wanted cell is empty are the rest of
it. After the header every non-blank row is data, and a row that cannot be read raises
ImportFailed naming the file and the line (or sheet and row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from codesystems.cms.files import Layout, Sheet, open_file
from terminology.errors import ImportFailed
from terminology.store.edits import EditTable

HEADER_SEARCH_ROWS = 50  # notice and title rows come first; the header is within these
HEADER_WRAP_ROWS = 4
CODE = re.compile(r"[0-9A-Z]{5}")
SAMPLE_FOLDER = Path(__file__).parent / "sample"
SAMPLE_SOURCE = "txserver sample"


@dataclass(frozen=True)
class Column:
    """A wanted column: our key, CMS's own spelling (for messages) and a pattern that the
    normalized header cell must match in full."""

    key: str
    label: str
    pattern: str
    required: bool = True
    code: bool = False  # a CPT/HCPCS code: a number cell is zero-padded (Excel drops zeros)

    def matches(self, cell: str) -> bool:
        return re.fullmatch(self.pattern, cell) is not None


def normalize(cell: Any) -> str:
    """`Add-On_Code` -> `addoncode`, `"HCPCS/\\nCPT Code"` -> `hcpcscptcode`."""
    return re.sub(r"[^0-9a-z]", "", str(cell or "").lower())


def cell_text(value: Any, code: bool = False) -> str:
    """A cell as text: numbers without `.0`, dates as ISO, codes zero-padded to 5."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:05d}" if code else str(value)
    return str(value).strip()


@dataclass
class FileRead:
    """What was read from one sheet, for the summary."""

    name: str
    unit: str  # "line" or "row"
    header: tuple[int, int]  # its first and last line (or row)
    notice_rows: int
    unused_columns: list[str]
    rows: int = 0

    def header_at(self) -> str:
        first, last = self.header
        return f"{self.unit} {first}" if first == last else f"{self.unit}s {first}-{last}"


@dataclass
class ImportSummary:
    """What an import read, stored, kept with a remark, and skipped: what a user checks
    against CMS's own counts."""

    title: str
    files: list[FileRead] = field(default_factory=list)
    stored: int = 0
    remarks: dict[str, int] = field(default_factory=dict)  # stored, but worth a count
    skipped: dict[str, int] = field(default_factory=dict)  # not stored, and why
    not_read: list[str] = field(default_factory=list)  # files or sheets that hold no table
    table: EditTable | None = None

    def count(self, counts: dict[str, int], reason: str) -> None:
        counts[reason] = counts.get(reason, 0) + 1

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def lines(self) -> list[str]:
        out = [f"{self.title}: {self.stored} edits stored from {self.rows} rows read"]
        for read in self.files:
            notice = (f" after {read.notice_rows} notice "
                      f"{'row' if read.notice_rows == 1 else 'rows'}" if read.notice_rows else "")
            out.append(f"  {read.name}: header on {read.header_at()}{notice}; {read.rows} rows "
                       "read")
            if read.unused_columns:
                out.append(f"    columns not used: {', '.join(read.unused_columns)}")
        out += [f"  {remark}: {n}" for remark, n in sorted(self.remarks.items())]
        skipped = sum(self.skipped.values())
        out.append(f"  rows skipped: {skipped}" + "".join(
            f"; {why}: {n}" for why, n in self.skipped.items()))
        out += [f"  not read: {what}" for what in self.not_read]
        return out


@dataclass(frozen=True)
class Row:
    """A data row: its cells by column key ('' when empty or absent) and where it is."""

    sheet: str
    place: str  # "line 7", "row 7"
    cells: dict[str, str]

    @property
    def where(self) -> str:
        return f"{self.sheet} {self.place}"

    def __getitem__(self, key: str) -> str:
        return self.cells[key]


@dataclass(frozen=True)
class _Header:
    layout: Layout
    first: int  # index of the first header row among the rows read
    depth: int  # how many rows it spans
    numbers: tuple[int, int]  # its first and last line (or row) numbers
    notice_rows: int  # the non-blank rows before it
    positions: dict[str, int]  # column key -> cell index
    unused: list[str]


class Table:
    """The data rows of one sheet, read under its header."""

    def __init__(self, sheet: Sheet, header: _Header, columns: Sequence[Column],
                 read: FileRead) -> None:
        self.sheet, self.header, self.columns, self.read = sheet, header, columns, read

    def rows(self, summary: ImportSummary) -> Iterator[Row]:
        header, positions = self.header, self.header.positions
        first_key = next(c.key for c in self.columns if c.required)
        width = max(positions.values()) + 1
        in_header = True  # until the first data row: the rest of a wrapped header may follow
        for index, (number, raw) in enumerate(header.layout.rows()):
            if index < header.first + header.depth:
                continue
            cells = {c.key: cell_text(raw[positions[c.key]], c.code)
                     if c.key in positions and positions[c.key] < len(raw) else ""
                     for c in self.columns}
            if not any(cells.values()) and not any(map(cell_text, raw)):
                summary.count(summary.skipped, "blank rows")
                continue
            place = f"{self.sheet.unit} {number}"
            where = f"{self.sheet.name} {place}"
            if in_header and not cells[first_key] and _wraps_header(raw) \
                    and number - self.read.header[0] < HEADER_WRAP_ROWS:
                self.read.header = (self.read.header[0], number)
                continue
            in_header = False
            if any(cell_text(v) for v in raw[width:]):
                raise ImportFailed(f"{where}: {len(raw)} cells, but the header has {width}")
            if any("\n" in v for v in cells.values()):
                raise ImportFailed(f"{where}: a cell runs over several lines (an unclosed "
                                   "quote?)")
            self.read.rows += 1
            yield Row(self.sheet.name, place, cells)


def _wraps_header(raw: list[Any]) -> bool:
    """A row of words (`prior to 1996`, `Date`, `*=no data`, `0=not allowed`), not of data."""
    return all(re.search(r"[A-Za-z]", text) for text in map(cell_text, raw) if text)


def read_tables(path: Path, columns: Sequence[Column], what: str,
                summary: ImportSummary) -> list[Table]:
    """The tables of `path` (text, .xlsx, or a .zip of those) that have a header with every
    required column; the summary lists them, and the sheets that have none. No table at all
    raises ImportFailed saying what was looked for."""
    opened = open_file(path)
    summary.not_read += opened.not_read
    tables, misses = [], []
    for sheet in opened.sheets:
        header, miss = find_header(sheet, columns)
        if header is None:
            misses.append(miss)
            continue
        read = FileRead(sheet.name, sheet.unit, header.numbers, header.notice_rows, header.unused)
        summary.files.append(read)
        tables.append(Table(sheet, header, columns, read))
    if not tables:
        raise ImportFailed(f"no {what} found: {'; '.join(misses)}")
    summary.not_read += [f"{miss} (not read)" for miss in misses]
    return tables


def find_header(sheet: Sheet, columns: Sequence[Column]) -> tuple[_Header | None, str]:
    """The header of a sheet, or None and why not: in one of its layouts (text split by tab,
    comma or pipe), the first row, or group of up to four rows read together cell by cell, in
    which every required column matches exactly one cell."""
    heads = [(layout, _head(layout)) for layout in sheet.layouts]
    nearest: tuple[int, str] = (0, "")
    for depth in range(1, HEADER_WRAP_ROWS + 1):
        for layout, head in heads:
            for first in range(min(len(head) - depth + 1, HEADER_SEARCH_ROWS)):
                group = head[first:first + depth]
                cells = _joined([cells for _, cells in group])
                positions, problem = _match(cells, columns)
                if problem is None:
                    unused = [c for i, c in enumerate(cells) if c and i not in positions.values()]
                    notice = sum(1 for _, c in head[:first] if any(map(cell_text, c)))
                    return _Header(layout, first, depth, (group[0][0], group[-1][0]), notice,
                                   positions, unused), ""
                if len(positions) > nearest[0]:
                    nearest = (len(positions),
                               f"; nearest: {sheet.where(group[0][0])} ({layout.how}) {problem}")
    wanted = ", ".join(c.label for c in columns if c.required)
    return None, (f"{sheet.name} has no header row with the columns {wanted} in its first "
                  f"{HEADER_SEARCH_ROWS} {sheet.unit}s{nearest[1]}")


def _head(layout: Layout) -> list[tuple[int, list[Any]]]:
    """The first rows of a layout, where the header must be."""
    head = []
    for item in layout.rows():
        head.append(item)
        if len(head) == HEADER_SEARCH_ROWS + HEADER_WRAP_ROWS:
            break
    return head


def _joined(rows: list[list[Any]]) -> list[str]:
    """Rows of a wrapped header read together: each cell's words, top to bottom."""
    width = max(len(r) for r in rows)
    return [" ".join(cell_text(r[i]) for r in rows if i < len(r) and cell_text(r[i]))
            for i in range(width)]


def _match(cells: list[str], columns: Sequence[Column]) -> tuple[dict[str, int], str | None]:
    """Column key -> cell index for the columns found, and what is wrong (None: nothing)."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = normalize(cell)
        found = [c for c in columns if name and c.matches(name)]
        if len(found) > 1:
            return positions, f"{cell!r} could be {' or '.join(c.label for c in found)}"
        if found:
            column = found[0]
            if column.key in positions:
                return positions, (f"has {column.label} twice ({cells[positions[column.key]]!r}"
                                   f" and {cell!r})")
            positions[column.key] = index
    missing = [c.label for c in columns if c.required and c.key not in positions]
    if missing:
        return positions, f"lacks {', '.join(missing)}"
    return positions, None


# -- cells ------------------------------------------------------------------------------------


def parse_date(text: str, where: str) -> str | None:
    """A CMS date as ISO `YYYY-MM-DD`, or None for blank or `*`: Julian `YYYYDDD` (year and day
    of the year, the add-on code file), `YYYYMMDD` (PTP), `MM/DD/YYYY` or ISO."""
    text = text.strip()
    if text in ("", "*"):
        return None
    try:
        if re.fullmatch(r"\d{7}", text):
            day = date(int(text[:4]), 1, 1) + timedelta(days=int(text[4:]) - 1)
            if day.year != int(text[:4]) or int(text[4:]) < 1:
                raise ValueError
            return day.isoformat()
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            m, d, y = text.split("/")
            return date(int(y), int(m), int(d)).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ImportFailed(f"{where}: {text!r} is not a date (expected YYYYDDD, YYYYMMDD or "
                           "blank)") from None


def required(row: Row, column: Column) -> str:
    """The cell of `column`, which a data row must have."""
    text = row[column.key]
    if not text:
        raise ImportFailed(f"{row.where}: no {column.label}")
    return text


def code_cell(row: Row, column: Column, also: Sequence[str] = ()) -> str:
    """A CPT or HCPCS code (five letters or digits), or one of `also` (such as CCCCC)."""
    text = required(row, column)
    if not CODE.fullmatch(text) and text not in also:
        raise ImportFailed(f"{row.where}: {column.label} {text[:20]!r} is not a CPT or HCPCS "
                           "code")
    return text


def whole_number(row: Row, column: Column) -> int:
    text = required(row, column)
    if not re.fullmatch(r"\d+", text):
        raise ImportFailed(f"{row.where}: {column.label} {text[:20]!r} is not a whole number")
    return int(text)


def is_sample(path: Path) -> bool:
    """Whether `path` is one of the hand-made samples bundled with txserver."""
    return Path(path).resolve().parent == SAMPLE_FOLDER.resolve()


def source_label(paths: Sequence[Path]) -> str:
    """The names of the imported files, as stored with a table; marked when they are our
    bundled samples (the table is then published as experimental)."""
    names = ", ".join(Path(p).name for p in paths)
    return f"{SAMPLE_SOURCE} {names}" if all(map(is_sample, paths)) else names
