"""CodeSystem/$validate-code: is this code (Coding, CodeableConcept) valid, with this display?

A code that fails is a result (`result=false` with a message and issues), never an exception;
only a request that cannot be understood raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from terminology.errors import InvalidCode, NotFound
from terminology.model import Coding, Concept, Issue, ValidateRequest, ValidationResult
from terminology.operations.common import provider_for
from terminology.registry import Registry


def normalise_display(text: str) -> str:
    """Displays compare case-insensitively, with runs of white space as one space."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The verdict on one Coding."""

    valid: bool
    issues: tuple[Issue, ...]
    system: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None
    inactive: bool = False
    unknown_system: str | None = None


def _paths(request: ValidateRequest, index: int) -> dict[str, str]:
    """FHIRPath of the checked elements: `code`, `Coding.code`, `CodeableConcept.coding[0].code`."""
    if request.source == "code":
        return {"code": "code", "display": "display", "system": "system",
                "version": "version", "coding": "code"}
    base = "Coding" if request.source == "coding" else f"CodeableConcept.coding[{index}]"
    return {"code": f"{base}.code", "display": f"{base}.display", "system": f"{base}.system",
            "version": f"{base}.version", "coding": base}


def _check_coding(
    registry: Registry, request: ValidateRequest, coding: Coding, index: int
) -> _Outcome:
    path = _paths(request, index)
    system = coding.system or request.url
    if not coding.code:
        text = "No code was provided, so there is nothing to validate"
        return _Outcome(False, (Issue("error", "invalid", text, "invalid-code", path["code"]),),
                        system=system)
    if not system and request.instance_id is None:
        text = ("Coding has no system. A code with no system has no defined meaning, and it "
                "cannot be validated")
        return _Outcome(False, (Issue("error", "invalid", text, "invalid-data", path["system"],
                                      "Coding_has_no_system__cannot_validate"),), code=coding.code)
    try:
        provider = provider_for(
            registry,
            system=system,
            version=coding.version or request.version,
            on_date=request.date,
            instance_id=request.instance_id,
            system_param="url" if request.source == "code" else "system",
        )
    except NotFound as exc:
        unknown = exc.message_id == "UNKNOWN_CODESYSTEM"
        expression = path["system"] if unknown else path["version"]
        issue = Issue("error", "not-found", exc.message, "not-found", expression, exc.message_id)
        return _Outcome(False, (issue,), system=system, code=coding.code,
                        version=coding.version or request.version,
                        unknown_system=system if unknown else None)

    url, version = provider.canonical.url, provider.canonical.version
    where = f"the CodeSystem '{url}'" + (f" version '{version}'" if version else "")
    try:
        concept = provider.locate(coding.code)
    except InvalidCode as exc:
        text = f"The code '{coding.code}' is not valid in {where}: {exc.message}"
        issue = Issue("error", "code-invalid", text, "invalid-code", path["code"],
                      "Invalid_Code_Expression")
        return _Outcome(False, (issue,), system=url, code=coding.code, version=version)
    if concept is None:
        text = f"Unknown code '{coding.code}' in {where}"
        issue = Issue("error", "code-invalid", text, "invalid-code", path["code"],
                      "Unknown_Code_in_Version")
        return _Outcome(False, (issue,), system=url, code=coding.code, version=version)

    issues: list[Issue] = []
    valid = True
    if concept.withdrawn:
        valid = False
        issues.append(Issue(
            "error", "business-rule",
            f"The code '{concept.code}' was deleted from {where} on {concept.withdrawn}, and is "
            "not valid for use in that version",
            "code-rule", path["code"], "Code_Deleted_In_Version",
        ))
    elif concept.inactive:
        issues.append(Issue(
            "warning", "business-rule",
            f"The concept '{concept.code}' has a status of inactive and its use should be "
            "reviewed",
            "code-comment", path["coding"], "INACTIVE_CONCEPT_FOUND",
        ))
    display_issue = _check_display(request, coding, concept, url, path)
    if display_issue is not None:
        issues.append(display_issue)
        if display_issue.severity == "error":
            valid = False
    return _Outcome(valid, tuple(issues), system=url, code=concept.code, version=version,
                    display=concept.display, inactive=concept.inactive)


def _check_display(
    request: ValidateRequest, coding: Coding, concept: Concept, url: str, path: dict[str, str]
) -> Issue | None:
    if not coding.display:
        return None
    choices = _display_choices(concept)
    wanted = normalise_display(coding.display)
    if any(normalise_display(choice) == wanted for choice, _ in choices):
        return None
    if concept.expression and wanted == normalise_display(concept.code):
        return None
    languages = request.display_language or "--"
    listed = [f"'{text}' ({lang})" if lang else f"'{text}'" for text, lang in choices]
    if len(listed) == 1:
        valid = f"Valid display is {listed[0]}"
        message_id = "Display_Name_for__should_be_one_of__instead_of_one"
    else:
        valid = (f"Valid display is one of {len(listed)} choices: "
                 f"{', '.join(listed[:-1])} or {listed[-1]}")
        message_id = "Display_Name_for__should_be_one_of__instead_of"
    text = (f"Wrong Display Name '{coding.display}' for {url}#{concept.code}. {valid} "
            f"(for the language(s) '{languages}')")
    severity = "warning" if request.lenient_display else "error"
    return Issue(severity, "invalid", text, "invalid-display", path["display"], message_id)


def _display_choices(concept: Concept) -> list[tuple[str, str | None]]:
    """Every right display: the preferred one, then each designation (no repeats)."""
    seen: set[str] = set()
    choices: list[tuple[str, str | None]] = []
    candidates: list[tuple[str | None, str | None]] = [(concept.display, "en")]
    candidates += [(d.value, d.language) for d in concept.designations]
    for text, lang in candidates:
        if text and normalise_display(text) not in seen:
            seen.add(normalise_display(text))
            choices.append((text, lang))
    return choices


def validate_code(registry: Registry, request: ValidateRequest) -> ValidationResult:
    outcomes = [_check_coding(registry, request, c, i) for i, c in enumerate(request.codings)]
    good = next((o for o in outcomes if o.valid), None)
    chosen = good or outcomes[0]
    issues = tuple(i for o in outcomes for i in o.issues)
    errors = [i.text for i in issues if i.severity == "error"]
    warnings = [i.text for i in issues if i.severity == "warning"]
    if good is not None:
        issues = tuple(i for o in outcomes if o is good for i in o.issues) + tuple(
            i for o in outcomes if o is not good for i in o.issues
        )
    message = "; ".join(errors if good is None else warnings) or None
    extra: dict[str, Any] = {}
    return ValidationResult(
        result=good is not None,
        system=chosen.system,
        code=chosen.code,
        version=chosen.version,
        display=chosen.display,
        message=message,
        issues=issues,
        codeable_concept=request.codings if request.source == "codeableConcept" else None,
        unknown_system=next((o.unknown_system for o in outcomes if o.unknown_system), None),
        extra={"inactive": True} if chosen.inactive else extra,
    )
