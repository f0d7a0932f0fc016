"""The provider contract: what every code system answers (`CodeSystemProvider`), the small
capability protocols for what only some of them can do, and the `Registry` that hands
providers out.

Operations are written once against these protocols. A capability is tested with `isinstance`
against its `runtime_checkable` protocol (or read from an attribute every provider has), never
probed with `getattr(provider, "name", None)`: a misspelt probe silently answers "cannot", where
a protocol is checked by mypy. What is special about one code set (CPT's modifier expressions,
its filters, its dated add-on facts) is a capability its provider declares under codesystems/,
with the facts from that code set's definition; no operation names a code system.

The providers: SqlProvider (terminology/store/provider.py) over an imported code-system
version, MemoryProvider (terminology/memory.py) over one CodeSystem resource, and their
specialisations and the built-in grammars under codesystems/. The registries
(terminology/registry.py): StoreRegistry over the store, and the layers over it (a request's
`tx-resource` resources, its supplements).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar, _ProtocolMeta, runtime_checkable

from terminology.model import Canonical, Concept, Filter, Property
from terminology.store import ConceptMapInfo, Store, ValueSetInfo

Predicate = Callable[[Concept], bool]  # a filter of ValueSet.compose, over one concept
_T = TypeVar("_T")


class CodeSystemProvider(Protocol):
    """One version of one code system: the members every provider has."""

    @property
    def canonical(self) -> Canonical: ...  # url and version

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str | None: ...

    @property
    def case_sensitive(self) -> bool: ...

    @property
    def content(self) -> str: ...  # complete, fragment, example, not-present

    @property
    def copyright(self) -> str | None: ...

    @property
    def resource_id(self) -> str | None: ...  # the CodeSystem's id (`CodeSystem/{id}/$lookup`)

    @property
    def language(self) -> str | None: ...  # the language of its displays

    @property
    def effective_date(self) -> str | None: ...  # first day in force; None: not dated

    @property
    def property_defs(self) -> Mapping[str, dict[str, Any]]: ...  # CodeSystem.property by code

    def locate(self, code: str) -> Concept | None:
        """The concept for `code`, or None. Raises InvalidCode for a malformed expression."""

    def count(self) -> int:
        """How many concepts it lists; -1 for a code system defined by a grammar (BCP-47,
        UCUM), which has no list."""

    def resource(self) -> dict[str, Any]:
        """The CodeSystem resource without its concepts."""

    def summary(self) -> dict[str, Any]:
        """The CodeSystem resource without its concepts and its narrative, at no cost: what a
        status check of every code system an expansion drew on reads."""

    def iter_concepts(self) -> Iterator[Concept]:
        """Every concept it lists, in its own order."""


# -- capabilities -----------------------------------------------------------------------------


_CAPABLE: dict[tuple[type, type], bool] = {}  # (protocol, provider class) -> isinstance


class _Capability(_ProtocolMeta):
    """The capability protocols' metaclass: `isinstance(provider, Hierarchy)` is remembered
    per provider class, since Python 3.11 walks a protocol's members at every check (~10 µs,
    several times a request). Every provider class declares its capabilities on the class;
    one that hands attributes on through __getattr__ is checked each time."""

    def __instancecheck__(cls, instance: Any) -> bool:
        key = (cls, type(instance))
        found = _CAPABLE.get(key)
        if found is None:
            found = super().__instancecheck__(instance)
            if not hasattr(type(instance), "__getattr__"):
                _CAPABLE[key] = found
        return found


@runtime_checkable
class Hierarchy(Protocol, metaclass=_Capability):
    """Parent/child links between codes (ICD-10-CM, loaded CodeSystems). A provider without
    them has no parents, children or descendants, and subsumes only a code by itself."""

    def parents(self, code: str) -> list[str]: ...

    def children(self, code: str) -> list[str]: ...

    def descendants(self, code: str) -> list[str]:
        """Every code below `code`, each once."""

    def subsumes(self, ancestor: str, code: str) -> bool:
        """True if `code` is `ancestor` or below it."""


@runtime_checkable
class TextSearch(Protocol, metaclass=_Capability):
    """Ranked text search over the codes, displays and designations. Several stored code
    systems are searched together, with a true count, by `Registry.search_across`."""

    def search(self, text: str, limit: int | None = 20) -> list[str]:
        """Codes matching `text`, best first (at most `limit`; None: every match)."""


@runtime_checkable
class Expressions(Protocol, metaclass=_Capability):
    """A compositional code system: expressions built from its codes are codes too (CPT's
    `99213:25`, a code and its modifiers), which no expansion can list. An include of it is
    closed (every member listed) only when one of its filters is a closing filter, one that
    keeps expressions out."""

    closing_filters: frozenset[Filter]  # (property, op, value in lower case)


@runtime_checkable
class SpecialFilters(Protocol, metaclass=_Capability):
    """Filters a code system defines beyond FHIR's generic ones (CPT: `modified`, `modifier`,
    `code in` ranges)."""

    def special_filter(self, prop: str, op: str, value: str) -> Predicate | None:
        """The code system's own test for this filter; None: the generic filter applies."""


@runtime_checkable
class ExpansionLimit(Protocol, metaclass=_Capability):
    """A code system that may list only so many codes in one expansion (CPT: the 1,000 agreed
    with the AMA), below the server's own limit."""

    expand_limit: int


@runtime_checkable
class LenientWhitespace(Protocol, metaclass=_Capability):
    """A code system whose displays match whatever runs of white space they hold (any AMA
    descriptor of CPT)."""

    lenient_whitespace: bool


@runtime_checkable
class DatedFacts(Protocol, metaclass=_Capability):
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
class Supplementable(Protocol, metaclass=_Capability):
    """A code system that can be seen with supplements: their designations and properties on
    its concepts (a copy; the provider itself is unchanged)."""

    def with_supplements(self, supplements: list[dict[str, Any]]) -> CodeSystemProvider: ...


@runtime_checkable
class AsLoaded(Protocol, metaclass=_Capability):
    """A provider over a FHIR CodeSystem that can give its `concept` array as it was loaded
    (nested, every element kept), for CodeSystem reads; None when it has none."""

    def concepts_as_loaded(self) -> list[dict[str, Any]] | None: ...


@runtime_checkable
class PagedListing(CodeSystemProvider, Protocol, metaclass=_Capability):
    """A code system that reads a page of its concepts without listing those before it (a
    stored one): a page of ICD-10-CM's implicit value set at offset 50,000 costs the page."""

    def concept_page(self, offset: int, count: int) -> list[Concept]:
        """The concepts `iter_concepts()` lists at positions offset to offset + count - 1;
        there are `count()` in all."""


@runtime_checkable
class ExplainsUnknownCodes(Protocol, metaclass=_Capability):
    """A code system whose parser can say why a code is not one of its codes (UCUM: `The unit
    'kgXX' is unknown at character 1`); $validate-code reports it beside `Unknown code`."""

    def explain_unknown(self, code: str) -> str | None: ...


# -- the registry ---------------------------------------------------------------------------

Hit = tuple[CodeSystemProvider, str]  # a code found by text search, and its code system
ALL_CODES_URL = "urn:txserver:ValueSet/all-codes"  # every code of every code system loaded


class Registry(Protocol):
    """What operations ask of the code systems, value sets and maps a request can see."""

    @property
    def store(self) -> Store: ...  # the store below every layer (the CMS edit tables)

    @property
    def generation(self) -> int:
        """The store generation this request reads: what every cached answer is keyed by."""

    # -- code systems
    def resolve(self, url: str, version: str | None = None,
                on_date: str | None = None) -> CodeSystemProvider:
        """The provider for `url` at `version` (exact or `x` wildcard), else the version in
        force on `on_date`. Raises NotFound (UNKNOWN_CODESYSTEM[_VERSION])."""

    def knows(self, url: str) -> bool: ...

    def versions(self, url: str) -> list[str]: ...

    def canonical_url(self, url: str) -> str:
        """The url a code system is served at, for any of its spellings."""

    def by_id(self, resource_id: str) -> CodeSystemProvider | None: ...

    def providers(self) -> list[CodeSystemProvider]:
        """Every stored code-system version, by url (CodeSystem search lists these)."""

    def builtin_providers(self) -> list[CodeSystemProvider]:
        """The code systems served without an import (BCP-47, UCUM, ISO 3166…)."""

    def code_system_urls(self) -> list[str]:
        """The urls of the stored code systems."""

    def search_across(self, providers: Sequence[CodeSystemProvider], text: str,
                      limit: int | None) -> list[Hit] | None:
        """(provider, code) best first across several stored code systems in one ranked
        search; None when some provider is not a stored one (each must be searched alone)."""

    def counts_across(self, providers: Sequence[CodeSystemProvider],
                      text: str) -> list[tuple[CodeSystemProvider, int]] | None:
        """How many codes `search_across` would find in each code system that has a match,
        without ranking them (None as there)."""

    def correction_across(self, providers: Sequence[CodeSystemProvider],
                          text: str) -> str | None:
        """What the search stands for instead of `text` when it corrected a typo (`diabetes`
        for `diabetis`), over those stored code systems; None when it did not (or cannot
        tell)."""

    def kept(self, valueset: dict[str, Any], name: str, compute: Callable[[], _T]) -> _T:
        """`compute()`, what `name` is of `valueset`, kept for the store generation and the
        day when `valueset` is the registry's all-codes value set and the registry is the
        store's alone: all-codes has an include for each of hundreds of code systems, and
        every search over it asks the same of it. Otherwise computed each time (a value set
        a client sent is never kept)."""

    # -- supplements
    def supplement(self, url: str, version: str | None = None) -> dict[str, Any] | None: ...

    def supplement_resources(self) -> list[dict[str, Any]]: ...

    # -- value sets
    def value_set(self, url: str, version: str | None = None) -> dict[str, Any] | None: ...

    def value_sets(self) -> list[dict[str, Any]]: ...

    def value_set_infos(self) -> list[ValueSetInfo]:
        """Every value set served, as summaries (value_set_resource reads one)."""
        ...

    def value_set_by_id(self, resource_id: str) -> dict[str, Any] | None: ...

    def value_set_resource(self, info: ValueSetInfo) -> dict[str, Any]: ...

    # -- concept maps
    def concept_maps(self) -> list[ConceptMapInfo]: ...

    def concept_map_resources(self) -> list[dict[str, Any]]: ...

