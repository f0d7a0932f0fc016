"""Importer for the CMS NCCI procedure-to-procedure (PTP) edit tables, and their ConceptMap.

The CMS layout: column-1 code, column-2 code, `*` if in existence before 1996, effective date,
deletion date (`*` for none; the last day the edit is in force), modifier indicator (0, 1, 9),
PTP edit rationale; tab-separated (or comma-separated when saved from the spreadsheet), with
copyright text and a header first. CMS splits one quarter's table over several files: import
them together (`txserver import cms-ptp f1.txt f2.txt ...`) and they replace the setting's table
in one transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from codesystems.cms import definition as cms
from codesystems.cms.files import edit_rows
from codesystems.cpt import definition as cpt
from codesystems.cpt.addons import parse_date, system_of
from terminology.errors import ImportFailed
from terminology.store import Store
from terminology.store.edits import (
    EditTable,
    PtpRow,
    add_ptp_rows,
    edit_tables,
    iter_ptp_rows,
    replace_edit_table,
)


def setting_from_name(name: str) -> str:
    lowered = name.lower()
    if "hosp" in lowered or "oph" in lowered or "outpatient" in lowered:
        return "hospital"
    return cms.DEFAULT_SETTING


def read_rows(path: Path) -> Iterator[PtpRow]:
    """The rows of one PTP file; a bad row raises ImportFailed naming the file and line."""
    for number, cells in edit_rows(path, 6):
        where = f"{Path(path).name} line {number}"
        column1, column2 = cells[0], cells[1]
        if not cms_code(column2):
            raise ImportFailed(f"{where}: column 2 {column2[:20]!r} is not a CPT or HCPCS code")
        if cells[2] not in ("", "*", "Y", "y"):
            raise ImportFailed(f"{where}: the pre-1996 flag {cells[2][:10]!r} is not * or empty")
        effective = parse_date(cells[3], where)
        deleted = parse_date(cells[4], where)
        if effective and deleted and deleted < effective:
            raise ImportFailed(f"{where}: deleted {deleted} before taking effect {effective}")
        indicator = cells[5].strip()
        if indicator not in ("0", "1", "9"):
            raise ImportFailed(f"{where}: modifier indicator {indicator[:10]!r} is not 0, 1 "
                               "or 9")
        rationale = cells[6] if len(cells) > 6 and cells[6] else None
        yield PtpRow(column1, column2, effective, deleted, int(indicator),
                     cells[2] in ("*", "Y", "y"), rationale)


def cms_code(text: str) -> bool:
    return len(text) == 5 and text.isalnum() and text.upper() == text


def import_tables(store: Store, paths: Sequence[Path], *, setting: str | None = None,
                  label: str | None = None) -> EditTable:
    """Replace the setting's PTP table with the rows of all `paths`, in one transaction."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ImportFailed("no PTP files given")
    settings = {setting or setting_from_name(p.name) for p in paths}
    if len(settings) > 1:
        raise ImportFailed(f"the files are of different settings ({', '.join(sorted(settings))})"
                           ": import each setting on its own, or name it with --setting")
    chosen = settings.pop()
    if chosen not in cms.PTP_SETTINGS:
        raise ImportFailed(f"setting {chosen!r} is not one of {', '.join(cms.PTP_SETTINGS)}")

    def rows() -> Iterator[PtpRow]:
        for path in paths:
            yield from read_rows(path)

    with store.transaction() as tx:
        table_id = replace_edit_table(tx, kind=cms.PTP, setting=chosen, effective="",
                                      label=label or paths[0].stem,
                                      source=", ".join(p.name for p in paths))
        add_ptp_rows(tx, table_id, rows())
    return next(t for t in edit_tables(store, cms.PTP) if t.id == table_id)


def in_force(row: PtpRow, on_date: str) -> bool:
    return (row.effective or "") <= on_date and (row.deleted is None or on_date <= row.deleted)


def concept_map(store: Store, setting: str) -> dict[str, Any] | None:
    """The setting's PTP table as a ConceptMap: each column-1 code mapped to its column-2 codes
    (`relatedto`, the edit's dates, modifier indicator and rationale in the comment)."""
    table = next((t for t in edit_tables(store, cms.PTP) if t.setting == setting), None)
    if table is None:
        return None
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in iter_ptp_rows(store, table.id):
        comment = (f"Column 2 of {row.column1}: not reported with it for one patient on one "
                   f"date. Modifier indicator {row.modifier}: "
                   f"{cms.PTP_MODIFIER_INDICATORS[row.modifier]}")
        if row.effective:
            comment += f"; in force from {row.effective}"
        if row.deleted:
            comment += f" to {row.deleted}"
        if row.rationale:
            comment += f"; rationale: {row.rationale}"
        elements = groups.setdefault((system_of(row.column1), system_of(row.column2)), {})
        element = elements.setdefault(row.column1, {"code": row.column1, "target": []})
        element["target"].append({"code": row.column2, "equivalence": "relatedto",
                                  "comment": comment})
    sample = table.source.startswith("sample-")
    return {
        "resourceType": "ConceptMap",
        "id": cms.PTP_MAP_ID.format(setting=setting),
        "url": cms.PTP_MAP_URL.format(setting=setting),
        "version": table.label,
        "name": "CmsPtpEdits" + "".join(w.title() for w in setting.split("-")),
        "title": f"CMS NCCI procedure-to-procedure edits, {cms.PTP_SETTINGS[setting]}"
                 + (" (sample)" if sample else ""),
        "status": "active",
        "experimental": sample,
        "date": table.imported_at,
        "publisher": "Centers for Medicare & Medicaid Services (edits); map by txserver",
        "description": "Each column-1 code mapped to the column-2 codes CMS does not pay with it "
                       "for one patient on one date, unless the edit's modifier indicator is 1 "
                       f"and an NCCI-associated modifier is reported. Imported from "
                       f"{table.source}.",
        "copyright": cpt.COPYRIGHT,
        "group": [{"source": source, "target": target, "element": list(elements.values())}
                  for (source, target), elements in groups.items()],
    }


SAMPLE_FILE = Path(__file__).parent / "sample" / "sample-ccipra-v321r0-f1.txt"


# The setting tables as FHIR resources, for server.py to publish: {"ConceptMap/id": build(store)}
FHIR_RESOURCES = {
    f"ConceptMap/{cms.PTP_MAP_ID.format(setting=setting)}":
        functools.partial(concept_map, setting=setting)
    for setting in cms.PTP_SETTINGS
}
