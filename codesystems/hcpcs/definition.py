"""What HCPCS Level II is as a FHIR CodeSystem: canonical URL (and its https spelling, used by
CARIN and Da Vinci, served as the same code system), properties, the resource.

Concepts are the Level II codes (`A0428`, `J1100`) and the HCPCS modifiers (`LT`, `GA`) of the
CMS file. `D` codes are Current Dental Terminology, the ADA's content: they are kept as codes
with no descriptor, only a note saying so.
"""

from __future__ import annotations

from typing import Any

from codesystems import sources
from terminology.model import BrowseGroup, CodeSetPages, Coding

URL = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
HTTPS_URL = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ALIASES = {HTTPS_URL: URL}
OID = "2.16.840.1.113883.6.285"
PROVIDER_KEY = "hcpcs"
SHORT = Coding(system=URL, code="short", display="Short description")
CDT_NOTE = ("CDT code: the descriptor is not included (Current Dental Terminology is content of "
            "the American Dental Association)")

PROPERTIES: list[dict[str, Any]] = [
    {"code": "modifier", "description": "Whether the code is a HCPCS modifier",
     "type": "boolean"},
    {"code": "cdt", "description": "A D code: Current Dental Terminology (ADA), no descriptor "
     "included", "type": "boolean"},
    {"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive",
     "description": "Terminated before this release took effect", "type": "boolean"},
    {"code": "coverage", "description": "Medicare coverage code (C, D, I, M, S)",
     "type": "code"},
    {"code": "betos", "description": "Berenson-Eggers type of service", "type": "code"},
    {"code": "add-date", "description": "When the code was added to HCPCS", "type": "date"},
    {"code": "action-effective-date", "description": "When the latest action took effect",
     "type": "date"},
    {"code": "termination-date", "description": "The last day the code may be used",
     "type": "date"},
    {"code": "action", "description": "The latest action on the code (A add, C change, D "
     "discontinue, N no maintenance, ...)", "type": "code"},
]

FILTERS: list[dict[str, Any]] = [
    {"code": "modifier", "operator": ["="], "value": "true or false"},
    {"code": "cdt", "operator": ["="], "value": "true or false"},
    {"code": "coverage", "operator": ["=", "in"], "value": "a coverage code"},
]

COPYRIGHT = ("HCPCS Level II is maintained by the Centers for Medicare & Medicaid Services and is "
             "in the public domain, except the D codes' descriptors (CDT, copyright the American "
             "Dental Association), which are not included.")


def resource_id(version: str) -> str:
    return f"hcpcs-{version}"


def code_system_resource(version: str, effective_date: str | None,
                         sample: bool = False) -> dict[str, Any]:
    """The CodeSystem resource for one HCPCS release (`2026-01` for the January file)."""
    return sources.code_system_resource(
        resource_id=resource_id(version), url=URL, oid=OID, version=version, name="HCPCS",
        title=f"HCPCS Level II {version}", publisher="Centers for Medicare & Medicaid Services",
        description=("Healthcare Common Procedure Coding System, Level II: codes for products, "
                     "supplies and services not in CPT, and the HCPCS modifiers, from the CMS "
                     f"alpha-numeric file. Also known as {HTTPS_URL}."),
        copyright=COPYRIGHT, properties=PROPERTIES, filters=FILTERS,
        effective_date=effective_date, hierarchical=False, sample=sample,
    )


# -- the web page --------------------------------------------------------------------------

# The HCPCS Level II code ranges by first letter, as CMS's code set describes them.
LETTER_GROUPS = (
    ("A", "Transportation, medical and surgical supplies, miscellaneous"),
    ("B", "Enteral and parenteral therapy"),
    ("C", "Outpatient prospective payment system (temporary hospital codes)"),
    ("D", "Dental procedures (CDT: descriptors not included)"),
    ("E", "Durable medical equipment"),
    ("G", "Procedures and professional services (temporary)"),
    ("H", "Alcohol and drug abuse treatment, behavioral health"),
    ("J", "Drugs administered other than by mouth, chemotherapy"),
    ("K", "Temporary codes for durable medical equipment contractors"),
    ("L", "Orthotics and prosthetics"),
    ("M", "Medical services and quality measures"),
    ("P", "Pathology and laboratory services"),
    ("Q", "Temporary codes"),
    ("R", "Diagnostic radiology services"),
    ("S", "Temporary national codes (not Medicare)"),
    ("T", "National codes for state Medicaid agencies"),
    ("U", "Laboratory tests (temporary)"),
    ("V", "Vision, hearing and speech-language services"),
)


def _letter(letter: str) -> BrowseGroup:
    label = dict(LETTER_GROUPS)[letter]
    return BrowseGroup(letter.lower(), f"{letter} codes: {label}",
                       (("code", "regex", f"{letter}[0-9]{{4}}"),),
                       lambda code: len(code) == 5 and code[0] == letter)


PAGES = CodeSetPages(
    url=URL, key=PROVIDER_KEY, label="HCPCS Level II", family="HCPCS",
    groups=(*(_letter(letter) for letter, _ in LETTER_GROUPS),
            BrowseGroup("modifiers", "Modifiers", (("modifier", "=", "true"),),
                        lambda code: len(code) == 2)),
    designations={"short": "Short description"},
    properties={"modifier": "A modifier", "cdt": "A dental (CDT) code",
                "coverage": "Medicare coverage", "betos": "Type of service (BETOS)",
                "add-date": "In HCPCS since", "action-effective-date": "Latest change in force",
                "termination-date": "Last day it may be used", "action": "Latest change"},
    values={"coverage": {"C": "C: carrier judgement", "D": "D: special coverage instructions",
                         "I": "I: not payable by Medicare", "M": "M: non-covered by Medicare",
                         "S": "S: non-covered by Medicare statute"},
            "action": {"A": "Added", "B": "Change in both administrative and descriptor data",
                       "C": "Changed", "D": "Discontinued", "F": "Change in administrative data",
                       "N": "No maintenance", "P": "Payment change", "R": "Reactivated",
                       "S": "Change in short description", "T": "Misc"}},
)
