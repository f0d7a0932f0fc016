"""FHIR search results: which page of the matches to send (`_count`, `_offset`) and the
searchset Bundle with its `self`/`first`/`previous`/`next`/`last` links.

A search never sends every match at once: without `_count` a page holds DEFAULT_COUNT entries,
and `_count` above MAX_COUNT is lowered to it (FHIR lets a server send fewer than asked).
`total` is always the number of matches. A page of more than WHOLE_UP_TO entries is shaped
entry by entry as it is written (Entries): a page of 1,000 code systems built whole held 30 MB
more at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from terminology.errors import InvalidRequest
from terminology.numbers import is_digits

DEFAULT_COUNT = 50
MAX_COUNT = 1000
WHOLE_UP_TO = 100
SUMMARY_VALUES = ("true", "false", "text", "data", "count")
T = TypeVar("T")


def _whole_number(args: Mapping[str, str], name: str, default: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    if not is_digits(value) or len(value) > 18:
        raise InvalidRequest(f"{name} must be a whole number from 0, not '{value[:40]}'",
                             expression=name)
    return int(value)


def checked_summary(args: Mapping[str, str]) -> str | None:
    """The `_summary` asked for, refused unless FHIR defines it."""
    summary = args.get("_summary")
    if summary is not None and summary not in SUMMARY_VALUES:
        raise InvalidRequest(f"_summary={summary} is not one of {', '.join(SUMMARY_VALUES)}",
                             expression="_summary")
    return summary


@dataclass(frozen=True)
class Page:
    offset: int
    count: int  # 0 asks for the total only

    @staticmethod
    def of(args: Mapping[str, str]) -> Page:
        """The page asked for; a `_summary` no resource could be shaped by is refused here,
        before any entry is written."""
        count = min(_whole_number(args, "_count", DEFAULT_COUNT), MAX_COUNT)
        if checked_summary(args) == "count":
            count = 0
        return Page(_whole_number(args, "_offset", 0), count)

    def slice(self, matches: Sequence[T]) -> Sequence[T]:
        return matches[self.offset:self.offset + self.count]


def searchset(base: str, kind: str, matches: Sequence[T], args: Mapping[str, str],
              shape: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """The Bundle of one page of `matches`; only the resources on the page are shaped."""
    page = Page.of(args)
    total = len(matches)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": _links(f"{base}/{kind}", args, page, total),
    }
    if page.count:
        entries = Entries(f"{base}/{kind}", page.slice(matches), shape)
        bundle["entry"] = entries if len(entries.matches) > WHOLE_UP_TO else list(entries)
    return bundle


class Entries:
    """A page's entries, each resource shaped when the entry is taken (resources.bundle_chunks
    writes them one by one)."""

    def __init__(self, url: str, matches: Sequence[Any],
                 shape: Callable[[Any], dict[str, Any]]) -> None:
        self.url = url
        self.matches = matches
        self.shape = shape

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for match in self.matches:
            resource = self.shape(match)
            yield {"fullUrl": f"{self.url}/{resource['id']}", "resource": resource,
                   "search": {"mode": "match"}}


def _links(url: str, args: Mapping[str, str], page: Page, total: int) -> list[dict[str, str]]:
    kept = [(k, v) for k, v in args.items() if k not in ("_offset", "_count")]

    def link(relation: str, offset: int) -> dict[str, str]:
        query = urlencode([*kept, ("_count", str(page.count)), ("_offset", str(offset))])
        return {"relation": relation, "url": f"{url}?{query}"}

    links = [link("self", page.offset)]
    if not page.count:
        return links
    last = max(0, (total - 1) // page.count * page.count)
    links.append(link("first", 0))
    if page.offset > 0:
        links.append(link("previous", max(0, page.offset - page.count)))
    if page.offset + page.count < total:
        links.append(link("next", page.offset + page.count))
    links.append(link("last", last))
    return links
