"""Importer for the CMS medically unlikely edit (MUE) tables, and the `mue` lookup properties.

The CMS layout: code, MUE value (maximum units), MUE adjudication indicator (`1 Line Edit`,
`2 Date of Service Edit: Policy`, `3 Date of Service Edit: Clinical`, or just the digit), MUE
rationale; tab- or comma-separated, copyright text and a header first. One table per setting
(practitioner, outpatient hospital, DME) and quarter: the quarter's start is the table's
effective date (`--effective`, or `Eff_MM-DD-YYYY` in the CMS file name); a table is in force
from its effective date until the next table of its setting starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from codesystems.cms import definition as cms
from codesystems.cms.files import edit_rows, whole_number
from codesystems.cpt.addons import parse_date
from terminology.errors import ImportFailed
from terminology.model import Property
from terminology.store import Store
from terminology.store.edits import (
    EditTable,
    MueRow,
    add_mue_rows,
    edit_tables,
    mue_row,
    replace_edit_table,
)

_EFFECTIVE_IN_NAME = re.compile(
    r"eff(?:ective)?[_ -]*(\d{1,2})[-_.](\d{1,2})[-_.](\d{4})|eff(?:ective)?[_ -]*"
    r"(\d{4})[-_.]?(\d{2})[-_.]?(\d{2})", re.IGNORECASE)


def setting_from_name(name: str) -> str:
    lowered = name.lower()
    if "outpatient" in lowered or "hospital" in lowered or "oph" in lowered:
        return "outpatient-hospital"
    if "dme" in lowered:
        return "dme"
    return cms.DEFAULT_SETTING


def effective_from_name(name: str) -> str | None:
    """`MCR_MUE_PractitionerServices_Eff_01-01-2026.csv` -> 2026-01-01."""
    match = _EFFECTIVE_IN_NAME.search(name)
    if not match:
        return None
    try:
        if match.group(1):
            return date(int(match.group(3)), int(match.group(1)), int(match.group(2))).isoformat()
        return date(int(match.group(4)), int(match.group(5)), int(match.group(6))).isoformat()
    except ValueError:
        return None


def read_rows(path: Path) -> Iterator[MueRow]:
    """The rows of one MUE file; a bad row raises ImportFailed naming the file and line."""
    seen: dict[str, int] = {}
    for number, cells in edit_rows(path, 3):
        where = f"{Path(path).name} line {number}"
        code = cells[0]
        if code in seen:
            raise ImportFailed(f"{where}: {code} is listed again (first on line {seen[code]})")
        seen[code] = number
        units = whole_number(cells[1], where, "the MUE value")
        indicator_text = cells[2].strip()
        if not indicator_text[:1].isdigit() or int(indicator_text[:1]) not in cms.MUE_INDICATORS:
            raise ImportFailed(f"{where}: adjudication indicator {indicator_text[:30]!r} is not "
                               "1, 2 or 3")
        rationale = cells[3] if len(cells) > 3 and cells[3] else None
        yield MueRow(code, units, int(indicator_text[:1]), rationale)


def import_table(store: Store, path: Path, *, setting: str | None = None,
                 effective: str | None = None, label: str | None = None) -> EditTable:
    """Replace the MUE table of (setting, effective date) with the rows of `path`, in one
    transaction: a bad line leaves the store as it was."""
    path = Path(path)
    setting = setting or setting_from_name(path.name)
    if setting not in cms.MUE_SETTINGS:
        raise ImportFailed(f"{path.name}: setting {setting!r} is not one of "
                           f"{', '.join(cms.MUE_SETTINGS)}")
    start = (parse_date(effective, f"{path.name}: --effective") if effective
             else effective_from_name(path.name)) or ""
    with store.transaction() as tx:
        table_id = replace_edit_table(tx, kind=cms.MUE, setting=setting, effective=start,
                                      label=label or path.stem, source=path.name)
        add_mue_rows(tx, table_id, read_rows(path))
    return next(t for t in edit_tables(store, cms.MUE) if t.id == table_id)


def table_in_force(tables: list[EditTable], setting: str, on_date: str) -> EditTable | None:
    """The newest table of `setting` whose effective date is on or before `on_date`."""
    found = None
    for table in tables:  # oldest first
        if table.setting == setting and table.effective <= on_date:
            found = table
    return found


def tables(store: Store) -> list[EditTable]:
    """The imported MUE tables, oldest first."""
    return edit_tables(store, cms.MUE)


def lookup_properties(store: Store, code: str, mue_tables: list[EditTable],
                      setting: str = cms.DEFAULT_SETTING) -> list[Property]:
    """`mue`, `mue-indicator`, `mue-rationale` of the table in force today, for $lookup."""
    table = table_in_force(mue_tables, setting, date.today().isoformat())
    row = mue_row(store, table.id, code) if table else None
    if row is None:
        return []
    props = [Property("mue", row.units, "integer"),
             Property("mue-indicator", str(row.indicator), "code")]
    if row.rationale:
        props.append(Property("mue-rationale", row.rationale, "string"))
    return props


SAMPLE_FILE = (Path(__file__).parent / "sample"
               / "sample-MCR_MUE_PractitionerServices_Eff_01-01-2025.csv")
