"""ValueSet/$expand: the members of a value set, filtered, paged and shaped as asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from terminology import budget, languages, status, supplements
from terminology.errors import InvalidRequest, NotFound, TooCostly
from terminology.model import Canonical, Designation, ExpandRequest
from terminology.provider import (
    ALL_CODES_URL,
    CodeSystemProvider,
    ExpansionLimit,
    Expressions,
    Hit,
    Registry,
    TextSearch,
)
from terminology.valuesets import (
    Entry,
    Evaluator,
    Expansion,
    VersionRules,
    compose_properties,
    default_valueset_versions,
    valueset_default,
)


@dataclass
class ExpandResult:
    valueset: dict[str, Any]
    entries: list[Entry]
    total: int
    offset: int
    used_systems: list[str]
    used_valuesets: list[str]
    request: ExpandRequest
    property_defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    nest: bool = False
    providers: dict[str, CodeSystemProvider] = field(default_factory=dict)
    used_supplements: list[str] = field(default_factory=list)
    unclosed: bool = False
    show_versions: bool = False  # a system included at several versions: say which
    status_warnings: list[tuple[str, str]] = field(default_factory=list)  # (warning-x, url|v)
    correction: str | None = None  # the filter searched instead, when a typo was corrected


def find_valueset(registry: Registry, *, valueset: Any = None, url: str | None = None,
                  version: str | None = None, instance_id: str | None = None) -> dict[str, Any]:
    """The value set a request names: inline (`valueset`), by url (and version), or by id."""
    if valueset is not None:
        if not isinstance(valueset, dict) or valueset.get("resourceType") != "ValueSet":
            raise InvalidRequest("The valueSet parameter must be a ValueSet resource",
                                 expression="valueSet")
        return valueset
    if url:
        url, _, pinned = url.partition("|")
        version = version or pinned or None
        found = registry.value_set(url, version)
        if found is None:
            label = Canonical(url, version)
            raise NotFound(f"A definition for the value Set '{label}' could not be found",
                           tx_issue_type="not-found", message_id="Unable_to_resolve_value_Set_")
        return found
    if instance_id:
        found = registry.value_set_by_id(instance_id)  # a request's own first, then stored
        if found is not None:
            return found
        raise NotFound(f"ValueSet/{instance_id} is not known on this server")
    raise InvalidRequest("A value set is required: give url or valueSet", expression="url")


def _matches_text(entry: Entry, words: list[str]) -> bool:
    texts = [entry.display or "", entry.concept.code]
    texts += [d.value for d in entry.concept.designations]
    haystack = " ".join(texts).casefold()
    return all(w in haystack for w in words)


def _with_valueset_defaults(valueset: dict[str, Any], request: ExpandRequest) -> ExpandRequest:
    """Parameters a value set asks for in compose: valueset-expansion-parameter extensions and
    the properties of compose.property (shown as if the request had named them)."""
    wanted = tuple(p for p in compose_properties(valueset) if p not in request.properties)
    if wanted:
        request = replace(request, properties=request.properties + wanted)
    value = valueset_default(valueset, "displayLanguage")
    if value and request.display_language is None:
        request = replace(request, display_language=value,
                          echo=request.echo + (("displayLanguage", "valueCode", value),))
    return request


def _designation_wanted(d: Designation, filters: tuple[str, ...]) -> bool:
    if not filters:
        return True
    for f in filters:
        system, _, code = f.rpartition("|")
        if system == "urn:ietf:bcp:47" or (not system and "|" not in f):
            if (d.language or "").lower() == code.lower():
                return True
        elif d.use is not None and d.use.code == code and (not system or d.use.system == system):
            return True
    return False


def _localise(entry: Entry, provider: CodeSystemProvider | None,
              request: ExpandRequest) -> Entry:
    """The entry's display in the requested language, and the designations to show."""
    concept = entry.concept
    if not request.display_language and not (request.include_designations
                                             or request.designations):
        # what the steps below come to when no language and no designation is asked for
        plain = entry.display or concept.display or ""
        if plain == entry.display and not entry.designations:
            return entry
        return replace(entry, display=plain, designations=())
    cs_language = provider.language if provider is not None else None
    candidates = [Designation(entry.display or concept.display or "", cs_language)]
    candidates += list(concept.designations) + list(entry.designations)
    wanted = languages.parse(request.display_language)
    chosen: Designation | None = candidates[0]
    for language in wanted:
        found = next((d for d in candidates if d.value and languages.matches(
            d.language or cs_language, [language])), None)
        if found is not None:
            chosen = found
            break
    else:
        if wanted and languages.only_these(request.display_language):
            chosen = None  # no display in the languages asked for, and no fallback wanted
    if chosen is not candidates[0] and candidates[0].value:
        candidates[0] = replace(candidates[0], use=languages.PREFERRED_FOR_LANGUAGE)
    designations: tuple[Designation, ...] = ()
    if request.include_designations or request.designations:
        shown = [d for d in candidates if d is not chosen and d.value
                 and (d.language or d.use) and _designation_wanted(d, request.designations)]
        designations = tuple(shown)
    display = chosen.value if chosen else None
    if display == entry.display and designations == entry.designations:
        return entry
    return replace(entry, display=display, designations=designations)


def _check_size(valueset: dict[str, Any], request: ExpandRequest, total: int,
                used_providers: Sequence[CodeSystemProvider]) -> None:
    """An unpaged expansion larger than the limit (the request's, or a code system's own, such
    as CPT's 1,000 agreed with the AMA) is refused as too costly."""
    limit = request.limit
    for provider in used_providers:
        if isinstance(provider, ExpansionLimit) and provider.expand_limit:
            limit = min(limit, provider.expand_limit)
    if total > limit and (request.count is None or request.count > limit):
        raise TooCostly(f"The value set '{Canonical.of(valueset)}' expansion has too many codes to produce "
                        f"(>{limit})", message_id="VALUESET_TOO_COSTLY")


def _unclosed(valueset: dict[str, Any], providers: dict[str, CodeSystemProvider]) -> bool:
    """True when a code system with expressions (CPT) could add members no listing can hold:
    an include of it lists no concepts and none of its filters is one of its closing ones."""
    expressive = {url: p for url, p in providers.items() if isinstance(p, Expressions)}
    if not expressive:  # most often: then the includes (all-codes: hundreds) are not read
        return False
    for include in (valueset.get("compose") or {}).get("include", []):
        provider = expressive.get(include.get("system", ""))
        if provider is None or include.get("concept"):
            continue
        filters = {(str(f.get("property")), str(f.get("op")), str(f.get("value")).lower())
                   for f in include.get("filter", [])}
        if not filters & provider.closing_filters:
            return True
    return False


SEARCH_CANDIDATES = 5000  # matches looked at per code system for one text filter


def _systems_of(evaluator: Evaluator,
                valueset: dict[str, Any]) -> list[tuple[str, str | None]] | None:
    """(system, stated version) of every include, through nested value sets; None when a rule
    lists no system (so only a full expansion can tell the members)."""
    found: list[tuple[str, str | None]] = []
    for part in ("include",):
        for index, rule in enumerate((valueset.get("compose") or {}).get(part, [])):
            if rule.get("system"):
                found.append((rule["system"], rule.get("version")))
            elif rule.get("valueSet"):
                for reference in rule["valueSet"]:
                    nested = _systems_of(evaluator, evaluator.valueset(
                        reference, f"ValueSet.compose.include[{index}]"))
                    if nested is None:
                        return None
                    found += nested
            else:
                return None
    return found


def _whole_systems(valueset: dict[str, Any]) -> bool:
    """True when every member of every included code system is in (no filter, no list, no
    nested value set, no exclude): then each search match is a member without testing it."""
    compose = valueset.get("compose") or {}
    return not compose.get("exclude") and compose.get("inactive") is not False and all(
        rule.get("system") and not (rule.get("filter") or rule.get("concept")
                                    or rule.get("valueSet"))
        for rule in compose.get("include", []))


def _search_first(evaluator: Evaluator, valueset: dict[str, Any],
                  searchable: _Searchable | None, text: str,
                  window: int | None) -> tuple[Expansion, int] | None:
    """A text-filtered expansion from the code systems' ranked search, keeping the members:
    the best matches first, without listing every member of a large code system. Returns the
    expansion (entries up to `window` when every match is a member) and the total; None when
    some code system cannot search (`searchable` None: then the whole expansion is filtered
    instead)."""
    if searchable is None:
        return None
    providers = searchable.providers
    registry = evaluator.registry
    expansion = Expansion(entries=[])
    whole = not evaluator.active_only and registry.kept(
        valueset, "whole systems", lambda: _whole_systems(valueset))
    if whole and window is not None:  # every match is a member: rank one page, count the rest
        hits = registry.search_across(providers, text, window)  # first: it may count them too
        counts = registry.counts_across(providers, text)
        if counts is not None and hits is not None:
            total = sum(n for _, n in counts)
            position = searchable.position
            # all codes draws on hundreds of code systems: it names those with a match
            named = sorted((p for p, n in counts if n), key=lambda p: position.get(id(p), 0)) \
                if valueset.get("url") == ALL_CODES_URL else providers
            expansion.used_systems = list(dict.fromkeys(str(p.canonical) for p in named))
            for provider, code in hits:
                entry = (evaluator.whole_system_member(provider, code) if searchable.one_each
                         else evaluator.member(valueset, provider.canonical.url, code))
                if entry is not None:
                    expansion.entries.append(entry)
            return expansion, max(total, len(expansion.entries))
    expansion.used_systems = list(dict.fromkeys(str(p.canonical) for p in providers))
    hits = _ranked_hits(registry, providers, text, SEARCH_CANDIDATES)
    if hits is None:  # too many matches to test one by one: list the members, keep the matches
        return _matching_members(evaluator, valueset, providers, text)
    seen: set[tuple[str, str]] = set()
    total = 0
    for provider, code in hits:
        key = (provider.canonical.url, code)
        if key in seen:
            continue
        seen.add(key)
        budget.check("Testing the matches for membership")
        entry = evaluator.member(valueset, provider.canonical.url, code)
        if entry is not None:
            expansion.entries.append(entry)
            total += 1
    return expansion, total


class _Searchable(NamedTuple):
    """The code systems a value set draws on, when every one can search (_searchable)."""

    providers: tuple[CodeSystemProvider, ...]
    one_each: bool  # each code system among them once (one version each)
    position: dict[int, int]  # where each provider is among them, by id


def _searchable(evaluator: Evaluator, valueset: dict[str, Any]) -> _Searchable | None:
    """The code systems a value set draws on, when every one can search: the same for every
    request that leaves the versions to the value set (all-codes resolves hundreds), so the
    registry keeps them for the generation and the day."""
    if not evaluator.plain:
        return _find_searchable(evaluator, valueset)
    return evaluator.registry.kept(valueset, "searchable",
                                   lambda: _find_searchable(evaluator, valueset))


def _find_searchable(evaluator: Evaluator, valueset: dict[str, Any]) -> _Searchable | None:
    evaluator.check_references(valueset)  # a cycle is a 400 before _systems_of follows it
    systems = _systems_of(evaluator, valueset)
    if not systems:
        return None
    providers = tuple(evaluator.provider(system, version, "ValueSet.compose.include")
                      for system, version in dict.fromkeys(systems))
    if not all(isinstance(p, TextSearch) for p in providers):
        return None
    return _Searchable(providers, len({p.canonical.url for p in providers}) == len(providers),
                       {id(p): index for index, p in enumerate(providers)})


def _correction(registry: Registry, searchable: _Searchable | None,
                text: str) -> str | None:
    """The filter searched instead of `text` when a typo in it was corrected."""
    return registry.correction_across(searchable.providers, text) if searchable else None


def _ranked_hits(registry: Registry, providers: Sequence[CodeSystemProvider], text: str,
                 cap: int | None) -> list[Hit] | None:
    """Every (provider, code) matching `text`, best first; None when there are more than
    `cap` (a capped list would make a short expansion look complete)."""
    limit = None if cap is None else cap + 1
    hits = registry.search_across(providers, text, limit)
    if hits is None:
        hits = [(p, code) for p in providers if isinstance(p, TextSearch)
                for code in p.search(text, limit)]
    return hits if cap is None or len(hits) <= cap else None


def _matching_members(evaluator: Evaluator, valueset: dict[str, Any],
                      providers: Sequence[CodeSystemProvider],
                      text: str) -> tuple[Expansion, int]:
    """The members that match `text`, in search order, from the whole member list: for a
    broad word over a narrower value set (`fracture` within S72)."""
    members = evaluator.expand(valueset, keep=evaluator.count_limit)
    rank: dict[tuple[str, str], int] = {}
    hits = _ranked_hits(evaluator.registry, providers, text, None) or []
    for index, (provider, code) in enumerate(hits):
        rank.setdefault((provider.canonical.url, code), index)
    members.entries = sorted((e for e in members.entries if e.key in rank),
                             key=lambda e: rank[e.key])
    return members, len(members.entries)


# An unpaged expansion is listed up to the server's limit (TX_EXPAND_LIMIT), and not refused
# while listing below 10,000, tx.fhir.org's own cap ("too many codes to display"); a lower
# limit (X-TOO-COSTLY-THRESHOLD, a smaller TX_EXPAND_LIMIT) is applied to the total, as
# tx.fhir.org applies a threshold ("too many codes to produce": _check_size).
DISPLAY_CAP = 10_000


def expand(registry: Registry, request: ExpandRequest) -> ExpandResult:
    valueset = find_valueset(registry, valueset=request.valueset, url=request.url,
                             version=request.valueset_version, instance_id=request.instance_id)
    request = _with_valueset_defaults(valueset, request)
    languages.check(request.display_language)
    registry, used = supplements.apply(
        registry, list(request.supplements) + supplements.referenced_by(valueset))
    evaluator = Evaluator(
        registry,
        versions=VersionRules.from_params(list(request.system_version),
                                          list(request.force_system_version),
                                          list(request.check_system_version)),
        on_date=request.date,
        active_only=request.active_only,
        versions_match=request.versions_match,
        expanding=True,
        limit=max(request.limit, DISPLAY_CAP),
    )
    evaluator.valueset_versions = default_valueset_versions(request.default_valueset_versions)
    if evaluator.policy(valueset).merge:  # say that codes were compared across versions
        request = replace(request, echo=request.echo + (("versionsMatch", "valueBoolean", True),))
    window = None if request.count is None else request.offset + request.count
    searchable = _searchable(evaluator, valueset) if request.filter else None
    searched = (_search_first(evaluator, valueset, searchable, request.filter, window)
                if request.filter else None)
    # a page over the limit is refused as soon as the members pass the limit, not after all
    paged_within_limit = window is not None and not request.filter and (
        request.count is not None and request.count <= request.limit)
    expansion = (searched[0] if searched is not None
                 else evaluator.expand(valueset, keep=window, skip=request.offset)
                 if paged_within_limit else evaluator.expand(valueset))
    rules = ("system-version", "force-system-version", "check-system-version")
    echoed = tuple(e for e in request.echo
                   if e[0] not in rules or (e[0], e[2]) in evaluator.versions.used)
    if echoed != request.echo:  # a version rule that was not used is not echoed
        request = replace(request, echo=echoed)
    entries = expansion.entries
    if request.filter and searched is None:
        words = request.filter.casefold().split()
        entries = [e for e in entries if _matches_text(e, words)]
    if searched is not None:
        total = searched[1]
    elif expansion.total is not None and not request.filter:
        total = expansion.total
    else:
        total = len(entries)
    used_providers = _used_providers(expansion, registry)
    _check_size(valueset, request, total, used_providers)
    if request.offset < 0 or (request.count is not None and request.count < 0):
        raise InvalidRequest("offset and count must not be negative", expression="offset")
    paged = request.offset > 0 or request.count is not None
    end = None if request.count is None else request.offset + request.count
    page = entries[request.offset - expansion.first:None if end is None
                   else end - expansion.first]
    providers = {p.canonical.url: p for p in used_providers}
    property_defs: dict[str, dict[str, Any]] = {}
    for provider in used_providers:
        for code, definition in provider.property_defs.items():
            property_defs.setdefault(code, definition)
    page = [_localise(e, providers.get(e.system), request) for e in page]
    return ExpandResult(
        valueset=valueset,
        entries=page,
        total=total,
        offset=request.offset,
        used_systems=expansion.used_systems,
        used_valuesets=expansion.used_valuesets,
        request=request,
        property_defs=property_defs,
        nest=(request.exclude_nested is not True and not paged
              and not (valueset.get("compose") or {}).get("exclude")
              and not _imports(valueset)
              and (not request.filter or _filtered_includes(valueset))),
        used_supplements=used,
        unclosed=_unclosed(valueset, providers),
        providers=providers,
        show_versions=evaluator.policy(valueset).several,
        status_warnings=_status_warnings(valueset, expansion, used_providers),
        correction=(_correction(evaluator.registry, searchable, request.filter)
                    if searched is not None and request.filter else None),
    )


def _filtered_includes(valueset: dict[str, Any]) -> bool:
    """Every include selects by filter (is-a, say): a text filter over them keeps the
    hierarchy, each match under the nearest ancestor that matched too. (A whole code system
    searched by text is listed flat, as tx.fhir.org lists it.)"""
    includes = (valueset.get("compose") or {}).get("include", [])
    return bool(includes) and all(rule.get("filter") for rule in includes)


def _imports(valueset: dict[str, Any]) -> bool:
    """An include draws on other value sets: their expansions are taken as flat lists."""
    return any(rule.get("valueSet") for rule in (valueset.get("compose") or {}).get("include", []))


def _used_providers(expansion: Expansion, registry: Registry) -> list[CodeSystemProvider]:
    """The code-system versions the expansion drew on (each still resolvable one)."""
    found = []
    for canonical in expansion.used_systems:
        url, _, version = canonical.partition("|")
        try:
            found.append(registry.resolve(url, version or None))
        except NotFound:
            continue
    return found


def _status_warnings(valueset: dict[str, Any], expansion: Expansion,
                     providers: list[CodeSystemProvider]) -> list[tuple[str, str]]:
    """warning-<status> parameters for the value set and what its expansion drew on."""
    notes = [status.note(valueset, "ValueSet", None)]
    notes += [status.note(p.summary(), "CodeSystem", valueset, p.canonical) for p in providers]
    notes += [status.note(vs, "ValueSet", valueset) for vs in expansion.nested_valuesets]
    return list(dict.fromkeys(n.parameter for n in notes if n is not None))
