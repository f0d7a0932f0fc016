"""SqlProvider: the provider over one imported code-system version (terminology.provider's
CodeSystemProvider, with the Hierarchy, TextSearch, Supplementable and AsLoaded capabilities).

The hierarchy (`parents`, `children`, `subsumes`, `descendants`) comes from the stored links,
ranked text search (`search`) from the store's FTS5 index. Specialisations under codesystems/
(CPT's modifier expressions and dated add-on facts) override `_located` and `_listed`, the
concepts as stored; supplements are applied on top of those, in `locate` and `iter_concepts`.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, ClassVar

from terminology.concepts import supplement_items, supplemented
from terminology.model import Canonical, Concept
from terminology.store import CodeSystemInfo, Store

SupplementItem = tuple[dict[str, Any], str, str | None]  # (concept item, url|version, language)


# What the stored code systems keep read, all of them together: a bound per code system let
# memory grow with the number loaded (up to 8,192 concepts each of the HL7 Terminology
# package's 897 code systems).
CONCEPTS_KEPT = 8192  # concepts (~1 KB each read from ICD-10-CM)
LINKS_KEPT = 8192  # lists of parents, and of children
DESCENDANT_SETS_KEPT = 64  # the codes below one code (an is-a filter's test)


@lru_cache(maxsize=CONCEPTS_KEPT)
def _kept_concept(provider: SqlProvider, code: str) -> Concept | None:
    return provider._load(code)


@lru_cache(maxsize=LINKS_KEPT)
def _kept_parents(provider: SqlProvider, code: str) -> tuple[str, ...]:
    return tuple(provider.store.parents(provider.info.id, code))


@lru_cache(maxsize=LINKS_KEPT)
def _kept_children(provider: SqlProvider, code: str) -> tuple[str, ...]:
    return tuple(provider.store.children(provider.info.id, code))


@lru_cache(maxsize=DESCENDANT_SETS_KEPT)
def _kept_below(provider: SqlProvider, code: str) -> frozenset[str]:
    return frozenset(provider.store.descendants(provider.info.id, code))


class SqlProvider:
    """A provider over one stored code-system version. What it reads of the store is kept in
    process-wide caches (above), keyed by the provider it was read for."""

    CACHE_SIZE = 8192  # per-provider caches of subclasses (CPT's enriched concepts)
    RESOURCES_KEPT = 32  # whole resources (with their narratives) kept parsed, of all versions
    _resources: ClassVar[OrderedDict[SqlProvider, dict[str, Any]]] = OrderedDict()
    _resources_lock = threading.Lock()

    def __init__(self, store: Store, info: CodeSystemInfo) -> None:
        self.store = store
        # the narrative (most of a terminology package's code-system resources: 7.5 of 9 MB
        # of JSON for HL7 Terminology's 897) is read from the store when the resource is
        self._narrated = "text" in info.resource
        if self._narrated:
            info = replace(info, resource={k: v for k, v in info.resource.items()
                                           if k != "text"})
        self.info = info
        self.canonical = Canonical(info.url, info.version)
        self.name = info.name or info.title or info.url
        self.title = info.title
        self.case_sensitive = info.case_sensitive
        self.content = info.content
        self.copyright: str | None = info.resource.get("copyright")
        self.resource_id: str | None = info.resource_id
        self.effective_date = info.effective_date
        self.language: str | None = info.resource.get("language")
        self._kept_as = self  # the caches' key, which a copy with supplements shares
        self.property_defs: dict[str, dict[str, Any]] = {
            p["code"]: p for p in info.resource.get("property", [])
            if isinstance(p, dict) and p.get("code")
        }
        self._hierarchical: bool | None = None
        self._supplement_items: dict[str, list[SupplementItem]] = {}

    def _load(self, code: str) -> Concept | None:
        concept = self.store.concept(self.info.id, code)
        if concept is None and not self.case_sensitive:
            concept = self.store.concept_nocase(self.info.id, code)
        return concept

    # -- the provider protocol ----------------------------------------------------------------

    def locate(self, code: str) -> Concept | None:
        return self._supplemented(self._located(code))

    def count(self) -> int:
        return self.info.count

    def resource(self) -> dict[str, Any]:
        """The CodeSystem resource as stored, without its concepts (with its narrative: read
        from the store, the RESOURCES_KEPT last asked for kept)."""
        if not self._narrated:
            return self.info.resource
        cls = SqlProvider
        with cls._resources_lock:
            found = cls._resources.get(self)
            if found is not None:
                cls._resources.move_to_end(self)
                return found
        found = self.store.code_system_resource(self.info.id)
        if found is None or (found.get("url"), found.get("id")) != (
                self.info.resource.get("url"), self.info.resource.get("id")):
            found = self.info.resource  # the row was replaced since (read outside a request)
        with cls._resources_lock:
            cls._resources[self] = found
            while len(cls._resources) > cls.RESOURCES_KEPT:
                cls._resources.popitem(last=False)
        return found

    def summary(self) -> dict[str, Any]:
        return self.info.resource  # the catalog's copy, without the narrative

    def iter_concepts(self) -> Iterator[Concept]:
        return self._as_seen(self._listed())

    def concept_page(self, offset: int, count: int) -> list[Concept]:
        return list(self._as_seen(self._listed(offset, count)))

    def _as_seen(self, listed: Iterator[Concept]) -> Iterator[Concept]:
        """The concepts listed, with this view's supplements applied (if any)."""
        if not self._supplement_items:
            return listed
        return (self._supplemented(concept) or concept for concept in listed)

    def concepts_as_loaded(self) -> list[dict[str, Any]] | None:
        """A loaded FHIR CodeSystem's concepts as they came (see AsLoaded)."""
        return self.store.concepts_as_loaded(self.info.id)

    def _located(self, code: str) -> Concept | None:
        """The concept as the code system holds it (before supplements)."""
        return self._stored(code)

    def _stored(self, code: str) -> Concept | None:
        """The concept's row as read from the store (kept: _kept_concept)."""
        return _kept_concept(self._kept_as, code)

    def _listed(self, offset: int = 0, limit: int = -1) -> Iterator[Concept]:
        """The concepts as the code system holds them (before supplements), from position
        `offset`, at most `limit` (-1: all)."""
        return self.store.iter_concepts(self.info.id, offset, limit)

    # -- hierarchy ----------------------------------------------------------------------------

    @property
    def hierarchical(self) -> bool:
        """Whether this version has parent/child links at all (CPT has none)."""
        if self._hierarchical is None:
            self._hierarchical = self.store.has_links(self.info.id)
        return self._hierarchical

    def parents(self, code: str) -> list[str]:
        return list(_kept_parents(self._kept_as, code)) if self.hierarchical else []

    def children(self, code: str) -> list[str]:
        return list(_kept_children(self._kept_as, code)) if self.hierarchical else []

    def descendants(self, code: str) -> list[str]:
        """Every code below `code`, in the code system's order."""
        return self.store.descendants(self.info.id, code) if self.hierarchical else []

    def subsumes(self, ancestor: str, code: str) -> bool:
        """True if `code` is `ancestor` or below it. The codes below `ancestor` are read once
        and kept, so an is-a filter testing every concept against one code stays cheap."""
        if ancestor == code:
            return True
        return self.hierarchical and code in _kept_below(self._kept_as, ancestor)

    # -- text search --------------------------------------------------------------------------

    def search(self, text: str, limit: int | None = 20) -> list[str]:
        """Codes matching `text`, best first: the code typed exactly, then ranked word matches."""
        return [hit.code for hit in self.store.search(text, [self.info.id], limit)]

    # -- supplements --------------------------------------------------------------------------

    def with_supplements(self, supplements: list[dict[str, Any]]) -> SqlProvider:
        """This code system as seen with the supplements' designations and properties: a
        shallow copy of the same class (so every capability stays), sharing the caches of
        stored concepts, which supplements never change."""
        seen = copy.copy(self)
        seen.property_defs = dict(self.property_defs)
        seen._supplement_items = {code: list(items)
                                  for code, items in self._supplement_items.items()}
        for s in supplements:
            label, language = str(Canonical.of(s)), s.get("language")
            for item in supplement_items(s):
                if isinstance(item.get("code"), str):
                    seen._supplement_items.setdefault(item["code"], []).append(
                        (item, label, language))
            for p in s.get("property", []):
                seen.property_defs.setdefault(p.get("code"), p)
        return seen

    def _supplemented(self, concept: Concept | None) -> Concept | None:
        if concept is None or concept.expression or not self._supplement_items:
            return concept
        for item, label, language in self._supplement_items.get(concept.code, ()):
            concept = supplemented(concept, item, label, language)
        return concept


def one_store(providers: Sequence[object]) -> Store | None:
    """The store all these providers read, if they are all stored code systems of one store
    (then one ranked search covers them all)."""
    stored = [p for p in providers if isinstance(p, SqlProvider)]
    if not providers or len(stored) != len(providers):
        return None
    store = stored[0].store
    return store if all(p.store is store for p in stored) else None
