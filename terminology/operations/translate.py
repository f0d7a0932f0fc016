"""ConceptMap/$translate: codes in one system mapped to another by the known ConceptMaps.

Accepts R4 names (`system`, `code`, `coding`, `targetsystem`, `reverse`) and R5 names
(`sourceCode`, `sourceSystem`, `targetCode`, `targetSystem`): a `targetCode` asks the reverse
question (which source codes map to this target).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from terminology.errors import NotFound
from terminology.model import Canonical, Coding
from terminology.provider import Registry

NOT_A_MATCH = {"unmatched", "disjoint", "not-related-to"}


@dataclass(frozen=True)
class TranslateRequest:
    coding: Coding
    reverse: bool = False
    url: str | None = None
    map_version: str | None = None
    target_system: str | None = None
    source_scope: str | None = None
    target_scope: str | None = None
    instance_id: str | None = None


@dataclass
class Match:
    equivalence: str
    concept: Coding | None
    origin: str
    source: Coding | None = None
    comment: str | None = None


@dataclass
class Translation:
    result: bool
    matches: list[Match] = field(default_factory=list)
    message: str | None = None


def _scope(cm: dict[str, Any], side: str) -> str | None:
    for key in (f"{side}Uri", f"{side}Canonical", f"{side}ScopeUri", f"{side}ScopeCanonical"):
        if cm.get(key):
            return str(cm[key]).partition("|")[0]
    return None


def _maps(registry: Registry, request: TranslateRequest) -> list[dict[str, Any]]:
    maps = registry.concept_map_resources()
    if request.instance_id:
        maps = [m for m in maps if m.get("id") == request.instance_id]
        if not maps:
            raise NotFound(f"ConceptMap/{request.instance_id} is not known on this server")
    if request.url:
        url, _, pinned = request.url.partition("|")
        version = request.map_version or pinned or None
        maps = [m for m in maps if m.get("url") == url
                and (version is None or m.get("version") == version)]
        if not maps:
            raise NotFound(f"A definition for the ConceptMap '{request.url}' could not be found",
                           tx_issue_type="not-found")
    if request.source_scope:
        maps = [m for m in maps if _scope(m, "source") in (None, request.source_scope)]
    if request.target_scope:
        maps = [m for m in maps if _scope(m, "target") in (None, request.target_scope)]
    return maps


def translate(registry: Registry, request: TranslateRequest) -> Translation:
    coding = request.coding
    matches: list[Match] = []
    for cm in _maps(registry, request):
        origin = str(Canonical.of(cm))
        for group in cm.get("group", []):
            source, target = group.get("source"), group.get("target")
            if request.reverse:
                if coding.system and target != coding.system:
                    continue
                if request.target_system and source != request.target_system:
                    continue
                for element in group.get("element", []):
                    for t in element.get("target", []):
                        if t.get("code") == coding.code:
                            matches.append(Match(
                                t.get("equivalence", "equivalent"),
                                Coding(target, coding.code), origin,
                                source=Coding(source, element.get("code")),
                                comment=t.get("comment")))
                continue
            if coding.system and source != coding.system:
                continue
            if request.target_system and target != request.target_system:
                continue
            found = False
            for element in group.get("element", []):
                if element.get("code") != coding.code:
                    continue
                found = True
                for t in element.get("target", []):
                    concept = Coding(target, t["code"], display=t.get("display")) \
                        if t.get("code") else None
                    matches.append(Match(t.get("equivalence", "equivalent"), concept, origin,
                                         comment=t.get("comment")))
            unmapped = group.get("unmapped")
            if not found and unmapped and unmapped.get("mode") == "fixed":
                matches.append(Match(unmapped.get("equivalence", "relatedto"),
                                     Coding(target, unmapped.get("code"),
                                            display=unmapped.get("display")), origin))
    result = any(m.equivalence not in NOT_A_MATCH and m.concept is not None for m in matches)
    message = None if result else (
        f"No translations found for the code '{coding.code}' in the system "
        f"'{coding.system or ''}'" + (f" to '{request.target_system}'"
                                        if request.target_system else ""))
    return Translation(result, matches, message)
