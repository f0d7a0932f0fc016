"""Importer of the CMS ICD-10-PCS order file (`icd10pcs_order_YYYY.txt`, the layout in
`codesystems.order_file`): each code below the longest header row its code starts with.

`read_order_file` is pure parsing (ImportFailed names the file and line of the first defect);
`import_order_file` stores the result in one transaction.
"""

from __future__ import annotations

import re
from pathlib import Path

from codesystems import order_file
from codesystems.icd10pcs import definition as pcs
from codesystems.sources import (
    ADDENDA,
    ParsedCodeSystem,
    Progress,
    first_line,
    fiscal_year_start,
    not_read,
    read_chosen,
    store_code_system,
    year_in_name,
)
from terminology.errors import ImportFailed
from terminology.model import Concept, Designation, Property
from terminology.store import Store

CODE_SHAPE = re.compile(r"^[0-9A-Z]{3,7}$")
SAMPLE_FILE = Path(__file__).parent / "sample" / "icd10pcs_order_2026.txt"


def version_of(path: Path, version: str | None) -> str:
    """The fiscal year: as given, else from the file name (icd10pcs_order_2026.txt)."""
    version = version or year_in_name(path.name)
    if not version or not re.fullmatch(r"[0-9]{4}", version):
        raise ImportFailed(f"{path.name}: no fiscal year in the file name; give the version "
                           "(e.g. 2026)")
    return version


def read_order_file(path: Path, version: str | None = None,
                    sample: bool = False) -> ParsedCodeSystem:
    path = Path(path)
    version = version_of(path, version)
    order = order_file.read_order_file(path, CODE_SHAPE, "ICD-10-PCS")
    concepts: list[Concept] = []
    for row in order.rows:
        properties = [Property("billable", row.valid, "boolean")]
        if not row.valid:
            properties.append(Property("notSelectable", True, "boolean"))
        designations = (Designation(row.short, "en", pcs.SHORT),) \
            if row.short and row.short != row.long else ()
        concepts.append(Concept(code=row.code, display=row.long or row.short,
                                designations=designations, properties=tuple(properties)))
    links = order_file.parent_links([row.code for row in order.rows])
    effective = fiscal_year_start(version)
    return ParsedCodeSystem(
        url=pcs.URL,
        version=version,
        resource_id=pcs.resource_id(version),
        resource=pcs.code_system_resource(version, effective, sample),
        concepts=concepts,
        links=links,
        provider=pcs.PROVIDER_KEY,
        effective_date=effective,
        files=[path.name],
        indexed_properties=("billable", "notSelectable"),
        read=[order.describe()],
    )


def _why_not_order_file(path: Path) -> str | None:
    """None for an ICD-10-PCS order file, else why the file is not one."""
    name = path.name.lower()
    if "addenda" in name:
        return ADDENDA
    if path.suffix.lower() != ".txt":
        return not_read(path)
    if "order" in name or order_file.is_order_line(first_line(path)):
        return None
    return "not the order file (its first line is not an order-file row)"


def read_source(path: Path, version: str | None = None) -> ParsedCodeSystem:
    """The order file at `path`, or the one in the folder or zip `path` (the others named)."""
    return read_chosen(path, "ICD-10-PCS order file", _why_not_order_file,
                       lambda found: read_order_file(found, version))


def import_order_file(store: Store, path: Path, version: str | None = None,
                      progress: Progress | None = None, sample: bool = False) -> ParsedCodeSystem:
    """Parse, then store in one transaction. Raises ImportFailed (nothing changed)."""
    parsed = read_order_file(path, version, sample)
    store_code_system(store, parsed, progress)
    return parsed
