"""FHIR CodeSystem concept JSON read into model values, and supplements merged into concepts.

Shared by every provider: MemoryProvider reads whole CodeSystems with these helpers, valuesets.py
reads the concepts a ValueSet lists, and both MemoryProvider and SqlProvider add a supplement's
designations and properties to their concepts with `supplemented` (one rule for both).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
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
