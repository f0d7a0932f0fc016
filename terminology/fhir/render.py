"""Results -> FHIR R4 JSON, built as plain dicts (serialised once by the web layer).

Parameter names, issue structure, `tx-issue-type` codings and message-id extensions follow
tx.fhir.org so that clients written against it read our answers unchanged.
"""

from __future__ import annotations

from typing import Any

from terminology.errors import TerminologyError
from terminology.model import Coding, Designation, Issue, LookupResult, Property, ValidationResult
from terminology.operations.expand import ExpandResult
from terminology.operations.translate import Translation
from terminology.provider import CodeSystemProvider, Hierarchy
from terminology.valuesets import Entry

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"

VALUE_KEYS = {
    "boolean": "valueBoolean",
    "code": "valueCode",
    "string": "valueString",
    "dateTime": "valueDateTime",
    "date": "valueDate",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "Coding": "valueCoding",
    "uri": "valueUri",
}


def coding_json(c: Coding) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.system:
        out["system"] = c.system
    if c.version:
        out["version"] = c.version
    if c.code:
        out["code"] = c.code
    if c.display:
        out["display"] = c.display
    return out


def _property(p: Property) -> dict[str, Any]:
    return {"name": "property", "part": [
        {"name": "code", "valueCode": p.code},
        {"name": "value", VALUE_KEYS.get(p.type, "valueString"): p.value},
    ]}


def _designation(d: Designation) -> dict[str, Any]:
    part: list[dict[str, Any]] = []
    if d.language:
        part.append({"name": "language", "valueCode": d.language})
    if d.use is not None:
        part.append({"name": "use", "valueCoding": coding_json(d.use)})
    if d.source:
        part.append({"name": "source", "valueCanonical": d.source})
    part.append({"name": "value", "valueString": d.value})
    return {"name": "designation", "part": part}


def lookup_parameters(result: LookupResult) -> dict[str, Any]:
    concept = result.concept
    wanted = set(result.wanted)
    everything = not wanted or "*" in wanted
    params: list[dict[str, Any]] = [
        {"name": "name", "valueString": result.name},
        {"name": "code", "valueCode": concept.code},
        {"name": "system", "valueUri": result.system},
    ]
    if result.version:
        params.append({"name": "version", "valueString": result.version})
    params.append({"name": "display", "valueString": concept.display or concept.code})
    if concept.definition and (everything or "definition" in wanted):
        params.append({"name": "definition", "valueString": concept.definition})
    params.append({"name": "abstract", "valueBoolean": concept.abstract})
    if everything or "inactive" in wanted:
        params.append(_property(Property("inactive", concept.inactive, "boolean")))
    if everything or "designation" in wanted:
        params.extend(_designation(d) for d in concept.designations)
    params.extend(
        _property(p) for p in concept.properties
        if p.code != "inactive" and (p.code in wanted or (
            everything and p.code not in AUTOMATIC_PROPERTIES))
    )
    params.extend({"name": "used-supplement", "valueCanonical": u}
                  for u in result.used_supplements)
    return {"resourceType": "Parameters", "parameter": params}


MAX_MESSAGE = 2000  # characters of a message text: one that echoes a huge input is cut


def shortened(text: str) -> str:
    """`text`, cut to MAX_MESSAGE characters with a note of how much was left out."""
    if len(text) <= MAX_MESSAGE:
        return text
    return f"{text[:MAX_MESSAGE]}… ({len(text) - MAX_MESSAGE} more characters not shown)"


def issue_json(issue: Issue) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if issue.message_id:
        out["extension"] = [{"url": MESSAGE_ID, "valueString": issue.message_id}]
    out["severity"] = issue.severity
    out["code"] = issue.code
    details: dict[str, Any] = {}
    if issue.tx_issue_type:
        details["coding"] = [{"system": TX_ISSUE_TYPE, "code": issue.tx_issue_type}]
    details["text"] = shortened(issue.text)
    out["details"] = details
    if issue.expression:
        out["expression"] = [issue.expression]
    return out


def validation_parameters(result: ValidationResult) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result.result}]
    if result.system:
        params.append({"name": "system", "valueUri": result.system})
    if result.code:
        params.append({"name": "code", "valueCode": result.code})
    if result.version:
        params.append({"name": "version", "valueString": result.version})
    if result.display:
        params.append({"name": "display", "valueString": result.display})
    if result.extra.get("inactive"):
        params.append({"name": "inactive", "valueBoolean": True})
    if result.extra.get("status"):
        params.append({"name": "status", "valueCode": result.extra["status"]})
    if result.codeable_concept is not None:
        params.append({"name": "codeableConcept", "valueCodeableConcept": result.codeable_concept})
    if result.message:
        params.append({"name": "message", "valueString": shortened(result.message)})
    if result.issues:
        params.append({"name": "issues", "resource": {
            "resourceType": "OperationOutcome",
            "issue": [issue_json(i) for i in result.issues],
        }})
    if result.normalized_code:
        params.append({"name": "normalized-code", "valueCode": result.normalized_code})
    if result.unknown_system:
        params.append({"name": "x-caused-by-unknown-system",
                       "valueCanonical": result.unknown_system})
    if result.x_unknown_system:
        params.append({"name": "x-unknown-system", "valueCanonical": result.x_unknown_system})
    return {"resourceType": "Parameters", "parameter": params}


def operation_outcome(
    text: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    tx_issue_type: str | None = None,
    expression: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    issue = Issue(severity, code, text, tx_issue_type, expression, message_id)
    return {"resourceType": "OperationOutcome", "issue": [issue_json(issue)]}


def error_outcome(error: TerminologyError) -> dict[str, Any]:
    return operation_outcome(
        error.message,
        code=error.issue_code,
        tx_issue_type=error.tx_issue_type,
        expression=error.expression,
        message_id=error.message_id,
    )


# R5 elements carried in R4 as the cross-version extensions FHIR defines for them.
EXT_EXPANSION_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.property")
EXT_CONTAINS_PROPERTY = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ValueSet.expansion.contains.property")
# What of the value set an expansion repeats (as tx.fhir.org: its identity, not its definition).
EXPANSION_HEADER = ("resourceType", "id", "language", "url", "identifier", "version", "name",
                    "title", "status", "experimental", "date", "publisher")
UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"
UNCLOSED_REASON = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed-reason"
# Properties every expansion shows when a concept has them (from concept extensions).
AUTOMATIC_PROPERTIES = {"label", "order", "weight"}
PSEUDO_PROPERTIES = {
    "label": {"code": "label", "uri": "http://hl7.org/fhir/concept-properties#label"},
    "order": {"code": "order", "uri": "http://hl7.org/fhir/concept-properties#order"},
    "weight": {"code": "weight", "uri": "http://hl7.org/fhir/concept-properties#itemWeight"},
    "definition": {"code": "definition", "uri": "http://hl7.org/fhir/concept-properties#definition"},
    "status": {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status"},
}


def _contains_item(entry: Entry, result: ExpandResult, wanted: set[str]) -> dict[str, Any]:
    """`wanted`: the properties to show (those asked for, and the automatic ones)."""
    request = result.request
    concept = entry.concept
    item: dict[str, Any] = {}
    if concept.extensions:
        item["extension"] = list(concept.extensions)
    item["system"] = entry.system
    if result.show_versions and entry.version:
        item["version"] = entry.version
    if concept.abstract:
        item["abstract"] = True
    if concept.inactive:
        item["inactive"] = True
    item["code"] = concept.code
    if entry.display:
        item["display"] = entry.display
    if request.include_designations or request.designations:
        designations = list(entry.designations)
        if designations:
            item["designation"] = [
                {k: v for k, v in (("extension", list(d.extensions) or None),
                                   ("language", d.language),
                                   ("use", coding_json(d.use) if d.use else None),
                                   ("value", d.value)) if v is not None}
                for d in designations
            ]
    status = next((p for p in concept.properties if p.code == "status"), None)
    if status is not None and not (concept.inactive or status.value == "deprecated"):
        status = None
    if wanted:
        props = []
        if "definition" in wanted and concept.definition:
            props.append({"code": "definition", "valueString": concept.definition})
        props += [{"code": p.code, VALUE_KEYS.get(p.type, "valueString"): p.value}
                  for p in concept.properties
                  if (p.code in wanted and p.code != "status") or "*" in wanted or p is status]
        if props:
            item.setdefault("extension", []).extend(
                {"url": EXT_CONTAINS_PROPERTY, "extension": [
                    {"url": "code", "valueCode": p["code"]},
                    {"url": "value", **{k: v for k, v in p.items() if k != "code"}}]}
                for p in props)
    return item


def _declared_codes(result: ExpandResult) -> list[str]:
    """The properties the expansion declares: those asked for, `*` standing for every one the
    code systems define."""
    codes: list[str] = []
    for code in result.request.properties:
        codes += list(result.property_defs) if code == "*" else [code]
    return list(dict.fromkeys(codes))


# properties an expansion declares whenever a member carries them (status: when a member is
# inactive or deprecated), in this order
DECLARED_WHEN_CARRIED = ("weight", "label", "order", "status")


def expansion_valueset(result: ExpandResult, identifier: str, timestamp: str) -> dict[str, Any]:
    if result.request.include_definition:  # the value set's definition comes along
        out = {k: v for k, v in result.valueset.items() if k not in ("expansion", "text")}
    else:
        out = {k: v for k, v in result.valueset.items() if k in EXPANSION_HEADER}
    parameters = [{"name": name, key: value} for name, key, value in result.request.echo]
    parameters += [{"name": "used-codesystem", "valueUri": u} for u in result.used_systems]
    parameters += [{"name": "used-valueset", "valueUri": u} for u in result.used_valuesets]
    parameters += [{"name": "used-supplement", "valueUri": u} for u in result.used_supplements]
    parameters += [{"name": "used-fragment", "valueUri": str(p.canonical)}
                   for p in result.providers.values() if p.content == "fragment"]
    parameters += [{"name": name, "valueUri": value} for name, value in result.status_warnings]
    expansion: dict[str, Any] = {
        "identifier": identifier,
        "timestamp": timestamp,
        "total": result.total,
    }
    fragments = [p for p in result.providers.values() if p.content == "fragment"]
    if result.unclosed or fragments:
        expansion["extension"] = [{"url": UNCLOSED, "valueBoolean": True}]
    for p in fragments:
        expansion["extension"].append({
            "url": UNCLOSED_REASON,
            "valueString": f"This extension is based on a fragment of the code system "
                           f"{p.canonical.url}"})
    if result.request.offset or result.request.count is not None:
        expansion["offset"] = result.offset
    expansion["parameter"] = parameters
    codes = _declared_codes(result)
    carried = {p.code for e in result.entries for p in e.concept.properties
               if p.code in DECLARED_WHEN_CARRIED
               and (p.code != "status" or e.concept.inactive or p.value == "deprecated")}
    codes += [code for code in DECLARED_WHEN_CARRIED if code in carried and code not in codes]
    if codes:
        declared = []
        for code in codes:
            definition = result.property_defs.get(code) or PSEUDO_PROPERTIES.get(code)
            if definition is not None:
                entry = {"code": code}
                if definition.get("uri"):
                    entry["uri"] = definition["uri"]
                declared.append(entry)
        if declared:
            expansion.setdefault("extension", []).extend([
                {"url": EXT_EXPANSION_PROPERTY, "extension": [
                    {"url": key, ("valueCode" if key == "code" else "valueUri"): value}
                    for key, value in d.items()]}
                for d in declared])
    wanted = set(result.request.properties) | AUTOMATIC_PROPERTIES
    items = [(_contains_item(e, result, wanted), e) for e in result.entries]
    if result.nest:
        expansion["contains"] = _nest(items, result.providers)
    elif items:
        expansion["contains"] = [item for item, _ in items]
    if not expansion.get("contains"):
        expansion.pop("contains", None)
    out["expansion"] = expansion
    return out


def _nest(items: list[tuple[dict[str, Any], Entry]],
          providers: dict[str, CodeSystemProvider]) -> list[dict[str, Any]]:
    """Place each item under its nearest parent in the expansion (same code system)."""
    by_key = {(e.system, e.concept.code): item for item, e in items}
    hierarchies = {url: p for url, p in providers.items() if isinstance(p, Hierarchy)}
    roots: list[dict[str, Any]] = []
    for item, entry in items:
        provider = hierarchies.get(entry.system)
        parents = provider.parents(entry.concept.code) if provider is not None else []
        home = None if entry.enumerated else next(
            (by_key[(entry.system, p)] for p in parents if (entry.system, p) in by_key), None)
        if home is None:
            roots.append(item)
        else:
            home.setdefault("contains", []).append(item)
    return roots


def translation_parameters(result: Translation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result.result}]
    if result.message:
        params.append({"name": "message", "valueString": shortened(result.message)})
    for m in result.matches:
        part: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": m.equivalence}]
        if m.concept is not None:
            part.append({"name": "concept", "valueCoding": coding_json(m.concept)})
        if m.source is not None:
            part.append({"name": "source", "valueCoding": coding_json(m.source)})
        part.append({"name": "originMap", "valueCanonical": m.origin})
        params.append({"name": "match", "part": part})
    return {"resourceType": "Parameters", "parameter": params}
