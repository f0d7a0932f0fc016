"""Importer for the CMS add-on code edit file: add-on code -> primary codes, as a ConceptMap.

CMS publishes the edits quarterly (public, but the codes are CPT): columns add-on code, primary
code (`CCCCC` = defined by the contractor), add-on deletion date, primary deletion date, edit
effective date, edit deletion date, edit type (1, 2, 3), notes. Dates are Julian `YYYYDDD`,
`YYYYMMDD`, `MM/DD/YYYY` or ISO; `*` or empty means none.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from codesystems.cpt import definition as cpt
from codesystems.cpt.files import read_text
from terminology.errors import ImportFailed
from terminology.store import MapElement, Store

HCPCS_URL = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CONTRACTOR_DEFINED = "CCCCC"
EDIT_TYPES = {
    "1": "Type 1: paid only with one of the listed primary codes",
    "2": "Type 2: primary codes are defined by each Medicare contractor",
    "3": "Type 3: some primary codes listed; contractors may define others",
}
_CODE = re.compile(r"^[0-9A-Z]{5}$")


def parse_date(text: str, where: str) -> str | None:
    """A CMS date cell as ISO `YYYY-MM-DD`, or None for `*` / empty."""
    text = text.strip()
    if text in ("", "*"):
        return None
    try:
        if re.fullmatch(r"\d{7}", text):
            day = date(int(text[:4]), 1, 1) + timedelta(days=int(text[4:]) - 1)
            if day.year != int(text[:4]):
                raise ValueError
            return day.isoformat()
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            m, d, y = text.split("/")
            return date(int(y), int(m), int(d)).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ImportFailed(f"{where}: {text!r} is not a date (expected YYYYDDD or *)") from None


def system_of(code: str) -> str:
    """CPT for `NNNNN` / `NNNN[AFTUM]`, HCPCS Level II for a letter and four digits."""
    return HCPCS_URL if code[:1].isalpha() else cpt.URL


def read_edits(path: Path) -> list[MapElement]:
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    text = read_text(path)
    delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    elements: list[MapElement] = []
    for number, cells in enumerate(rows, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if number == 1 and not _CODE.match(cells[0]):
            continue  # header
        where = f"{path.name} line {number}"
        if len(cells) < 7:
            raise ImportFailed(f"{where}: expected at least 7 columns, found {len(cells)}")
        addon, primary, edit_type = cells[0], cells[1], cells[6]
        if not _CODE.match(addon):
            raise ImportFailed(f"{where}: {addon[:20]!r} is not an add-on code")
        if not _CODE.match(primary):
            raise ImportFailed(f"{where}: {primary[:20]!r} is not a primary code or CCCCC")
        if edit_type not in EDIT_TYPES:
            raise ImportFailed(f"{where}: edit type {edit_type!r} is not 1, 2 or 3")
        extra: dict[str, Any] = {
            "type": int(edit_type),
            "addon_deleted": parse_date(cells[2], where),
            "primary_deleted": parse_date(cells[3], where),
            "effective": parse_date(cells[4], where),
            "ended": parse_date(cells[5], where),
        }
        note = cells[7] if len(cells) > 7 and cells[7] else None
        comment = EDIT_TYPES[edit_type]
        if extra["effective"]:
            comment += f"; edit effective {extra['effective']}"
        if extra["ended"]:
            comment += f"; edit ended {extra['ended']}"
        if note:
            comment += f"; {note}"
        contractor = primary == CONTRACTOR_DEFINED
        elements.append(
            MapElement(
                source_system=cpt.URL if system_of(addon) == cpt.URL else HCPCS_URL,
                source_code=addon,
                target_system=None if contractor else system_of(primary),
                target_code=None if contractor else primary,
                equivalence="relatedto",
                comment=comment,
                extra=extra,
            )
        )
    if not elements:
        raise ImportFailed(f"{path.name}: no add-on code edits found")
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


def import_edits(store: Store, path: Path, version: str | None = None) -> int:
    """Replace the stored add-on edits with those of `path`; returns the number of edits."""
    path = Path(path)
    elements = read_edits(path)
    sample = path.parent.name == "sample" and path.parent.parent.name == "cpt"
    with store.transaction() as tx:
        tx.replace_concept_map(
            url=cpt.ADDON_MAP_URL,
            version=version or path.stem,
            resource_id=cpt.ADDON_MAP_ID,
            resource=concept_map_resource(version or path.stem, sample),
            elements=elements,
        )
    return len(elements)


SAMPLE_FILE = Path(__file__).parent / "sample" / "cms-addon-edits.txt"
