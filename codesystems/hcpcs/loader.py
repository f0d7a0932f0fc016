"""Importer of the CMS HCPCS Level II alpha-numeric file (`HCPC<YYYY>_<MON>_ANWEB*.txt`).

The record layout (fixed width, columns counted from 1): the code in 1-5 (a modifier sits in
4-5), a sequence number in 6-10, the record id in 11 (3 a procedure's first line, 4 its
continuation; 7 a modifier's first line, 8 its continuation), the long description in 12-91
(continued over the 4 and 8 lines), the short description in 92-119; on first lines also the
coverage code (230), BETOS (257-259), the dates added (269-276), of the action (277-284) and of
termination (285-292), and the action code (293).

The files of some years (2018, 2019) open with a notice block (`***Disclaimers`, lines padded
with tabs, non-breaking spaces in latin-1): every line before the first one shaped like a record
(a code, then a five-digit sequence number) is that preamble, counted in the summary; after it,
every line must be a record. Files are read as UTF-8 when they are, else cp1252 / latin-1.

`read_anweb` is pure parsing (ImportFailed names the file and line of the first defect);
`import_anweb` stores the result in one transaction. D codes (CDT, the ADA's content) keep no
descriptor: their display is a note saying it is not included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from codesystems.hcpcs import definition as hcpcs
from codesystems.sources import (
    ParsedCodeSystem,
    Progress,
    column,
    first_line,
    not_read,
    numbered,
    read_chosen,
    read_text,
    store_code_system,
    year_in_name,
)
from terminology.errors import ImportFailed
from terminology.model import Concept, Designation, Property
from terminology.numbers import is_digits
from terminology.store import Store

PROCEDURE_SHAPE = re.compile(r"^[A-Z][0-9]{4}$")
MODIFIER_SHAPE = re.compile(r"^[0-9A-Z]{2}$")
RELEASE_IN_NAME = re.compile(r"HCPCS?[_-]?([0-9]{4})(?:[_-]([A-Z]+))?", re.IGNORECASE)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
RECORD_LIKE = re.compile(r"^[ 0-9A-Z]{5}[0-9]{5}")  # a code, then the sequence number
FIRST_LINES = {"3": "4", "7": "8"}  # first-line record id -> its continuation record id
DETAIL_WIDTH = 293  # first lines this long carry the coverage code, dates and action code
SAMPLE_FILE = Path(__file__).parent / "sample" / "HCPC2026_JAN_ANWEB_sample.txt"


@dataclass
class _Record:
    code: str
    where: str  # the file and line of its first line
    modifier: bool
    long: list[str]
    short: str
    details: list[Property] = field(default_factory=list)
    terminated: str | None = None


@dataclass
class _Lines:
    """What the file held besides its records, for the summary."""

    encoding: str
    preamble: int = 0  # lines before the first record (blank ones too)
    preamble_opening: str = ""  # the first words of the notice block
    continuations: int = 0


def _month(word: str | None) -> int | None:
    """JAN, Apr, JULY -> 1, 4, 7; anything else (CONTR, ANWEB) -> None."""
    if not word or len(word) < 3:
        return None
    return next((n for n, name in enumerate(MONTHS, start=1) if name.startswith(word.lower())),
                None)


def version_of(path: Path, version: str | None) -> str:
    """The release: as given, else from the file name: HCPC2026_JAN_ANWEB.txt -> 2026-01 (the
    quarter's month), a name with a year but no month (HCPC2019_CONTR_ANWEB.txt) -> 2019."""
    if version:
        if not re.fullmatch(r"[0-9]{4}(-[0-9]{2})?", version):
            raise ImportFailed(f"version {version!r} is not a release such as 2026-01 or 2026")
        return version
    found = RELEASE_IN_NAME.search(path.name)
    month = _month(found.group(2)) if found else None
    if found and month:
        return f"{found.group(1)}-{month:02d}"
    year = found.group(1) if found else year_in_name(path.name)
    if not year:
        raise ImportFailed(f"{path.name}: no release in the file name (HCPC2026_JAN_ANWEB.txt); "
                           "give the version (e.g. 2026-01)")
    return year


def start_of(version: str) -> str:
    """A release is in force from the first day of its month (of January for a bare year)."""
    return f"{version}-01" if "-" in version else f"{version}-01-01"


def _date(text: str, where: str, name: str) -> str | None:
    if not text:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
    except ValueError:
        raise ImportFailed(f"{where}: the {name} {text!r} is not a date (YYYYMMDD)") from None


def _details(line: str, where: str) -> tuple[list[Property], str | None]:
    """The administrative fields of a first line (when the line is that long)."""
    if len(line.rstrip()) < 230:
        return [], None
    padded = line.ljust(DETAIL_WIDTH)
    out: list[Property] = []
    for name, text in (("coverage", column(padded, 230, 230)),
                       ("betos", column(padded, 257, 259))):
        if text:
            out.append(Property(name, text, "code"))
    terminated = None
    for name, first, last in (("add-date", 269, 276), ("action-effective-date", 277, 284),
                              ("termination-date", 285, 292)):
        value = _date(column(padded, first, last), where, name)
        if value:
            out.append(Property(name, value, "date"))
            if name == "termination-date":
                terminated = value
    action = column(padded, 293, 293)
    if action:
        out.append(Property("action", action, "code"))
    return out, terminated


def _records(path: Path) -> tuple[list[_Record], _Lines]:
    lines, encoding = read_text(path)
    records: list[_Record] = []
    seen: dict[str, str] = {}
    info = _Lines(encoding)
    for where, line in numbered(path, lines):
        if not records and not RECORD_LIKE.match(line):  # the notice block before the records
            info.preamble_opening = info.preamble_opening or " ".join(line.split())[:40]
            continue
        if not records:
            info.preamble = int(where.rsplit(" ", 1)[1]) - 1
        code, sequence, record_id = column(line, 1, 5), column(line, 6, 10), line[10:11]
        if len(line) < 12 or not is_digits(sequence) or record_id not in "3478" or not code:
            raise ImportFailed(f"{where}: not a record of the HCPCS file (code in columns 1-5, "
                               "sequence number in 6-10, record id 3, 4, 7 or 8 in 11)")
        text = column(line, 12, 91)
        if record_id in FIRST_LINES:
            modifier = record_id == "7"
            shape = MODIFIER_SHAPE if modifier else PROCEDURE_SHAPE
            if not shape.match(code):
                kind = "modifier (two characters)" if modifier else "HCPCS Level II code (A0428)"
                raise ImportFailed(f"{where}: {code!r} is not a {kind}")
            if code in seen:
                raise ImportFailed(f"{where}: {code} is listed twice (first on {seen[code]})")
            seen[code] = where
            details, terminated = _details(line, where)
            records.append(_Record(code, where, modifier, [text] if text else [],
                                   column(line, 92, 119), details, terminated))
            continue
        last = records[-1] if records else None
        if last is None or last.code != code or FIRST_LINES["7" if last.modifier else "3"] \
                != record_id:
            raise ImportFailed(f"{where}: a continuation line (record id {record_id}) of {code} "
                               "that does not follow its first line")
        info.continuations += 1
        if text:
            last.long.append(text)
    if not records:
        raise ImportFailed(f"{path.name}: no HCPCS records in the file (a record: code in "
                           "columns 1-5, sequence number in 6-10, record id 3, 4, 7 or 8 in 11)")
    return records, info


def _concept(record: _Record, starts: str) -> Concept:
    inactive = record.terminated is not None and record.terminated < starts
    properties = [Property("modifier", record.modifier, "boolean")]
    if record.code.startswith("D") and not record.modifier:
        properties.append(Property("cdt", True, "boolean"))
        return Concept(code=record.code, display=hcpcs.CDT_NOTE, inactive=inactive,
                       properties=tuple(properties + record.details))
    long = " ".join(" ".join(record.long).split())  # also turns non-breaking spaces to spaces
    if not long and not record.short:
        raise ImportFailed(f"{record.where}: {record.code} has no description")
    designations: tuple[Designation, ...] = ()
    if record.short and record.short.casefold() != long.casefold():
        designations = (Designation(record.short, "en", hcpcs.SHORT),)
    return Concept(code=record.code, display=long or record.short, inactive=inactive,
                   designations=designations, properties=tuple(properties + record.details))


def read_anweb(path: Path, version: str | None = None, sample: bool = False) -> ParsedCodeSystem:
    path = Path(path)
    version = version_of(path, version)
    starts = start_of(version)
    records, info = _records(path)
    concepts = [_concept(r, starts) for r in records]
    modifiers = sum(1 for r in records if r.modifier)
    inactive = sum(1 for c in concepts if c.inactive)
    read = [f"{path.name}: {len(records) - modifiers:,} codes and {modifiers:,} modifiers "
            f"({len(records) + info.continuations:,} record lines, {info.continuations:,} of "
            f"them continuations), {info.encoding}"
            + (f"; {inactive:,} terminated before {starts}, stored inactive" if inactive else "")]
    skipped = []
    if info.preamble:
        skipped.append(f"lines 1-{info.preamble} of {path.name}, before the first record: the "
                       f"notice block {info.preamble_opening!r}")
    cdt = sum(1 for r in records if r.code.startswith("D") and not r.modifier)
    if cdt:
        skipped.append(f"the descriptors of {cdt:,} D codes (CDT, the American Dental "
                       "Association's): stored with a note instead")
    return ParsedCodeSystem(
        url=hcpcs.URL,
        version=version,
        resource_id=hcpcs.resource_id(version),
        resource=hcpcs.code_system_resource(version, starts, sample),
        concepts=concepts,
        provider=hcpcs.PROVIDER_KEY,
        effective_date=starts,
        files=[path.name],
        indexed_properties=("modifier", "cdt", "coverage", "betos", "action"),
        read=read,
        skipped=skipped,
    )


def _why_not_anweb(path: Path) -> str | None:
    """None for the ANWEB record file of a CMS HCPCS zip, else why the file is not it."""
    if path.suffix.lower() in (".xlsx", ".xls"):
        return "the records as a spreadsheet; the text file beside it is read"
    if path.suffix.lower() != ".txt":
        return not_read(path)
    line = first_line(path)
    if "anweb" in path.name.lower() or RECORD_LIKE.match(line) or line.startswith("***"):
        return None
    return "not the ANWEB record file (its first line is not a record)"


def read_source(path: Path, version: str | None = None) -> ParsedCodeSystem:
    """The ANWEB file at `path`, or the one in the folder or zip `path` (the others named)."""
    return read_chosen(path, "HCPCS ANWEB text file", _why_not_anweb,
                       lambda found: read_anweb(found, version))


def import_anweb(store: Store, path: Path, version: str | None = None,
                 progress: Progress | None = None, sample: bool = False) -> ParsedCodeSystem:
    """Parse, then store in one transaction. Raises ImportFailed (nothing changed)."""
    parsed = read_anweb(path, version, sample)
    store_code_system(store, parsed, progress)
    return parsed
