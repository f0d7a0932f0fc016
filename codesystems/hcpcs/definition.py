"""What HCPCS Level II is as a FHIR CodeSystem: canonical URL (and its https spelling, used by
CARIN and Da Vinci, served as the same code system), properties, the resource.

Concepts are the Level II codes (`A0428`, `J1100`) and the HCPCS modifiers (`LT`, `GA`) of the
CMS file. `D` codes are Current Dental Terminology, the ADA's content: they are kept as codes
with no descriptor, only a note saying so.
"""

from __future__ import annotations

from typing import Any

from codesystems import sources
from terminology.model import Coding

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
