"""What CPT is as a FHIR CodeSystem: canonical URL, property and filter definitions, copyright.

Property codes follow HL7 Terminology (THO) and tx.fhir.org; `add-on`, `status`,
`effective-date`, `deleted-date`, `primary-code` are this server's additions (see README).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from terminology.model import BrowseGroup, CodeSetPages, Filter
from terminology.numbers import is_digits

URL = "http://www.ama-assn.org/go/cpt"
OID = "2.16.840.1.113883.6.12"
PROVIDER_KEY = "cpt"
ADDON_MAP_URL = "urn:txserver:ConceptMap/cms-add-on-code-edits"
ADDON_MAP_ID = "cms-add-on-code-edits"
PRIMARY_PROCEDURE_PHRASE = "list separately in addition to code for primary procedure"

COPYRIGHT = (
    "CPT © Copyright 2025 American Medical Association. All rights reserved. AMA and CPT are "
    "registered trademarks of the American Medical Association. Fee schedules, relative value "
    "units, conversion factors and/or related components are not assigned by the AMA, are not "
    "part of CPT, and the AMA is not recommending their use."
)
SAMPLE_NOTE = (
    "SAMPLE DATA: the descriptors of this version were written by the txserver project to show "
    "the layout; they are not AMA CPT content. Import your own licensed AMA files to serve CPT."
)

# Properties whose source is a list that not every AMA release ships as a file.
RELEASE_LISTS = {
    "telemedicine": "the Appendix P (telemedicine) list",
    "orthopox": "the orthopoxvirus code list",
}

# kind values: THO's, plus the categories of base codes we tell apart by their shape.
KINDS = {
    "code": "A CPT code (not a modifier)",
    "cat-1": "Category I code or Category I (Level I) modifier",
    "cat-2": "Category II code (NNNNF) or Category II modifier",
    "cat-3": "Category III code (NNNNT)",
    "pla": "Proprietary Laboratory Analyses code (NNNNU)",
    "maaa": "Multianalyte Assay with Algorithmic Analyses code (NNNNM)",
    "vaccine": "Vaccine product or administration code (NNNNA)",
    "physical-status": "Anesthesia physical status modifier",
    "general": "General modifier",
    "hcpcs": "HCPCS Level II modifier",
    "metadata": "Metadata (not a code)",
}

PROPERTIES: list[dict[str, Any]] = [
    {"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive",
     "description": "True if the code is not valid for use in this version", "type": "boolean"},
    {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status",
     "description": "active, or deleted (the code was deleted from CPT in this version)",
     "type": "code"},
    {"code": "modifier", "description": "Whether the code is a modifier code",
     "type": "boolean"},
    {"code": "modified",
     "description": "Whether the code has modifiers (true only for a modifier expression)",
     "type": "boolean"},
    {"code": "kind", "description": "Kinds of code or modifier (repeats): "
     + "; ".join(f"{k} = {v}" for k, v in KINDS.items()), "type": "code"},
    {"code": "telemedicine",
     "description": "Appendix P: the code may be reported with modifier 95", "type": "boolean"},
    {"code": "orthopox", "description": "Orthopoxvirus-related code", "type": "boolean"},
    {"code": "add-on", "description": "An add-on code: reported only with a primary procedure",
     "type": "boolean"},
    {"code": "primary-code",
     "description": "A primary procedure code this add-on code may be reported with (CMS edits)",
     "type": "code"},
    {"code": "mue", "description": "CMS medically unlikely edit: the most units of the code "
     "for one patient (practitioner services, the table in force today)", "type": "integer"},
    {"code": "mue-indicator", "description": "MUE adjudication indicator: 1 per claim line, "
     "2 per day (policy), 3 per day (clinical)", "type": "code"},
    {"code": "mue-rationale", "description": "The CMS rationale of the MUE", "type": "string"},
    {"code": "effective-date", "description": "The start of the first version holding the code",
     "type": "dateTime"},
    {"code": "deleted-date", "description": "Since when the code is deleted", "type": "dateTime"},
    {"code": "modifier-definition", "description": "The definition of a modifier in an expression",
     "type": "string"},
    {"code": "copyright", "description": "The AMA copyright statement", "type": "string"},
]

# What CPT declares to the engine (terminology.provider's capabilities, through CptProvider):
# modifier expressions (`99213:25`) are codes too, and no expansion can list them: an include
# of CPT is closed only by a filter that keeps expressions out (no modifiers on the codes, or
# the modifier codes themselves). (property, op, value in lower case).
CLOSING_FILTERS: frozenset[Filter] = frozenset({("modified", "=", "false"),
                                                 ("modifier", "=", "true")})
EXPAND_LIMIT = 1000  # the most CPT codes listed in one expansion (the AMA agreement)
LENIENT_WHITESPACE = True  # any AMA descriptor matches a display ignoring runs of white space

FILTERS: list[dict[str, Any]] = [
    {"code": "modifier", "operator": ["="], "value": "true or false"},
    {"code": "modified", "operator": ["="], "value": "true or false"},
    {"code": "kind", "operator": ["=", "in"], "value": "a kind code, or a comma-separated list"},
    {"code": "telemedicine", "operator": ["="], "value": "true or false"},
    {"code": "orthopox", "operator": ["="], "value": "true or false"},
    {"code": "add-on", "operator": ["="], "value": "true or false"},
    {"code": "code", "operator": ["in"], "value": "codes and ranges: 20100-69990,92920"},
]


def start_of(version: str) -> str | None:
    """CPT versions are years in force from 1 January."""
    return f"{version}-01-01" if re.fullmatch(r"[0-9]{4}", version) else None


def code_system_resource(
    version: str, *, sample: bool, absent_properties: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The CodeSystem resource for one CPT year, without concepts or count.

    `absent_properties` are those the release had no source for (the telemedicine and orthopox
    lists are not in every release): they are not declared, so no code claims them false."""
    description = (
        "The AMA's Current Procedural Terminology: codes for medical, surgical and diagnostic "
        "services, with modifiers, held as a FHIR CodeSystem; modifier expressions such as "
        "99213:25 are supported."
    )
    if absent_properties:
        description += (" This version was imported without source data for: "
                        + ", ".join(absent_properties) + ".")
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "id": resource_id(version),
        "language": "en",
        "url": URL,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{OID}"}],
        "version": version,
        "name": "CPT",
        "title": f"Current Procedural Terminology (CPT) {version}" + (" (sample)" if sample else ""),
        "status": "active",
        "experimental": sample,
        "publisher": "American Medical Association",
        "description": f"{SAMPLE_NOTE} {description}" if sample else description,
        "copyright": COPYRIGHT,
        "caseSensitive": True,
        "compositional": True,
        "versionNeeded": False,
        "content": "complete",
        "filter": [f for f in FILTERS if f["code"] not in absent_properties],
        "property": [p for p in PROPERTIES if p["code"] not in absent_properties],
    }
    if start_of(version):
        resource["date"] = start_of(version)
    return resource


def resource_id(version: str) -> str:
    return f"cpt-{version}"


def kinds_of_code(code: str) -> list[str]:
    """Kinds of a base code from its shape (`99213` cat-1, `1036F` cat-2, `0042T` cat-3 …)."""
    last = code[-1:]
    if last == "A":
        return ["code", "cat-1", "vaccine"]
    category = {"F": "cat-2", "T": "cat-3", "U": "pla", "M": "maaa"}.get(last)
    if category is None:
        category = "cat-1" if is_digits(code) else "metadata"
    return ["code", category]


# -- the web page --------------------------------------------------------------------------

# The sections of Category I as the CPT book orders them, with their code ranges (facts of the
# code book's structure, no descriptor text), then the codes told apart by their shape. A
# section's codes are five digits: `code in` ranges alone compare as text, so that 1036F
# (Category II) would sort inside Surgery.
SECTIONS = (
    ("evaluation-and-management", "Evaluation and Management", "99202-99499"),
    ("anesthesia", "Anesthesia", "00100-01999"),
    ("surgery", "Surgery", "10004-69990"),
    ("radiology", "Radiology", "70010-79999"),
    ("pathology-and-laboratory", "Pathology and Laboratory", "80047-89398"),
    ("medicine", "Medicine", "90281-99199,99500-99607"),
)
SHAPE_GROUPS = (
    ("vaccines", "Vaccine codes (Category I, NNNNA)", "vaccine"),
    ("category-ii", "Category II: performance measurement (NNNNF)", "cat-2"),
    ("category-iii", "Category III: emerging technology (NNNNT)", "cat-3"),
    ("pla", "Proprietary Laboratory Analyses (NNNNU)", "pla"),
    ("maaa", "Multianalyte Assays with Algorithmic Analyses (NNNNM)", "maaa"),
)


def _in_ranges(ranges: str) -> Callable[[str], bool]:
    bounds = [r.split("-") for r in ranges.split(",")]
    return lambda code: (len(code) == 5 and is_digits(code)
                         and any(low <= code <= high for low, high in bounds))


def _of_kind(kind: str) -> Callable[[str], bool]:
    return lambda code: len(code) == 5 and kind in kinds_of_code(code)


def _shown(ranges: str) -> str:
    """`90281-99199,99500-99607` as a person reads it: `90281–99199, 99500–99607`."""
    return ranges.replace("-", "\u2013").replace(",", ", ")


def _browse_groups() -> tuple[BrowseGroup, ...]:
    groups = [BrowseGroup(key, f"{label} ({_shown(ranges)})",
                          (("code", "in", ranges), ("code", "regex", "[0-9]{5}")),
                          _in_ranges(ranges))
              for key, label, ranges in SECTIONS]
    groups += [BrowseGroup(key, label, (("kind", "=", kind), ("modifier", "=", "false")),
                           _of_kind(kind))
               for key, label, kind in SHAPE_GROUPS]
    groups.append(BrowseGroup("modifiers", "Modifiers", (("modifier", "=", "true"),),
                              lambda code: len(code) == 2))
    return tuple(groups)


PAGES = CodeSetPages(
    url=URL, key=PROVIDER_KEY, label="CPT", family="CPT", groups=_browse_groups(),
    designations={"display": "Long descriptor", "upper": "Long descriptor (upper case)",
                  "med": "Medium descriptor", "short": "Short descriptor",
                  "consumer": "Consumer-friendly descriptor",
                  "clinician": "Clinician descriptor"},
    properties={"kind": "Kind of code", "modifier": "A modifier",
                "modified": "A code with modifiers", "orthopox": "Orthopoxvirus-related code",
                "telemedicine": "Telemedicine (Appendix P)", "add-on": "Add-on code",
                "effective-date": "In CPT since", "deleted-date": "Deleted on",
                "modifier-definition": "What the modifier means"},
    values={"kind": KINDS},
)
