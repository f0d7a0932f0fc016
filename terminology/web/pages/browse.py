"""Browsing a code system from its top: the groups its code set declares (CPT sections, HCPCS
letters, ICD-10-PCS sections), or its top concepts (ICD-10-CM chapters), or else every code;
a group's codes a page at a time. Each list is one `$expand` of a value set with the filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from terminology.errors import TerminologyError
from terminology.model import BrowseGroup, ExpandRequest, Filter
from terminology.operations.expand import expand
from terminology.web.pages.search import PAGE_SIZE, Hit, badges, page_links
from terminology.web.pages.systems import System, registry


@dataclass
class Listing:
    """One page of the codes of a value set, with the true total."""

    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    error: str | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.hits else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * PAGE_SIZE + len(self.hits)

    def page_links(self) -> list[int | None]:
        return page_links(self.page, self.pages)


def groups(system: System) -> tuple[BrowseGroup, ...]:
    return system.pages.groups if system.pages else ()


def group(system: System, key: str) -> BrowseGroup | None:
    return next((g for g in groups(system) if g.key == key), None)


def listing(system: System, filters: tuple[Filter, ...], page: int = 1,
            count: int | None = PAGE_SIZE) -> Listing:
    """The codes of the system matching `filters` (all of it when none), page `page`."""
    include: dict[str, Any] = {"system": system.url}
    if system.version:
        include["version"] = system.version
    if filters:
        include["filter"] = [{"property": p, "op": op, "value": v} for p, op, v in filters]
    out = Listing(page=page)
    offset = (page - 1) * (count or 0)
    try:
        result = expand(registry(), ExpandRequest(
            valueset={"resourceType": "ValueSet", "status": "active",
                      "compose": {"include": [include]}},
            count=count, offset=offset, exclude_nested=True))
    except TerminologyError as exc:
        out.error = exc.message
        return out
    out.total = result.total
    out.hits = [Hit(e.concept.code, e.display or e.concept.display or "", badges(e.concept))
                for e in result.entries]
    return out


def top_level(system: System) -> Listing | None:
    """The top concepts (ICD-10-CM's chapters) when the code set names them, all on one page;
    None when its top level is groups, or every code (a code system nobody described)."""
    if groups(system):
        return None
    if system.pages and system.pages.top:
        return listing(system, system.pages.top, count=None)
    return None
