"""What ICD-10-CM is as a FHIR CodeSystem: canonical URL, properties, the resource.

Concepts are the tabular list's chapters (keyed by their number, `1` to `22`), blocks (keyed by
their range, `A00-A09`; a one-category block such as `B20` becomes `B20-B20` so that it cannot be
taken for the category), categories and codes with the dot (`E11.9`), and the codes made with a
7th character (`S72.001A`). Chapters and blocks are not selectable; `billable` tells the codes
valid on a claim.
"""

from __future__ import annotations

from typing import Any

from codesystems import sources
from terminology.model import CodeSetPages, Coding

URL = "http://hl7.org/fhir/sid/icd-10-cm"
OID = "2.16.840.1.113883.6.90"
PROVIDER_KEY = "icd10cm"
SHORT = Coding(system=URL, code="short", display="Short description")
# Other names of a code, searchable: the tabular list's inclusion terms (and the includes notes
# of categories and codes), and the Alphabetic Index's terms that lead to the code.
INCLUSION = Coding(system=URL, code="inclusion", display="Inclusion term")
INDEX_TERM = Coding(system=URL, code="index", display="Alphabetic Index term")
INCLUSION_NOTES = ("inclusionTerm", "includes")  # the notes of a code that name it

NOTE_KINDS = (
    ("includes", "Includes: what the chapter, block or code covers"),
    ("inclusionTerm", "Inclusion term: a condition classified to this code"),
    ("excludes1", "Excludes1: never coded together with this code (NOT CODED HERE)"),
    ("excludes2", "Excludes2: not included here; may be coded together with this code"),
    ("codeFirst", "Code first: the underlying condition to sequence first"),
    ("codeAlso", "Code also: a further code that may be needed"),
    ("useAdditionalCode", "Use additional code: a further code to add"),
    ("notes", "A note of the tabular list"),
    ("sevenChrNote", "How the 7th character applies to the codes below"),
)
KINDS = {
    "chapter": "A chapter of the tabular list",
    "block": "A block (section) of categories",
    "category": "A three-character category",
    "code": "A code of four to seven characters",
}

PROPERTIES: list[dict[str, Any]] = [
    {"code": "kind", "description": "chapter, block, category or code: "
     + "; ".join(f"{k} = {v}" for k, v in KINDS.items()), "type": "code"},
    {"code": "billable", "description": "Valid for use on a claim (a code with no codes below it)",
     "type": "boolean"},
    {"code": "notSelectable", "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
     "description": "A chapter or block: a grouping, not a code", "type": "boolean"},
    *({"code": code, "description": text, "type": "string"} for code, text in NOTE_KINDS),
    {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent",
     "description": "The concept directly above", "type": "code"},
    {"code": "child", "uri": "http://hl7.org/fhir/concept-properties#child",
     "description": "A concept directly below", "type": "code"},
]

FILTERS: list[dict[str, Any]] = [
    {"code": "concept", "operator": ["is-a", "descendent-of", "is-not-a", "child-of",
                                     "descendent-leaf", "generalizes"],
     "value": "a code, block or chapter"},
    {"code": "billable", "operator": ["="], "value": "true or false"},
    {"code": "kind", "operator": ["=", "in"], "value": "chapter, block, category or code"},
]

COPYRIGHT = (
    "ICD-10-CM is published by the US National Center for Health Statistics (CDC) and the "
    "Centers for Medicare & Medicaid Services; it is in the public domain. ICD-10 is copyright "
    "the World Health Organization."
)


def resource_id(version: str) -> str:
    return f"icd10cm-{version}"


def code_system_resource(version: str, effective_date: str | None, count: int,
                         tabular: bool = True) -> dict[str, Any]:
    """The CodeSystem resource for one fiscal year of ICD-10-CM, without concepts (`tabular`:
    read from the tabular list, else from the order file alone)."""
    contents = (
        "the chapters and blocks of the tabular list, its notes (includes, excludes, code "
        "first, ...) as properties, and the billable codes made with 7th characters"
        if tabular else "the codes of the CMS order file, with its long and short descriptions "
        "(no chapters, blocks or notes)")
    return sources.code_system_resource(
        resource_id=resource_id(version), url=URL, oid=OID, version=version, name="ICD10CM",
        title=f"ICD-10-CM FY{version}",
        publisher="National Center for Health Statistics (CDC) and CMS",
        description=(
            "International Classification of Diseases, Tenth Revision, Clinical Modification: "
            f"the US diagnosis codes, with {contents}. {count} concepts."
        ),
        copyright=COPYRIGHT, properties=PROPERTIES, filters=FILTERS,
        effective_date=effective_date, hierarchical=True,
    )


# -- the web page --------------------------------------------------------------------------

# Note headings in reading order. The ICD-10-CM conventions (Official Guidelines, section I.A)
# say that instructional notes at a chapter, block or category apply to every code below it;
# inclusion terms name what one code covers and stay with it.
NOTE_HEADINGS = (
    ("includes", "Includes"),
    ("inclusionTerm", "Inclusion terms"),
    ("excludes1", "Excludes1: not coded here (never together with this code)"),
    ("excludes2", "Excludes2: not included here (may be coded together)"),
    ("codeFirst", "Code first"),
    ("useAdditionalCode", "Use additional code"),
    ("codeAlso", "Code also"),
    ("notes", "Notes"),
    ("sevenChrNote", "7th characters"),
)
INHERITED_NOTES = frozenset(code for code, _ in NOTE_HEADINGS if code != "inclusionTerm")
# A code inside a note's text: `Z79.4`, `E08.-`, `O24.4-`; ranges `P70-P74` are two of them.
CODE_IN_TEXT = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"


def crumb(code: str, kinds: tuple[str, ...]) -> str:
    """`Chapter 4`, `E08–E13` (a block; `B20` for the one-category block `B20-B20`), `E11`."""
    if "chapter" in kinds:
        return f"Chapter {code}"
    if "block" in kinds:
        low, _, high = code.partition("-")
        return low if low == high else f"{low}\u2013{high}"
    return code


PAGES = CodeSetPages(
    url=URL, key=PROVIDER_KEY, label="ICD-10-CM", family="ICD-10",
    top=(("kind", "=", "chapter"),), crumb=crumb,
    designations={"short": "Short description"},
    properties={"kind": "Level", "billable": "Valid on a claim (billable)",
                "notSelectable": "A heading, not a code"},
    values={"kind": {"chapter": "Chapter", "block": "Block of categories",
                     "category": "Category (three characters)",
                     "code": "Code (four to seven characters)"}},
    notes=NOTE_HEADINGS, inherited_notes=INHERITED_NOTES, code_in_text=CODE_IN_TEXT,
)
