"""$validate of an order, encounter or claim: every coding checked, then the claim edits.

`validate_resource(registry, resource, edits)` takes a ServiceRequest, Procedure, Claim or a
Bundle of them as a plain dict (already checked against the FHIR models by the caller) and
answers a list of `Issue`s, each with the FHIRPath of the element it is about:

1. every Coding anywhere in the resource whose system this server knows is validated as
   `$validate-code` validates it, against the version in force on the date of service
   (`occurrence[x]`, `performed[x]`, `Claim.item.serviced[x]`, else today): unknown and
   deleted codes, invalid expressions and wrong displays are errors; a system the server does
   not know is reported as information;
2. the service lines (ServiceRequest.code, Procedure.code, Claim.item.productOrService, with
   units, modifiers, patient and date) go through every `ClaimEdit` the server was given. The
   edits (add-on codes, MUE, PTP, modifier rules) belong to the code sets under codesystems/;
   this module knows none of them.

`order_from_text` turns lines a person types (`64636 x2 mod 50`) into a FHIR Claim.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from terminology import clock
from terminology.errors import InvalidCode, InvalidRequest, NotFound, TerminologyError
from terminology.model import Coding, Issue, ServiceLine, ValidateRequest
from terminology.operations.validate_code import validate_code
from terminology.provider import Registry

SERVICE_TYPES = ("ServiceRequest", "Procedure", "Claim")
RESOURCE_TYPES = (*SERVICE_TYPES, "Bundle")
_CODING_KEYS = frozenset({"id", "extension", "system", "version", "code", "display",
                          "userSelected"})
OK_TEXT = "No issues found"


class ClaimEdit(Protocol):
    """A check over all the service lines of one request (add-on codes, MUE, PTP…)."""

    name: str

    def check(self, registry: Registry, lines: Sequence[ServiceLine]) -> Iterable[Issue]: ...


@dataclass(frozen=True, slots=True)
class _Found:
    """A Coding met in the resource, with its FHIRPath and date of service."""

    coding: dict[str, Any]
    path: str
    date: str


class ResourceValidator:
    """The checks over one registry and a fixed list of claim edits, with a cache of coding
    verdicts (by code-system version, code and display) that a new import empties."""

    CACHE_SIZE = 20000

    def __init__(self, registry: Registry, edits: Sequence[ClaimEdit] = ()) -> None:
        self.registry = registry
        self.edits = tuple(edits)
        self._cache: dict[tuple[Any, ...], tuple[Issue, ...]] = {}
        self._generation = -1
        self._lock = threading.Lock()

    def validate(self, resource: dict[str, Any], today: str | None = None) -> list[Issue]:
        """Every issue of `resource` (a dict); an information issue when there is none."""
        kind = resource.get("resourceType")
        if kind not in RESOURCE_TYPES:
            raise InvalidRequest(
                f"$validate checks a {', '.join(RESOURCE_TYPES[:-1])} or {RESOURCE_TYPES[-1]}, "
                f"not a {kind or 'resource without a resourceType'}", expression="resourceType")
        today = today or clock.today()
        found: list[_Found] = []
        lines: list[ServiceLine] = []
        self._refresh()
        # other spellings of a system's url (HCPCS's https://…) become the one it is stored at
        _walk_resource(resource, str(kind), today, found, lines, self.registry.canonical_url,
                       top=True)
        issues: list[Issue] = []
        systems: dict[tuple[Any, Any, str], tuple[bool, str | None]] = {}
        for item in found:
            issues += self._check_coding(item, systems)
        for edit in self.edits:
            issues += edit.check(self.registry, lines)
        if not issues:
            issues.append(Issue("information", "informational",
                                f"{OK_TEXT}: {len(found)} codings and {len(lines)} service "
                                f"lines checked", None, None, "ALL_OK"))
        return issues

    # -- one coding -----------------------------------------------------------------------

    def _refresh(self) -> None:
        """Empty the cache when the registry reads a newer store generation."""
        generation = self.registry.generation
        if generation > self._generation:  # entries of older generations can never match
            with self._lock:
                self._cache = {}
                self._generation = generation

    def _check_coding(self, item: _Found,
                      systems: dict[tuple[Any, Any, str], tuple[bool, str | None]]
                      ) -> list[Issue]:
        """The issues of one coding. `systems` remembers, for this request, whether a system
        is known and which version is in force on a date."""
        coding, path = item.coding, item.path
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(code, str) or not code:
            return []  # a Coding with only a display (or a system alone) asserts no code
        if not isinstance(system, str) or not system:
            return [Issue("warning", "invalid",
                          f"The code '{code}' has no system, so it has no defined meaning and "
                          "cannot be checked", "invalid-data", path,
                          "Coding_has_no_system__cannot_validate")]
        version = coding.get("version") if isinstance(coding.get("version"), str) else None
        known_in_force = systems.get((system, version, item.date))
        if known_in_force is None:
            known_in_force = (self.registry.knows(system), None)
            if known_in_force[0]:
                try:
                    resolved = self.registry.resolve(system, version, item.date)
                    known_in_force = (True, resolved.canonical.version)
                except NotFound:
                    pass  # validate_code reports the unknown version
            systems[(system, version, item.date)] = known_in_force
        known, in_force = known_in_force
        if not known:
            return [Issue("information", "not-found",
                          f"The code system '{system}' is not known to this server, so the code "
                          f"'{code}' was not checked", "not-found", f"{path}.system",
                          "UNKNOWN_CODESYSTEM")]
        display = coding.get("display") if isinstance(coding.get("display"), str) else None
        # keyed by the generation the verdict is computed from: a request still reading the
        # previous generation must not leave its verdicts to the next one
        key = (self.registry.generation, system, version, code, display, in_force)
        issues = self._cache.get(key)
        if issues is None:
            issues = self._verdict(Coding(system, code, version, display), item.date)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = issues
        out = [_placed(i, path) for i in issues]
        if any(i.message_id in ("Unknown_Code_in_Version", "Code_Deleted_In_Version")
               for i in out):
            out = [self._dated(i, system, code, in_force, item.date) for i in out]
        return out

    def _verdict(self, coding: Coding, on_date: str) -> tuple[Issue, ...]:
        request = ValidateRequest(codings=(coding,), source="coding", date=on_date)
        try:
            result = validate_code(self.registry, request)
        except TerminologyError as exc:
            return (Issue("error", exc.issue_code, exc.message, exc.tx_issue_type,
                          "Coding", exc.message_id),)
        return result.issues

    def _dated(self, issue: Issue, system: str, code: str, in_force: str | None,
               on_date: str) -> Issue:
        """Say which version was in force on the date of service, and where the code is."""
        if issue.message_id not in ("Unknown_Code_in_Version", "Code_Deleted_In_Version"):
            return issue
        text = f"{issue.text} (the version in force on {on_date}, the date of service)"
        elsewhere = [v for v in self.registry.versions(system) if v != in_force
                     and _holds(self.registry, system, v, code)]
        if elsewhere:
            text += f"; the code is valid in version {' and '.join(elsewhere)}"
        return replace(issue, text=text)


def _holds(registry: Registry, system: str, version: str, code: str) -> bool:
    try:
        concept = registry.resolve(system, version).locate(code)
    except (NotFound, InvalidCode):
        return False
    return concept is not None and not concept.withdrawn and not concept.inactive


def _placed(issue: Issue, path: str) -> Issue:
    """An issue of `$validate-code` on a lone Coding, moved to where the coding sits."""
    where = issue.expression
    if where is None or where == "Coding":
        return replace(issue, expression=path)
    if where.startswith("Coding."):
        return replace(issue, expression=path + where[len("Coding"):])
    return replace(issue, expression=path)


def validate_resource(registry: Registry, resource: dict[str, Any],
                      edits: Sequence[ClaimEdit] = (), today: str | None = None) -> list[Issue]:
    """Every issue of `resource`, without a cache (a ResourceValidator keeps one)."""
    return ResourceValidator(registry, edits).validate(resource, today)


# -- walking the resource ---------------------------------------------------------------------


def _is_coding(node: dict[str, Any]) -> bool:
    return "code" in node and node.keys() <= _CODING_KEYS


def _walk(node: Any, path: str, day: str, found: list[_Found]) -> None:
    if isinstance(node, dict):
        if _is_coding(node):
            found.append(_Found(node, path, day))
            return
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                _walk(value, f"{path}.{key}", day, found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                _walk(value, f"{path}[{i}]", day, found)


def _day(value: Any) -> str | None:
    """The date part of a FHIR date/dateTime (`2026-03-02T10:00:00Z` -> `2026-03-02`)."""
    return value[:10] if isinstance(value, str) and value[:4].isdigit() else None


def _choice_date(node: dict[str, Any], name: str) -> str | None:
    """The date of `name`[x]: DateTime, Date, Period.start, Timing.event[0]."""
    for suffix in ("DateTime", "Date"):
        day = _day(node.get(name + suffix))
        if day:
            return day
    period = node.get(name + "Period")
    if isinstance(period, dict):
        day = _day(period.get("start")) or _day(period.get("end"))
        if day:
            return day
    timing = node.get(name + "Timing")
    if isinstance(timing, dict) and isinstance(timing.get("event"), list) and timing["event"]:
        return _day(timing["event"][0])
    return None


def _claim_day(claim: dict[str, Any]) -> str | None:
    """For codings outside the items (diagnoses…): the billable period, else the first item."""
    period = claim.get("billablePeriod")
    if isinstance(period, dict) and _day(period.get("start")):
        return _day(period.get("start"))
    for item in claim.get("item") or []:
        if isinstance(item, dict) and _choice_date(item, "serviced"):
            return _choice_date(item, "serviced")
    return None


def _reference(node: Any) -> str | None:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            return str(node["reference"])
        identifier = node.get("identifier")
        if isinstance(identifier, dict) and identifier.get("value"):
            return f"{identifier.get('system', '')}|{identifier['value']}"
    return None


def _walk_resource(resource: dict[str, Any], path: str, today: str, found: list[_Found],
                   lines: list[ServiceLine], canonical: Callable[[str], str],
                   top: bool = False) -> None:
    kind = resource.get("resourceType")
    if kind == "ServiceRequest":
        day = _choice_date(resource, "occurrence") or today
    elif kind == "Procedure":
        day = _choice_date(resource, "performed") or today
    elif kind == "Claim":
        day = _claim_day(resource) or today
    else:
        day = today
    for key, value in resource.items():
        if not isinstance(value, (dict, list)):
            continue
        if key == "contained" and isinstance(value, list):
            for i, inner in enumerate(value):
                if isinstance(inner, dict):
                    _walk_resource(inner, f"{path}.contained[{i}]", day, found, [], canonical)
        elif kind == "Bundle" and key == "entry" and isinstance(value, list):
            for i, entry in enumerate(value):
                if not isinstance(entry, dict):
                    continue
                for entry_key, entry_value in entry.items():
                    where = f"{path}.entry[{i}].{entry_key}"
                    if entry_key == "resource" and isinstance(entry_value, dict):
                        _walk_resource(entry_value, where, today, found, lines, canonical,
                                       top=top)
                    elif isinstance(entry_value, (dict, list)):
                        _walk(entry_value, where, day, found)
        elif kind == "Claim" and key == "item" and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    item_day = _choice_date(item, "serviced") or day
                    _walk(item, f"{path}.item[{i}]", item_day, found)
        else:
            _walk(value, f"{path}.{key}", day, found)
    if top and kind in SERVICE_TYPES:
        _service_lines(resource, kind, path, day, lines, canonical)


def _codings_of(concept: Any, path: str) -> list[tuple[dict[str, Any], str]]:
    """The codings of a CodeableConcept with their paths (each system|code once)."""
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    out, seen = [], set()
    for i, coding in enumerate(concept["coding"]):
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            continue
        key = (coding.get("system"), coding["code"])
        if key not in seen:
            seen.add(key)
            out.append((coding, f"{path}.coding[{i}]"))
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _quantity(quantity: Any) -> float | None:
    """The value of a Quantity, if it has a number."""
    return _number(quantity.get("value")) if isinstance(quantity, dict) else None


def _service_lines(resource: dict[str, Any], kind: str, path: str, day: str,
                   lines: list[ServiceLine], canonical: Callable[[str], str]) -> None:
    def add(concept: Any, concept_path: str, **details: Any) -> None:
        for coding, coding_path in _codings_of(concept, concept_path):
            system = coding.get("system")
            if isinstance(system, str) and system:
                lines.append(ServiceLine(number=len(lines) + 1, system=canonical(system),
                                         code=coding["code"], path=coding_path, **details))

    if kind == "ServiceRequest":
        units, units_path = 1.0, None
        counted = _quantity(resource.get("quantityQuantity"))
        if counted is not None:
            units, units_path = counted, f"{path}.quantityQuantity"
        add(resource.get("code"), f"{path}.code", date=day, units=units, units_path=units_path,
            patient=_reference(resource.get("subject")))
    elif kind == "Procedure":
        add(resource.get("code"), f"{path}.code", date=day,
            patient=_reference(resource.get("subject")))
    elif kind == "Claim":
        claim_type = next((c["code"] for c, _ in _codings_of(resource.get("type"), "")), None)
        patient = _reference(resource.get("patient"))
        for i, item in enumerate(resource.get("item") or []):
            if not isinstance(item, dict):
                continue
            item_path = f"{path}.item[{i}]"
            units, units_path = 1.0, None
            counted = _quantity(item.get("quantity"))
            if counted is not None:
                units, units_path = counted, f"{item_path}.quantity"
            modifiers: list[Coding] = []
            modifier_paths: list[str] = []
            for j, modifier in enumerate(item.get("modifier") or []):
                for coding, coding_path in _codings_of(modifier, f"{item_path}.modifier[{j}]"):
                    modifiers.append(Coding(coding.get("system"), coding["code"]))
                    modifier_paths.append(coding_path)
            add(item.get("productOrService"), f"{item_path}.productOrService",
                date=_choice_date(item, "serviced") or day, units=units, units_path=units_path,
                patient=patient, modifiers=tuple(modifiers),
                modifier_paths=tuple(modifier_paths), setting=claim_type)


# -- lines a person types -------------------------------------------------------------------

_UNITS = re.compile(r"^(?:x|\*)\s*(\d+(?:\.\d+)?)$|^(\d+(?:\.\d+)?)\s*(?:x|units?|u)$",
                    re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MODIFIER_WORDS = {"mod", "mods", "modifier", "modifiers", "-m", "m"}


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One typed line: a code (or `system|code`), its units, modifiers and date."""

    number: int
    code: str
    system: str | None
    units: float
    modifiers: tuple[str, ...]
    date: str | None


def parse_order_text(text: str) -> list[OrderLine]:
    """`64636 x2 mod 50`, `99213:25`, `J1100 10 units`, `64635 mod 59, LT 2026-03-02`: one
    service a line; blank lines and lines starting with `#` are skipped. A line that cannot
    be read raises InvalidRequest naming it."""
    out: list[OrderLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        line = re.sub(r"\s*,\s*", " ", line)
        line = re.sub(r"\b(?:x|units?|qty)\s+(\d)", r"x\1", line, flags=re.IGNORECASE)
        line = re.sub(r"(\d)\s+(?:units?|u)\b", r"\1x", line, flags=re.IGNORECASE)
        words = line.split()
        head = words.pop(0)
        system, _, code = head.rpartition("|")
        units: float = 1.0
        modifiers: list[str] = []
        day: str | None = None
        in_modifiers = False
        for word in words:
            lowered = word.lower()
            match = _UNITS.match(word)
            if lowered in _MODIFIER_WORDS:
                in_modifiers = True
            elif match:
                units = float(match.group(1) or match.group(2))
                in_modifiers = False
            elif _DATE.match(word):
                day = word
                in_modifiers = False
            elif lowered == "on":
                continue
            elif in_modifiers or re.fullmatch(r"-?[0-9A-Za-z]{2}", word):
                modifiers.append(word.lstrip("-").upper())
            else:
                raise InvalidRequest(
                    f"Line {number} ('{raw.strip()}'): '{word}' is not units (x2, 2 units), a "
                    "modifier (mod 50) or a date (2026-03-02)", expression=f"line {number}")
        if not code or not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.:\-]*", code):
            raise InvalidRequest(f"Line {number} ('{raw.strip()}'): '{head}' is not a code",
                                 expression=f"line {number}")
        if units <= 0:
            raise InvalidRequest(f"Line {number}: units must be more than 0",
                                 expression=f"line {number}")
        out.append(OrderLine(number, code, system or None, units, tuple(modifiers), day))
    if not out:
        raise InvalidRequest("No codes were given: type one code a line, e.g. '64636 x2 mod 50'")
    return out


def infer_system(registry: Registry, code: str, on_date: str | None = None) -> str | None:
    """The one known code system holding `code` (its base code, for an expression), else None.
    When several hold it, the first in the registry's order of URLs."""
    base = code.split(":")[0]
    for url in registry.code_system_urls():
        try:
            provider = registry.resolve(url, None, on_date)
            concept = provider.locate(base)
        except (NotFound, InvalidCode):
            continue
        except TerminologyError:
            continue
        if concept is not None:
            return str(url)
    return None


def order_from_text(registry: Registry, text: str, *, patient: str = "Patient/example",
                    service_date: str | None = None, today: str | None = None
                    ) -> dict[str, Any]:
    """A FHIR R4 Claim (professional) with one item per typed line, each code's system found
    in the known code systems (the line's date, else `service_date`, else today)."""
    default_day = service_date or today or clock.today()
    items: list[dict[str, Any]] = []
    for sequence, line in enumerate(parse_order_text(text), start=1):
        day = line.date or default_day
        system = line.system or infer_system(registry, line.code, day)
        coding: dict[str, Any] = {"code": line.code}
        if system:
            coding = {"system": system, **coding}
        item: dict[str, Any] = {"sequence": sequence, "productOrService": {"coding": [coding]}}
        if line.modifiers:
            item["modifier"] = []
            for modifier in line.modifiers:
                modifier_system = _modifier_system(registry, system, modifier, day)
                modifier_coding: dict[str, Any] = {"code": modifier}
                if modifier_system:
                    modifier_coding = {"system": modifier_system, **modifier_coding}
                item["modifier"].append({"coding": [modifier_coding]})
        item["servicedDate"] = day
        units = int(line.units) if line.units.is_integer() else line.units
        item["quantity"] = {"value": units}
        items.append(item)
    return {
        "resourceType": "Claim",
        "status": "draft",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "use": "predetermination",
        "patient": {"reference": patient},
        "created": today or clock.today(),
        "provider": {"display": "Ordering provider"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "Coverage"}}],
        "item": items,
    }


def _modifier_system(registry: Registry, system: str | None, modifier: str,
                     day: str) -> str | None:
    """A modifier's system: the code's own system when it knows the modifier, else any."""
    if system:
        try:
            if registry.resolve(system, None, day).locate(modifier) is not None:
                return system
        except (NotFound, InvalidCode):
            pass
    return infer_system(registry, modifier, day)
