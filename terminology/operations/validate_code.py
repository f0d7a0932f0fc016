"""$validate-code on a CodeSystem or a ValueSet: is this code (Coding, CodeableConcept) valid?

A code that fails is a result (`result=false` with a message and issues), never an exception;
only a request that cannot be understood raises. Issue codes, tx-issue-types, message ids and
message texts are tx.fhir.org's; the `message` is the sorted error and warning texts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from terminology import languages, supplements
from terminology.errors import InvalidCode, NotFound, TerminologyError
from terminology.model import (
    Canonical,
    Coding,
    Concept,
    Issue,
    ValidateRequest,
    ValidationResult,
)
from terminology.operations.outcome import CodingOutcome
from terminology.operations.versioning import choose_code_system
from terminology.provider import (
    CodeSystemProvider,
    ExplainsUnknownCodes,
    LenientWhitespace,
    Registry,
)
from terminology.status import deprecated_in_valueset
from terminology.status import note as status_note
from terminology.valuesets import (
    Evaluator,
    Expansion,
    VersionRules,
    default_valueset_versions,
    valueset_default,
)


def normalise_display(text: str) -> str:
    """Displays compare case-insensitively, with runs of white space as one space."""
    return " ".join(text.split()).casefold()


def _paths(request: ValidateRequest, index: int) -> dict[str, str]:
    """FHIRPath of the checked elements: `code`, `Coding.code`, `CodeableConcept.coding[0].code`."""
    if request.source == "code":
        return {"code": "code", "display": "display", "system": "system",
                "version": "version", "coding": "code"}
    base = "Coding" if request.source == "coding" else f"CodeableConcept.coding[{index}]"
    return {"code": f"{base}.code", "display": f"{base}.display", "system": f"{base}.system",
            "version": f"{base}.version", "coding": base}


def _no_system(path: dict[str, str]) -> Issue:
    """A code without a system cannot be checked: a warning (only the caller knows whether a
    bare code is acceptable where it is used), and the code is not valid."""
    return Issue("warning", "invalid",
                 "Coding has no system. A code with no system has no defined meaning, and it "
                 "cannot be validated. A system should be provided",
                 "invalid-data", path["coding"], "Coding_has_no_system__cannot_validate")


def _missing_code(coding: Coding, path: dict[str, str]) -> Issue:
    """A Coding without a code was given, so it is a (failed) result, not a bad request: one
    warning against the Coding, which also says when the system is missing too."""
    if not coding.system:
        return Issue("warning", "invalid",
                     "Coding has neither a system nor a code, so it cannot be validated. A "
                     "system and a code should be provided", "invalid-data", path["coding"],
                     "Coding_has_no_system_or_code__cannot_validate")
    return Issue("warning", "invalid", "Coding has no code, so it cannot be validated. A code "
                 "should be provided", "invalid-data", path["coding"])


def vs_label(valueset: dict[str, Any]) -> str:
    return str(Canonical.of(valueset)) if valueset.get("url") else "(unidentified)"


def _where(provider: CodeSystemProvider) -> str:
    """`the CodeSystem 'url' version 'v'`, as messages name the code system checked against."""
    url, version = provider.canonical.url, provider.canonical.version
    return f"the CodeSystem '{url}'" + (f" version '{version}'" if version else "")


class _Validator:
    def __init__(self, registry: Registry, request: ValidateRequest,
                 valueset: dict[str, Any] | None) -> None:
        self.registry = registry
        self.request = request
        self.valueset = valueset
        self.evaluator = Evaluator(
            registry,
            versions=VersionRules.from_params(list(request.system_version),
                                              list(request.force_system_version),
                                              list(request.check_system_version),
                                              enforce_check=False),
            on_date=request.date,
            active_only=request.active_only,
            limit=10**9,
        )
        self.evaluator.valueset_versions = default_valueset_versions(
            request.default_valueset_versions)
        self._expansion: Expansion | None = None
        self.status_issues: list[Issue] = []  # about the code systems checked against

    def note_status(self, provider: CodeSystemProvider) -> None:
        """An information issue when a code system checked against is draft, deprecated..."""
        found = status_note(provider.summary(), "CodeSystem", self.valueset,
                            provider.canonical)
        if found is not None and found.issue() not in self.status_issues:
            self.status_issues.append(found.issue())

    # -- value set helpers --------------------------------------------------------------------

    def expansion(self) -> Expansion:
        if self._expansion is None:
            self._expansion = self.evaluator.expand(self.valueset or {})
        return self._expansion

    def include_version(self, system: str) -> str | None:
        for include in (self.valueset or {}).get("compose", {}).get("include", []):
            if include.get("system") == system and include.get("version"):
                return str(include["version"])
        return None

    def includes_system(self, system: str) -> bool:
        return any(i.get("system") == system
                   for i in (self.valueset or {}).get("compose", {}).get("include", []))

    def not_in_vs(self, coding: Coding, path: dict[str, str], system: str | None,
                  version: str | None = None) -> Issue:
        version = version or coding.version
        shown = f"{system or ''}{'|' + version if version else ''}#{coding.code}"
        if coding.display:
            shown += f" ('{coding.display}')"
        text = (f"The provided code '{shown}' was not found in the value set "
                f"'{vs_label(self.valueset or {})}'")
        if self.request.source == "codeableConcept":
            return Issue("information", "code-invalid", text, "this-code-not-in-vs",
                         path["code"], "None_of_the_provided_codes_are_in_the_value_set_one")
        return Issue("error", "code-invalid", text, "not-in-vs", path["code"],
                     "None_of_the_provided_codes_are_in_the_value_set_one")

    # -- one coding ---------------------------------------------------------------------------

    def check(self, coding: Coding, index: int) -> CodingOutcome:
        request = self.request
        path = _paths(request, index)
        out = CodingOutcome(code=coding.code)
        if not coding.code:
            out.issues.append(_missing_code(coding, path))
            return out
        system = coding.system
        if not system and not request.against_valueset:
            system = request.url
        if not system and request.against_valueset:
            if request.source == "code":  # inferSystem is defined for `code` alone
                system = self._infer_system(coding, path, out)
                if system is None:
                    return out
            else:
                out.issues.append(_no_system(path))
                out.issues.append(self.not_in_vs(coding, path, None))
                return out
        if not system and request.instance_id is None:
            out.issues.append(_no_system(path))
            return out
        out.system = system
        return self._check_in_system(coding, system or "", path, out)  # "": the instance's

    def _infer_system(self, coding: Coding, path: dict[str, str],
                      out: CodingOutcome) -> str | None:
        systems = []
        try:
            for entry in self.expansion().entries:
                if entry.concept.code == coding.code and entry.system not in systems:
                    systems.append(entry.system)
        except TerminologyError:
            systems = []
        if len(systems) == 1:
            return systems[0]
        out.issues.append(self.not_in_vs(coding, path, None))
        detail = (f": value set expansion has multiple matches: [{', '.join(systems)}]"
                  if len(systems) > 1 else "")
        out.issues.append(Issue(
            "error", "not-found",
            f"The System URI could not be determined for the code '{coding.code}' in the "
            f"ValueSet '{vs_label(self.valueset or {})}'{detail}",
            "cannot-infer", path["code"],
            "Unable_to_resolve_system__value_set_has_multiple_matches" if detail
            else "UNABLE_TO_INFER_CODESYSTEM"))
        return None

    def _check_in_system(self, coding: Coding, system: str, path: dict[str, str],
                         out: CodingOutcome) -> CodingOutcome:
        """The coding checked against `system`, step by step: the system itself, the code
        system version chosen, the code in it, the concept, its membership, its display."""
        if self._system_refused(coding, system, path, out):
            return out
        provider = choose_code_system(self, coding, system, path, out)
        if provider is None:
            if out.unknown_system is None and any(
                    i.message_id == "UNKNOWN_CODESYSTEM" for i in out.issues):
                out.x_unknown_system = system  # not in the value set's systems either
            return out
        out.system, out.version = provider.canonical.url, provider.canonical.version
        self.note_status(provider)
        concept = self._find_code(coding, provider, system, path, out)
        if concept is None:
            return out
        valid = self._check_concept(coding, concept, provider, path, out)
        if self.request.against_valueset and self.valueset is not None:
            member = self._check_membership(coding, concept, provider, system, path, out)
            if member is None:
                return out  # the value set could not be evaluated
            valid = valid and member
        display_issue = None if self.request.membership_only else self._check_display(
            coding, concept, provider, path)
        if display_issue is not None:
            out.issues.append(display_issue)
            if display_issue.severity == "error":
                valid = False
        out.valid = valid
        return out

    def _system_refused(self, coding: Coding, system: str, path: dict[str, str],
                        out: CodingOutcome) -> bool:
        """Issues about `system` itself; True when it cannot be a code system at all (a
        supplement, a value set), so nothing more is checked."""
        supplement = self.registry.supplement(system) if system else None
        if supplement is not None and not self.registry.knows(system):
            out.issues.append(Issue(
                "error", "invalid",
                f"CodeSystem {Canonical.of(supplement)} is a supplement, so can't be used as a "
                "value in Coding.system", "invalid-data", path["system"],
                "CODESYSTEM_CS_NO_SUPPLEMENT"))
            return True
        if system and ":" not in system:
            out.issues.append(Issue(
                "error", "invalid",
                "Coding.system must be an absolute reference, not a local reference",
                "invalid-data", path["system"], "Terminology_TX_System_Relative"))
        if (system and not self.registry.knows(system)
                and self.registry.value_set(system) is not None):
            out.issues.append(Issue(
                "error", "invalid",
                f"The Coding references a value set, not a code system ('{system}')",
                "invalid-data", path["system"], "Terminology_TX_System_ValueSet2"))
            if self.request.against_valueset:
                out.issues.append(self.not_in_vs(coding, path, system))
            return True
        return False

    def _find_code(self, coding: Coding, provider: CodeSystemProvider, system: str,
                   path: dict[str, str], out: CodingOutcome) -> Concept | None:
        """The coding's concept in the code system; None with the reason in `out` (an invalid
        expression, a code unknown to it, or a code system that lists no codes)."""
        code, where = coding.code or "", _where(provider)
        try:
            concept = provider.locate(code)
        except InvalidCode as exc:
            out.issues.append(Issue(
                "error", "code-invalid",
                f"The code '{code}' is not valid in {where}: {exc.message}",
                "invalid-code", path["code"], "Invalid_Code_Expression"))
            return None
        if concept is not None:
            return concept
        if provider.content in ("fragment", "example"):
            label = "a fragment" if provider.content == "fragment" else "an example"
            out.issues.append(Issue(
                "warning", "code-invalid",
                f"Unknown Code '{code}' in {where} - note that the code system is "
                f"labeled as {label}, so the code may be valid in some other fragment",
                "invalid-code", path["code"], "UNKNOWN_CODE_IN_FRAGMENT"))
            out.valid = True
        elif provider.content == "not-present":
            out.issues.append(Issue(
                "error", "not-found",
                f"The definition of {where} does not include its codes (content = "
                f"not-present), so the code '{code}' cannot be checked",
                "not-found", path["system"], "CODESYSTEM_CONTENT_NOT_PRESENT"))
        else:
            if not self.request.membership_only:
                out.issues.append(Issue("error", "code-invalid",
                                        f"Unknown code '{code}' in {where}",
                                        "invalid-code", path["code"], "Unknown_Code_in_Version"))
                why = (provider.explain_unknown(code)
                       if isinstance(provider, ExplainsUnknownCodes) else None)
                if why:
                    out.issues.append(Issue("information", "code-invalid", why, "invalid-code",
                                            path["code"]))
            if self.request.against_valueset:
                out.issues.append(self.not_in_vs(coding, path, system))
        return None

    def _check_concept(self, coding: Coding, concept: Concept, provider: CodeSystemProvider,
                       path: dict[str, str], out: CodingOutcome) -> bool:
        """What the concept itself says of the coding: its case, display, status (deleted,
        deprecated, inactive) and whether it may be used (abstract). True if still valid."""
        out.code, out.inactive = coding.code, concept.inactive
        if concept.code != coding.code and not concept.expression:
            out.normalized_code = concept.code
            out.issues.append(Issue(
                "information", "business-rule",
                f"The code '{coding.code}' differs from the correct code '{concept.code}' by "
                f"case. Although the code system '{provider.canonical}' is case insensitive, "
                "implementers are strongly encouraged to use the correct case anyway",
                "code-rule", path["code"], "CODE_CASE_DIFFERENCE"))
        out.display = self.preferred_display(concept, provider)
        valid = not any(i.severity == "error" for i in out.issues)
        if concept.withdrawn:
            valid = False
            out.issues.append(Issue(
                "error", "business-rule",
                f"The code '{concept.code}' was deleted from {_where(provider)} on "
                f"{concept.withdrawn}, and is not valid for use in that version",
                "code-rule", path["code"], "Code_Deleted_In_Version"))
        status = next((p.value for p in concept.properties if p.code == "status"), None)
        if isinstance(status, str) and (concept.inactive or status == "deprecated"):
            out.status = status
        if concept.abstract and not self.request.allow_abstract:
            valid = False
            out.issues.append(Issue(
                "error", "business-rule",
                f"Code '{provider.canonical.url}#{concept.code}' is abstract, and not allowed "
                "in this context",
                "code-rule", path["code"], "ABSTRACT_CODE_NOT_ALLOWED"))
        if out.status == "deprecated":
            out.issues.append(Issue(
                "warning", "business-rule",
                f"The concept '{concept.code}' is deprecated and its use should be reviewed",
                "code-comment", path["code"], "DEPRECATED_CONCEPT_FOUND"))
        if concept.inactive and not concept.withdrawn:
            phrase = ("inactive" if out.status in (None, "inactive")
                      else f"{out.status} and inactive")
            out.issues.append(Issue(
                "warning", "business-rule",
                f"The concept '{concept.code}' has a status of {phrase} and its use should be "
                "reviewed", "code-comment", path["coding"], "INACTIVE_CONCEPT_FOUND"))
        return valid

    def _check_membership(self, coding: Coding, concept: Concept,
                          provider: CodeSystemProvider, system: str, path: dict[str, str],
                          out: CodingOutcome) -> bool | None:
        """Whether the concept is in the value set (with the issues saying why not); None
        when the value set itself cannot be evaluated (then the outcome is final)."""
        assert self.valueset is not None
        url, version = provider.canonical.url, provider.canonical.version
        try:
            member = self.evaluator.member(self.valueset, url, concept.code, version)
        except NotFound as exc:
            out.issues.append(Issue("error", "not-found", exc.message, "not-found", None,
                                    exc.message_id))
            out.valid = False
            out.valueset_error = True
            return None
        out.include_matched = member is not None
        if member is None:
            if concept.inactive and (self.request.active_only or (
                    self.valueset.get("compose") or {}).get("inactive") is False):
                out.issues.append(Issue(
                    "error", "business-rule",
                    f"The concept '{concept.code}' is valid but is not active",
                    "code-rule", path["code"], "STATUS_CODE_WARNING_CODE"))
            out.issues.append(self.not_in_vs(coding, path, system))
            return False
        if concept.abstract and not self.request.allow_abstract:
            out.issues.append(self.not_in_vs(coding, path, system))
        elif deprecated_in_valueset(member.extensions):
            out.issues.append(Issue(
                "warning", "business-rule",
                f"The presence of the concept '{concept.code}' in the system '{url}' in the "
                f"value set {vs_label(self.valueset)} is marked with a status of deprecated "
                "and its use should be reviewed",
                "code-comment", path["code"], "CONCEPT_DEPRECATED_IN_VALUESET"))
        return True

    def _check_display(self, coding: Coding, concept: Concept, provider: CodeSystemProvider,
                       path: dict[str, str]) -> Issue | None:
        if not coding.display:
            return None
        lenient_ws = _lenient_whitespace(provider)
        every = _display_choices(concept, provider.language)
        wanted_languages = languages.parse(self.request.display_language)
        choices = [c for c in every if c[1] is None or languages.matches(c[1], wanted_languages)]
        where = f"{provider.canonical.url}#{concept.code}"
        if choices and _display_in(coding.display, choices, lenient_ws):
            return _retired_display(coding.display, concept, path)
        if concept.expression and normalise_display(coding.display) == normalise_display(
                concept.code):
            return None
        severity = "warning" if self.request.lenient_display else "error"
        if wanted_languages and not choices:
            shown = self.request.display_language
            if _display_in(coding.display, every, lenient_ws):
                return Issue(
                    "information", "invalid",
                    f"There are no valid display names found for the code {where} for "
                    f"language(s) '{shown}'. The display is '{coding.display}' which is a valid "
                    "display for the default language",
                    "invalid-display", path["display"], "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK")
            return Issue(
                severity, "invalid",
                f"Wrong Display Name '{coding.display}' for {where}. There are no valid display "
                f"names found for language(s) '{shown}'. Default display is "
                f"'{concept.display}'",
                "invalid-display", path["display"], "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR")
        ws_only = _display_in(coding.display, choices, True)
        listed = [f"'{text}' ({lang})" if lang else f"'{text}'" for text, lang in choices]
        if len(listed) == 1:
            valid = f"Valid display is {listed[0]}"
        else:
            valid = (f"Valid display is one of {len(listed)} choices: "
                     f"{', '.join(listed[:-1])} or {listed[-1]}")
        if ws_only:
            prefix, message_id = "Wrong whitespace in Display Name", \
                "Display_Name_WS_for__should_be_one_of__instead_of"
        else:
            prefix, message_id = "Wrong Display Name", \
                "Display_Name_for__should_be_one_of__instead_of"
        text = (f"{prefix} '{coding.display}' for {where}. {valid} (for the language(s) "
                f"'{self.request.display_language or '--'}')")
        return Issue(severity, "invalid", text, "invalid-display", path["display"], message_id)

    def display_fits(self, concept: Concept, provider: CodeSystemProvider,
                     display: str) -> bool:
        """Is `display` one of the concept's right displays (in the requested languages)?"""
        choices = _display_choices(concept, provider.language)
        return _display_in(display, choices, _lenient_whitespace(provider))

    def preferred_display(self, concept: Concept, provider: CodeSystemProvider) -> str | None:
        """The concept's display in the first requested language that has one."""
        return languages.display_for(concept, provider.language, self.request.display_language)


def _lenient_whitespace(provider: CodeSystemProvider) -> bool:
    return isinstance(provider, LenientWhitespace) and provider.lenient_whitespace


def _retired_display(display: str, concept: Concept, path: dict[str, str]) -> Issue | None:
    """A display that matches only a designation marked withdrawn or deprecated."""
    if concept.display and display.casefold() == concept.display.casefold():
        return None
    for d in concept.designations:
        status = next((e.get("valueCode") for e in d.extensions
                       if e.get("url", "").endswith("structuredefinition-standards-status")),
                      None)
        if d.value.casefold() == display.casefold():
            if status in ("withdrawn", "deprecated"):
                return Issue(
                    "warning", "invalid",
                    f"'{d.value}' is no longer considered a correct display for code "
                    f"'{concept.code}' (status = deprecated). The correct display is one of "
                    f'"{concept.display}".', "display-comment", path["display"],
                    "INACTIVE_DISPLAY_FOUND")
            return None
    return None


def _display_in(display: str, choices: list[tuple[str, str | None]], ignore_ws: bool) -> bool:
    wanted = normalise_display(display) if ignore_ws else display.casefold()
    return any((normalise_display(text) if ignore_ws else text.casefold()) == wanted
               for text, _ in choices)


def _display_choices(concept: Concept,
                     language: str | None = None) -> list[tuple[str, str | None]]:
    """Every right display with its language: the preferred one, then each designation."""
    seen: set[str] = set()
    choices: list[tuple[str, str | None]] = []
    for text, lang in languages.displays(concept, language):
        if text and text not in seen:
            seen.add(text)
            choices.append((text, lang))
    return choices


# Issues that tx.fhir.org reports without repeating them in `message`, and the one piece of
# information it does repeat there.
QUIET = {"UNKNOWN_CODE_IN_FRAGMENT", "CODE_CASE_DIFFERENCE", "CONCEPT_DEPRECATED_IN_VALUESET",
         "INACTIVE_DISPLAY_FOUND"}
LOUD_INFORMATION = {"NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK"}


def _not_checked(issue: Issue) -> Issue:
    """Another coding of the CodeableConcept is valid: one whose code system is unknown was
    not checked, a warning rather than an error."""
    if issue.message_id != "UNKNOWN_CODESYSTEM" or issue.severity != "error":
        return issue
    return replace(issue, severity="warning", message_id="UNKNOWN_CODESYSTEM_CODING_NOT_CHECKED")


def _message(issues: list[Issue], valid: bool) -> str | None:
    wanted = ("warning",) if valid else ("error", "warning")
    texts = sorted({i.text for i in issues if i.message_id not in QUIET
                    and (i.severity in wanted or (valid and i.message_id in LOUD_INFORMATION))
                    and (valid or i.message_id != "VALUESET_VALUE_MISMATCH_DEFAULT")})
    return "; ".join(texts) or None


def validate_code(registry: Registry, request: ValidateRequest,
                  valueset: dict[str, Any] | None = None) -> ValidationResult:
    if request.instance_id is not None and registry.by_id(request.instance_id) is None:
        raise NotFound(f"CodeSystem/{request.instance_id} is not known on this server",
                       message_id="RESOURCE_NOT_FOUND")
    registry, _ = supplements.apply(
        registry, list(request.supplements) + supplements.referenced_by(valueset))
    default_language = valueset_default(valueset, "displayLanguage") or (
        (valueset or {}).get("language"))
    if request.display_language is None and default_language:
        request = replace(request, display_language=default_language)
    languages.check(request.display_language)
    validator = _Validator(registry, request, valueset)
    outcomes = [validator.check(c, i) for i, c in enumerate(request.codings)]
    good = next((o for o in outcomes if o.valid), None)  # the first valid coding is reported
    chosen = good or (outcomes[0] if outcomes else CodingOutcome())  # no coding: text only
    issues = [i for o in outcomes for i in o.issues]
    if good is not None:
        issues = [_not_checked(i) for i in issues]
    own = status_note(valueset, "ValueSet", None) if valueset else None
    issues += validator.status_issues + ([own.issue()] if own is not None else [])
    # An error left on another coding (an unknown code in a known code system, say) decides
    # the result; a code system we do not know was only not checked (a warning above).
    valid = good is not None and not any(i.severity == "error" for i in issues)
    broken = any(o.valueset_error for o in outcomes)
    general = (request.source == "codeableConcept" and valueset is not None and good is None
               and not any(o.include_matched for o in outcomes) and not broken)
    if general:
        issues.insert(0, Issue(
            "error", "code-invalid",
            f"No valid coding was found for the value set '{vs_label(valueset or {})}'",
            "not-in-vs", None, "TX_GENERAL_CC_ERROR_MESSAGE"))
    # A failed CodeableConcept names its coding only when that coding's concept was found.
    single = good is not None or (len(outcomes) == 1 and (
        request.source != "codeableConcept" or (chosen.display is not None and not general
                                                 and not broken)))
    return ValidationResult(
        result=valid,
        system=chosen.system if single else None,
        code=chosen.code if single else None,
        version=chosen.version if single else None,
        display=chosen.display if single else None,
        message=_message(issues, valid),
        issues=tuple(issues),
        codeable_concept=request.original if request.source == "codeableConcept" else None,
        unknown_system=next((o.unknown_system for o in outcomes if o.unknown_system), None),
        x_unknown_system=None if good is not None else next(
            (o.x_unknown_system for o in outcomes if o.x_unknown_system), None),
        normalized_code=chosen.normalized_code if single else None,
        extra={k: v for k, v in (("inactive", chosen.inactive), ("status", chosen.status))
               if v and single},
    )
