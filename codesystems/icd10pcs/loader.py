"""Importer of the CMS ICD-10-PCS order file (`icd10pcs_order_YYYY.txt`), fixed width:
order number in columns 1-5, the code in 7-13, the valid-for-HIPAA flag in 15 (0 for a header
row), the short description in 17-76 and the long one from 78.

`read_order_file` is pure parsing (ImportFailed names the file and line of the first defect);
`import_order_file` stores the result in one transaction.
"""

from __future__ import annotations

import re
from pathlib import Path

from codesystems.icd10pcs import definition as pcs
from codesystems.sources import (
    ParsedCodeSystem,
    Progress,
    column,
    fiscal_year_start,
    numbered_lines,
    store_code_system,
)
from terminology.errors import ImportFailed
from terminology.model import Concept, Designation, Property
from terminology.store import Store

CODE_SHAPE = re.compile(r"^[0-9A-Z]{3,7}$")
YEAR_IN_NAME = re.compile(r"order_?([0-9]{4})", re.IGNORECASE)
SAMPLE_FILE = Path(__file__).parent / "sample" / "icd10pcs_order_2026.txt"


def version_of(path: Path, version: str | None) -> str:
    """The fiscal year: as given, else from the file name (icd10pcs_order_2026.txt)."""
    found = YEAR_IN_NAME.search(path.name)
    version = version or (found.group(1) if found else None)
    if not version or not re.fullmatch(r"[0-9]{4}", version):
        raise ImportFailed(f"{path.name}: no fiscal year in the file name; give the version "
                           "(e.g. 2026)")
    return version


def read_order_file(path: Path, version: str | None = None,
                    sample: bool = False) -> ParsedCodeSystem:
    path = Path(path)
    version = version_of(path, version)
    concepts: list[Concept] = []
    lines_of: dict[str, str] = {}
    for where, line in numbered_lines(path):
        if len(line) < 17 or not column(line, 1, 5).isdigit() or line[5] != " " or \
                line[13] != " " or line[15] != " ":
            raise ImportFailed(f"{where}: not a row of the ICD-10-PCS order file (order number "
                               "in columns 1-5, code in 7-13, flag in 15, descriptions from 17)")
        code, flag = column(line, 7, 13), line[14]
        short, long = column(line, 17, 76), column(line, 78)
        if not CODE_SHAPE.match(code):
            raise ImportFailed(f"{where}: {code!r} is not an ICD-10-PCS code")
        if flag not in "01":
            raise ImportFailed(f"{where}: the flag in column 15 is {flag!r}, not 0 (header) or "
                               "1 (valid code)")
        if not short and not long:
            raise ImportFailed(f"{where}: code {code} has no description")
        if code in lines_of:
            raise ImportFailed(f"{where}: code {code} is listed twice (first on "
                               f"{lines_of[code]})")
        lines_of[code] = where
        header = flag == "0"
        properties = [Property("billable", not header, "boolean")]
        if header:
            properties.append(Property("notSelectable", True, "boolean"))
        designations = (Designation(short, "en", pcs.SHORT),) if short and short != long else ()
        concepts.append(Concept(code=code, display=long or short, designations=designations,
                                properties=tuple(properties)))
    if not concepts:
        raise ImportFailed(f"{path.name}: no codes in the file")
    links = []
    for concept in concepts:
        code = concept.code
        parent = next((code[:n] for n in range(len(code) - 1, 2, -1) if code[:n] in lines_of),
                      None)
        if parent is not None:
            links.append((parent, code))
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
    )


def import_order_file(store: Store, path: Path, version: str | None = None,
                      progress: Progress | None = None, sample: bool = False) -> ParsedCodeSystem:
    """Parse, then store in one transaction. Raises ImportFailed (nothing changed)."""
    parsed = read_order_file(path, version, sample)
    store_code_system(store, parsed, progress)
    return parsed
