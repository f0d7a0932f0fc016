"""Where a code stands: its path from the top of its code system (`Chapter 4 › E08–E13 › E11 ›
E11.9`), and the notes it carries, its own and those its ancestors pass down (ICD-10-CM's
"use additional code" at E11 applies to E11.9), with the codes they name as links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from terminology.errors import TerminologyError
from terminology.model import BrowseGroup, Concept, ExpandRequest, LookupRequest
from terminology.operations.expand import expand
from terminology.operations.lookup import lookup
from terminology.web.pages.systems import System, registry
from terminology.web.pages.text import Piece, codes_named, linked

MAX_DEPTH = 12  # ancestors followed at most (a cycle in loaded content stops here)


@dataclass(frozen=True)
class Crumb:
    label: str
    code: str | None = None  # a code page
    group: str | None = None  # a browse group's key
    title: str = ""


@dataclass
class NoteGroup:
    """The notes of one kind: the code's own, then each ancestor's that apply to it."""

    kind: str
    heading: str
    own: list[list[Piece]] = field(default_factory=list)
    inherited: list[tuple[Crumb, list[list[Piece]]]] = field(default_factory=list)


def values(concept: Concept) -> dict[str, list[Any]]:
    """Property values by code, each once, in order."""
    out: dict[str, list[Any]] = {}
    for p in concept.properties:
        if p.value not in out.setdefault(p.code, []):
            out[p.code].append(p.value)
    return out


def kinds(concept: Concept) -> tuple[str, ...]:
    return tuple(str(v) for v in values(concept).get("kind", []))


def ancestors(system: System, concept: Concept, version: str | None) -> list[Concept]:
    """The concepts above `concept`, nearest first, along each first parent."""
    out: list[Concept] = []
    seen = {concept.code}
    current = concept
    for _ in range(MAX_DEPTH):
        parents = [str(v) for v in values(current).get("parent", [])]
        if not parents or parents[0] in seen:
            break
        try:
            current = lookup(registry(), LookupRequest(code=parents[0], system=system.url,
                                                       version=version)).concept
        except TerminologyError:
            break
        seen.add(current.code)
        out.append(current)
    return out


def group_of(system: System, code: str) -> BrowseGroup | None:
    """The browse group (a CPT section, a HCPCS letter) a top-level code belongs to."""
    groups = system.pages.groups if system.pages else ()
    return next((g for g in groups if g.holds(code)), None)


def crumbs(system: System, concept: Concept, above: list[Concept]) -> list[Crumb]:
    """The path from the code system's top to the code, each step linked."""
    label = system.pages.crumb if system.pages else (lambda code, _kinds: code)
    path = [Crumb(label(c.code, kinds(c)), code=c.code, title=c.display or "")
            for c in reversed(above)]
    top = above[-1].code if above else concept.code
    group = group_of(system, top.split(":")[0])
    if group is not None:
        path.insert(0, Crumb(group.label, group=group.key))
    path.append(Crumb(label(concept.code, kinds(concept)), title=concept.display or ""))
    return path


def notes(system: System, concept: Concept, above: list[Concept],
          version: str | None) -> list[NoteGroup]:
    """The notes the code set declares, the code's own and its ancestors' that pass down."""
    pages = system.pages
    if pages is None or not pages.notes:
        return []
    own = values(concept)
    inherited = [(c, values(c)) for c in above]
    texts = [str(v) for kind, _ in pages.notes for v in own.get(kind, [])]
    texts += [str(v) for kind in pages.inherited_notes for _, vals in inherited
              for v in vals.get(kind, [])]
    exists = set(listed(system, sorted(codes_named(texts, pages.code_in_text)), version))
    label = pages.crumb
    out = []
    for kind, heading in pages.notes:
        group = NoteGroup(kind, heading, [linked(str(v), pages.code_in_text, exists)
                                          for v in own.get(kind, [])])
        if kind in pages.inherited_notes:
            for ancestor, vals in inherited:
                if vals.get(kind):
                    crumb = Crumb(label(ancestor.code, kinds(ancestor)), code=ancestor.code,
                                  title=ancestor.display or "")
                    group.inherited.append((crumb, [linked(str(v), pages.code_in_text, exists)
                                                    for v in vals[kind]]))
        if group.own or group.inherited:
            out.append(group)
    return out


def listed(system: System, codes: list[str] | set[str], version: str | None) -> dict[str, Any]:
    """The expansion entries of those of `codes` the code system holds, by code: one `$expand`
    of an inline value set listing them."""
    if not codes:
        return {}
    include: dict[str, Any] = {"system": system.url,
                               "concept": [{"code": c} for c in dict.fromkeys(codes)]}
    if version:
        include["version"] = version
    try:
        result = expand(registry(), ExpandRequest(valueset={
            "resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}}))
    except TerminologyError:
        return {}
    return {e.concept.code: e for e in result.entries}
