"""The codes related to a code, each listed once, with its descriptor: its primary or add-on
codes, the broader and narrower codes, the neighbours in its range."""

from __future__ import annotations

from typing import Any

from terminology.errors import TerminologyError
from terminology.model import Coding, Concept, ExpandRequest, LookupRequest
from terminology.operations.expand import expand
from terminology.operations.lookup import lookup
from terminology.operations.translate import NOT_A_MATCH, TranslateRequest, translate
from terminology.web.pages.hierarchy import listed, values
from terminology.web.pages.search import Hit, badges
from terminology.web.pages.systems import System, registry

NEIGHBOURS = 5  # codes shown on each side of a code in its range
MAX_RELATED = 60  # children or neighbours listed at most
NEIGHBOUR_SEARCH = 100  # codes read to find the neighbours of a code without a parent


def related(system: System, concept: Concept, version: str | None) -> list[dict[str, Any]]:
    """Lists of related codes, a code in the first list it belongs to only: primary and add-on
    codes, the parent and children, and the neighbours in the code's range."""
    if concept.expression:
        base = concept.code.split(":")[0]
        return with_displays(system, version, [("The code without modifiers", [base])])
    vals = values(concept)
    parents = [str(v) for v in vals.get("parent", [])]
    children = [str(v) for v in vals.get("child", [])][:MAX_RELATED]
    groups = [
        ("Primary procedure codes this add-on code is reported with",
         [str(v) for v in vals.get("primary-code", [])]),
        ("Add-on codes reported with this code", addons(system, concept.code, version)),
        ("Broader code" if len(parents) == 1 else "Broader codes", parents),
        ("Narrower codes", children),
        ("Nearby codes", neighbours(system, concept.code, parents, version)),
    ]
    seen = {concept.code}
    once = []
    for title, codes in groups:
        fresh = [c for c in dict.fromkeys(codes) if c not in seen]
        seen.update(fresh)
        once.append((title, fresh))
    return with_displays(system, version, once)


def addons(system: System, code: str, version: str | None) -> list[str]:
    """Codes the concept maps (such as the CMS add-on code edits) link to this one as their
    primary code; an add-on whose own `primary-code` list no longer holds it (an edit that has
    ended) is left out."""
    try:
        found = translate(registry(), TranslateRequest(Coding(system.url, code), reverse=True))
    except TerminologyError:
        return []
    candidates = [m.source.code for m in found.matches
                  if m.source is not None and m.source.system == system.url
                  and m.source.code and m.equivalence not in NOT_A_MATCH]
    out = []
    for candidate in dict.fromkeys(candidates):
        try:
            addon = lookup(registry(), LookupRequest(code=candidate, system=system.url,
                                                     version=version)).concept
        except TerminologyError:
            continue
        primaries = values(addon).get("primary-code")
        if primaries is None or code in primaries:
            out.append(candidate)
    return out


def neighbours(system: System, code: str, parents: list[str], version: str | None) -> list[str]:
    """The codes next to this one: its siblings under the same parent in a hierarchy, otherwise
    the codes of the same length that share all but its last character (a code range)."""
    if parents:
        try:
            parent = lookup(registry(), LookupRequest(code=parents[0], system=system.url,
                                                      version=version)).concept
        except TerminologyError:
            return []
        codes = [str(v) for v in values(parent).get("child", [])]
    elif len(code) > 1:
        prefix = code[:-1]
        try:
            result = expand(registry(), ExpandRequest(
                url=f"{system.url}?fhir_vs", filter=prefix, count=NEIGHBOUR_SEARCH,
                system_version=(f"{system.url}|{version}",) if version else ()))
        except TerminologyError:
            return []
        codes = [e.concept.code for e in result.entries
                 if e.concept.code.startswith(prefix) and len(e.concept.code) == len(code)]
    else:
        return []
    codes = sorted(set(codes) | {code})
    at = codes.index(code)
    window = codes[max(0, at - NEIGHBOURS):at + NEIGHBOURS + 1]
    return [c for c in window if c != code]


def with_displays(system: System, version: str | None,
                  groups: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """The groups with each code's descriptor and badges (codes the code system does not hold
    are shown without a descriptor)."""
    entries = listed(system, [c for _, codes in groups for c in codes], version)
    found = {code: Hit(code, e.display or e.concept.display or "", badges(e.concept))
             for code, e in entries.items()}
    return [{"title": title,
             "hits": [found.get(c) or Hit(c, "", []) for c in codes],
             "linked": {c for c in codes if c in found}}
            for title, codes in groups if codes]
