"""Importer of the CMS HCPCS Level II alpha-numeric file (`HCPC<YYYY>_<MON>_ANWEB*.txt`).

The record layout (fixed width, columns counted from 1): the code in 1-5 (a modifier sits in
4-5), a sequence number in 6-10, the record id in 11 (3 a procedure's first line, 4 its
continuation; 7 a modifier's first line, 8 its continuation), the long description in 12-91
(continued over the 4 and 8 lines), the short description in 92-119; on first lines also the
coverage code (230), BETOS (257-259), the dates added (269-276), of the action (277-284) and of
termination (285-292), and the action code (293).

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
    numbered_lines,
    store_code_system,
)
from terminology.errors import ImportFailed
from terminology.model import Concept, Designation, Property
from terminology.store import Store

PROCEDURE_SHAPE = re.compile(r"^[A-Z][0-9]{4}$")
MODIFIER_SHAPE = re.compile(r"^[0-9A-Z]{2}$")
RELEASE_IN_NAME = re.compile(r"HCPC([0-9]{4})_([A-Z]{3})", re.IGNORECASE)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
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


def version_of(path: Path, version: str | None) -> str:
    """The release: as given, else from the file name (HCPC2026_JAN_ANWEB.txt -> 2026-01)."""
    if version:
        if not re.fullmatch(r"[0-9]{4}(-[0-9]{2})?", version):
            raise ImportFailed(f"version {version!r} is not a release such as 2026-01 or 2026")
        return version
    found = RELEASE_IN_NAME.search(path.name)
    if not found or found.group(2).upper() not in MONTHS:
        raise ImportFailed(f"{path.name}: no release in the file name (HCPC2026_JAN_ANWEB.txt); "
                           "give the version (e.g. 2026-01)")
    return f"{found.group(1)}-{MONTHS.index(found.group(2).upper()) + 1:02d}"


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


def _records(path: Path) -> list[_Record]:
    records: list[_Record] = []
    seen: dict[str, str] = {}
    for where, line in numbered_lines(path):
        code, sequence, record_id = column(line, 1, 5), column(line, 6, 10), line[10:11]
        if len(line) < 12 or not sequence.isdigit() or record_id not in "3478" or not code:
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
        if text:
            last.long.append(text)
    if not records:
        raise ImportFailed(f"{path.name}: no HCPCS records in the file")
    return records


def _concept(record: _Record, starts: str) -> Concept:
    inactive = record.terminated is not None and record.terminated < starts
    properties = [Property("modifier", record.modifier, "boolean")]
    if record.code.startswith("D") and not record.modifier:
        properties.append(Property("cdt", True, "boolean"))
        return Concept(code=record.code, display=hcpcs.CDT_NOTE, inactive=inactive,
                       properties=tuple(properties + record.details))
    long = " ".join(" ".join(record.long).split())
    if not long and not record.short:
        raise ImportFailed(f"{record.where}: {record.code} has no description")
    designations = ()
    if record.short and record.short.casefold() != long.casefold():
        designations = (Designation(record.short, "en", hcpcs.SHORT),)
    return Concept(code=record.code, display=long or record.short, inactive=inactive,
                   designations=designations, properties=tuple(properties + record.details))


def read_anweb(path: Path, version: str | None = None, sample: bool = False) -> ParsedCodeSystem:
    path = Path(path)
    version = version_of(path, version)
    starts = start_of(version)
    concepts = [_concept(r, starts) for r in _records(path)]
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
    )


def import_anweb(store: Store, path: Path, version: str | None = None,
                 progress: Progress | None = None, sample: bool = False) -> ParsedCodeSystem:
    """Parse, then store in one transaction. Raises ImportFailed (nothing changed)."""
    parsed = read_anweb(path, version, sample)
    store_code_system(store, parsed, progress)
    return parsed
