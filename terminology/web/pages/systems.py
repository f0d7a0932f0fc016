"""The code systems the page offers, each with its short key (`cpt`, `icd10cm`, or a loaded
CodeSystem's id) and what its code set declares about its pages (`CodeSetPages`), and the
policy sources that describe a code's rules (the CMS edits, CPT's appendices)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from flask import current_app

from terminology.errors import TerminologyError
from terminology.model import CodeSetPages, Concept, Policy
from terminology.provider import CodeSystemProvider, Registry

EXTENSION_CODE_SETS = "ui_code_sets"  # app.extensions: tuple[CodeSetPages, ...]
EXTENSION_POLICIES = "ui_policies"  # app.extensions: tuple[PolicySource, ...]


class PolicySource(Protocol):
    """Describes the rules that apply to a code, in words (`covers`: the properties it puts in
    words, which the page's property table then leaves out)."""

    covers: frozenset[str]

    def policies(self, registry: Registry, system: str, concept: Concept, version: str | None,
                 on_date: str) -> list[Policy]: ...


@dataclass(frozen=True)
class System:
    key: str
    url: str
    label: str
    title: str
    provider: CodeSystemProvider  # the default version
    pages: CodeSetPages | None = None

    @property
    def version(self) -> str | None:
        return self.provider.canonical.version

    @property
    def family(self) -> str:
        return self.pages.family if self.pages else self.label


def registry() -> Registry:
    found: Registry = current_app.extensions["registry"]
    return found


def code_sets() -> Sequence[CodeSetPages]:
    return current_app.extensions.get(EXTENSION_CODE_SETS, ())  # type: ignore[no-any-return]


def policy_sources() -> Sequence[PolicySource]:
    return current_app.extensions.get(EXTENSION_POLICIES, ())  # type: ignore[no-any-return]


def fold(code: str) -> str:
    """A code as people type it: case and punctuation ignored (`e119` is `E11.9`)."""
    return re.sub(r"[^0-9a-z]", "", code.casefold())


def systems() -> list[System]:
    """Every loaded code system at its default version, the declared code sets first."""
    known = {c.url: c for c in code_sets()}
    order = [c.key for c in code_sets()]
    found: list[System] = []
    taken: set[str] = set(order)
    for url in registry().code_system_urls():
        try:
            provider = registry().resolve(url)
        except TerminologyError:
            continue
        title = provider.title or provider.name or url
        pages = known.get(url)
        if pages:
            found.append(System(pages.key, url, pages.label, title, provider, pages))
            continue
        base = re.sub(r"[^A-Za-z0-9.-]+", "-", provider.resource_id or provider.name or "cs")
        base = base.strip("-") or "cs"
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        taken.add(key)
        found.append(System(key, url, title, title, provider))
    found.sort(key=lambda s: (order.index(s.key) if s.key in order else len(order),
                              s.label.casefold()))
    return found


def system_by_key(key: str) -> System | None:
    return next((s for s in systems() if s.key == key), None)


def families(listed: Sequence[System]) -> str:
    """`CPT, HCPCS or ICD-10`: the code systems as a person names them, each once."""
    names = list(dict.fromkeys(s.family for s in listed))
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
