"""GrammarCodeSystem: the shared shape of a code system defined by a grammar (BCP-47, UCUM,
MIME types): every well-formed code is a member, so there is no list to count or expand.

A subclass says how to parse a code (`locate`); this base answers the rest of the provider
protocol the way tx.fhir.org does for such systems: content `complete`, no concept count, and a
whole-system expansion refused as too costly (a value set listing the codes expands as usual).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from terminology.errors import TooCostly
from terminology.model import Canonical, Concept


class GrammarCodeSystem:
    """A provider whose members are the codes its grammar accepts."""

    case_sensitive = True
    content = "complete"
    language = "en"
    effective_date = None

    def __init__(self, url: str, version: str | None, *, name: str, title: str,
                 resource_id: str, copyright: str | None = None,
                 description: str | None = None) -> None:
        self.canonical = Canonical(url, version)
        self.name = name
        self.title = title
        self.resource_id = resource_id
        self.copyright = copyright
        self.property_defs: dict[str, dict[str, Any]] = {}
        self._resource: dict[str, Any] = {
            "resourceType": "CodeSystem", "id": resource_id, "url": url,
            **({"version": version} if version else {}),
            "name": name.replace(" ", "").replace("(", "").replace(")", ""), "title": title,
            "status": "active", "experimental": False,
            **({"description": description} if description else {}),
            **({"copyright": copyright} if copyright else {}),
            "caseSensitive": self.case_sensitive, "content": self.content,
        }

    def locate(self, code: str) -> Concept | None:
        raise NotImplementedError

    def count(self) -> int:
        return -1

    def resource(self) -> dict[str, Any]:
        return self._resource

    def summary(self) -> dict[str, Any]:
        return self._resource  # no narrative held apart

    def iter_concepts(self) -> Iterator[Concept]:
        """A grammar cannot be listed: only a value set that names its codes can be expanded."""
        raise TooCostly(f'The code System "{self.canonical.url}" has a grammar, and cannot be '
                        "enumerated directly", status=400)
