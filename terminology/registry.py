"""The registries, each implementing terminology.provider's Registry protocol: resolving a
canonical (url, url|version, wildcard `2025.x`, or a date) to a provider, and finding value
sets, supplements and concept maps. StoreRegistry serves the store; a RegistryLayer hands what
it does not hold itself to the registry below it (RequestRegistry: one request's `tx-resource`
resources; supplements.SupplementedRegistry: the supplements a request asks for).

StoreRegistry's catalog (providers, value sets, maps) is built once per store generation, so a
server keeps serving while `txserver import` adds a year; a request is pinned to one
generation from start to end (`StoreRegistry.snapshot`), so it never mixes data from before
and after an import.

Built-in providers (code systems defined by a grammar or shipped with the server: BCP-47, UCUM,
ISO 3166…) are served beside the stored ones; a stored stub of the same system (`content =
not-present`, as terminology packages carry for external code systems) gives way to the
built-in provider that has the content.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar, cast

from terminology import clock, heap
from terminology.errors import NotFound
from terminology.memory import MemoryProvider
from terminology.model import Canonical
from terminology.provider import ALL_CODES_URL, CodeSystemProvider, Hit, Registry
from terminology.store import CodeSystemInfo, ConceptMapInfo, Store, ValueSetInfo, version_key
from terminology.store.provider import SqlProvider, one_store
from terminology.textsearch.synonyms import Synonyms

ProviderFactory = Callable[[Store, CodeSystemInfo], CodeSystemProvider]
_Scope = tuple[Store, dict[int, SqlProvider], list[int]]  # StoreRegistry._scope
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the registry serves from one store generation, built once for it: the providers
    (each holding the row ids of its version), value sets, supplements and concept maps."""

    generation: int
    by_url: dict[str, list[CodeSystemProvider]]
    by_id: dict[str, CodeSystemProvider]
    maps: list[ConceptMapInfo]
    value_sets: dict[str, list[ValueSetInfo]]  # oldest version first; resources read when used
    supplements: dict[str, list[dict[str, Any]]]
    system_ids: dict[str, str]  # another unique id of a code system (urn:oid:...) -> its url
    stored: dict[str, list[CodeSystemProvider]]  # by_url without the built-in providers
    all_codes: dict[str, Any]  # the all-codes value set (StoreRegistry.all_codes)
    value_sets_by_id: dict[str, ValueSetInfo]  # the first of value_set_infos with each id
    # what was worked out from the all-codes value set in this generation (StoreRegistry.kept):
    # by (name, id of the value set, day), with the value set to tell it is the same one
    kept: OrderedDict[tuple[str, int, str], tuple[dict[str, Any], Any]] = field(
        default_factory=OrderedDict)


class _Pin(threading.local):
    """The catalog this thread's request is pinned to, if any."""

    catalog: Catalog | None = None


class _Snapshot:
    """StoreRegistry.snapshot(): a class, not a generator, since every request enters one."""

    __slots__ = ("_registry", "_store_snapshot")

    def __init__(self, registry: StoreRegistry) -> None:
        self._registry = registry
        self._store_snapshot: AbstractContextManager[int] | None = None

    def __enter__(self) -> int:
        registry = self._registry
        pinned = registry._pinned.catalog
        if pinned is not None:
            return pinned.generation
        if not registry._store_exists():
            return registry._current().generation
        store_snapshot = registry.store.snapshot()
        generation = store_snapshot.__enter__()
        try:
            registry._pinned.catalog = registry._catalog_at(generation)
        except BaseException:
            store_snapshot.__exit__(None, None, None)
            raise
        self._store_snapshot = store_snapshot
        return generation

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        store_snapshot = self._store_snapshot
        if store_snapshot is not None:
            self._store_snapshot = None
            self._registry._pinned.catalog = None
            store_snapshot.__exit__(kind, error, trace)


class StoreRegistry:
    """The stored code systems, value sets and maps, at one store generation per request.

    `snapshot()` pins the calling thread (one request) to the generation committed when it
    starts: the store's reads and the registry's catalog then stay that generation's until the
    request ends, whatever an import commits meanwhile. Outside a snapshot each call sees the
    newest generation."""

    KEEP = 2  # catalogs kept: the newest generation, and the one requests may still be on
    VALUE_SETS_KEPT = 256  # stored value sets kept parsed (the ones in use), the rest on disk
    FACTS_KEPT = 64  # facts worked out from the all-codes value set, per generation (kept)
    SCOPES_KEPT = 16  # tuples of providers searched together, with their store and row ids

    def __init__(
        self,
        store: Store,
        factories: Mapping[str, ProviderFactory] | None = None,
        value_sets: list[dict[str, Any]] | None = None,
        aliases: Mapping[str, str] | None = None,
        builtins: Sequence[CodeSystemProvider] = (),
        synonyms: Synonyms | None = None,
    ):
        self.store = store
        self.builtins = tuple(builtins)
        # the synonym table; each generation adds the designations of its supplements to it
        self.synonyms = synonyms
        # other spellings of a code system's url (HCPCS's https://...) -> the url it is stored at
        self.aliases: dict[str, str] = dict(aliases or {})
        self.factories: dict[str, ProviderFactory] = dict(factories or {})
        self.builtin_value_sets = list(value_sets or [])
        self._lock = threading.Lock()
        self._catalogs: OrderedDict[int, Catalog] = OrderedDict()
        self._pinned = _Pin()
        self._file_seen = False
        self._value_sets: OrderedDict[tuple[int, int], dict[str, Any] | None] = OrderedDict()
        self._scopes: OrderedDict[int, tuple[tuple[CodeSystemProvider, ...], _Scope | None]] = (
            OrderedDict())
        self.refresh()

    # -- loading ------------------------------------------------------------------------------

    def snapshot(self) -> AbstractContextManager[int]:
        """Pin this thread to the store generation committed now (see the class docstring),
        and give it. Nested snapshots share the outer one."""
        return _Snapshot(self)

    def refresh(self, force: bool = False) -> None:
        """Build the catalog of the newest generation now (`force`: even if built already)."""
        if force:
            with self._lock:
                self._catalogs.clear()
        self._current()

    def _current(self) -> Catalog:
        """The pinned catalog of this thread's request, else that of the newest generation."""
        pinned = self._pinned.catalog
        if pinned is not None:
            return pinned
        if not self._store_exists():
            return self._build(0, exists=False)
        with self.store.snapshot() as generation:
            return self._catalog_at(generation)

    def _store_exists(self) -> bool:
        """Whether the store's file exists: asked of the file system only until it does (once
        made, a store is never removed under a running server; a stat saved per request)."""
        if not self._file_seen:
            self._file_seen = self.store.path.exists()
        return self._file_seen

    def _catalog_at(self, generation: int) -> Catalog:
        """The catalog of `generation`; call inside a store snapshot of that generation. A new
        one's build reads every code system's resource and drops most of it: that memory is
        given back (a replica builds one per snapshot)."""
        with self._lock:
            found = self._catalogs.get(generation)
            if found is not None:
                return found
            found = self._catalogs[generation] = self._build(generation)
            while len(self._catalogs) > self.KEEP:
                self._catalogs.popitem(last=False)
        heap.release_freed_memory()
        return found

    def _build(self, generation: int, exists: bool = True) -> Catalog:
        by_url: dict[str, list[CodeSystemProvider]] = {}
        by_id: dict[str, CodeSystemProvider] = {}
        supplements: dict[str, list[dict[str, Any]]] = {}
        for info in self.store.code_systems() if exists else []:
            if info.provider == "supplement":
                supplements.setdefault(info.url, []).append(info.resource)
                continue
            factory = self.factories.get(info.provider, SqlProvider)
            provider = factory(self.store, info)
            by_url.setdefault(info.url, []).append(provider)
            by_id[info.resource_id] = provider
        if self.synonyms is not None:
            self.store.use_synonyms(self.synonyms.with_supplements(
                [r for listed in supplements.values() for r in listed],
                lambda system, code: _display_of(by_url.get(system, []), code)))
        served = {b.canonical.url for b in self.builtins}
        stored_systems = {url: list(ps) for url, ps in by_url.items() if url not in served}
        for builtin in self.builtins:
            url = builtin.canonical.url
            by_url[url] = [p for p in by_url.get(url, []) if p.content != "not-present"]
            by_url[url].append(builtin)
            if builtin.resource_id:
                by_id.setdefault(builtin.resource_id, builtin)
        for providers in [*by_url.values(), *stored_systems.values()]:
            providers.sort(key=lambda p: version_key(p.canonical.version or ""))
        stored = self.store.value_set_infos() if exists else []
        value_sets = _value_sets_by_url(self.builtin_value_sets, stored, set(by_url))
        maps = self.store.concept_maps() if exists else []
        system_ids = _system_ids(self.store, by_url) if exists else {}
        all_codes = _all_codes(stored_systems)
        value_sets_by_id: dict[str, ValueSetInfo] = {}
        for value_set in [*_listed(value_sets), ValueSetInfo.held(all_codes)]:
            if isinstance(value_set.summary.get("id"), str):
                value_sets_by_id.setdefault(value_set.summary["id"], value_set)
        return Catalog(generation, by_url, by_id, maps, value_sets, supplements, system_ids,
                       stored_systems, all_codes, value_sets_by_id)

    @property
    def generation(self) -> int:
        """The store generation this thread's request reads (else the newest)."""
        return self._current().generation

    # -- code systems -------------------------------------------------------------------------

    def code_system_urls(self) -> list[str]:
        """The urls of the stored code systems (the built-in ones are in builtin_providers)."""
        return sorted(self._current().stored)

    def providers(self) -> list[CodeSystemProvider]:
        """The stored code systems, every version (CodeSystem search lists these)."""
        stored = self._current().stored
        return [p for url in sorted(stored) for p in stored[url]]

    def builtin_providers(self) -> list[CodeSystemProvider]:
        """The code systems served without an import (BCP-47, UCUM, ISO 3166…)."""
        return list(self.builtins)

    def canonical_url(self, url: str) -> str:
        """The url a code system is stored at, for any of its spellings: the other spellings
        of a code set's definition (HCPCS's https://), and the unique ids that stored
        NamingSystems and CodeSystem identifiers give it (`urn:oid:2.16.840.1.113883.6.90` is
        ICD-10-CM's http://hl7.org/fhir/sid/icd-10-cm). A url stored as it is stays itself."""
        url = self.aliases.get(url, url)
        catalog = self._current()
        if url in catalog.by_url:
            return url
        return catalog.system_ids.get(url, url)

    def versions(self, url: str) -> list[str]:
        providers = self._current().by_url.get(self.canonical_url(url), [])
        return [p.canonical.version or "" for p in providers]

    def knows(self, url: str) -> bool:
        return self.canonical_url(url) in self._current().by_url

    def by_id(self, resource_id: str) -> CodeSystemProvider | None:
        return self._current().by_id.get(resource_id)

    def resolve(self, url: str, version: str | None = None,
                on_date: str | None = None) -> CodeSystemProvider:
        """The provider for `url` at `version` (exact or `x` wildcard) or in force on `on_date`.

        Raises NotFound (`UNKNOWN_CODESYSTEM` / `UNKNOWN_CODESYSTEM_VERSION`).
        """
        providers = self._current().by_url.get(self.canonical_url(url))
        if not providers:
            raise NotFound(
                f"A definition for CodeSystem '{url}' could not be found, so the code cannot be "
                "validated",
                tx_issue_type="not-found",
                message_id="UNKNOWN_CODESYSTEM",
                expression="system",
            )
        if version:
            found = _match_version(providers, version)
            if found is None:
                valid = " or ".join(p.canonical.version or "" for p in providers)
                raise NotFound(
                    f"A definition for CodeSystem '{url}' version '{version}' could not be found, "
                    f"so the code cannot be validated. Valid versions: {valid}",
                    tx_issue_type="not-found",
                    message_id="UNKNOWN_CODESYSTEM_VERSION",
                    expression="version",
                )
            return found
        return _default_version(providers, on_date)

    def search(self, text: str, limit: int | None = 20,
               urls: Iterable[str] | None = None) -> list[Hit]:
        """(provider, code) of the stored code systems, each at its default version, matching
        `text`, best first across all of them (one ranked search; see Store.search)."""
        by_url = self._current().by_url
        chosen = [self.resolve(url) for url in (urls if urls is not None else by_url)]
        return self.search_across([p for p in chosen if isinstance(p, SqlProvider)],
                                  text, limit) or []

    def search_across(self, providers: Sequence[CodeSystemProvider], text: str,
                      limit: int | None) -> list[Hit] | None:
        scope = self._scope(providers)
        if scope is None:
            return None
        store, by_id, ids = scope
        return [(by_id[hit.cs_id], hit.code) for hit in store.search(text, ids, limit)]

    def counts_across(self, providers: Sequence[CodeSystemProvider],
                      text: str) -> list[tuple[CodeSystemProvider, int]] | None:
        scope = self._scope(providers)
        if scope is None:
            return None
        store, by_id, ids = scope
        return [(by_id[cs_id], n) for cs_id, n in store.count_by_system(text, ids).items()]

    def correction_across(self, providers: Sequence[CodeSystemProvider],
                          text: str) -> str | None:
        scope = self._scope(providers)
        return None if scope is None else scope[0].correction(text, scope[2])

    def _scope(self, providers: Sequence[CodeSystemProvider]) -> _Scope | None:
        """The store that all `providers` read, with them by row id, and the row ids; None
        unless they are all stored code systems of one store. Kept for a tuple (which cannot
        change) among the last SCOPES_KEPT: a search of all codes asks three times a request
        about the same hundreds of providers (expand.py keeps their tuple)."""
        kept = self._scopes.get(id(providers)) if isinstance(providers, tuple) else None
        if kept is not None and kept[0] is providers:
            return kept[1]
        store = one_store(providers)
        by_id = _stored_by_id(providers)
        scope = None if store is None else (store, by_id, list(by_id))
        if isinstance(providers, tuple):
            with self._lock:
                self._scopes[id(providers)] = (providers, scope)
                while len(self._scopes) > self.SCOPES_KEPT:
                    self._scopes.popitem(last=False)
        return scope

    def supplement(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        """A stored supplement (`txserver import fhir`), newest version unless one is named."""
        listed = self._current().supplements.get(url, [])
        if version:
            listed = [s for s in listed if s.get("version") == version]
        return listed[-1] if listed else None

    def supplement_resources(self) -> list[dict[str, Any]]:
        supplements = self._current().supplements
        return [s for url in sorted(supplements) for s in supplements[url]]

    # -- value sets ---------------------------------------------------------------------------

    def value_set(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        if url == ALL_CODES_URL:
            return self.all_codes()
        found = _pick_value_set(self._current().value_sets.get(url, []), version)
        return self.value_set_resource(found) if found is not None else implicit_value_set(url)

    def value_sets(self) -> list[dict[str, Any]]:
        """Every value set served, each read (see value_set_infos to choose first)."""
        return [self.value_set_resource(info) for info in self.value_set_infos()]

    def value_set_infos(self) -> list[ValueSetInfo]:
        """Every value set served, by url then version, the all-codes value set last."""
        return [*_listed(self._current().value_sets), ValueSetInfo.held(self.all_codes())]

    def value_set_by_id(self, resource_id: str) -> dict[str, Any] | None:
        info = self._current().value_sets_by_id.get(resource_id)
        return None if info is None else self.value_set_resource(info)

    def value_set_resource(self, info: ValueSetInfo) -> dict[str, Any]:
        """The value set's resource: a stored one read from this request's generation (the
        ones in use kept parsed, at most VALUE_SETS_KEPT)."""
        if info.resource is not None or info.row is None:
            return info.resource or {}
        key = (self._current().generation, info.row)
        with self._lock:
            if key in self._value_sets:
                self._value_sets.move_to_end(key)
                found = self._value_sets[key]
                return found if found is not None else {}
        found = self.store.value_set_resource(info.row)
        with self._lock:
            self._value_sets[key] = found
            while len(self._value_sets) > self.VALUE_SETS_KEPT:
                self._value_sets.popitem(last=False)
        return found if found is not None else {}

    def kept(self, valueset: dict[str, Any], name: str, compute: Callable[[], _T]) -> _T:
        """Kept only for the all-codes value set of this generation: any other is small
        enough to work out again, and a value set a client sent is never kept."""
        catalog = self._current()
        if valueset is not catalog.all_codes:
            return compute()
        key = (name, id(valueset), clock.today())
        with self._lock:
            found = catalog.kept.get(key)
            if found is not None and found[0] is valueset:
                catalog.kept.move_to_end(key)
                return cast(_T, found[1])
        value = compute()  # outside the lock; an error is raised, not kept
        with self._lock:
            catalog.kept[key] = (valueset, value)
            while len(catalog.kept) > self.FACTS_KEPT:
                catalog.kept.popitem(last=False)
        return value

    def all_codes(self) -> dict[str, Any]:
        """Every code of every code system loaded (the default version of each): one value set
        for "search all medical codes" ($expand with a filter, or paged). Built with the
        catalog (_all_codes), once per generation."""
        return self._current().all_codes

    # -- concept maps -------------------------------------------------------------------------

    def concept_maps(self) -> list[ConceptMapInfo]:
        return list(self._current().maps)

    def concept_map_resources(self) -> list[dict[str, Any]]:
        """Every stored ConceptMap as a FHIR R4 resource, its groups rebuilt from the store."""
        return [concept_map_resource(self.store, info) for info in self.concept_maps()]


def _all_codes(stored: dict[str, list[CodeSystemProvider]]) -> dict[str, Any]:
    """The all-codes value set: every stored code system with its codes. The built-in code
    systems are not in it: a grammar has no list of codes, and ISO country and currency
    codes are not medical codes; nor are the code systems stored without their concepts
    (`content = not-present`: a package's stubs of SNOMED CT or LOINC), which have no
    codes to search and would make every search of all codes fail."""
    with_codes = sorted(url for url, providers in stored.items()
                        if any(p.content != "not-present" for p in providers))
    return {
        "resourceType": "ValueSet", "id": "all-codes", "url": ALL_CODES_URL,
        "name": "AllCodes", "title": "All codes of every code system on this server",
        "status": "active", "experimental": False,
        "compose": {"include": [{"system": url} for url in with_codes]},
    }


def _listed(value_sets: dict[str, list[ValueSetInfo]]) -> list[ValueSetInfo]:
    """The value sets by url, then version (oldest first)."""
    return [info for url in sorted(value_sets) for info in value_sets[url]]


def _stored_by_id(providers: Sequence[CodeSystemProvider]) -> dict[int, SqlProvider]:
    """The stored code-system versions among `providers`, by their row id in the store."""
    return {p.info.id: p for p in providers if isinstance(p, SqlProvider)}


URI_IDENTIFIER = "urn:ietf:rfc:3986"


def _unique_id(kind: str, value: str) -> str:
    """A NamingSystem uniqueId as a system uri: an OID or UUID as its urn."""
    if kind == "oid" and not value.startswith("urn:oid:"):
        return f"urn:oid:{value}"
    if kind == "uuid" and not value.startswith("urn:uuid:"):
        return f"urn:uuid:{value}"
    return value


def _system_ids(store: Store, by_url: dict[str, list[CodeSystemProvider]]) -> dict[str, str]:
    """Other unique ids of the stored code systems -> their urls: each `codesystem`
    NamingSystem's ids name its preferred uri (else its first), and a CodeSystem's
    `identifier` (urn:ietf:rfc:3986 values: urn:oid:...) names its own url. Only ids of a code
    system that is stored are kept."""
    grouped: dict[int, list[Any]] = {}
    for unique in store.naming_system_ids():
        if unique.kind == "codesystem":
            grouped.setdefault(unique.ns_id, []).append(unique)
    found: dict[str, str] = {}
    for ids in grouped.values():
        uris = [u for u in ids if u.type == "uri"]
        target = next((u for u in uris if u.preferred), uris[0] if uris else None)
        if target is None or target.value not in by_url:
            continue
        for unique in ids:
            if unique is not target:
                found.setdefault(_unique_id(unique.type, unique.value), target.value)
    for url, providers in by_url.items():
        identifiers = providers[-1].summary().get("identifier", [])
        for identifier in [identifiers] if isinstance(identifiers, dict) else identifiers:
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if isinstance(value, str) and identifier.get("system") == URI_IDENTIFIER:
                found.setdefault(value, url)
    return {alias: url for alias, url in found.items() if alias not in by_url}


def _display_of(providers: list[CodeSystemProvider], code: str) -> str | None:
    """The display of `code` in the newest version that has it."""
    for provider in reversed(providers):
        concept = provider.locate(code)
        if concept is not None and concept.display:
            return concept.display
    return None


def _value_sets_by_url(builtin: list[dict[str, Any]], stored: list[ValueSetInfo],
                       systems: set[str]) -> dict[str, list[ValueSetInfo]]:
    """The value sets served, by url, oldest version first. A built-in one is served only
    when every code system it includes is loaded, and not when a loaded value set has its
    url or its id (the loaded definition wins: one resource per id, no duplicate listing)."""
    taken_urls = {vs.summary.get("url") for vs in stored}
    taken_ids = {vs.summary.get("id") for vs in stored}
    served = [ValueSetInfo.held(vs) for vs in builtin
              if vs.get("url") not in taken_urls and vs.get("id") not in taken_ids
              and all(rule["system"] in systems
                      for rule in (vs.get("compose") or {}).get("include", [])
                      if rule.get("system"))]
    by_url: dict[str, list[ValueSetInfo]] = {}
    for vs in served + stored:
        by_url.setdefault(vs.summary.get("url", ""), []).append(vs)
    for listed in by_url.values():
        listed.sort(key=lambda v: version_key(v.summary.get("version") or ""))
    return by_url


def _match_version(providers: Sequence[CodeSystemProvider],
                   version: str) -> CodeSystemProvider | None:
    """The provider whose version is `version`, or the newest one matching a wildcard pattern.

    `1.x`, `1.0.x`, `1.x.x`, `2025.*`: each `x`/`*` segment matches any one segment of the
    version, and a trailing wildcard also matches any deeper segments (`1.x` matches `1.2.0`).
    A version without wildcards matches only itself (`1` is not `1.0.0`).
    """
    for p in providers:
        if p.canonical.version == version:
            return p
    pattern = version.split(".")
    wild = ("x", "X", "*")
    if not any(part in wild for part in pattern):
        return None

    def fits(actual_text: str) -> bool:
        actual = actual_text.split(".")
        if len(actual) < len(pattern):
            return False
        if len(actual) > len(pattern) and pattern[-1] not in wild:
            return False
        return all(part in wild or part == actual[i] for i, part in enumerate(pattern))

    matches = [p for p in providers if fits(p.canonical.version or "")]
    return matches[-1] if matches else None


def _default_version(providers: Sequence[CodeSystemProvider],
                     on_date: str | None) -> CodeSystemProvider:
    """The newest version already in force on `on_date` (default today), else the newest.

    A year of CPT is published months before it takes effect: on 2026-11-25 a server holding
    2026 and 2027 answers with 2026 unless the request asks for 2027 or a 2027 date.
    """
    if len(providers) == 1:
        return providers[0]  # whatever the date, the only version is the one answered with
    day = (on_date or clock.today())[:10]
    in_force = [p for p in providers if not p.effective_date or p.effective_date <= day]
    dated = [p for p in in_force if p.effective_date]
    if dated:
        return dated[-1]
    if on_date and not in_force:
        return providers[0]
    return (in_force or providers)[-1]


def concept_map_resource(store: Store, info: ConceptMapInfo) -> dict[str, Any]:
    """The map as imported when it was stored whole; else rebuilt from its elements (the CMS
    add-on map, whose elements carry the edits' dates)."""
    resource = dict(info.resource)
    if resource.get("group"):
        return resource
    groups: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
    for e in store.map_elements(info.id):
        target: dict[str, Any] = {"equivalence": e.equivalence}
        if e.target_code:
            target = {"code": e.target_code, **target}
        if e.comment:
            target["comment"] = e.comment
        elements = groups.setdefault((e.source_system, e.target_system), {})
        element = elements.setdefault(e.source_code, {"code": e.source_code, "target": []})
        element["target"].append(target)
    resource["group"] = [
        {"source": source, **({"target": target} if target else {}),
         "element": list(elements.values())}
        for (source, target), elements in groups.items()
    ]
    return resource


def implicit_value_set(url: str) -> dict[str, Any] | None:
    """FHIR's implicit value sets: `<system>?fhir_vs` (all codes), `?fhir_vs=isa/<code>`."""
    system, sep, query = url.partition("?fhir_vs")
    if not sep or not system:
        return None
    include: dict[str, Any] = {"system": system}
    if query.startswith("=isa/") and len(query) > 5:
        include["filter"] = [{"property": "concept", "op": "is-a", "value": query[5:]}]
    elif query:
        return None
    return {"resourceType": "ValueSet", "url": url, "status": "active",
            "name": "Implicit", "compose": {"include": [include]}}


def _pick_value_set(candidates: list[ValueSetInfo], version: str | None) -> ValueSetInfo | None:
    if not candidates:
        return None
    if version is None:
        return candidates[-1]
    for vs in candidates:
        if vs.summary.get("version") == version:
            return vs
    if version.endswith(".x"):
        matches = [vs for vs in candidates
                   if (vs.summary.get("version") or "").startswith(version[:-1])]
        return matches[-1] if matches else None
    return None


class RegistryLayer:
    """A registry over another one: everything it does not hold itself, it hands down."""

    def __init__(self, base: Registry) -> None:
        self.base = base

    @property
    def store(self) -> Store:
        return self.base.store

    @property
    def generation(self) -> int:
        return self.base.generation

    def resolve(self, url: str, version: str | None = None,
                on_date: str | None = None) -> CodeSystemProvider:
        return self.base.resolve(url, version, on_date)

    def knows(self, url: str) -> bool:
        return self.base.knows(url)

    def versions(self, url: str) -> list[str]:
        return self.base.versions(url)

    def canonical_url(self, url: str) -> str:
        return self.base.canonical_url(url)

    def by_id(self, resource_id: str) -> CodeSystemProvider | None:
        return self.base.by_id(resource_id)

    def providers(self) -> list[CodeSystemProvider]:
        return self.base.providers()

    def builtin_providers(self) -> list[CodeSystemProvider]:
        return self.base.builtin_providers()

    def code_system_urls(self) -> list[str]:
        return self.base.code_system_urls()

    def search_across(self, providers: Sequence[CodeSystemProvider], text: str,
                      limit: int | None) -> list[Hit] | None:
        return self.base.search_across(providers, text, limit)

    def counts_across(self, providers: Sequence[CodeSystemProvider],
                      text: str) -> list[tuple[CodeSystemProvider, int]] | None:
        return self.base.counts_across(providers, text)

    def correction_across(self, providers: Sequence[CodeSystemProvider],
                          text: str) -> str | None:
        return self.base.correction_across(providers, text)

    def supplement(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        return self.base.supplement(url, version)

    def supplement_resources(self) -> list[dict[str, Any]]:
        return self.base.supplement_resources()

    def value_set(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        return self.base.value_set(url, version)

    def value_sets(self) -> list[dict[str, Any]]:
        return self.base.value_sets()

    def value_set_infos(self) -> list[ValueSetInfo]:
        return self.base.value_set_infos()

    def value_set_by_id(self, resource_id: str) -> dict[str, Any] | None:
        return self.base.value_set_by_id(resource_id)

    def value_set_resource(self, info: ValueSetInfo) -> dict[str, Any]:
        return self.base.value_set_resource(info)

    def concept_maps(self) -> list[ConceptMapInfo]:
        return self.base.concept_maps()

    def concept_map_resources(self) -> list[dict[str, Any]]:
        return self.base.concept_map_resources()

    def kept(self, valueset: dict[str, Any], name: str, compute: Callable[[], _T]) -> _T:
        return compute()  # what the base kept may not be what this layer sees


class RequestRegistry(RegistryLayer):
    """The registry as one request sees it: its `tx-resource` resources shadow the stored ones."""

    def __init__(self, base: Registry, resources: list[dict[str, Any]]) -> None:
        super().__init__(base)
        self._code_systems: dict[str, list[MemoryProvider]] = {}
        self._value_sets: dict[str, list[ValueSetInfo]] = {}
        self._concept_maps: list[dict[str, Any]] = []
        self.supplements: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            kind = resource.get("resourceType")
            url = resource.get("url", "")
            if kind == "CodeSystem":
                if resource.get("content") == "supplement":
                    target = Canonical.parse(resource.get("supplements", "")).url
                    self.supplements.setdefault(target, []).append(resource)
                else:
                    self._code_systems.setdefault(url, []).append(MemoryProvider(resource))
            elif kind == "ValueSet":
                self._value_sets.setdefault(url, []).append(ValueSetInfo.held(resource))
            elif kind == "ConceptMap":
                self._concept_maps.append(resource)
        for providers in self._code_systems.values():
            providers.sort(key=lambda p: version_key(p.canonical.version or ""))
        for listed in self._value_sets.values():
            listed.sort(key=lambda v: version_key(v.summary.get("version") or ""))

    def resolve(self, url: str, version: str | None = None,
                on_date: str | None = None) -> CodeSystemProvider:
        local = self._code_systems.get(url)
        if not local:
            return self.base.resolve(url, version, on_date)
        if not version:
            return local[-1]
        found = _match_version(local, version)
        if found is not None:
            return found
        try:
            return self.base.resolve(url, version, on_date)
        except NotFound:
            pass
        known = [p.canonical.version or "" for p in local]
        if self.base.knows(url):
            known += self.base.versions(url)
        raise NotFound(
            f"A definition for CodeSystem '{url}' version '{version}' could not be found, "
            f"so the code cannot be validated. Valid versions: {' or '.join(sorted(set(known)))}",
            tx_issue_type="not-found", message_id="UNKNOWN_CODESYSTEM_VERSION",
            expression="version")

    def knows(self, url: str) -> bool:
        return url in self._code_systems or self.base.knows(url)

    def canonical_url(self, url: str) -> str:
        """As Registry.canonical_url; a code system sent with the request is its own url."""
        return url if url in self._code_systems else self.base.canonical_url(url)

    def supplement(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        for listed in self.supplements.values():
            for s in listed:
                if s.get("url") == url and version in (None, s.get("version")):
                    return s
        return self.base.supplement(url, version)

    def supplement_resources(self) -> list[dict[str, Any]]:
        local = [s for listed in self.supplements.values() for s in listed]
        return local + self.base.supplement_resources()

    def versions(self, url: str) -> list[str]:
        local = [p.canonical.version or "" for p in self._code_systems.get(url, [])]
        return local + (self.base.versions(url) if self.base.knows(url) else [])

    def by_id(self, resource_id: str) -> CodeSystemProvider | None:
        for providers in self._code_systems.values():
            for p in providers:
                if p.resource_id == resource_id:
                    return p
        return self.base.by_id(resource_id)

    def value_set(self, url: str, version: str | None = None) -> dict[str, Any] | None:
        local = _pick_value_set(self._value_sets.get(url, []), version)
        return local.resource if local is not None else self.base.value_set(url, version)

    def concept_map_resources(self) -> list[dict[str, Any]]:
        return self._concept_maps + self.base.concept_map_resources()

    def value_sets(self) -> list[dict[str, Any]]:
        return [self.value_set_resource(info) for info in self.value_set_infos()]

    def value_set_infos(self) -> list[ValueSetInfo]:
        local = [vs for listed in self._value_sets.values() for vs in listed]
        return local + self.base.value_set_infos()

    def value_set_by_id(self, resource_id: str) -> dict[str, Any] | None:
        for listed in self._value_sets.values():
            for info in listed:
                if info.summary.get("id") == resource_id:
                    return info.resource
        return self.base.value_set_by_id(resource_id)

