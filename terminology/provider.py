"""The CodeSystemProvider protocol, and SqlProvider: a provider over an imported code system.

Operations are written once against `CodeSystemProvider`; what is special about one code set
(CPT's modifier expressions, its add-on edits) lives in a subclass under codesystems/.
SqlProvider also answers the hierarchy (`parents`, `children`, `subsumes`, `descendants`) from
the stored links and ranked text search (`search`) from the store's FTS5 index.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from terminology.concepts import supplement_items, supplemented
from terminology.model import Canonical, Concept, Property
from terminology.store import CodeSystemInfo, Store


class CodeSystemProvider(Protocol):
    canonical: Canonical
    name: str
    title: str | None
    case_sensitive: bool
    content: str
    copyright: str | None
    resource_id: str | None

    def locate(self, code: str) -> Concept | None:
        """The concept for `code`, or None. Raises InvalidExpression for a malformed expression."""

    def count(self) -> int:
        """How many concepts; -1 for a code system defined by a grammar (BCP-47, UCUM)."""

    def resource(self) -> dict[str, Any]:
        """The CodeSystem resource without its concepts."""


@runtime_checkable
class AsLoaded(Protocol):
    """A provider over a FHIR CodeSystem that can give its `concept` array as it was loaded
    (nested, every element kept), for CodeSystem reads; None when it has none."""

    def concepts_as_loaded(self) -> list[dict[str, Any]] | None: ...


@runtime_checkable
class DatedFacts(Protocol):
    """A provider some of whose facts depend on the date of service (CPT: the primary codes of
    the CMS add-on edits and the MUE limits in force). `locate` gives them as of today
    (terminology.clock); `dated_facts` as of another date."""

    dated_properties: frozenset[str]  # the property codes `dated_facts` gives

    def dated_facts(self, code: str, on_date: str) -> tuple[Property, ...]: ...


def facts_on(provider: DatedFacts, concept: Concept, on_date: str) -> Concept:
    """`concept` (as located today) with its date-dependent facts as of `on_date` instead."""
    dated = provider.dated_properties
    props = concept.properties
    at = next((i for i, p in enumerate(props) if p.code in dated), len(props))
    before = tuple(p for p in props[:at] if p.code not in dated)
    after = tuple(p for p in props[at:] if p.code not in dated)
    facts = provider.dated_facts(concept.code, on_date)
    return replace(concept, properties=before + facts + after)


@runtime_checkable
class ExplainsUnknownCodes(Protocol):
    """A code system whose parser can say why a code is not one of its codes (UCUM: `The unit
    'kgXX' is unknown at character 1`); $validate-code reports it beside `Unknown code`."""

    def explain_unknown(self, code: str) -> str | None: ...


class SqlProvider:
    """A provider over one stored code-system version. Concepts are cached per provider."""

    CACHE_SIZE = 8192

    def __init__(self, store: Store, info: CodeSystemInfo) -> None:
        self.store = store
        self.info = info
        self.canonical = Canonical(info.url, info.version)
        self.name = info.name or info.title or info.url
        self.title = info.title
        self.case_sensitive = info.case_sensitive
        self.content = info.content
        self.copyright = info.resource.get("copyright")
        self.resource_id = info.resource_id
        self.effective_date = info.effective_date
        self.language = info.resource.get("language")
        self._cached = lru_cache(maxsize=self.CACHE_SIZE)(self._load)
        self.property_defs: dict[str, dict[str, Any]] = {
            p["code"]: p for p in info.resource.get("property", [])
            if isinstance(p, dict) and p.get("code")
        }
        self._parents = lru_cache(maxsize=self.CACHE_SIZE)(self._load_parents)
        self._children = lru_cache(maxsize=self.CACHE_SIZE)(self._load_children)
        self._below = lru_cache(maxsize=64)(self._load_below)
        self._hierarchical: bool | None = None

    def _load(self, code: str) -> Concept | None:
        concept = self.store.concept(self.info.id, code)
        if concept is None and not self.case_sensitive:
            concept = self.store.concept_nocase(self.info.id, code)
        return concept

    def locate(self, code: str) -> Concept | None:
        return self._cached(code)

    def count(self) -> int:
        return self.info.count

    def resource(self) -> dict[str, Any]:
        return self.info.resource

    def iter_concepts(self) -> Any:
        return self.store.iter_concepts(self.info.id)

    def concepts_as_loaded(self) -> list[dict[str, Any]] | None:
        """A loaded FHIR CodeSystem's concepts as they came (see AsLoaded)."""
        return self.store.concepts_as_loaded(self.info.id)

    # -- hierarchy ----------------------------------------------------------------------------

    @property
    def hierarchical(self) -> bool:
        """Whether this version has parent/child links at all (CPT has none)."""
        if self._hierarchical is None:
            self._hierarchical = self.store.has_links(self.info.id)
        return self._hierarchical

    def _load_parents(self, code: str) -> tuple[str, ...]:
        return tuple(self.store.parents(self.info.id, code))

    def _load_children(self, code: str) -> tuple[str, ...]:
        return tuple(self.store.children(self.info.id, code))

    def _load_below(self, code: str) -> frozenset[str]:
        return frozenset(self.store.descendants(self.info.id, code))

    def parents(self, code: str) -> list[str]:
        return list(self._parents(code)) if self.hierarchical else []

    def children(self, code: str) -> list[str]:
        return list(self._children(code)) if self.hierarchical else []

    def descendants(self, code: str) -> list[str]:
        """Every code below `code`, in the code system's order."""
        return self.store.descendants(self.info.id, code) if self.hierarchical else []

    def subsumes(self, ancestor: str, code: str) -> bool:
        """True if `code` is `ancestor` or below it. The codes below `ancestor` are read once
        and kept, so an is-a filter testing every concept against one code stays cheap."""
        if ancestor == code:
            return True
        return self.hierarchical and code in self._below(ancestor)

    # -- text search --------------------------------------------------------------------------

    def search(self, text: str, limit: int | None = 20) -> list[str]:
        """Codes matching `text`, best first: the code typed exactly, then ranked word matches."""
        return [hit.code for hit in self.store.search(text, [self.info.id], limit)]

    # -- supplements --------------------------------------------------------------------------

    def with_supplements(self, supplements: list[dict[str, Any]]) -> SupplementedProvider:
        """This code system as seen with the supplements' designations and properties."""
        return SupplementedProvider(self, supplements)


class SupplementedProvider:
    """A stored code system with supplements applied to the concepts it locates or lists;
    everything else is the wrapped provider's (SQL-backed code systems are too large to copy,
    as MemoryProvider.with_supplements does)."""

    def __init__(self, base: Any, supplements: list[dict[str, Any]]) -> None:
        self.base = base
        self.supplements = [s.get("url", "") for s in supplements]
        self.property_defs = dict(getattr(base, "property_defs", {}))
        self._items: dict[str, list[tuple[dict[str, Any], str, str | None]]] = {}
        for s in supplements:
            label, language = str(Canonical.of(s)), s.get("language")
            for item in supplement_items(s):
                if isinstance(item.get("code"), str):
                    self._items.setdefault(item["code"], []).append((item, label, language))
            for p in s.get("property", []):
                self.property_defs.setdefault(p.get("code"), p)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def _supplemented(self, concept: Concept | None) -> Concept | None:
        if concept is None or concept.expression:
            return concept
        for item, label, language in self._items.get(concept.code, ()):
            concept = supplemented(concept, item, label, language)
        return concept

    def locate(self, code: str) -> Concept | None:
        return self._supplemented(self.base.locate(code))

    def iter_concepts(self, *args: Any, **kwargs: Any) -> Any:
        for concept in self.base.iter_concepts(*args, **kwargs):
            yield self._supplemented(concept)


def _one_store(providers: list[Any]) -> Store | None:
    """The store all these providers read, if they are all stored code systems of one store."""
    if not providers or not all(isinstance(p, SqlProvider) for p in providers):
        return None
    store = providers[0].store
    return store if all(p.store is store for p in providers) else None


def search_across(providers: list[Any], text: str,
                  limit: int | None) -> list[tuple[Any, str]] | None:
    """(provider, code) best first across several stored code systems in one ranked search;
    None when some provider is not a stored one (then each must be searched on its own)."""
    store = _one_store(providers)
    if store is None:
        return None
    by_id = {p.info.id: p for p in providers}
    return [(by_id[hit.cs_id], hit.code) for hit in store.search(text, list(by_id), limit)]


def correction_across(providers: list[Any], text: str) -> str | None:
    """What the search stands for instead of `text` when it corrected a typo (`diabetes` for
    `diabetis`), over those stored code systems; None when it did not (or cannot tell)."""
    store = _one_store(providers)
    return None if store is None else store.correction(text, [p.info.id for p in providers])


def count_across(providers: list[Any], text: str) -> int | None:
    """How many codes `search_across` would find, without ranking them (None as there)."""
    store = _one_store(providers)
    return None if store is None else store.count_matches(text, [p.info.id for p in providers])
