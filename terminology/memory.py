"""MemoryProvider: a code system held in memory from one FHIR CodeSystem resource.

Used for `tx-resource` parameters, loaded FHIR CodeSystems and supplements. Nested concepts and
`parent`/`child`/`subsumedBy` properties both give the hierarchy; `notSelectable` makes a concept
abstract; `inactive`, or a status of retired/inactive, makes it inactive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from terminology.concepts import (
    designation_of,
    extension_properties,
    kept_extensions,
    property_of,
    supplement_items,
    supplemented,
)
from terminology.model import Canonical, Concept, Property

INACTIVE_STATUSES = {"retired", "inactive"}
STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


class MemoryProvider:
    """A provider over one CodeSystem resource (plus any supplements applied to it)."""

    def __init__(self, resource: dict[str, Any], supplements: list[dict[str, Any]] = ()) -> None:
        self.source_resource = resource
        self._resource = {k: v for k, v in resource.items() if k != "concept"}
        self.canonical = Canonical(resource.get("url", ""), resource.get("version"))
        self.name = resource.get("name") or resource.get("title") or self.canonical.url
        self.title = resource.get("title")
        self.content = resource.get("content", "complete")
        self.case_sensitive = bool(resource.get("caseSensitive", False))
        self.copyright = resource.get("copyright")
        self.resource_id = resource.get("id")
        self.effective_date = None
        self.language = resource.get("language")
        self.status = resource.get("status")
        self.supplements = [s.get("url", "") for s in supplements]
        self.property_defs = {p.get("code"): p for p in resource.get("property", [])
                              if isinstance(p, dict)}
        self._concepts: dict[str, Concept] = {}
        self._order: list[str] = []
        self._parents: dict[str, list[str]] = {}
        self._children: dict[str, list[str]] = {}
        self._folded: dict[str, str] = {}
        self._roles = self._property_roles()
        self._walk(resource.get("concept", []), None)
        self._link_properties()
        for supplement in supplements:
            self._apply_supplement(supplement)

    # -- building -----------------------------------------------------------------------------

    def _walk(self, items: list[dict[str, Any]], parent: str | None) -> None:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                continue
            code = item["code"]
            properties = tuple(p for p in (property_of(x) for x in item.get("property", []))
                               if p is not None)
            properties += tuple(extension_properties(item.get("extension", [])))
            roles = self._roles
            status = next((p.value for p in properties if roles.get(p.code) == "status"), None)
            standards = next((e.get("valueCode") for e in item.get("extension", [])
                              if e.get("url") == STANDARDS_STATUS), None)
            if status is None and standards in ("deprecated", "withdrawn"):
                status = standards
                properties += (Property("status", standards, "code"),)
            inactive = any(roles.get(p.code) == "inactive" and p.value is True
                           for p in properties) or status in INACTIVE_STATUSES
            abstract = any(roles.get(p.code) == "notSelectable" and p.value is True
                           for p in properties)
            concept = Concept(
                code=code,
                display=item.get("display"),
                definition=item.get("definition"),
                inactive=inactive,
                abstract=abstract,
                designations=tuple(designation_of(d) for d in item.get("designation", [])
                                   if isinstance(d, dict)),
                properties=properties,
                extensions=kept_extensions(item.get("extension", [])),
            )
            if code not in self._concepts:
                self._order.append(code)
                self._folded.setdefault(code.casefold(), code)
            self._concepts[code] = concept
            if parent is not None:
                self._link(parent, code)
            self._walk(item.get("concept", []), code)

    def _property_roles(self) -> dict[str, str]:
        """Property codes by the standard role they play: a code system may call
        notSelectable `not-selectable`, as long as its uri is concept-properties#notSelectable."""
        roles = {"status": "status", "inactive": "inactive", "notSelectable": "notSelectable",
                 "abstract": "notSelectable"}
        for code, definition in self.property_defs.items():
            uri = str(definition.get("uri", ""))
            for role in ("status", "inactive", "notSelectable"):
                if uri == f"http://hl7.org/fhir/concept-properties#{role}":
                    roles[code] = role
        return roles

    def _link(self, parent: str, child: str) -> None:
        if parent not in self._parents.setdefault(child, []):
            self._parents[child].append(parent)
        if child not in self._children.setdefault(parent, []):
            self._children[parent].append(child)

    def _link_properties(self) -> None:
        for code, concept in list(self._concepts.items()):
            for p in concept.properties:
                if p.code in ("parent", "subsumedBy") and isinstance(p.value, str):
                    self._link(p.value, code)
                elif p.code == "child" and isinstance(p.value, str):
                    self._link(code, p.value)

    def _apply_supplement(self, supplement: dict[str, Any]) -> None:
        language, label = supplement.get("language"), str(Canonical.of(supplement))
        for item in supplement_items(supplement):
            code = item.get("code")
            concept = self._concepts.get(code) if isinstance(code, str) else None
            if concept is not None:
                self._concepts[code] = supplemented(concept, item, label, language)
        for p in supplement.get("property", []):
            self.property_defs.setdefault(p.get("code"), p)

    def with_supplements(self, supplements: list[dict[str, Any]]) -> MemoryProvider:
        """A copy of this code system with the supplements' designations and properties."""
        return MemoryProvider(self.source_resource, supplements)

    # -- the provider protocol ----------------------------------------------------------------

    def locate(self, code: str) -> Concept | None:
        concept = self._concepts.get(code)
        if concept is None and not self.case_sensitive:
            folded = self._folded.get(code.casefold())
            concept = self._concepts.get(folded) if folded else None
        return concept

    def count(self) -> int:
        return len(self._order)

    def resource(self) -> dict[str, Any]:
        return self._resource

    def iter_concepts(self) -> Iterator[Concept]:
        for code in self._order:
            yield self._concepts[code]

    def parents(self, code: str) -> list[str]:
        return self._parents.get(code, [])

    def children(self, code: str) -> list[str]:
        return self._children.get(code, [])

    def roots(self) -> list[str]:
        return [c for c in self._order if not self._parents.get(c)]

    def descendants(self, code: str) -> list[str]:
        """All codes below `code`, in document order, each once."""
        seen: set[str] = set()
        stack = list(reversed(self.children(code)))
        out: list[str] = []
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out.append(current)
            stack.extend(reversed(self.children(current)))
        order = {c: i for i, c in enumerate(self._order)}
        return sorted(out, key=lambda c: order.get(c, 0))

    def subsumes(self, ancestor: str, code: str) -> bool:
        """True if `code` is `ancestor` or below it."""
        if ancestor == code:
            return True
        seen: set[str] = set()
        stack = list(self.parents(code))
        while stack:
            current = stack.pop()
            if current == ancestor:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(self.parents(current))
        return False
