"""Importer for the CMS medically unlikely edit (MUE) tables, and the `mue` lookup properties.

CMS publishes one table per setting (practitioner, outpatient hospital, DME supplier) and
quarter, as `MCR_MUE_PractitionerServices_Eff_01-01-2026.csv` and `.xlsx` (in a `.zip`): a quoted
notice, then the header `HCPCS/CPT Code, Practitioner Services MUE Values, MUE Adjudication
Indicator, MUE Rationale`, then one row per code. The indicator reads `1 Line Edit`,
`2 Date of Service Edit: Policy` or `3 Date of Service Edit: Clinical` (or just the digit).
Columns are read by name (tables.py). The quarter's start is the table's effective date
(`--effective`, or `Eff_MM-DD-YYYY` in the file name); a table is in force from its effective
date until the next table of its setting starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from codesystems.cms import definition as cms
from codesystems.cms.tables import (
    Column,
    ImportSummary,
    Row,
    code_cell,
    parse_date,
    read_tables,
    required,
    source_label,
    whole_number,
)
from terminology.errors import ImportFailed
from terminology.model import Property
from terminology.numbers import is_digits
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

CODE = Column("code", "HCPCS/CPT Code", r"(hcpcs)?(cpt)?code", code=True)
UNITS = Column("units", "MUE Values", r"[a-z]*muevalues?")
INDICATOR = Column("indicator", "MUE Adjudication Indicator", r"(mue)?adjudicationindicator|mai")
RATIONALE = Column("rationale", "MUE Rationale", r"(mue)?rationale", required=False)
COLUMNS = (CODE, UNITS, INDICATOR, RATIONALE)


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


def read_rows(path: Path, summary: ImportSummary) -> Iterator[MueRow]:
    """The rows of one MUE file; a bad row raises ImportFailed naming the file and line."""
    seen: dict[str, Row] = {}
    for table in read_tables(path, COLUMNS, "MUE table", summary):
        for row in table.rows(summary):
            code = code_cell(row, CODE)
            if code in seen:
                first = seen[code]
                raise ImportFailed(f"{row.where}: {code} is listed again (first on "
                                   f"{first.place if first.sheet == row.sheet else first.where})")
            seen[code] = row
            units = whole_number(row, UNITS)
            indicator = required(row, INDICATOR)
            if not is_digits(indicator[:1]) or int(indicator[:1]) not in cms.MUE_INDICATORS:
                raise ImportFailed(f"{row.where}: adjudication indicator {indicator[:30]!r} is "
                                   "not 1, 2 or 3")
            summary.count(summary.remarks, f"edits with adjudication indicator {indicator[:1]}")
            yield MueRow(code, units, int(indicator[:1]), row["rationale"] or None)


def import_table(store: Store, path: Path, *, setting: str | None = None,
                 effective: str | None = None, label: str | None = None) -> ImportSummary:
    """Replace the MUE table of (setting, effective date) with the rows of `path`, in one
    transaction: a bad line leaves the store as it was."""
    path = Path(path)
    setting = setting or setting_from_name(path.name)
    if setting not in cms.MUE_SETTINGS:
        raise ImportFailed(f"{path.name}: setting {setting!r} is not one of "
                           f"{', '.join(cms.MUE_SETTINGS)}")
    start = (parse_date(effective, f"{path.name}: --effective") if effective
             else effective_from_name(path.name)) or ""
    summary = ImportSummary(f"CMS MUE {setting} (in force from {start or 'any date'})")
    with store.transaction() as tx:
        table_id = replace_edit_table(tx, kind=cms.MUE, setting=setting, effective=start,
                                      label=label or path.stem,
                                      source=source_label([path]))
        add_mue_rows(tx, table_id, read_rows(path, summary))
    summary.table = next(t for t in edit_tables(store, cms.MUE) if t.id == table_id)
    summary.stored = summary.table.row_count
    return summary


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


def lookup_properties(store: Store, code: str, mue_tables: list[EditTable], *, on_date: str,
                      setting: str = cms.DEFAULT_SETTING) -> list[Property]:
    """`mue`, `mue-indicator`, `mue-rationale` of the table in force on `on_date`, for
    $lookup."""
    table = table_in_force(mue_tables, setting, on_date)
    row = mue_row(store, table.id, code) if table else None
    if row is None:
        return []
    props = [Property("mue", row.units, "integer"),
             Property("mue-indicator", str(row.indicator), "code")]
    if row.rationale:
        props.append(Property("mue-rationale", row.rationale, "string"))
    return props


SAMPLE_FILE = Path(__file__).parent / "sample" / "MCR_MUE_PractitionerServices_Eff_01-01-2025.csv"
