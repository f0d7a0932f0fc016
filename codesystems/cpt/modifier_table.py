"""tx.fhir.org's curated modifier table, `modifiers.csv` (`Code, General, PhysicalStatus,
LevelOne, LevelTwo, HCPCS, Definition`; a `1` flags each kind). It is not an AMA file, but
users of tx.fhir.org's CPT importer have one: when it sits in the release folder it is read
beside MODUL.txt (its kinds added to Appendix A's; Appendix A's wording kept), or instead of
it when the release has no MODUL.txt."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from codesystems.cpt.files import SourceFile, decode, split_lines
from codesystems.cpt.modifiers import Modifier, ModifierFile
from terminology.errors import ImportFailed

FILE_NAME = "modifiers.csv"
KIND_COLUMNS = (("General", "general"), ("PhysicalStatus", "physical-status"),
                ("LevelOne", "cat-1"), ("LevelTwo", "cat-2"), ("HCPCS", "hcpcs"))
SHAPE = re.compile(r"[0-9A-Z]{2}")


def read_modifier_table(path: Path, folder: Path) -> ModifierFile:
    text, encoding = decode(path)
    lines = split_lines(text)
    label = path.relative_to(folder).as_posix()
    source = SourceFile(label, lines, encoding, 1, 0)
    rows = list(csv.reader(lines))
    header = [cell.strip() for cell in rows[0]] if rows else []
    missing = [c for c in ("Code", "Definition", *(k for k, _ in KIND_COLUMNS)) if c not in header]
    if missing:
        raise ImportFailed(f"{label}: the header has no column {', '.join(missing)} "
                           "(expected Code, General, PhysicalStatus, LevelOne, LevelTwo, HCPCS, "
                           "Definition)")
    modifiers: dict[str, Modifier] = {}
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        row = dict(zip(header, (cell.strip() for cell in cells)))
        code, definition = row.get("Code", ""), row.get("Definition", "")
        if not SHAPE.fullmatch(code):
            raise source.fail(number, f"{code[:20]!r} is not a modifier code")
        if code in modifiers:
            raise source.fail(number, f"modifier {code} listed twice")
        if not definition:
            raise source.fail(number, f"modifier {code} has no definition")
        kinds = [kind for column, kind in KIND_COLUMNS if row.get(column) == "1"]
        if not kinds:
            raise source.fail(number, f"modifier {code} has no kind flagged")
        modifiers[code] = Modifier(code, number, definition, kinds)
    if not modifiers:
        raise ImportFailed(f"{label}: no modifiers listed")
    return ModifierFile(source, list(modifiers.values()))


def merged(appendix: ModifierFile | None, table: ModifierFile | None) -> list[Modifier]:
    """Appendix A's modifiers with the table's kinds added, plus any only the table lists."""
    out = {m.code: m for m in (appendix.modifiers if appendix else [])}
    for m in table.modifiers if table else []:
        known = out.get(m.code)
        if known is None:
            out[m.code] = m
        else:
            known.kinds += [k for k in m.kinds if k not in known.kinds]
    return list(out.values())
