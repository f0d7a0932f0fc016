"""ValueSet.compose evaluated: expansions (the member list) and membership tests (one code).

Include and exclude rules with concept lists, filters and nested value sets; version rules from
the request (`system-version`, `force-system-version`, `check-system-version`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from terminology import budget
from terminology.concepts import designation_of, extension_properties, kept_extensions
from terminology.errors import (
    InvalidCode,
    InvalidRequest,
    NotFound,
    TerminologyError,
    TooCostly,
)
from terminology.filters import predicate
from terminology.model import Canonical, Concept, Designation
from terminology.provider import CodeSystemProvider, PagedListing, Predicate, Registry
from terminology.status import STANDARDS_STATUS
from terminology.store import version_key
from terminology.store.provider import SqlProvider


@dataclass(slots=True)
class Entry:
    """One member of an expansion."""

    system: str
    version: str | None
    concept: Concept
    display: str | None
    designations: tuple[Designation, ...] = ()
    enumerated: bool = False  # listed by code in compose (never nested under a parent)
    extensions: tuple[dict[str, Any], ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.system, self.concept.code)


@dataclass
class VersionRules:
    """How the request steers code-system versions (FHIR $expand / $validate-code parameters).

    `force-system-version` overrides whatever version a value set or coding states;
    `system-version` applies only where none is stated; `check-system-version` also fills in a
    missing version, and the version finally used must match it (else VALUESET_VERSION_CHECK).
    Patterns such as `1.0.x` are allowed in all three. `used` lists the parameters that
    actually chose a version, as (parameter name, canonical), for echoing in an expansion.
    """

    default: dict[str, str] = field(default_factory=dict)  # system-version
    force: dict[str, str] = field(default_factory=dict)  # force-system-version
    check: dict[str, str] = field(default_factory=dict)  # check-system-version
    enforce_check: bool = True  # raise on a check failure (expansion); else the caller reports
    used: list[tuple[str, str]] = field(default_factory=list)

    @staticmethod
    def from_params(system_version: list[str], force: list[str], check: list[str],
                    enforce_check: bool = True) -> VersionRules:
        def split(values: list[str]) -> dict[str, str]:
            out = {}
            for v in values:
                c = Canonical.parse(v)
                if c.version:
                    out[c.url] = c.version
            return out

        return VersionRules(split(system_version), split(force), split(check), enforce_check)

    def choose(self, system: str, stated: str | None) -> str | None:
        """The version (or version pattern) to look `system` up with, given the stated one."""
        if system in self.force:
            self._note("force-system-version", system, self.force[system])
            return self.force[system]
        if stated:
            return stated
        if system in self.default:
            self._note("system-version", system, self.default[system])
            return self.default[system]
        if system in self.check:
            self._note("check-system-version", system, self.check[system])
            return self.check[system]
        return None

    def check_failure(self, system: str, version: str | None) -> str | None:
        """The VALUESET_VERSION_CHECK message if `version` breaks a check-system-version."""
        wanted = self.check.get(system)
        if wanted is None or self.matches(wanted, version or ""):
            return None
        return (f"The version '{version or ''}' is not allowed for system '{system}': required to "
                f"be '{wanted}' by a version-check parameter")

    def _note(self, name: str, system: str, version: str) -> None:
        if (name, f"{system}|{version}") not in self.used:
            self.used.append((name, f"{system}|{version}"))

    @staticmethod
    def matches(pattern: str, version: str) -> bool:
        """Does `version` satisfy `pattern`? Equal, or matching an `x`/`*` wildcard pattern."""
        if pattern == version:
            return True
        wild = ("x", "X", "*")
        parts, actual = pattern.split("."), version.split(".")
        if not any(p in wild for p in parts) or len(actual) < len(parts):
            return False
        if len(actual) > len(parts) and parts[-1] not in wild:
            return False
        return all(p in wild or p == actual[i] for i, p in enumerate(parts))

    @staticmethod
    def order(version: str) -> tuple[Any, ...]:
        """A sort key putting versions in release order (`1.9.0` before `1.10.0`)."""
        return version_key(version)

    @staticmethod
    def listing(versions: list[str]) -> str:
        """`1.0.0`, `1.0.0 or 1.2.0`, `1.0.0, 1.1.0 and 1.2.0` (as tx.fhir.org lists them)."""
        items = sorted(set(versions))
        if len(items) <= 2:
            return " or ".join(items)
        return f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    """How one value set treats a code system its rules name at more than one version.

    `several`: include/exclude rules state different versions of one system (a versionless
    rule counts as one more), so members are told apart by version and carry it.
    `merge`: the versions are taken to match (`versionsMatch`, or tx.fhir.org's reading of a
    value set that includes one version and excludes others): one member per code, and an
    exclusion removes the code whatever version it came from.
    """

    several: bool = False
    merge: bool = False

    def key(self, entry: Entry) -> tuple[str, str | None, str]:
        version = entry.version if self.several and not self.merge else None
        return (entry.system, version, entry.concept.code)

    def applies(self, rule_version: str | None, version: str | None) -> bool:
        """Whether a rule whose code system resolved to `rule_version` can hold a member of
        `version` (the version a $validate-code chose)."""
        return not (self.several and not self.merge and version and rule_version != version)

    @staticmethod
    def of(compose: dict[str, Any], versions_match: bool | None) -> VersionPolicy:
        stated: dict[str, Any] = {}
        several = False
        for rule in compose.get("include", []) + compose.get("exclude", []):
            system = rule.get("system")
            if system:
                if system in stated and stated[system] != rule.get("version"):
                    several = True
                stated.setdefault(system, rule.get("version"))
        if versions_match is None:
            versions_match = _excludes_other_versions(compose)
        return VersionPolicy(several, versions_match)


def _excludes_other_versions(compose: dict[str, Any]) -> bool:
    """Every rule names one system at a stated version and no exclude names an included
    version: the value set takes one version's codes out of another's (tx.fhir.org then
    compares codes across versions, as if `versionsMatch` were true)."""
    includes, excludes = compose.get("include", []), compose.get("exclude", [])
    if not includes or not excludes:
        return False
    system = includes[0].get("system")
    rules = includes + excludes
    if not system or not all(r.get("system") == system and r.get("version") for r in rules):
        return False
    return not any(e.get("version") == i.get("version") for i in includes for e in excludes)


def newest_first(includes: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(index, include) in evaluation order: the includes naming one system at stated versions
    are taken newest version first (where the value set lists several); the rest keep their
    places."""
    ordered = list(enumerate(includes))
    by_system: dict[str, list[int]] = {}
    for index, rule in ordered:
        if rule.get("system") and rule.get("version"):
            by_system.setdefault(rule["system"], []).append(index)
    for places in by_system.values():
        newest = sorted(places, key=lambda i: VersionRules.order(includes[i]["version"]),
                        reverse=True)
        for place, index in zip(places, newest):
            ordered[place] = (index, includes[index])
    return ordered


def versions_match_setting(valueset: dict[str, Any] | None,
                           requested: bool | None) -> bool | None:
    """`versionsMatch` as the request or the value set (valueset-expansion-parameter) sets it."""
    own = valueset_default(valueset, "versionsMatch")
    if isinstance(own, str):
        return own.strip().lower() == "true"
    if isinstance(own, bool):
        return own
    return requested


@dataclass
class Expansion:
    entries: list[Entry]
    used_systems: list[str] = field(default_factory=list)  # canonical url|version
    used_valuesets: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total: int | None = None  # every member, when only a page of them is listed
    first: int = 0  # the position among the members of entries[0] (a page read directly)
    policy: VersionPolicy = VersionPolicy()
    nested_valuesets: list[dict[str, Any]] = field(default_factory=list)  # include.valueSet


class Evaluator:
    """Evaluates value sets against a registry for one request."""

    def __init__(
        self,
        registry: Registry,
        *,
        versions: VersionRules | None = None,
        on_date: str | None = None,
        active_only: bool = False,
        limit: int = 10000,
        count_limit: int = 1_000_000,
        versions_match: bool | None = None,
        expanding: bool = False,
    ) -> None:
        self.registry = registry
        self.expanding = expanding  # for $expand (rather than a membership test)
        self.versions = versions or VersionRules()
        self.on_date = on_date
        self.active_only = active_only
        self.versions_match = versions_match  # the request's versionsMatch parameter
        self.limit = limit  # members an unpaged expansion may list
        self.count_limit = count_limit  # members a paged expansion may count past its page
        self._stack: list[str] = []
        self._containers: list[dict[str, Any]] = []
        self.valueset_versions: dict[str, str] = {}  # default-valueset-version
        # the tests of one rule's filters on one provider, built once per request
        self._tests: dict[tuple[int, int, str], tuple[object, object, list[Predicate]]] = {}
        self._policies: dict[int, tuple[dict[str, Any], VersionPolicy]] = {}  # by id(valueset)
        self._acyclic: dict[int, dict[str, Any]] = {}  # value sets checked for cycles, by id

    @property
    def plain(self) -> bool:
        """Whether the request leaves every choice of version to the value sets and the
        registry (no version rules, no date, no default value-set versions): then what it
        resolves for a value set is the same for every such request of the day."""
        rules = self.versions
        return not (rules.default or rules.force or rules.check or self.on_date
                    or self.valueset_versions)

    # -- code systems -------------------------------------------------------------------------

    def provider(self, system: str, version: str | None, where: str) -> CodeSystemProvider:
        """The code system an include for `system` (stating `version`) is expanded from.

        Request version rules apply; a version that cannot be found, or one that breaks a
        check-system-version (when enforced), fails the expansion as tx.fhir.org words it.
        """
        chosen = self.versions.choose(system, version)
        try:
            provider = self.registry.resolve(system, chosen, self.on_date)
        except NotFound as exc:
            if exc.message_id == "UNKNOWN_CODESYSTEM_VERSION" and chosen:
                known = self.registry.versions(system) if self.registry.knows(system) else []
                raise NotFound(
                    f"A definition for CodeSystem '{system}' version '{chosen}' could not be "
                    "found, so the value set cannot be expanded. Valid versions: "
                    f"{self.versions.listing(known)}",
                    tx_issue_type="not-found",
                    message_id="UNKNOWN_CODESYSTEM_VERSION_EXP") from exc
            exc.expression = exc.expression or where
            raise
        if self.versions.enforce_check:
            failure = self.versions.check_failure(system, provider.canonical.version)
            if failure:
                raise InvalidRequest(failure, issue_code="exception",
                                     tx_issue_type="version-error",
                                     message_id="VALUESET_VERSION_CHECK")
        if self.expanding and provider.content == "not-present":
            # Its definition lists no codes: an empty list here would look complete.
            raise TerminologyError(
                f"The code system definition for {system} has no content, so this expansion "
                "cannot be performed", issue_code="business-rule", tx_issue_type="invalid",
                status=422)
        return provider

    # -- expansion ----------------------------------------------------------------------------

    def check_references(self, valueset: dict[str, Any]) -> None:
        """Raise on a cycle of value-set references (includes or excludes), before evaluating:
        a membership test may otherwise never reach the reference that closes the cycle."""
        self._check_cycle(valueset)
        self._stack.append(valueset.get("url", ""))
        self._containers.append(valueset)
        try:
            compose = valueset.get("compose") or {}
            for part in ("include", "exclude"):
                for index, rule in enumerate(compose.get(part, [])):
                    for vs_index, reference in enumerate(rule.get("valueSet", [])):
                        where = f"ValueSet.compose.{part}[{index}].valueSet[{vs_index}]"
                        try:
                            nested = self.valueset(reference, where)
                        except NotFound:
                            continue
                        self.check_references(nested)
        finally:
            self._stack.pop()
            self._containers.pop()

    def _check_cycle(self, valueset: dict[str, Any]) -> None:
        url = valueset.get("url", "")
        if url and url in self._stack:
            labels = [str(Canonical.of(v)) for v in self._containers]
            raise InvalidRequest(
                f"Found a circularity pointing to {Canonical.of(valueset)!s} processing ValueSet "
                f"with pathway [{', '.join(labels)}]",
                issue_code="processing", tx_issue_type="vs-invalid",
                message_id="VALUESET_CIRCULAR_REFERENCE")

    def expand(self, valueset: dict[str, Any], keep: int | None = None,
               skip: int = 0) -> Expansion:
        """The members of `valueset`. With `keep`, only the first `keep` members are listed
        and the rest are counted (a page of a large expansion, with its true total); the
        first `skip` of those may be left out (then `first` says where the entries start)."""
        url = valueset.get("url", "")
        self._check_cycle(valueset)
        self._stack.append(url)
        self._containers.append(valueset)
        try:
            whole = self._whole_system(valueset)
            if whole is not None and keep is not None:
                return self._page(valueset, whole, keep, min(skip, keep))
            if whole is not None and whole.count() > self.limit:
                raise _too_many(valueset, self.limit)  # what listing would come to
            return self._expand(valueset, keep)
        finally:
            self._stack.pop()
            self._containers.pop()

    def _whole_system(self, valueset: dict[str, Any]) -> PagedListing | None:
        """The code system of a value set that is one stored code system whole (an implicit
        `?fhir_vs`): its members are that code system's concepts, `count()` of them, and a
        page of them is read at its offset. None for any other value set."""
        compose = valueset.get("compose") or {}
        includes = compose.get("include", [])
        if len(includes) != 1 or compose.get("exclude") or self.active_only \
                or compose.get("inactive") is False:
            return None
        include = includes[0]
        if not _whole(include):
            return None  # a filter, a list of concepts, a value set, an extension...
        provider = self.provider(include["system"], include.get("version"),
                                 "ValueSet.compose.include[0].system")
        return provider if isinstance(provider, PagedListing) else None

    def _page(self, valueset: dict[str, Any], provider: PagedListing, keep: int,
              skip: int) -> Expansion:
        """Members `skip` to `keep` of the value set over `provider` whole: read as a page
        and counted by the code system, rather than listing the members before it and
        counting those after (ICD-10-CM: 98,505)."""
        system, version = provider.canonical.url, provider.canonical.version
        entries = [Entry(system, version, c, c.display)
                   for c in provider.concept_page(skip, keep - skip)]
        return Expansion(entries=entries, used_systems=[str(provider.canonical)],
                         total=provider.count(), first=skip, policy=self.policy(valueset))

    def policy(self, valueset: dict[str, Any]) -> VersionPolicy:
        """The version policy of a value set, worked out once per request (all-codes has an
        include for each of hundreds of code systems)."""
        kept = self._policies.get(id(valueset))
        if kept is None or kept[0] is not valueset:
            versions_match = versions_match_setting(valueset, self.versions_match)
            kept = (valueset, self.registry.kept(
                valueset, f"version policy {versions_match}",
                lambda: VersionPolicy.of(valueset.get("compose") or {}, versions_match)))
            self._policies[id(valueset)] = kept
        return kept[1]

    def _expand(self, valueset: dict[str, Any], keep: int | None) -> Expansion:
        compose = valueset.get("compose") or {}
        policy = self.policy(valueset)
        result = Expansion(entries=[], policy=policy)
        excluded = Expansion(entries=[])  # evaluated first, so includes can stream past them
        for index, exclude in enumerate(compose.get("exclude", [])):
            excluded.entries += self._rule(exclude, f"ValueSet.compose.exclude[{index}]",
                                           excluded)
        out = {policy.key(e) for e in excluded.entries}
        active_only = self.active_only or compose.get("inactive") is False
        limit = self.limit if keep is None else max(self.count_limit, keep)
        if not out and not active_only and self._largest_whole_include(valueset) > limit:
            raise _too_many(valueset, limit)  # what listing would come to (all codes: 216 ms)
        seen: set[tuple[str, str | None, str]] = set()
        for index, include in newest_first(compose.get("include", [])):
            for entry in self._rule(include, f"ValueSet.compose.include[{index}]", result):
                budget.check("The expansion")
                key = policy.key(entry)
                if key in seen or key in out or (active_only and entry.concept.inactive):
                    continue
                seen.add(key)
                if keep is None or len(seen) <= keep:
                    result.entries.append(entry)
                if len(seen) > limit:
                    raise _too_many(valueset, limit)
        result.used_systems += [s for s in excluded.used_systems if s not in result.used_systems]
        result.used_valuesets += [v for v in excluded.used_valuesets
                                  if v not in result.used_valuesets]
        result.nested_valuesets += excluded.nested_valuesets
        result.total = len(seen)
        return result

    def _largest_whole_include(self, valueset: dict[str, Any]) -> int:
        """The most concepts one include of a whole code system brings (each is a member, and
        no two of them share a key), or 0 when some include's system cannot be resolved (the
        expansion then fails as it would): the value set has at least that many members."""
        def largest() -> int:
            counts = [0]
            for index, rule in enumerate((valueset.get("compose") or {}).get("include", [])):
                if not _whole(rule):
                    continue  # filtered, listed, nested or extended: not counted
                try:
                    provider = self.provider(rule["system"], rule.get("version"),
                                             f"ValueSet.compose.include[{index}].system")
                except TerminologyError:
                    return 0
                counts.append(provider.count())
            return max(counts)

        if not self.plain:
            return largest()
        return self.registry.kept(valueset, "largest whole include", largest)

    def _rule(self, rule: dict[str, Any], where: str, result: Expansion) -> Iterable[Entry]:
        """The members one include/exclude rule selects (streamed from a code system)."""
        members: Iterable[Entry] | None = None
        system = rule.get("system")
        if system:
            provider = self.provider(system, rule.get("version"), f"{where}.system")
            used = str(provider.canonical)
            if used not in result.used_systems:
                result.used_systems.append(used)
            members = self._from_system(provider, rule, where)
        for vs_index, reference in enumerate(rule.get("valueSet", [])):
            nested_vs = self.valueset(reference, f"{where}.valueSet[{vs_index}]")
            nested = self.expand(nested_vs)
            for s in nested.used_systems:
                if s not in result.used_systems:
                    result.used_systems.append(s)
            result.nested_valuesets += [nested_vs, *nested.nested_valuesets]
            label = str(Canonical.of(nested_vs)) if not reference.startswith("#") else None
            if label and label not in result.used_valuesets:
                result.used_valuesets.append(label)
            if members is None:
                members = nested.entries
            else:
                keys = {e.key for e in nested.entries}
                members = [e for e in members if e.key in keys]
        return members if members is not None else ()

    def valueset(self, reference: str, where: str) -> dict[str, Any]:
        if reference.startswith("#"):
            for container in reversed(self._containers):
                for resource in container.get("contained", []):
                    if (isinstance(resource, dict) and resource.get("id") == reference[1:]
                            and resource.get("resourceType") == "ValueSet"):
                        return resource
        canonical = Canonical.parse(reference)
        version = canonical.version or self.valueset_versions.get(canonical.url)
        found = self.registry.value_set(canonical.url, version)
        if found is None:
            if version and self.expanding:
                raise NotFound(
                    f"Unable to find included value set '{canonical.url}' version '{version}'",
                    tx_issue_type="not-found", message_id="VS_EXP_IMPORT_UNK_PINNED",
                    status=422)
            raise NotFound(
                f"A definition for the value Set '{Canonical(canonical.url, version)}' could "
                "not be found", tx_issue_type="not-found",
                message_id="Unable_to_resolve_value_Set_", expression=where)
        return found

    def _from_system(self, provider: CodeSystemProvider, rule: dict[str, Any],
                     where: str) -> Iterable[Entry]:
        system, version = provider.canonical.url, provider.canonical.version
        concepts = rule.get("concept")
        if concepts:
            out = []
            for item in concepts:
                concept = provider.locate(item.get("code", ""))
                if concept is None:
                    continue
                out.append(Entry(system, version, _with_compose_extensions(concept, item),
                                 item.get("display") or concept.display,
                                 tuple(designation_of(d) for d in item.get("designation", [])),
                                 enumerated=True,
                                 extensions=tuple(item.get("extension", []))))
            return out
        tests = self._filters(provider, rule, where)
        return (Entry(system, version, c, c.display) for c in self._candidates(provider, rule)
                if _within_budget() and all(t(c) for t in tests))

    @staticmethod
    def _candidates(provider: CodeSystemProvider, rule: dict[str, Any]) -> Iterator[Concept]:
        """The concepts worth testing: for an is-a (or descendent-of) filter on a stored code
        system, the code and what is below it, read from the hierarchy table, rather than
        every concept of ICD-10-CM; otherwise every concept."""
        if isinstance(provider, SqlProvider) and provider.hierarchical:
            for f in rule.get("filter", []):
                if f.get("property") in ("concept", "code") and filter_op(f) in (
                        "is-a", "descendent-of", "descendent-leaf") and f.get("value"):
                    top = str(f["value"])
                    codes = [top, *provider.descendants(top)]
                    return (c for c in map(provider.locate, codes) if c is not None)
        return provider.iter_concepts()

    def _filters(self, provider: CodeSystemProvider, rule: dict[str, Any],
                 where: str) -> list[Predicate]:
        """The tests of the rule's filters (built once per request: a membership test per
        search match would otherwise build them again for each)."""
        key = (id(provider), id(rule), where)
        kept = self._tests.get(key)
        if kept is not None and kept[0] is provider and kept[1] is rule:
            return kept[2]
        tests = []
        for index, f in enumerate(rule.get("filter", [])):
            at = f"{where}.filter[{index}]"
            prop, op, value = f.get("property"), filter_op(f), f.get("value")
            if value is None or value == "":
                raise InvalidRequest(
                    f"The system {provider.canonical.url} filter with property = {prop}, "
                    f"op = {op} has no value",
                    tx_issue_type="vs-invalid", expression=at,
                    message_id="UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE")
            tests.append(predicate(provider, str(prop), str(op), str(value), at))
        self._tests[key] = (provider, rule, tests)
        return tests

    # -- membership ---------------------------------------------------------------------------

    def member(self, valueset: dict[str, Any], system: str, code: str,
               version: str | None = None) -> Entry | None:
        """The entry for system#code if it is in the value set, else None.

        Tested rule by rule against the one concept, without expanding: value sets over large
        code systems (and CPT's unbounded modifier expressions) are checked in constant time.
        """
        if not self._stack and self._acyclic.get(id(valueset)) is not valueset:
            self.check_references(valueset)  # once per request: a search tests many codes
            self._acyclic[id(valueset)] = valueset
        url = valueset.get("url", "")
        self._check_cycle(valueset)
        self._stack.append(url)
        self._containers.append(valueset)
        try:
            compose = valueset.get("compose") or {}
            policy = self.policy(valueset)
            found = None
            for index, include in enumerate(compose.get("include", [])):
                found = self._rule_member(include, f"ValueSet.compose.include[{index}]",
                                          system, code, version, policy)
                if found is not None:
                    break
            if found is None:
                return None
            for index, exclude in enumerate(compose.get("exclude", [])):
                if self._rule_member(exclude, f"ValueSet.compose.exclude[{index}]",
                                     system, code, version, policy) is not None:
                    return None
            if found.concept.inactive and (self.active_only or compose.get("inactive") is False):
                return None
            return found
        finally:
            self._stack.pop()
            self._containers.pop()

    def _rule_member(self, rule: dict[str, Any], where: str, system: str, code: str,
                     version: str | None, policy: VersionPolicy) -> Entry | None:
        entry: Entry | None = None
        if rule.get("system"):
            if rule["system"] != system and (self.registry.canonical_url(rule["system"])
                                             != self.registry.canonical_url(system)):
                return None  # (urn:oid:... and the url it names are one system)
            provider = self.provider(system, rule.get("version"), f"{where}.system")
            if not policy.applies(provider.canonical.version, version):
                return None
            entry = self._system_member(provider, rule, where, code)
            if entry is None:
                return None
        for vs_index, reference in enumerate(rule.get("valueSet", [])):
            nested = self.member(self.valueset(reference, f"{where}.valueSet[{vs_index}]"),
                                 system, code, version)
            if nested is None:
                return None
            entry = entry or nested
        return entry

    def _system_member(self, provider: CodeSystemProvider, rule: dict[str, Any], where: str,
                       code: str) -> Entry | None:
        url, version = provider.canonical.url, provider.canonical.version
        listed = rule.get("concept")
        if listed:
            fold = not provider.case_sensitive
            item = next((c for c in listed if c.get("code") == code or (
                fold and str(c.get("code", "")).casefold() == code.casefold())), None)
            if item is None:
                return None
            concept = _locate(provider, item.get("code", ""))
            if concept is None:
                return None
            return Entry(url, version, concept, item.get("display") or concept.display,
                         tuple(designation_of(d) for d in item.get("designation", [])),
                         enumerated=True, extensions=tuple(item.get("extension", [])))
        entry = self.whole_system_member(provider, code)
        if entry is None or not all(test(entry.concept)
                                    for test in self._filters(provider, rule, where)):
            return None
        return entry

    @staticmethod
    def whole_system_member(provider: CodeSystemProvider, code: str) -> Entry | None:
        """The entry for `code` of a code system a value set includes whole (no filter, no
        list, no exclude): what `member` finds for it, without going through the rules (an
        all-codes value set has one for each of hundreds of code systems). An include's
        filters then test it (`_system_member`)."""
        concept = _locate(provider, code)
        if concept is None:
            return None
        return Entry(provider.canonical.url, provider.canonical.version, concept,
                     concept.display)


def _whole(rule: dict[str, Any]) -> bool:
    """Whether an include is a code system whole: a system (and version), nothing else."""
    return bool(rule.get("system")) and not set(rule) - {"system", "version"}


def _too_many(valueset: dict[str, Any], limit: int) -> TooCostly:
    return TooCostly(f"The value set '{valueset.get('url', '')}' expansion has too many codes "
                     f"to display (>{limit})", message_id="VALUESET_TOO_COSTLY")


def _within_budget() -> bool:
    """True, or OverBudget raised: a filter may test every concept of a code system."""
    budget.check("Testing the value set's filters")
    return True


EXPANSION_PARAMETER = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def default_valueset_versions(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`default-valueset-version` parameters (url|version) as {url: version}."""
    out = {}
    for value in values:
        canonical = Canonical.parse(value)
        if canonical.version:
            out[canonical.url] = canonical.version
    return out


def valueset_default(valueset: dict[str, Any] | None, name: str) -> Any:
    """A parameter a value set sets for its own use (valueset-expansion-parameter extension)."""
    for ext in ((valueset or {}).get("compose") or {}).get("extension", []):
        if ext.get("url") != EXPANSION_PARAMETER:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", [])}
        if (parts.get("name") or {}).get("valueCode") == name:
            return next((v for k, v in (parts.get("value") or {}).items()
                         if k.startswith("value")), None)
    return None


EXT_COMPOSE_PROPERTY = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.property"


def compose_properties(valueset: dict[str, Any] | None) -> tuple[str, ...]:
    """The properties a value set asks its expansions to show (R5 ValueSet.compose.property).

    R4 carries the element as its cross-version extension; `*` stands for every property.
    """
    compose = (valueset or {}).get("compose") or {}
    codes = [c for c in compose.get("property") or [] if isinstance(c, str)]
    codes += [ext.get("valueCode") or ext.get("valueString")
              for ext in compose.get("extension", []) if ext.get("url") == EXT_COMPOSE_PROPERTY]
    return tuple(dict.fromkeys(c for c in codes if c))


# A listed concept's extensions that its expansion entry carries (besides those kept from the
# code system): the value set may mark the concept deprecated.
COMPOSE_EXTENSIONS = {STANDARDS_STATUS}


def _with_compose_extensions(concept: Concept, item: dict[str, Any]) -> Concept:
    """A value set's own label, order, weight and kept extensions for one listed concept."""
    extensions = item.get("extension", [])
    if not extensions:
        return concept
    own = extension_properties(extensions)
    replaced = {p.code for p in own}
    carried = kept_extensions(extensions) + tuple(
        e for e in extensions if e.get("url") in COMPOSE_EXTENSIONS)
    return replace(concept,
                   properties=tuple(p for p in concept.properties if p.code not in replaced)
                   + tuple(own),
                   extensions=concept.extensions + carried)


def _locate(provider: CodeSystemProvider, code: str) -> Concept | None:
    try:
        return provider.locate(code)
    except InvalidCode:
        return None


EXT_FILTER_OP = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.compose.include.filter.op"


def filter_op(f: dict[str, Any]) -> str | None:
    """The filter's op; R4 carries the R5-only ops (child-of, descendent-leaf) in an extension."""
    if f.get("op"):
        return str(f["op"])
    for ext in (f.get("_op") or {}).get("extension", []):
        if ext.get("url") == EXT_FILTER_OP:
            code = ext.get("valueCode")
            return code if isinstance(code, str) else None
    return None
