"""CPT's claim edit: the Claim.item.modifier codes of a CPT line must be valid for its code.

The modifiers are joined to the code as a CPT expression (`64635:59:LT`) and checked by the
CptProvider's expression rules (DOMAIN.md), so a claim's modifiers obey exactly the rules of a
coded expression. Modifiers from another code system that CPT does not list (a HCPCS modifier
CPT's modifier file lacks) are left to the check of their own coding.
"""

from __future__ import annotations

from collections.abc import Sequence

from codesystems.cpt import definition as cpt
from terminology.errors import InvalidCode, NotFound
from terminology.model import Issue, ServiceLine
from terminology.provider import CodeSystemProvider, Registry


class ModifierEdit:
    name = "cpt-modifiers"

    def check(self, registry: Registry, lines: Sequence[ServiceLine]) -> list[Issue]:
        issues: list[Issue] = []
        for line in lines:
            if line.system != cpt.URL or not line.modifiers:
                continue
            try:
                provider = registry.resolve(cpt.URL, None, line.date)
            except NotFound:
                continue
            issue = _check_line(provider, line)
            if issue is not None:
                issues.append(issue)
        return issues


def _is_modifier(provider: CodeSystemProvider, code: str) -> bool:
    try:
        concept = provider.locate(code)
    except InvalidCode:
        return False
    return concept is not None and any(p.code == "modifier" and p.value is True
                                       for p in concept.properties)


def _check_line(provider: CodeSystemProvider, line: ServiceLine) -> Issue | None:
    chosen: list[tuple[str, str]] = []  # (modifier code, FHIRPath)
    for coding, path in zip(line.modifiers, line.modifier_paths, strict=False):
        if not coding.code:
            continue
        if coding.system in (None, cpt.URL) or _is_modifier(provider, coding.code):
            chosen.append((coding.code, path))
    if not chosen:
        return None

    def fails(modifiers: list[str]) -> str | None:
        try:
            if provider.locate(":".join([line.code, *modifiers])) is None:
                return None  # an unknown base code is reported by the coding check
        except InvalidCode as exc:
            return exc.message
        return None

    codes = [code for code, _ in chosen]
    reason = fails(codes)
    if reason is None:
        return None
    # blame the first modifier without which the others pass, else the first one
    blamed = next((path for i, (_, path) in enumerate(chosen)
                   if fails(codes[:i] + codes[i + 1:]) is None), chosen[0][1])
    listed = (f"The modifier {codes[0]} is" if len(codes) == 1
              else f"The modifiers {', '.join(codes)} are")
    return Issue("error", "code-invalid", f"{listed} not valid on {line.code}: {reason}",
                 "invalid-code", blamed, "CPT_MODIFIER_NOT_VALID")
