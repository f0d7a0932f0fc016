"""Reading the AMA's CPT release files: encodings, line ends, notice blocks, and errors that name
the file and the line.

The layout is the one the AMA's own public data pipeline reads (GitHub `AMADataLabs/Core`,
`Source/Python/datalabs/curate/cpt/descriptor.py` and its tests): a notice block of paragraphs,
a blank line, then data; CRLF line ends; UTF-8 or Windows-1252. `read_text` is shared with the
CMS importers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from terminology.errors import ImportFailed

CPT_CODE = re.compile(r"[0-9]{4}[0-9A-Z]")  # 99213, 1036F, 0042T, 0001U, 0001A, 0002M
MODIFIER_SHAPE = re.compile(r"^[0-9A-Z]{2}$")
# cp1252 leaves five bytes undefined; a file holding one of them is neither encoding.
ENCODINGS = ("utf-8", "cp1252")

LineTest = Callable[[str], bool]


def decode(path: Path) -> tuple[str, str]:
    """(text, encoding): UTF-8 tried strictly first (a BOM allowed), then Windows-1252."""
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise ImportFailed(f"{path.name}: not a text file (binary content)")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"{path.name} line {line}: byte 0x{data[exc.start]:02X} is neither UTF-8 nor "
            "Windows-1252 text"
        ) from None


def read_text(path: Path) -> str:
    return decode(path)[0]


def split_lines(text: str) -> list[str]:
    """Lines split at CRLF, LF or CR only (str.splitlines would also split inside a descriptor
    at form feeds, U+0085 or U+2028)."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def find(folder: Path, name: str, subfolders: tuple[str, ...] = ()) -> Path | None:
    """`name` at the top of `folder`, else in one of its `subfolders` (names matched
    case-insensitively: AMA folders vary in case). `("*",)` searches every subfolder."""
    places = [folder]
    if subfolders:
        wanted_dirs = {s.lower() for s in subfolders}
        places += sorted(
            child for child in folder.iterdir()
            if child.is_dir() and ("*" in wanted_dirs or child.name.lower() in wanted_dirs)
        )
    for place in places:
        for child in sorted(place.iterdir()):
            if child.is_file() and child.name.lower() == name.lower():
                return child
    return None


@dataclass(frozen=True)
class SourceFile:
    """One release file read whole: its lines, its encoding, and where its data starts."""

    label: str  # the path inside the release folder, as messages name it
    lines: list[str]
    encoding: str
    data_start: int  # index of the first data line
    header: int | None  # index of the header row, if the file has one

    @property
    def notice_lines(self) -> int:
        """Non-blank lines of the notice block (everything before the header or the data)."""
        end = self.header if self.header is not None else self.data_start
        return sum(1 for line in self.lines[:end] if line.strip())

    def header_cells(self) -> list[str]:
        return [] if self.header is None else self.lines[self.header].split("\t")

    def rows(self) -> Iterator[tuple[int, str]]:
        """(line number, line) of every non-blank line after the notice block."""
        for index in range(self.data_start, len(self.lines)):
            line = self.lines[index]
            if line.strip():
                yield index + 1, line

    def fail(self, number: int, message: str) -> ImportFailed:
        return ImportFailed(f"{self.label} line {number}: {message}")


def read_source(
    path: Path, folder: Path, is_data: LineTest, is_header: LineTest | None = None
) -> SourceFile:
    """Read a release file and find the end of its notice block.

    The notice is made of paragraphs separated by blank lines; data starts with the first
    paragraph whose first line is data (or after a header row followed by data). A paragraph
    that does not start with data but holds data lines is data with a broken first line: it is
    returned as data so that the parser names that line, instead of swallowing the rows.
    """
    text, encoding = decode(path)
    lines = split_lines(text)
    label = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.name
    index = 0
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        end = index
        while end < len(lines) and lines[end].strip():
            end += 1
        paragraph = range(index, end)
        if is_data(lines[index]):
            return SourceFile(label, lines, encoding, index, None)
        if is_header:
            for at in paragraph:
                if is_header(lines[at]) and at + 1 < end and is_data(lines[at + 1]):
                    return SourceFile(label, lines, encoding, at + 1, at)
        if any(is_data(lines[at]) for at in paragraph):
            return SourceFile(label, lines, encoding, index, None)
        index = end
    raise ImportFailed(f"{label}: no data after its notice block")


# -- the line layouts ------------------------------------------------------------------------


def is_descriptor_line(line: str) -> bool:
    return CPT_CODE.fullmatch(line[:5]) is not None and line[5:6] in ("\t", " ")


def descriptor_rows(source: SourceFile) -> Iterator[tuple[int, str, str]]:
    """(line number, code, text) from LONGULT/LONGUT (`CODE<tab>text`) or MEDU/SHORTU (fixed
    width: the code in columns 1-5, a space, the text padded with spaces to 48 or 28)."""
    for number, line in source.rows():
        code = re.split(r"[\t ]", line, maxsplit=1)[0]
        if not CPT_CODE.fullmatch(code):
            raise source.fail(
                number, f"{code[:20]!r} is not a CPT code "
                "(expected CODE, a tab, then the descriptor)"
            )
        text = line[6:].strip()
        if not text:
            raise source.fail(number, f"code {code} has no descriptor")
        yield number, code, text


def _normal(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.lower())


def _unquoted(cell: str) -> str:
    """A cell quoted as a spreadsheet export quotes it (inner quotes doubled), unquoted."""
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':
        return cell[1:-1].replace('""', '"')
    return cell


def is_table_header(line: str) -> bool:
    return any(_normal(cell) in ("cptcode", "code") for cell in line.split("\t"))


def is_table_row(line: str) -> bool:
    cells = line.split("\t")
    return len(cells) >= 3 and CPT_CODE.fullmatch(cells[1].strip()) is not None


def table_rows(
    source: SourceFile, columns: dict[str, tuple[str, ...]]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a tab-separated table as {field: text}. `columns` maps each field to the header
    names it goes by (compared in lower case, letters and digits only), in the AMA's column
    order, which is used when the file has no header row. The `code` field is checked."""
    cells = [_normal(c) for c in source.header_cells()]
    positions: dict[str, int] = {}
    for position, (field, names) in enumerate(columns.items()):
        if not cells:
            positions[field] = position
            continue
        wanted = {_normal(name) for name in names}
        found = next((i for i, cell in enumerate(cells) if cell in wanted), None)
        if found is None:
            at = source.header or 0
            raise source.fail(at + 1, f"no {names[0]!r} column in the header {source.lines[at]!r}")
        positions[field] = found
    needed = max(positions.values()) + 1
    for number, line in source.rows():
        row = [_unquoted(c.strip()) for c in line.split("\t")]
        if len(row) < needed:
            raise source.fail(number, f"expected {needed} tab-separated columns, found {len(row)}")
        values = {field: row[i] for field, i in positions.items()}
        if not CPT_CODE.fullmatch(values["code"]):
            raise source.fail(number, f"{values['code'][:20]!r} is not a CPT code")
        yield number, values


def is_code_list_line(line: str) -> bool:
    return CPT_CODE.fullmatch(re.split(r"[\t ]", line.strip(), maxsplit=1)[0]) is not None


def is_code_list_header(line: str) -> bool:
    return _normal(line.split("\t")[0]) in ("code", "codes", "cptcode", "cptcodes")


def code_list(source: SourceFile) -> list[tuple[int, str]]:
    """(line number, code) from a list of codes, one a line (anything after the code is a
    comment)."""
    out = []
    for number, line in source.rows():
        token = re.split(r"[\t ]", line.strip(), maxsplit=1)[0]
        if not CPT_CODE.fullmatch(token):
            raise source.fail(number, f"{token[:20]!r} is not a CPT code")
        out.append((number, token))
    return out
