"""What ICD-10-PCS is as a FHIR CodeSystem: canonical URL, properties, the resource.

Concepts are the seven-character codes of the CMS order file and its header rows (the tables,
such as `001`, not valid on a claim); each code sits below the longest header its code starts
with. The display is the long description, the short one a designation.
"""

from __future__ import annotations

from typing import Any

from codesystems import sources
from terminology.model import BrowseGroup, CodeSetPages, Coding

URL = "http://www.cms.gov/Medicare/Coding/ICD10"
OID = "2.16.840.1.113883.6.4"
PROVIDER_KEY = "icd10pcs"
SHORT = Coding(system=URL, code="short", display="Short description")

PROPERTIES: list[dict[str, Any]] = [
    {"code": "billable", "description": "Valid for HIPAA-covered transactions (flag 1 of the "
     "order file); header rows are not", "type": "boolean"},
    {"code": "notSelectable", "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
     "description": "A header row: a table of codes, not a code", "type": "boolean"},
    {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent",
     "description": "The header row (table) the code belongs to", "type": "code"},
    {"code": "child", "uri": "http://hl7.org/fhir/concept-properties#child",
     "description": "A code of this table", "type": "code"},
]

FILTERS: list[dict[str, Any]] = [
    {"code": "concept", "operator": ["is-a", "descendent-of", "child-of"],
     "value": "a header (table) code such as 001"},
    {"code": "billable", "operator": ["="], "value": "true or false"},
]

COPYRIGHT = ("ICD-10-PCS is maintained by the Centers for Medicare & Medicaid Services; it is in "
             "the public domain.")


def resource_id(version: str) -> str:
    return f"icd10pcs-{version}"


def code_system_resource(version: str, effective_date: str | None,
                         sample: bool = False) -> dict[str, Any]:
    """The CodeSystem resource for one fiscal year of ICD-10-PCS, without concepts."""
    return sources.code_system_resource(
        resource_id=resource_id(version), url=URL, oid=OID, version=version, name="ICD10PCS",
        title=f"ICD-10-PCS FY{version}", publisher="Centers for Medicare & Medicaid Services",
        description=("International Classification of Diseases, Tenth Revision, Procedure "
                     "Coding System: the US inpatient procedure codes, from the CMS order file."),
        copyright=COPYRIGHT, properties=PROPERTIES, filters=FILTERS,
        effective_date=effective_date, hierarchical=True, sample=sample,
    )


# -- the web page --------------------------------------------------------------------------

# The sections of ICD-10-PCS, named by a code's first character (CMS's reference manual).
SECTIONS = (
    ("0", "Medical and Surgical"), ("1", "Obstetrics"), ("2", "Placement"),
    ("3", "Administration"), ("4", "Measurement and Monitoring"),
    ("5", "Extracorporeal or Systemic Assistance and Performance"),
    ("6", "Extracorporeal or Systemic Therapies"), ("7", "Osteopathic"),
    ("8", "Other Procedures"), ("9", "Chiropractic"), ("B", "Imaging"),
    ("C", "Nuclear Medicine"), ("D", "Radiation Therapy"),
    ("F", "Physical Rehabilitation and Diagnostic Audiology"), ("G", "Mental Health"),
    ("H", "Substance Abuse Treatment"), ("X", "New Technology"),
)


def _section(character: str, label: str) -> BrowseGroup:
    """A section lists its tables (the three-character header rows)."""
    return BrowseGroup(f"section-{character.lower()}", f"Section {character}: {label}",
                       (("code", "regex", f"{character}[0-9A-Z]{{2}}"),),
                       lambda code: code[:1] == character)


PAGES = CodeSetPages(
    url=URL, key=PROVIDER_KEY, label="ICD-10-PCS", family="ICD-10",
    groups=tuple(_section(c, label) for c, label in SECTIONS),
    designations={"short": "Short description"},
    properties={"billable": "Valid on a claim (HIPAA)",
                "notSelectable": "A table of codes, not a code"},
)
