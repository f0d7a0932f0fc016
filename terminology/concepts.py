"""FHIR CodeSystem concept JSON read into model values, and supplements merged into concepts.

Shared by every provider: `concept_tree` reads a whole CodeSystem's concepts and hierarchy once,
for MemoryProvider (tx-resource code systems) and for the importer that stores loaded FHIR
CodeSystems in SQLite (one reading of the rules for both); valuesets.py reads the concepts a
ValueSet lists; MemoryProvider and SqlProvider add a supplement's designations and properties to
their concepts with `supplemented`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from terminology.model import Coding, Concept, Designation, Property

VALUE_TYPES = {
    "valueCode": "code", "valueCoding": "Coding", "valueString": "string",
    "valueInteger": "integer", "valueBoolean": "boolean", "valueDateTime": "dateTime",
    "valueDecimal": "decimal", "valueDate": "date", "valueUri": "uri",
}


def property_of(item: dict[str, Any]) -> Property | None:
    for key, type_ in VALUE_TYPES.items():
        if key in item:
            return Property(item.get("code", ""), item[key], type_)
    return None


SD = "http://hl7.org/fhir/StructureDefinition/"
# Concept extensions that stand for concept properties (FHIR concept-properties): code, type.
EXTENSION_PROPERTIES = {
    SD + "codesystem-label": ("label", "string"),
    SD + "valueset-label": ("label", "string"),
    SD + "codesystem-conceptOrder": ("order", "decimal"),
    SD + "valueset-conceptOrder": ("order", "decimal"),
    SD + "itemWeight": ("weight", "decimal"),
}
# Concept extensions an expansion carries along on its `contains` items.
KEPT_EXTENSIONS = {SD + "rendering-style", SD + "rendering-xhtml", SD + "valueset-deprecated",
                   SD + "valueset-concept-definition"}
KEPT_DESIGNATION_EXTENSIONS = {SD + "coding-sctdescid",
                               SD + "structuredefinition-standards-status"}


def extension_properties(extensions: list[dict[str, Any]]) -> list[Property]:
    out = []
    for ext in extensions:
        known = EXTENSION_PROPERTIES.get(ext.get("url", ""))
        value = next((v for k, v in ext.items() if k.startswith("value")), None)
        if known and value is not None:
            out.append(Property(known[0], value, known[1]))
    return out


def kept_extensions(extensions: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(e for e in extensions if e.get("url") in KEPT_EXTENSIONS)


def designation_of(item: dict[str, Any]) -> Designation:
    use = item.get("use")
    return Designation(
        value=item.get("value", ""),
        language=item.get("language"),
        use=Coding(use.get("system"), use.get("code"), display=use.get("display"))
        if isinstance(use, dict) else None,
        extensions=tuple(e for e in item.get("extension", [])
                         if e.get("url") in KEPT_DESIGNATION_EXTENSIONS),
    )



def supplement_items(supplement: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every concept item of a supplement, nested ones included, in document order."""
    stack = list(reversed(supplement.get("concept", [])))
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        yield item
        stack.extend(reversed(item.get("concept", [])))


def supplemented(concept: Concept, item: dict[str, Any], label: str,
                 language: str | None) -> Concept:
    """`concept` with what one supplement concept item adds: its designations (marked with the
    supplement's `label`), its display as a designation in the supplement's `language`, its
    properties (label, order and weight replace the concept's own), its kept extensions."""
    extra_d = [replace(designation_of(d), source=label) for d in item.get("designation", [])]
    if item.get("display") and language:
        extra_d.insert(0, Designation(item["display"], language, source=label))
    extra_p = [p for p in (property_of(x) for x in item.get("property", [])) if p is not None]
    extra_p += extension_properties(item.get("extension", []))
    replaced = {p.code for p in extra_p if p.code in ("label", "order", "weight")}
    return replace(
        concept,
        designations=concept.designations + tuple(extra_d),
        properties=tuple(p for p in concept.properties if p.code not in replaced)
        + tuple(extra_p),
        extensions=concept.extensions + kept_extensions(item.get("extension", [])),
    )


INACTIVE_STATUSES = {"retired", "inactive"}
STANDARDS_STATUS = SD + "structuredefinition-standards-status"
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"


@dataclass
class ConceptTree:
    """The concepts of one CodeSystem resource in document order (a code given twice: the
    later definition, at the first place) and its hierarchy as (parent, child) links, from
    nesting and from `parent`/`child`/`subsumedBy` properties."""

    concepts: dict[str, Concept] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)


def property_roles(resource: dict[str, Any]) -> dict[str, str]:
    """Property codes by the standard role they play: a code system may call notSelectable
    `not-selectable`, as long as its uri is concept-properties#notSelectable."""
    roles = {"status": "status", "inactive": "inactive", "notSelectable": "notSelectable",
             "abstract": "notSelectable"}
    for definition in resource.get("property", []):
        if not isinstance(definition, dict):
            continue
        uri = str(definition.get("uri", ""))
        for role in ("status", "inactive", "notSelectable"):
            if uri == CONCEPT_PROPERTIES + role:
                roles[str(definition.get("code"))] = role
    return roles


def concept_of(item: dict[str, Any], roles: dict[str, str]) -> Concept:
    """One concept item of a CodeSystem (without its nested concepts). A status of retired or
    inactive, or `inactive` true, makes it inactive; `notSelectable` true makes it abstract; a
    standards-status extension of deprecated or withdrawn is its status."""
    extensions = item.get("extension", [])
    properties = tuple(p for p in (property_of(x) for x in item.get("property", []))
                       if p is not None)
    properties += tuple(extension_properties(extensions))
    status = next((p.value for p in properties if roles.get(p.code) == "status"), None)
    standards = next((e.get("valueCode") for e in extensions
                      if e.get("url") == STANDARDS_STATUS), None)
    if status is None and standards in ("deprecated", "withdrawn"):
        status = standards
        properties += (Property("status", standards, "code"),)
    return Concept(
        code=item["code"],
        display=item.get("display"),
        definition=item.get("definition"),
        inactive=any(roles.get(p.code) == "inactive" and p.value is True for p in properties)
        or status in INACTIVE_STATUSES,
        abstract=any(roles.get(p.code) == "notSelectable" and p.value is True
                     for p in properties),
        designations=tuple(designation_of(d) for d in item.get("designation", [])
                           if isinstance(d, dict)),
        properties=properties,
        extensions=kept_extensions(extensions),
    )


def concept_tree(resource: dict[str, Any]) -> ConceptTree:
    """Every concept of a CodeSystem resource and its hierarchy (see ConceptTree)."""
    tree = ConceptTree()
    roles = property_roles(resource)
    seen: set[tuple[str, str]] = set()

    def link(parent: str, child: str) -> None:
        if (parent, child) not in seen:
            seen.add((parent, child))
            tree.links.append((parent, child))

    stack: list[tuple[Any, str | None]] = [
        (item, None) for item in reversed(resource.get("concept", []))]
    while stack:
        item, parent = stack.pop()
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            continue
        concept = concept_of(item, roles)
        tree.concepts[concept.code] = concept
        if parent is not None:
            link(parent, concept.code)
        stack.extend((child, concept.code) for child in reversed(item.get("concept", [])))
    for code, concept in tree.concepts.items():
        for p in concept.properties:
            if p.code in ("parent", "subsumedBy") and isinstance(p.value, str):
                link(p.value, code)
            elif p.code == "child" and isinstance(p.value, str):
                link(code, p.value)
    return tree
