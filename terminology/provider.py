"""The CodeSystemProvider protocol, and SqlProvider: a provider over an imported code system.

Operations are written once against `CodeSystemProvider`; what is special about one code set
(CPT's modifier expressions, its add-on edits) lives in a subclass under codesystems/.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from terminology.model import Canonical, Concept
from terminology.store import CodeSystemInfo, Store


class CodeSystemProvider(Protocol):
    canonical: Canonical
    name: str
    title: str | None
    case_sensitive: bool
    content: str
    copyright: str | None
    resource_id: str | None

    def locate(self, code: str) -> Concept | None:
        """The concept for `code`, or None. Raises InvalidExpression for a malformed expression."""

    def count(self) -> int: ...

    def resource(self) -> dict[str, Any]:
        """The CodeSystem resource without its concepts."""


class SqlProvider:
    """A provider over one stored code-system version. Concepts are cached per provider."""

    CACHE_SIZE = 8192

    def __init__(self, store: Store, info: CodeSystemInfo) -> None:
        self.store = store
        self.info = info
        self.canonical = Canonical(info.url, info.version)
        self.name = info.name or info.title or info.url
        self.title = info.title
        self.case_sensitive = info.case_sensitive
        self.content = info.content
        self.copyright = info.resource.get("copyright")
        self.resource_id = info.resource_id
        self.effective_date = info.effective_date
        self.language = info.resource.get("language")
        self._cached = lru_cache(maxsize=self.CACHE_SIZE)(self._load)

    def _load(self, code: str) -> Concept | None:
        concept = self.store.concept(self.info.id, code)
        if concept is None and not self.case_sensitive:
            concept = self.store.concept_nocase(self.info.id, code)
        return concept

    def locate(self, code: str) -> Concept | None:
        return self._cached(code)

    def count(self) -> int:
        return self.info.count

    def resource(self) -> dict[str, Any]:
        return self.info.resource

    def iter_concepts(self) -> Any:
        return self.store.iter_concepts(self.info.id)
