"""Display languages: parsing `displayLanguage` / Accept-Language and matching language tags."""

from __future__ import annotations

import re

from terminology.errors import InvalidRequest
from terminology.model import Coding, Concept

_TAG = re.compile(r"^(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)$")


def check(header: str | None) -> None:
    """Raise for a displayLanguage that is not a language tag list (`-`, `en_US!`)."""
    if header is None:
        return
    for item in header.split(","):
        tag = item.strip().partition(";")[0].strip()
        if not _TAG.match(tag):
            raise InvalidRequest(f"Invalid displayLanguage: '{header}'", issue_code="processing",
                                 tx_issue_type="invalid-display",
                                 message_id="INVALID_DISPLAY_NAME")


def parse(header: str | None) -> list[str]:
    """`de,it;q=0.5, en-AU` -> ['de', 'it', 'en-au'] in order of preference (q=0 dropped)."""
    if not header:
        return []
    weighted = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag.strip() and q > 0:
            weighted.append((-q, index, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def matches(language: str | None, wanted: list[str]) -> bool:
    """`de-CH` satisfies a request for `de`; `*` satisfies anything."""
    if not wanted:
        return True
    if not language:
        return False
    language = language.lower()
    return any(w == "*" or language == w or language.startswith(w + "-") or
               w.startswith(language + "-") for w in wanted)


def only_these(header: str | None) -> bool:
    """`de,*;q=0`: the listed languages and no other (no fallback to the default display)."""
    for item in (header or "").split(","):
        tag, _, params = item.strip().partition(";")
        if tag.strip() == "*" and params.replace(" ", "") in ("q=0", "q=0.0"):
            return True
    return False


PREFERRED_FOR_LANGUAGE = Coding("http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra",
                                "preferredForLanguage", display="Preferred For Language")


def displays(concept: Concept,
             default_language: str | None) -> list[tuple[str | None, str | None]]:
    """(text, language) of each display of a concept: its own display in the code system's
    language, then every designation that says which language it is in."""
    found = [(concept.display, default_language)]
    found += [(d.value, d.language) for d in concept.designations if d.language]
    return found


def display_for(concept: Concept, default_language: str | None,
                header: str | None) -> str | None:
    """The concept's display in the first requested language that has one, else its display."""
    wanted = parse(header)
    if not wanted:
        return concept.display
    candidates = displays(concept, default_language)
    for language in wanted:
        for text, lang in candidates:
            if text and matches(lang, [language]):
                return text
    return concept.display
