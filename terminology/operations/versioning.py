"""Which version of a code system a $validate-code checks against, and what to say about it.

Four things bear on the choice: the coding's own version, the version the value set's include
states for the system (possibly a pattern such as `1.x.x`), and the request's version rules
(`force-system-version` overrides everything, `system-version` fills in a missing version,
`check-system-version` fills one in too and then vetoes any other). The FHIR rules, as
tx.fhir.org applies them:

* The include's version (after force/default/check) is the version validated against; a coding
  version that merely refines it (`1.0.0` under `1.x.x` or a forced `1.0.x`) is used instead.
* A versionless include with no rule takes the coding's version when that version exists.
* When the code system found differs from the coding's version the value is reported as a
  mismatch: VALUESET_VALUE_MISMATCH (the include's own version), VALUESET_VALUE_MISMATCH_CHANGED
  (a version rule changed it) or, as a warning, VALUESET_VALUE_MISMATCH_DEFAULT (a versionless
  include took the default); a coding version that does not exist is also
  UNKNOWN_CODESYSTEM_VERSION.
* A version the include needs that cannot be found makes the coding unknown (not invalid): the
  code is then only looked up in the coding's own version, for its display.
* The version used must satisfy check-system-version, else VALUESET_VERSION_CHECK.
"""

from __future__ import annotations

from typing import Any, Protocol

from terminology.errors import NotFound
from terminology.model import Coding, Concept, Issue, ValidateRequest
from terminology.operations.common import provider_for
from terminology.operations.outcome import CodingOutcome
from terminology.provider import CodeSystemProvider, Registry
from terminology.valuesets import Evaluator, VersionRules


class Checking(Protocol):
    """What the version choice needs of the $validate-code in progress (validate_code's
    _Validator)."""

    @property
    def request(self) -> ValidateRequest: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def evaluator(self) -> Evaluator: ...

    @property
    def valueset(self) -> dict[str, Any] | None: ...

    def include_version(self, system: str) -> str | None: ...

    def includes_system(self, system: str) -> bool: ...

    def not_in_vs(self, coding: Coding, path: dict[str, str], system: str | None,
                  version: str | None = None) -> Issue: ...

    def display_fits(self, concept: Concept, provider: CodeSystemProvider,
                     display: str) -> bool: ...


def version_matches(pattern: str, version: str) -> bool:
    """`1.x`, `1.0.x`, `1.*` match by segment; otherwise versions must be equal."""
    return VersionRules.matches(pattern, version)


def _lookup(registry: Registry, system: str, version: str | None,
            on_date: str | None) -> CodeSystemProvider | None:
    try:
        return registry.resolve(system, version, on_date)
    except NotFound:
        return None


def _unknown(registry: Registry, system: str, version: str | None,
             where: str) -> tuple[Issue, str]:
    """The issue for a code system (version) that cannot be found, and its canonical."""
    if not version:
        return Issue("error", "not-found",
                     f"A definition for CodeSystem '{system}' could not be found, so the code "
                     "cannot be validated", "not-found", where, "UNKNOWN_CODESYSTEM"), system
    known = registry.versions(system) if registry.knows(system) else []
    known = [v for v in known if v]
    if not known:
        return Issue("error", "not-found",
                     f"A definition for CodeSystem '{system}' version '{version}' could not be "
                     "found, so the code cannot be validated. No versions of this code system "
                     "are known", "not-found", where, "UNKNOWN_CODESYSTEM_VERSION_NONE"), system
    return Issue("error", "not-found",
                 f"A definition for CodeSystem '{system}' version '{version}' could not be found, "
                 f"so the code cannot be validated. Valid versions: {VersionRules.listing(known)}",
                 "not-found", where, "UNKNOWN_CODESYSTEM_VERSION"), f"{system}|{version}"


def _report_once(out: CodingOutcome, issue: Issue, about: str) -> None:
    """Add `issue` unless an issue of its message id about the same canonical is there."""
    key = (issue.message_id, about)
    if key not in out.reported:
        out.reported.add(key)
        out.issues.append(issue)


def _add_unknown(out: CodingOutcome, issue: Issue, label: str) -> None:
    _report_once(out, issue, label)
    if out.unknown_system is None:
        out.unknown_system = label


def _version_check(rules: VersionRules, system: str, provider: CodeSystemProvider,
                   path: dict[str, str], out: CodingOutcome) -> None:
    failure = rules.check_failure(system, provider.canonical.version)
    if failure:
        _report_once(out, Issue("error", "exception", failure, "version-error", path["version"],
                                "VALUESET_VERSION_CHECK"), str(provider.canonical))


def choose_code_system(validator: Checking, coding: Coding, system: str,
                       path: dict[str, str], out: CodingOutcome) -> CodeSystemProvider | None:
    """The provider to validate `coding` against, or None (the reasons added to `out.issues`).

    `validator` offers: request, registry, evaluator (with `versions`, the request's
    VersionRules), include_version(system), includes_system(system), not_in_vs(coding, path,
    system), display_fits(concept, provider, display).
    """
    request = validator.request
    rules: VersionRules = validator.evaluator.versions
    if not request.against_valueset:
        return _in_code_system(validator, coding, system, path, out, rules)
    registry, on_date = validator.registry, request.date
    if not validator.includes_system(system):
        # Not a system the value set draws on: the code is simply not in it (found or not).
        wanted = rules.choose(system, coding.version)
        provider = _lookup(registry, system, wanted, on_date)
        if provider is None:
            issue, label = _unknown(registry, system, wanted, path["system"])
            out.issues.append(issue)
            out.version = wanted
            out.x_unknown_system = label
            out.issues.append(validator.not_in_vs(coding, path, system))
            if request.source == "codeableConcept":
                out.system = out.code = out.version = None  # no coding was validated
        return provider

    stated = _stated_version(validator, system, coding, rules)  # maybe a pattern
    result = rules.choose(system, stated)
    if coding.version:
        if result and result != coding.version and version_matches(result, coding.version):
            result = coding.version  # the coding refines the include's version (pattern)
        if not result and any(v == coding.version or version_matches(coding.version, v)
                              for v in registry.versions(system)):
            result = coding.version
        found = _lookup(registry, system, rules.choose(system, result), on_date)
        if found is not None:
            actual = found.canonical.version or ""
            if actual != coding.version and not version_matches(coding.version, actual):
                out.issues.append(_mismatch(system, actual, result, stated, coding.version,
                                            path["version"]))
                if _lookup(registry, system, coding.version, on_date) is None:
                    _add_unknown(out, *_unknown(registry, system, coding.version,
                                                path["system"]))
        elif result != coding.version:
            out.issues.append(Issue(
                "error", "invalid",
                f"The code system '{system}' version '{result}' in the ValueSet include is "
                f"different to the one in the value ('{coding.version}')",
                "vs-invalid", path["version"], "VALUESET_VALUE_MISMATCH"))

    wanted = rules.choose(system, result)
    provider = _lookup(registry, system, wanted, on_date)
    if provider is None:
        _add_unknown(out, *_unknown(registry, system, wanted, path["system"]))
        out.include_matched = True  # unknown, not "not in the value set"
        _describe_from_own_version(validator, coding, system, out, rules)
        return None
    _version_check(rules, system, provider, path, out)
    return provider


def _stated_version(validator: Checking, system: str, coding: Coding,
                    rules: VersionRules) -> str | None:
    """The version the value set's include for `system` states (the include that fits best).

    With several includes for the system (`version-mixed`: code1 from 1.0.0, code2 from
    1.2.0), prefer one whose concept list (if any) has the code, then one whose version is the
    coding's; otherwise the first stated version.
    """
    includes = [i for i in ((validator.valueset or {}).get("compose") or {}).get("include", [])
                if i.get("system") == system]
    listing = [i for i in includes if not i.get("concept")
               or any(c.get("code") == coding.code for c in i["concept"])]
    if coding.version:
        for include in listing:
            version = rules.choose(system, _version_of(include))
            if version and (version == coding.version or version_matches(version, coding.version)):
                return _version_of(include)
    elif len({i.get("version") for i in includes}) > 1:
        best = _best_include(validator, system, coding, listing or includes, rules)
        if best is not None:
            return _version_of(best)
    for include in listing:
        if _version_of(include):
            return _version_of(include)
    return validator.include_version(system)


def _version_of(include: dict[str, Any]) -> str | None:
    version = include.get("version")
    return version if isinstance(version, str) else None


def _best_include(validator: Checking, system: str, coding: Coding,
                  includes: list[dict[str, Any]], rules: VersionRules) -> dict[str, Any] | None:
    """Of includes naming `system` at several versions, the one a versionless coding is
    checked against: the newest version that has the code with the coding's display, else
    the newest that has the code, else the newest."""
    found = []
    for include in includes:
        provider = _lookup(validator.registry, system, rules.choose(system, include.get("version")),
                           validator.request.date)
        if provider is not None:
            found.append((provider, include))
    found.sort(key=lambda pair: VersionRules.order(pair[0].canonical.version or ""),
               reverse=True)
    code = coding.code or ""
    having = [(p, i, c) for p, i in found if (c := _locate(p, code)) is not None]
    if coding.display:
        for provider, include, concept in having:
            if validator.display_fits(concept, provider, coding.display):
                return include
    chosen = [(p, i) for p, i, _ in having] or found
    return chosen[0][1] if chosen else None


def _locate(provider: CodeSystemProvider, code: str) -> Concept | None:
    try:
        return provider.locate(code)
    except NotFound:
        return None


def _mismatch(system: str, actual: str, result: str | None, stated: str | None,
              coded: str, where: str) -> Issue:
    """The coding's version differs from the code system version the value set leads to."""
    if not result:
        return Issue("warning", "invalid",
                     f"The code system '{system}' version '{actual}' for the versionless include "
                     f"in the ValueSet include is different to the one in the value ('{coded}')",
                     "vs-invalid", where, "VALUESET_VALUE_MISMATCH_DEFAULT")
    if result != stated:
        return Issue("error", "invalid",
                     f"The code system '{system}' version '{result}' resulting from the version "
                     f"'{stated or ''}' in the ValueSet include is different to the one in the "
                     f"value ('{coded}')", "vs-invalid", where, "VALUESET_VALUE_MISMATCH_CHANGED")
    return Issue("error", "invalid",
                 f"The code system '{system}' version '{stated}' in the ValueSet include is "
                 f"different to the one in the value ('{coded}')",
                 "vs-invalid", where, "VALUESET_VALUE_MISMATCH")


def _describe_from_own_version(validator: Checking, coding: Coding, system: str,
                               out: CodingOutcome, rules: VersionRules) -> None:
    """When the value set's version is unknown: version and display from the coding's own."""
    own = _lookup(validator.registry, system, rules.choose(system, coding.version),
                  validator.request.date)
    out.version = own.canonical.version if own is not None else coding.version
    if own is not None:
        try:
            concept = own.locate(coding.code or "")
        except NotFound:
            concept = None
        if concept is not None:
            out.display = concept.display
    if validator.request.source == "codeableConcept":
        out.system = out.code = None  # no coding was validated


def _in_code_system(validator: Checking, coding: Coding, system: str, path: dict[str, str],
                    out: CodingOutcome, rules: VersionRules) -> CodeSystemProvider | None:
    """CodeSystem/$validate-code: the coding's (or request's) version, under the rules."""
    request = validator.request
    wanted = coding.version or request.version
    if request.instance_id is None:
        wanted = rules.choose(system, wanted)
    try:
        provider = provider_for(
            validator.registry, system=system, version=wanted,
            on_date=request.date, instance_id=request.instance_id,
            system_param="url" if request.source == "code" else "system")
    except NotFound as exc:
        unknown = exc.message_id == "UNKNOWN_CODESYSTEM"
        out.issues.append(Issue("error", "not-found", exc.message, "not-found",
                                path["system"], exc.message_id))
        out.version = wanted
        out.unknown_system = f"{system}|{wanted}" if wanted and not unknown else system
        return None
    _version_check(rules, system, provider, path, out)
    return provider
