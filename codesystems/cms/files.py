"""The files CMS ships its edit tables in, opened as sheets of raw rows.

CMS publishes each table as text (tab-separated `.txt`, comma-separated `.csv`), as an `.xlsx`
workbook, and as a `.zip` holding one or both. What a file is comes from its content, not its
name: a zip whose members include `xl/workbook.xml` is a workbook, any other zip an archive, and
anything else text (UTF-8, else cp1252, else latin-1). A text file is offered split by tab, by
comma and by pipe; the reader of the header (tables.py) keeps the split in which it finds the
header row. Which rows are notice, header and data is not decided here.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terminology.errors import ImportFailed

Rows = Iterator[tuple[int, list[Any]]]  # (line or row number, cells)
DELIMITERS = {"\t": "tab-separated", ",": "comma-separated", "|": "pipe-separated"}
TEXT_SUFFIXES = (".txt", ".csv", ".tsv")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


@dataclass(frozen=True)
class Layout:
    """One way to split a sheet into cells: `rows()` reads it from the start each time."""

    how: str
    rows: Callable[[], Rows]


@dataclass(frozen=True)
class Sheet:
    """A table as shipped: a text file, or one sheet of a workbook (maybe inside a zip)."""

    name: str  # for messages: `f1.txt`, `AOC.xlsx sheet 'AOC'`, `f1.zip: f1.txt`
    unit: str  # what its numbers count: "line" or "row"
    layouts: tuple[Layout, ...]

    def where(self, number: int) -> str:
        return f"{self.name} {self.unit} {number}"


@dataclass(frozen=True)
class Opened:
    """The sheets of one file, and what it held that is not a table (for the summary)."""

    sheets: list[Sheet]
    not_read: list[str]


def open_file(path: Path) -> Opened:
    """The sheets of a CMS edit file: text, workbook, or a zip of those."""
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    return _open(path.name, path.read_bytes())


def _open(name: str, data: bytes) -> Opened:
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "xl/workbook.xml" in archive.namelist():
                    return Opened(workbook_sheets(name, data), [])
                return _open_archive(name, archive)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:  # damaged,
            raise ImportFailed(f"{name}: not a readable zip ({exc})") from None  # encrypted
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportFailed(f"{name}: an Excel 97-2003 (.xls) workbook; save it as .xlsx or as "
                           "tab-separated text")
    return Opened([text_sheet(name, decode(name, data))], [])


def _open_archive(name: str, archive: zipfile.ZipFile) -> Opened:
    """The tables of a zip. CMS puts one table in its zip twice, as text and as a workbook: when
    there is a workbook, it is read (its cells need no splitting) and the text files are not."""
    members = [m for m in archive.infolist() if not m.is_dir()
               and not Path(m.filename).name.startswith(".") and "__MACOSX" not in m.filename]
    kinds = {m.filename: _kind(m.filename) for m in members}
    workbooks = [m for m in members if kinds[m.filename] == "workbook"]
    chosen = workbooks or [m for m in members if kinds[m.filename] == "text"]
    read_instead = ", ".join(Path(m.filename).name for m in workbooks)
    not_read = [f"{name}: {m.filename}: " + (
        f"a text copy of the workbook ({read_instead} is read)" if kinds[m.filename] == "text"
        else "not an edit table (read .txt, .csv and .xlsx files)")
        for m in members if m not in chosen]
    sheets: list[Sheet] = []
    for member in chosen:
        opened = _open(f"{name}: {member.filename}", archive.read(member))
        sheets += opened.sheets
        not_read += opened.not_read
    if not sheets:
        raise ImportFailed(f"{name}: the zip holds no .txt, .csv or .xlsx file")
    return Opened(sheets, not_read)


def _kind(filename: str) -> str:
    lowered = filename.lower()
    if lowered.endswith(WORKBOOK_SUFFIXES):
        return "workbook"
    return "text" if lowered.endswith(TEXT_SUFFIXES) else "other"


def decode(name: str, data: bytes) -> str:
    """Text as CMS writes it: UTF-8 (with or without BOM), else cp1252, else latin-1."""
    if b"\x00" in data[:4096]:
        raise ImportFailed(f"{name}: not a text file (binary content)")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def text_sheet(name: str, text: str) -> Sheet:
    def split(delimiter: str) -> Callable[[], Rows]:
        def rows() -> Rows:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            start = 1
            try:
                for cells in reader:
                    yield start, cells
                    start = reader.line_num + 1  # a quoted cell may run over several lines
            except csv.Error as exc:  # a quote left open to the end, a NUL character
                raise ImportFailed(f"{name} line {start}: cannot be read ({exc})") from None
        return rows

    return Sheet(name, "line", tuple(Layout(how, split(d)) for d, how in DELIMITERS.items()))


def workbook_sheets(name: str, data: bytes) -> list[Sheet]:
    """Each worksheet of an .xlsx workbook (read with python-calamine, fast enough for a 170k-row
    PTP file), its cells as calamine gives them: str ('' when empty), float, int, date or
    datetime; rows counted from the top of the sheet, empty ones included."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except CalamineError as exc:
        raise ImportFailed(f"{name}: not a readable .xlsx workbook ({exc})") from None
    sheets = []
    for title in book.sheet_names:
        def rows(title: str = title) -> Rows:
            try:
                values = book.get_sheet_by_name(title).iter_rows()
                yield from enumerate((list(v) for v in values), start=1)
            except CalamineError as exc:
                raise ImportFailed(f"{name} sheet {title!r}: not readable ({exc})") from None
        sheets.append(Sheet(f"{name} sheet {title!r}", "row", (Layout("an .xlsx sheet", rows),)))
    return sheets
