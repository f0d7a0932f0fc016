"""The CMS/CDC ICD-10 order file (`icd10cm_order_YYYY.txt`, `icd10pcs_order_YYYY.txt`), read the
same way for ICD-10-CM and ICD-10-PCS: fixed width, one code a line in tabular order.

Columns, counted from 1 (CMS's `icd10OrderFiles.pdf`): the order number in 1-5 (zero-filled), the
code without its dot in 7-13 (left-justified), the flag in 15 (1: valid for HIPAA-covered
transactions; 0: a header, not valid on a claim), the short description in 17-76 (60 characters
at most) and the long description from 78 to the end of the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from codesystems.sources import column, numbered, read_text
from terminology.errors import ImportFailed
from terminology.numbers import is_digits

# what a line of an order file looks like, to tell one from the other files of a release
ORDER_LINE = re.compile(r"^[0-9]{5} [0-9A-Z]{3}[0-9A-Z ]{4} [01] \S")


@dataclass(frozen=True, slots=True)
class OrderRow:
    where: str  # "name line N"
    code: str  # as in the file: no dot
    valid: bool  # flag 1; a header row (flag 0) is not valid on a claim
    short: str
    long: str


@dataclass(frozen=True, slots=True)
class OrderFile:
    name: str
    rows: list[OrderRow]
    encoding: str

    @property
    def valid_count(self) -> int:
        return sum(1 for row in self.rows if row.valid)

    def describe(self) -> str:
        """What the file gave, for the import summary."""
        return (f"{self.name}: order file, {len(self.rows):,} rows ({self.valid_count:,} valid "
                f"codes, {len(self.rows) - self.valid_count:,} headers), {self.encoding}")


def parent_links(codes: list[str]) -> list[tuple[str, str]]:
    """(parent, child) for the codes of an order file: each code sits below the longest other
    code of the file that it starts with (a header row of the same table or category)."""
    known = set(codes)
    links = []
    for code in codes:
        parent = next((code[:n] for n in range(len(code) - 1, 2, -1) if code[:n] in known), None)
        if parent is not None:
            links.append((parent, code))
    return links


def is_order_line(line: str) -> bool:
    return bool(ORDER_LINE.match(line))


def read_order_file(path: Path, code_shape: re.Pattern[str], system: str) -> OrderFile:
    """Every row of an order file; ImportFailed names the file and line of the first defect."""
    path = Path(path)
    lines, encoding = read_text(path)
    rows: list[OrderRow] = []
    lines_of: dict[str, str] = {}
    for where, line in numbered(path, lines):
        if len(line) < 17 or not is_digits(column(line, 1, 5)) or line[5] != " " or \
                line[13] != " " or line[15] != " ":
            raise ImportFailed(f"{where}: not a row of the {system} order file (order number "
                               "in columns 1-5, code in 7-13, flag in 15, descriptions from 17)")
        code, flag = column(line, 7, 13), line[14]
        short, long = column(line, 17, 76), column(line, 78)
        if not code_shape.match(code):
            raise ImportFailed(f"{where}: {code!r} is not an {system} code")
        if flag not in "01":
            raise ImportFailed(f"{where}: the flag in column 15 is {flag!r}, not 0 (header) or "
                               "1 (valid code)")
        if not short and not long:
            raise ImportFailed(f"{where}: code {code} has no description")
        if code in lines_of:
            raise ImportFailed(f"{where}: code {code} is listed twice (first on "
                               f"{lines_of[code]})")
        lines_of[code] = where
        rows.append(OrderRow(where, code, flag == "1", short, long))
    if not rows:
        raise ImportFailed(f"{path.name}: no codes in the file")
    return OrderFile(path.name, rows, encoding)
