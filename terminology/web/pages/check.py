"""The findings of an order check in words for a person: each about a line of what was typed,
code systems named by their labels rather than their URLs, a code that no loaded code system
holds an error that says so (with the codes the person may have meant). The FHIR side (paths,
the claim built from the lines, the OperationOutcome) is kept apart for the technical reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from terminology.errors import TerminologyError
from terminology.model import ExpandRequest
from terminology.operations.expand import expand
from terminology.web.pages.code import LONGEST_CODE, canonical_code
from terminology.web.pages.systems import System, families, registry, systems

NO_SYSTEM = "Coding_has_no_system__cannot_validate"  # the coding's code is in no code system
ALL_OK = "ALL_OK"
SUGGESTIONS = 4  # codes offered for a code that is not one
_ITEM = re.compile(r"Claim\.item\[(\d+)\]")
_LINE = re.compile(r"line (\d+)$")
_URL = re.compile(r"(?:https?://|urn:)[^\s'\"),;]+")


@dataclass
class Finding:
    severity: str
    text: str
    line: int | None = None
    suggestions: list[tuple[System, str]] = field(default_factory=list)
    where: str | None = None  # the FHIRPath, for the technical reader

    @property
    def bad(self) -> bool:
        return self.severity in ("error", "fatal")


@dataclass
class Findings:
    readable: bool
    findings: list[Finding]
    resource_json: str = ""
    outcome_json: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.bad]


def line_of(expression: str | None) -> int | None:
    """The typed line an issue is about: `Claim.item[2]…` is line 3, `line 4` line 4."""
    item = _ITEM.match(expression or "")
    if item:
        return int(item.group(1)) + 1
    typed = _LINE.match(expression or "")
    return int(typed.group(1)) if typed else None


def plain(text: str, listed: list[System]) -> str:
    """`text` with each code system's URL (and version) given as its label; any other URL as
    words (it stays in the technical details)."""
    for system in sorted(listed, key=lambda s: -len(s.url)):
        url = re.escape(system.url)

        def named(match: re.Match[str], label: str = system.label) -> str:
            return f"{label} {match.group(1) or ''}".strip()

        text = re.sub(rf"the CodeSystem '{url}'(?: version '([^']*)')?", named, text)
        text = re.sub(rf"'{url}(?:\|([^']*))?'", named, text)
        text = re.sub(rf"{url}#", f"{system.label} ", text)
        text = text.replace(system.url, system.label)
    return _URL.sub("another code system", text)


def _typed_code(resource: dict[str, Any] | None, line: int | None) -> str | None:
    try:
        item = (resource or {})["item"][(line or 0) - 1]
        return str(item["productOrService"]["coding"][0]["code"])
    except (KeyError, IndexError, TypeError):
        return None


def suggestions(code: str, listed: list[System]) -> list[tuple[System, str]]:
    """Codes a person may have meant: the code written another way (`E119` -> `E11.9`), else
    codes that start with what was typed (`6463` -> 64633 …)."""
    if not code or len(code) > LONGEST_CODE:
        return []
    same = [(s, found) for s in listed if (found := canonical_code(s, code, None))]
    if same:
        return same
    out: list[tuple[System, str]] = []
    for system in listed:
        try:
            result = expand(registry(), ExpandRequest(url=f"{system.url}?fhir_vs", filter=code,
                                                      count=SUGGESTIONS))
        except TerminologyError:
            continue
        out += [(system, e.concept.code) for e in result.entries
                if e.concept.code.casefold().startswith(code.casefold())]
    return sorted(out[:SUGGESTIONS], key=lambda found: found[1])


def findings(result: Any, typed_lines: bool) -> Findings:
    """The check's issues as findings; for typed lines only those about the lines (the claim
    around them was made up by the page)."""
    listed = systems()
    out = []
    for issue in result.issues:
        if issue.message_id == ALL_OK:
            continue
        line = line_of(issue.expression)
        if typed_lines and line is None and result.readable:
            continue
        finding = Finding(issue.severity, plain(issue.text, listed), line,
                          where=issue.expression)
        if typed_lines and issue.message_id == NO_SYSTEM:
            code = _typed_code(result.resource, line) or ""
            finding.severity = "error"
            finding.text = f"{code} is not a {families(listed)} code."
            finding.suggestions = suggestions(code, listed)
        out.append(finding)
    out.sort(key=lambda f: (not f.bad, f.line or 0))
    options = orjson.OPT_INDENT_2
    return Findings(
        result.readable, out,
        orjson.dumps(result.resource, option=options).decode() if result.resource else "",
        orjson.dumps(result.outcome(), option=options).decode())
