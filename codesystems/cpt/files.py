"""Reading code-set source files line by line, with errors that name the file and the line.

Shared by the CPT and CMS importers: UTF-8 (with or without BOM; cp1252 as a fallback for old
releases), tab- or space-separated, an optional header row detected rather than assumed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from terminology.errors import ImportFailed

CODE_SHAPE = re.compile(r"^[0-9A-Z]{4,5}$")
MODIFIER_SHAPE = re.compile(r"^[0-9A-Z]{2}$")


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise ImportFailed(f"{path.name}: not a text file (binary content)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="strict")


def find(folder: Path, name: str) -> Path | None:
    """`name` in `folder`, matched case-insensitively (AMA folders vary in case)."""
    wanted = name.lower()
    for child in folder.iterdir():
        if child.is_file() and child.name.lower() == wanted:
            return child
    return None


def code_text_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line number, code, text) from a `CODE<tab>text` (or `CODE text`) descriptor file."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" in line:
            code, _, text = line.partition("\t")
        else:
            code, _, text = line.strip().partition(" ")
        code, text = code.strip(), text.strip()
        if not CODE_SHAPE.match(code):
            raise ImportFailed(
                f"{path.name} line {number}: {code[:20]!r} is not a CPT code "
                "(expected CODE, a tab, then the descriptor)"
            )
        if not text:
            raise ImportFailed(f"{path.name} line {number}: code {code} has no descriptor")
        yield number, code, text


def table_rows(path: Path, min_columns: int) -> Iterator[tuple[int, list[str]]]:
    """Rows of a tab-separated table; a first row without a code-like first cell is a header."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if number == 1 and not any(CODE_SHAPE.match(c) for c in cells[:2]):
            continue
        if len(cells) < min_columns:
            raise ImportFailed(
                f"{path.name} line {number}: expected {min_columns} tab-separated columns, "
                f"found {len(cells)}"
            )
        yield number, cells


def csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(read_text(path)))
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise ImportFailed(f"{path.name} line {number}: more columns than the header names")
        yield number, {k.strip(): (v or "").strip() for k, v in row.items() if k}


def code_list(path: Path) -> set[str]:
    """A list of codes, one a line (anything after the code is ignored)."""
    codes: set[str] = set()
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        token = line.strip().split("\t")[0].split(" ")[0].strip() if line.strip() else ""
        if not token:
            continue
        if not CODE_SHAPE.match(token):
            if number == 1:
                continue  # a header
            raise ImportFailed(f"{path.name} line {number}: {token[:20]!r} is not a CPT code")
        codes.add(token)
    return codes
