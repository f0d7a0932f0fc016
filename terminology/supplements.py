"""CodeSystem supplements: finding the ones a request or value set asks for, and applying them.

A supplement adds designations and properties to the concepts of the code system it supplements.
It is used only when asked for: by the `useSupplement` parameter, or by a value set's
`valueset-supplement` extension. A supplement that is asked for and not found is an error.
"""

from __future__ import annotations

from typing import Any

from terminology.errors import NotFound
from terminology.model import Canonical
from terminology.provider import CodeSystemProvider, Registry, Supplementable
from terminology.registry import RegistryLayer

VALUESET_SUPPLEMENT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


def referenced_by(valueset: dict[str, Any] | None) -> list[str]:
    """Supplements a value set names in its `valueset-supplement` extensions."""
    if not valueset:
        return []
    return [e.get("valueCanonical") for e in valueset.get("extension", [])
            if e.get("url") == VALUESET_SUPPLEMENT and e.get("valueCanonical")]


class SupplementedRegistry(RegistryLayer):
    """A registry whose providers carry the given supplements (everything else handed down).
    Each provider is supplemented once per request, however often it is resolved."""

    def __init__(self, base: Registry, supplements: list[dict[str, Any]]) -> None:
        super().__init__(base)
        self.by_target: dict[str, list[dict[str, Any]]] = {}
        for s in supplements:
            target = Canonical.parse(s.get("supplements", "")).url
            self.by_target.setdefault(target, []).append(s)
        # ids of a provider resolved and its supplements -> (that provider, kept alive; its
        # supplemented copy)
        self._seen: dict[tuple[int, int], tuple[CodeSystemProvider, CodeSystemProvider]] = {}

    def resolve(self, url: str, version: str | None = None,
                on_date: str | None = None) -> CodeSystemProvider:
        provider = self.base.resolve(url, version, on_date)
        extra = self.by_target.get(provider.canonical.url) or self.by_target.get(url)
        if not extra or not isinstance(provider, Supplementable):
            return provider
        key = (id(provider), id(extra))
        kept = self._seen.get(key)
        if kept is None or kept[0] is not provider:
            kept = self._seen[key] = (provider, provider.with_supplements(extra))
        return kept[1]


def apply(registry: Registry, urls: list[str]) -> tuple[Registry, list[str]]:
    """The registry with the supplements `urls` applied, and their `url|version` labels."""
    if not urls:
        return registry, []
    found = []
    for url in urls:
        canonical = Canonical.parse(url)
        resource = registry.supplement(canonical.url, canonical.version)
        if resource is None:
            raise NotFound(f"Required supplement not found: {url}", tx_issue_type="not-found",
                           message_id="VALUESET_SUPPLEMENT_MISSING")
        found.append(resource)
    return SupplementedRegistry(registry, found), [str(Canonical.of(s)) for s in found]
