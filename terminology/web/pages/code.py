"""A code's page: `$lookup` with every stored supplement of its code system, then in words what a
coder needs: where the code stands, its status (a deleted code says it cannot be used), its
descriptors and properties named as people name them, its notes (inherited ones too), the
policies that apply to it, the plain-language sections of a supplement, its related codes.
"""

from __future__ import annotations

import re
from typing import Any

from terminology import clock
from terminology.errors import TerminologyError
from terminology.model import Canonical, Concept, ExpandRequest, LookupRequest
from terminology.operations.expand import expand
from terminology.operations.lookup import lookup
from terminology.provider import CodeSystemProvider
from terminology.web.pages.hierarchy import ancestors, crumbs, listed, notes, values
from terminology.web.pages.related import related
from terminology.web.pages.search import badges, plain_name, supplements_of
from terminology.web.pages.systems import System, fold, policy_sources, registry

# Properties the page shows elsewhere than in its property table.
SHOWN_ELSEWHERE = {"parent", "child", "primary-code", "copyright", "inactive", "status",
                   "deleted-date", "effective-date"}
CANDIDATES = 20  # search hits read to find the code a person typed differently
LONGEST_CODE = 40  # characters: text longer than this is not searched for as a code


def canonical_code(system: System, code: str, version: str | None) -> str | None:
    """The code as the code system writes it, for one typed with another case or without its
    punctuation (`e11.9`, `E119` -> `E11.9`); None when there is no such code."""
    typed = fold(code)
    if not typed or len(code) > LONGEST_CODE:
        return None
    try:
        result = expand(registry(), ExpandRequest(
            url=f"{system.url}?fhir_vs", filter=code, count=CANDIDATES,
            system_version=(f"{system.url}|{version}",) if version else ()))
    except TerminologyError:
        return None
    return next((e.concept.code for e in result.entries
                 if fold(e.concept.code) == typed and e.concept.code != code), None)


def look_up(system: System, code: str, version: str | None) -> tuple[Any, list[dict[str, Any]]]:
    """`$lookup` of the code with the code system's supplements (raises TerminologyError)."""
    supplements = supplements_of(system)
    used = tuple(str(Canonical.of(s)) for s in supplements)
    result = lookup(registry(), LookupRequest(code=code, system=system.url, version=version,
                                              supplements=used))
    return result, supplements


def page(system: System, result: Any, supplements: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything code.html shows."""
    concept: Concept = result.concept
    version = result.version
    provider = registry().resolve(system.url, version)
    sources = {str(Canonical.of(s)): s.get("title") or s.get("name") or s.get("url")
               for s in supplements}
    sections, section_codes = _sections(concept, supplements)
    above = ancestors(system, concept, version)
    versions = _versions(system, concept.code, version)
    today = clock.today()
    policies, covered = _policies(system, concept, version, today)
    vals = values(concept)
    note_codes = {kind for kind, _ in system.pages.notes} if system.pages else set()
    hidden = SHOWN_ELSEWHERE | section_codes | covered | note_codes
    return {
        "code": concept.code,
        "display": concept.display,
        "version": version,
        "badges": [b for b in badges(concept) if b[0] not in ("deleted", "inactive")],
        "status": _status(concept),
        "status_text": _status_text(system, concept, version, versions),
        "crumbs": crumbs(system, concept, above),
        "versions": versions,
        "plain": plain_name(concept.designations, set(sources)),
        "sections": sections,
        "notes": notes(system, concept, above, version),
        "descriptors": _descriptors(system, concept, sources),
        "properties": _properties(system, provider, concept, supplements, hidden),
        "policies": policies,
        "today": today,
        "related": related(system, concept, version),
        "copyright": result.copyright,
        "supplement_notes": [s.get("description") or s.get("title") for s in supplements
                             if str(Canonical.of(s)) in result.used_supplements],
        "effective_date": next(iter(vals.get("effective-date", [])), None),
    }


def _status(concept: Concept) -> str:
    if "deleted" in values(concept).get("status", []) or concept.withdrawn:
        return "Deleted"
    return "Inactive" if concept.inactive else "Active"


def _status_text(system: System, concept: Concept, version: str | None,
                 versions: list[dict[str, Any]]) -> str:
    """The status in a sentence; a deleted or inactive code says it cannot be used."""
    where = f"{system.label} {version}" if version else system.label
    valid = [v["version"] for v in versions if v["status"] == "active"]
    elsewhere = f" It is valid in {system.label} {' and '.join(valid)}." if valid else ""
    status = _status(concept)
    if status == "Deleted":
        since = str(next(iter(values(concept).get("deleted-date", [])), concept.withdrawn or ""))
        when = f" on {since[:10]}" if since else f" in {where}"
        after = (f"services on or after {since[:10]}" if since
                 else f"services dated in {where}")
        return (f"{concept.code} was deleted from {system.label}{when}: it cannot be used for "
                f"{after}.{elsewhere}")
    if status == "Inactive":
        return (f"{concept.code} is inactive in {where}: it cannot be used for services dated "
                f"in this version.{elsewhere}")
    return f"Active in {where}."


def _descriptors(system: System, concept: Concept,
                 sources: dict[str, Any]) -> list[dict[str, str]]:
    words = system.pages.designations if system.pages else {}
    out = []
    for d in concept.designations:
        use = d.use.code if d.use else None
        kind = (words.get(use or "") or (d.use.display if d.use else None) or use
                or "Descriptor")
        language = d.language if d.language and not d.language.startswith("en") else ""
        out.append({"kind": kind, "language": language, "value": d.value,
                    "source": sources.get(d.source or "", "")})
    if concept.display and not any(d["value"] == concept.display for d in out):
        out.insert(0, {"kind": words.get("display", "Descriptor"), "language": "",
                       "value": concept.display, "source": ""})
    return out


def _properties(system: System, provider: CodeSystemProvider, concept: Concept,
                supplements: list[dict[str, Any]], hidden: set[str]) -> list[dict[str, str]]:
    """The other properties as label and value in words."""
    pages = system.pages
    defs: dict[str, Any] = {}
    for resource in (provider.summary(), *supplements):
        for p in resource.get("property", []):
            defs.setdefault(p.get("code"), p)
    out = []
    for code, listed_values in values(concept).items():
        if code in hidden:
            continue
        words = pages.values.get(code, {}) if pages else {}
        label = (pages.properties.get(code) if pages else None) or \
            (defs.get(code) or {}).get("description") or code
        shown = [_value(v, words) for v in listed_values]
        out.append({"label": label, "value": "; ".join(shown)})
    return out


def _value(value: Any, words: Any) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if isinstance(value, dict):  # a Coding
        return " ".join(str(value.get(k)) for k in ("code", "display") if value.get(k))
    return str(words.get(str(value), value))


def _policies(system: System, concept: Concept, version: str | None,
              today: str) -> tuple[list[dict[str, Any]], set[str]]:
    """The policies of every source, with the descriptor of each code they name."""
    found = []
    covered: set[str] = set()
    for source in policy_sources():
        listed_policies = source.policies(registry(), system.url, concept, version, today)
        found += listed_policies
        covered |= set(source.covers)
    codes = [line.code for p in found for line in p.lines if line.code]
    entries = listed(system, codes, version)
    shown = [{"policy": p, "displays": {c: (e.display or e.concept.display or "")
                                        for c, e in entries.items()}} for p in found]
    return shown, covered


def _sections(concept: Concept,
              supplements: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """The supplements' string properties, in the order each supplement declares them, as page
    sections: a heading (the property's description) and paragraphs or numbered steps."""
    vals = values(concept)
    sections = []
    codes: set[str] = set()
    for s in supplements:
        for p in s.get("property", []):
            code = p.get("code")
            if p.get("type") != "string" or not code:
                continue
            codes.add(code)
            for text in vals.get(code, []):
                lines = [line.strip() for line in str(text).splitlines() if line.strip()]
                steps = [re.sub(r"^\d+[.)]\s*", "", line) for line in lines]
                numbered = len(lines) > 1 and all(re.match(r"^\d+[.)]\s", x) for x in lines)
                sections.append({"id": code, "heading": p.get("description") or code,
                                 "steps": steps if numbered else [],
                                 "paragraphs": [] if numbered else lines})
    return sections, codes


def _versions(system: System, code: str, shown: str | None) -> list[dict[str, Any]]:
    """The code's status in every version of the code system, newest first."""
    out = []
    for version in reversed(registry().versions(system.url)):
        try:
            concept = lookup(registry(), LookupRequest(code=code, system=system.url,
                                                       version=version)).concept
            status = _status(concept).lower()
        except TerminologyError:
            status = "absent"
        out.append({"version": version, "status": status, "current": version == shown})
    return out
