"""Importer for the CMS add-on code edit file: add-on code -> primary codes, as a ConceptMap.

CMS publishes the edits each quarter as `AOC_V<YYYY>Q<n>-MCR.txt` (tab-separated) and `.xlsx`,
both in one `.zip`: the AMA notice on row 1, the header on row 2, then one row per edit, columns
`AOC_Edit_Type, Add-On_Code, AOC_DelDT, Primary_Code, Primary_Code_DelDT, AOC_Edit_EffDT,
AOC_Edit_DelDT, Special_Instruction_Notes`. Dates are Julian `YYYYDDD` (year, day of the year),
blank for none; primary `CCCCC` means the contractor defines the primaries (type 2). Columns are
read by name (codesystems/cms/tables.py), so their order and spelling may vary.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codesystems.cms.tables import (
    Column,
    ImportSummary,
    Row,
    code_cell,
    is_sample,
    parse_date,
    read_tables,
    required,
)
from codesystems.cpt import definition as cpt
from terminology.errors import ImportFailed
from terminology.store import MapElement, Store

HCPCS_URL = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CONTRACTOR_DEFINED = "CCCCC"
EDIT_TYPES = {
    1: "Type 1: paid only with one of the listed primary codes",
    2: "Type 2: primary codes are defined by each Medicare contractor",
    3: "Type 3: some primary codes listed; contractors may define others",
}
_TYPE_NAMES = {"1": 1, "2": 2, "3": 3, "i": 1, "ii": 2, "iii": 3}  # older files: Type I, II, III
_FORMAT = r"(julian|yyyyddd|ccyyddd)?"  # `AOC_DelDT (Julian)`, `... Date (YYYYDDD)`
_DATE = r"del(etion)?(dt|date)?" + _FORMAT

ADDON = Column("addon", "Add-On_Code", r"(addon|aoc)(code)?", code=True)
PRIMARY = Column("primary", "Primary_Code", r"primary(code)?", code=True)
EDIT_TYPE = Column("type", "AOC_Edit_Type", r"(aoc)?(edit)?type")
ADDON_DELETED = Column("addon_deleted", "AOC_DelDT", r"(aoc|addon(code)?)" + _DATE,
                       required=False)
PRIMARY_DELETED = Column("primary_deleted", "Primary_Code_DelDT", r"primary(code)?" + _DATE,
                         required=False)
EFFECTIVE = Column("effective", "AOC_Edit_EffDT", r"(aoc)?(edit)?eff(ective)?(dt|date)?" + _FORMAT,
                   required=False)
ENDED = Column("ended", "AOC_Edit_DelDT", r"(aoc)?edit" + _DATE, required=False)
NOTES = Column("notes", "Special_Instruction_Notes", r"(special)?(instruction)?notes?",
               required=False)
COLUMNS = (ADDON, PRIMARY, EDIT_TYPE, ADDON_DELETED, PRIMARY_DELETED, EFFECTIVE, ENDED, NOTES)


def system_of(code: str) -> str:
    """CPT for `NNNNN` / `NNNN[AFTUM]`, HCPCS Level II for a letter and four digits."""
    return HCPCS_URL if code[:1].isalpha() else cpt.URL


def version_from_name(path: Path) -> str:
    """`AOC_V2026Q2-MCR.txt` -> `2026Q2`; else the file's stem."""
    found = re.search(r"V(\d{4}Q\d)", Path(path).name, re.IGNORECASE)
    return found.group(1).upper() if found else Path(path).stem


def edit_element(row: Row) -> MapElement:
    """One edit row as a map element (add-on code -> primary code), its dates in `extra`."""
    addon = code_cell(row, ADDON)
    primary = code_cell(row, PRIMARY, also=(CONTRACTOR_DEFINED,))
    edit_type = _TYPE_NAMES.get(re.sub(r"^type\s*", "", required(row, EDIT_TYPE).lower()))
    if edit_type is None:
        raise ImportFailed(f"{row.where}: edit type {row['type'][:20]!r} is not 1, 2 or 3")
    extra: dict[str, Any] = {
        "type": edit_type,
        "addon_deleted": parse_date(row["addon_deleted"], row.where),
        "primary_deleted": parse_date(row["primary_deleted"], row.where),
        "effective": parse_date(row["effective"], row.where),
        "ended": parse_date(row["ended"], row.where),
    }
    comment = EDIT_TYPES[edit_type]
    if extra["effective"]:
        comment += f"; edit effective {extra['effective']}"
    if extra["ended"]:
        comment += f"; edit ended {extra['ended']}"
    if row["notes"]:
        comment += f"; {row['notes']}"
    contractor = primary == CONTRACTOR_DEFINED
    return MapElement(
        source_system=system_of(addon),
        source_code=addon,
        target_system=None if contractor else system_of(primary),
        target_code=None if contractor else primary,
        equivalence="relatedto",
        comment=comment,
        extra=extra,
    )


def read_edits(path: Path, summary: ImportSummary | None = None) -> list[MapElement]:
    """Every edit of an add-on code edit file (.txt, .xlsx or the .zip CMS ships)."""
    summary = summary or ImportSummary("CMS add-on code edits")
    elements: list[MapElement] = []
    for table in read_tables(Path(path), COLUMNS, "add-on code edit table", summary):
        for row in table.rows(summary):
            element = edit_element(row)
            elements.append(element)
            extra = element.extra or {}
            summary.count(summary.remarks, f"edits of type {extra['type']}")
            if extra["ended"]:
                summary.count(summary.remarks, "edits that have ended (AOC_Edit_DelDT given)")
    if not elements:
        raise ImportFailed(f"{Path(path).name}: no add-on code edits found")
    return elements


def concept_map_resource(version: str, sample: bool) -> dict[str, Any]:
    return {
        "resourceType": "ConceptMap",
        "id": cpt.ADDON_MAP_ID,
        "url": cpt.ADDON_MAP_URL,
        "version": version,
        "name": "CmsAddOnCodeEdits",
        "title": "CMS add-on code edits: add-on code to its primary codes"
        + (" (sample)" if sample else ""),
        "status": "active",
        "experimental": sample,
        "publisher": "Centers for Medicare & Medicaid Services (edits); map by txserver",
        "description": "Each add-on code mapped to the primary procedure codes it may be "
        "reported with, from the CMS add-on code edit file. Type 1: only with a listed primary; "
        "Type 2: contractor-defined primaries; Type 3: listed primaries, contractors may add.",
        "copyright": cpt.COPYRIGHT,
        "sourceUri": cpt.URL,
        "targetUri": cpt.URL,
    }


def import_edits(store: Store, path: Path, version: str | None = None) -> ImportSummary:
    """Replace the stored add-on edits with those of `path`, in one transaction: a file that
    cannot be read leaves the store as it was."""
    path = Path(path)
    label = version or version_from_name(path)
    summary = ImportSummary(f"CMS add-on code edits {label}")
    elements = read_edits(path, summary)
    with store.transaction() as tx:
        tx.replace_concept_map(
            url=cpt.ADDON_MAP_URL,
            version=label,
            resource_id=cpt.ADDON_MAP_ID,
            resource=concept_map_resource(label, is_sample(path)),
            elements=elements,
        )
    summary.stored = len(elements)
    return summary


SAMPLE_FILE = Path(__file__).parent.parent / "cms" / "sample" / "AOC_V2026Q2-MCR.txt"
