"""MemoryProvider: a code system held in memory from one FHIR CodeSystem resource.

Used for `tx-resource` parameters (per request) and supplements; CodeSystems loaded with
`txserver import` are stored in SQLite instead (SqlProvider). Both read a resource's concepts
with `terminology.concepts.concept_tree`: nested concepts and `parent`/`child`/`subsumedBy`
properties give the hierarchy, `notSelectable` makes a concept abstract, `inactive` or a status
of retired/inactive makes it inactive.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from terminology.concepts import concept_tree, supplement_items, supplemented
from terminology.model import Canonical, Concept


class MemoryProvider:
    """A provider over one CodeSystem resource (plus any supplements applied to it): the
    CodeSystemProvider protocol with the Hierarchy, Supplementable and AsLoaded capabilities."""

    def __init__(self, resource: dict[str, Any],
                 supplements: Sequence[dict[str, Any]] = ()) -> None:
        self.source_resource = resource
        self._resource = {k: v for k, v in resource.items() if k != "concept"}
        self.canonical = Canonical(resource.get("url", ""), resource.get("version"))
        self.name: str = resource.get("name") or resource.get("title") or self.canonical.url
        self.title: str | None = resource.get("title")
        self.content: str = resource.get("content", "complete")
        self.case_sensitive = bool(resource.get("caseSensitive", False))
        self.copyright: str | None = resource.get("copyright")
        self.resource_id: str | None = resource.get("id")
        self.effective_date: str | None = None
        self.language: str | None = resource.get("language")
        self.status = resource.get("status")
        self.property_defs: dict[str, dict[str, Any]] = {
            p["code"]: p for p in resource.get("property", [])
            if isinstance(p, dict) and isinstance(p.get("code"), str)}
        tree = concept_tree(resource)
        self._concepts: dict[str, Concept] = tree.concepts
        self._order: list[str] = list(tree.concepts)
        self._parents: dict[str, list[str]] = {}
        self._children: dict[str, list[str]] = {}
        self._folded: dict[str, str] = {}
        for code in reversed(self._order):
            self._folded[code.casefold()] = code  # the first of codes that fold alike wins
        for parent, child in tree.links:
            self._parents.setdefault(child, []).append(parent)
            self._children.setdefault(parent, []).append(child)
        for supplement in supplements:
            self._apply_supplement(supplement)

    # -- building -----------------------------------------------------------------------------

    def _apply_supplement(self, supplement: dict[str, Any]) -> None:
        language, label = supplement.get("language"), str(Canonical.of(supplement))
        for item in supplement_items(supplement):
            code = item.get("code")
            if isinstance(code, str) and code in self._concepts:
                self._concepts[code] = supplemented(self._concepts[code], item, label, language)
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

    def summary(self) -> dict[str, Any]:
        return self._resource  # no narrative held apart

    def concepts_as_loaded(self) -> list[dict[str, Any]] | None:
        """The resource's concepts as given (see provider.AsLoaded)."""
        concepts = self.source_resource.get("concept")
        return concepts if isinstance(concepts, list) else None

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
