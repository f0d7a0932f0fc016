"""Importer for the CMS NCCI procedure-to-procedure (PTP) edit tables, and their ConceptMap.

CMS publishes each quarter's table per setting split over several files (`ccipra-v321r0-f1` to
`-f4` for practitioners, `ccioph-...` for outpatient hospitals), each a tab-separated `.TXT`
(latin-1) and an `.xlsx` in a `.zip`: a notice line, a title, a header wrapped over four rows
(`Column 1, Column 2, *=in existence prior to 1996, Effective Date, Deletion Date *=no data,
Modifier 0=not allowed 1=allowed 9=not applicable, PTP Edit Rationale`), then one row per code
pair. Dates are `YYYYMMDD`, `*` for none; the deletion date is the last day the edit is in force.
Columns are read by name (tables.py). Import the files of one quarter together
(`txserver import cms-ptp f1.zip f2.zip ...`): they replace the setting's table in one
transaction. A row deleted before it took effect (withdrawn) is kept, never in force, and counted.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from codesystems.cms import definition as cms
from codesystems.cms.tables import (
    SAMPLE_SOURCE,
    Column,
    ImportSummary,
    code_cell,
    parse_date,
    read_tables,
    required,
    source_label,
)
from codesystems.cpt import definition as cpt
from codesystems.cpt.addons import system_of
from terminology.errors import ImportFailed
from terminology.store import Store
from terminology.store.edits import (
    PtpRow,
    add_ptp_rows,
    edit_tables,
    iter_ptp_rows,
    replace_edit_table,
)

COLUMN1 = Column("column1", "Column 1", r"(hcpcscpt)?column(1|one)(code)?", code=True)
COLUMN2 = Column("column2", "Column 2", r"(hcpcscpt)?column(2|two)(code)?", code=True)
PRIOR_1996 = Column("prior_1996", "*=in existence prior to 1996",
                    r"(inexistence|existence|prior(to)?1996).*", required=False)
EFFECTIVE = Column("effective", "Effective Date", r"effective(date)?.*")
DELETED = Column("deleted", "Deletion Date", r"(deletion|deleted|termination)(date)?.*")
MODIFIER = Column("modifier", "Modifier", r"(modifier|ccmi|correctcodingmodifier).*")
RATIONALE = Column("rationale", "PTP Edit Rationale", r"(ptp)?(edit)?rationale",
                   required=False)
COLUMNS = (COLUMN1, COLUMN2, PRIOR_1996, EFFECTIVE, DELETED, MODIFIER, RATIONALE)
WITHDRAWN = "edits withdrawn before taking effect (deletion date before effective date): kept, " \
            "never in force"


def setting_from_name(name: str) -> str:
    lowered = name.lower()
    if "hosp" in lowered or "oph" in lowered or "outpatient" in lowered:
        return "hospital"
    return cms.DEFAULT_SETTING


def read_rows(path: Path, summary: ImportSummary) -> Iterator[PtpRow]:
    """The rows of one PTP file; a bad row raises ImportFailed naming the file and line."""
    for table in read_tables(path, COLUMNS, "PTP edit table", summary):
        for row in table.rows(summary):
            column1, column2 = code_cell(row, COLUMN1), code_cell(row, COLUMN2)
            prior = row["prior_1996"]
            if prior not in ("", "*", "Y", "y"):
                raise ImportFailed(f"{row.where}: the pre-1996 flag {prior[:10]!r} is not * or "
                                   "empty")
            effective = parse_date(row["effective"], row.where)
            deleted = parse_date(row["deleted"], row.where)
            if effective and deleted and deleted < effective:
                summary.count(summary.remarks, WITHDRAWN)
            indicator = required(row, MODIFIER)
            if indicator not in ("0", "1", "9"):
                raise ImportFailed(f"{row.where}: modifier indicator {indicator[:10]!r} is not "
                                   "0, 1 or 9")
            yield PtpRow(column1, column2, effective, deleted, int(indicator), prior != "",
                         row["rationale"] or None)


def import_tables(store: Store, paths: Sequence[Path], *, setting: str | None = None,
                  label: str | None = None) -> ImportSummary:
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
    summary = ImportSummary(f"CMS PTP {chosen}")

    def rows() -> Iterator[PtpRow]:
        for path in paths:
            yield from read_rows(path, summary)

    with store.transaction() as tx:
        table_id = replace_edit_table(tx, kind=cms.PTP, setting=chosen, effective="",
                                      label=label or paths[0].stem,
                                      source=source_label(paths))
        add_ptp_rows(tx, table_id, rows())
    summary.table = next(t for t in edit_tables(store, cms.PTP) if t.id == table_id)
    summary.stored = summary.table.row_count
    return summary


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
        if row.effective and row.deleted and row.deleted < row.effective:
            comment += (f"; withdrawn before it took effect (effective {row.effective}, deleted "
                        f"{row.deleted}): never in force")
        elif row.effective:
            comment += f"; in force from {row.effective}"
            if row.deleted:
                comment += f" to {row.deleted}"
        elif row.deleted:
            comment += f"; in force to {row.deleted}"
        if row.rationale:
            comment += f"; rationale: {row.rationale}"
        elements = groups.setdefault((system_of(row.column1), system_of(row.column2)), {})
        element = elements.setdefault(row.column1, {"code": row.column1, "target": []})
        element["target"].append({"code": row.column2, "equivalence": "relatedto",
                                  "comment": comment})
    sample = table.source.startswith(SAMPLE_SOURCE)
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


SAMPLE_FILE = Path(__file__).parent / "sample" / "ccipra-v321r0-f1.TXT"


# The setting tables as FHIR resources, for server.py to publish: {"ConceptMap/id": build(store)}
FHIR_RESOURCES = {
    f"ConceptMap/{cms.PTP_MAP_ID.format(setting=setting)}":
        functools.partial(concept_map, setting=setting)
    for setting in cms.PTP_SETTINGS
}
