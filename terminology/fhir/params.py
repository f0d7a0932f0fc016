"""Request parameters -> typed operation requests, one marshmallow schema per operation.

Parameters arrive three ways (GET query, POSTed form, POSTed `Parameters` resource); all three
are first flattened to `{name: [values]}` with plain dicts and strings (no model objects on the
hot path), then loaded by the operation's schema, whose errors become a 400 OperationOutcome
naming the parameter.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from terminology.errors import InvalidRequest
from terminology.fhir import structure
from terminology.fhir.parse import parse_json
from terminology.model import Coding, ExpandRequest, LookupRequest, ValidateRequest
from terminology.operations.subsumes import SubsumesRequest
from terminology.operations.translate import TranslateRequest

# value[x] types a Parameters parameter may carry (R4): the key decides nothing but presence.
_VALUE_PREFIX = "value"


def parameters_from_json(body: bytes) -> dict[str, list[Any]]:
    """A `Parameters` resource body -> {name: [value, ...]}. Raises InvalidRequest."""
    resource = parse_json(body)
    if not isinstance(resource, dict):
        raise InvalidRequest("The request body must be a JSON object (a Parameters resource)")
    kind = resource.get("resourceType")
    if kind != "Parameters":
        what = kind if isinstance(kind, str) else "an object without a resourceType"
        raise InvalidRequest(f"The request body must be a Parameters resource, not {what}")
    params = resource.get("parameter", [])
    if not isinstance(params, list):
        raise InvalidRequest("Parameters.parameter must be an array", expression="parameter")
    flat: dict[str, list[Any]] = {}
    for index, param in enumerate(params):
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            raise InvalidRequest(
                f"Parameters.parameter[{index}] must be an object with a name",
                expression=f"Parameters.parameter[{index}]",
            )
        values = [v for k, v in param.items() if k.startswith(_VALUE_PREFIX)]
        if "resource" in param:
            values.append(_checked_resource(param["resource"], index))
        if "part" in param:
            values.append({"part": param["part"]})
        if len(values) != 1:
            raise InvalidRequest(
                f"Parameter '{param['name']}' must have exactly one value",
                expression=f"Parameters.parameter[{index}]",
            )
        flat.setdefault(param["name"], []).append(values[0])
    return flat


def _checked_resource(resource: Any, index: int) -> Any:
    """A resource in a parameter, refused (400, naming the element) unless it is valid FHIR."""
    where = f"Parameters.parameter[{index}].resource"
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise InvalidRequest(f"{where} must be a FHIR resource (an object with a resourceType)",
                             expression=where)
    wrong = structure.problem(resource)
    if wrong:
        raise InvalidRequest(f"{where} is not valid FHIR: {wrong}", expression=where)
    return resource


def parameters_from_resource(resource: dict[str, Any]) -> dict[str, list[Any]]:
    """A Parameters resource already parsed -> {name: [value, ...]}."""
    return parameters_from_json(orjson.dumps(resource))


def parameters_from_query(multidict: Any) -> dict[str, list[Any]]:
    """A werkzeug MultiDict (query string or form) -> {name: [str, ...]}."""
    return {key: multidict.getlist(key) for key in multidict.keys()}


class CodingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    system = fields.String()
    version = fields.String()
    code = fields.String()
    display = fields.String()


class CodeableConceptSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    coding = fields.List(fields.Nested(CodingSchema), load_default=list)
    text = fields.String()


def _single(flat: dict[str, list[Any]], repeating: set[str]) -> dict[str, Any]:
    """Collapse single-valued parameters; a repeat of one of them is an error."""
    out: dict[str, Any] = {}
    for name, values in flat.items():
        if name in repeating:
            out[name] = values
        elif len(values) > 1:
            raise InvalidRequest(
                f"The parameter '{name}' appears {len(values)} times; it may appear only once",
                expression=name,
            )
        else:
            out[name] = values[0]
    return out


class _Plain:
    """What a schema asks of each parameter, for the shapes the hot operations get: strings,
    lists of strings, booleans, integers and Codings. `load` gives what the schema would give
    when every parameter present has one of those shapes and is well formed, else None (then
    the schema loads it, with its errors): a plain request is loaded in microseconds, not
    tens."""

    _INTEGER_TEXT = re.compile(r"[0-9]{1,10}")
    _CODING_KEYS = ("system", "version", "code", "display")

    def __init__(self, schema: Schema) -> None:
        self.kinds: dict[str, tuple[str, str]] = {}  # parameter name -> (attribute, kind)
        for attribute, f in schema.fields.items():
            self.kinds[f.data_key or attribute] = (attribute, self._kind(f))
        self.known = set(self.kinds)

    @staticmethod
    def _kind(f: fields.Field[Any]) -> str:
        if type(f) is fields.String and not f.validators:
            return "string"
        if (type(f) is fields.List and type(f.inner) is fields.String
                and not f.inner.validators and not f.validators):
            return "strings"
        if (type(f) is fields.Boolean and f.truthy == {"true", True}
                and f.falsy == {"false", False} and not f.validators):
            return "boolean"
        if type(f) is FhirInteger and not f.strict and [
                (v.min, v.max, v.max_inclusive) for v in f.validators
                if isinstance(v, validate.Range)] == [(None, 2**31 - 1, True)] and len(
                f.validators) == 1:
            return "integer"
        if (type(f) is fields.Nested and f.nested is CodingSchema and not f.many
                and not f.validators):
            return "coding"
        return "other"

    def load(self, flat: dict[str, list[Any]], repeating: set[str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for name, values in flat.items():
            found = self.kinds.get(name)
            if found is None:
                continue
            attribute, kind = found
            if name in repeating:
                if kind != "strings" or not all(type(v) is str for v in values):
                    return None
                out[attribute] = list(values)
                continue
            if len(values) != 1:
                return None
            value = values[0]
            if kind == "coding" and type(value) is dict:
                coding = {k: value[k] for k in self._CODING_KEYS if k in value}
                if not all(type(v) is str for v in coding.values()):
                    return None
                out[attribute] = coding
            elif type(value) is not str:
                return None
            elif kind == "string":
                out[attribute] = value
            elif kind == "boolean" and value in ("true", "false"):
                out[attribute] = value == "true"
            elif (kind == "integer" and self._INTEGER_TEXT.fullmatch(value)
                  and int(value) <= 2**31 - 1):
                out[attribute] = int(value)
            else:
                return None
        return out


_PLAIN: dict[Schema, _Plain] = {}


def _load(schema: Schema, flat: dict[str, list[Any]], repeating: set[str],
          check: Any = None) -> dict[str, Any]:
    """The schema's load of `flat`. Plain parameters are loaded by hand, to the same result;
    `check(data)` says whether the schema's own rules (validates_schema) pass on that result,
    else the schema loads it and says why not."""
    plain = _PLAIN.get(schema)
    if plain is None:
        plain = _PLAIN[schema] = _Plain(schema)
    data = plain.load(flat, repeating)
    if data is not None and (check is None or check(data)):
        return data
    known = plain.known
    try:
        loaded: dict[str, Any] = schema.load(
            _single({k: v for k, v in flat.items() if k in known}, repeating))
        return loaded
    except ValidationError as exc:
        name, problem = _first_error(exc.messages)
        raise InvalidRequest(f"The parameter '{name}' is invalid: {problem}",
                             expression=name) from None


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        if key == "_schema":
            return prefix or "parameters", _first_error(value)[1]
        name = f"{prefix}.{key}" if prefix and not isinstance(key, int) else (
            f"{prefix}[{key}]" if isinstance(key, int) else str(key))
        return _first_error(value, name)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix)
    return prefix, str(messages)


_BOOLEAN = fields.Boolean(truthy={"true", True}, falsy={"false", False})
_DATE = re.compile(r"^(\d{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$")
_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")


def normalise_date(value: str | None) -> str | None:
    """A FHIR date/dateTime as `YYYY-MM-DD` (a year or month means its first day)."""
    if value is None:
        return None
    match = _DATE.fullmatch(value)
    if not match:
        raise InvalidRequest(f"The date '{value}' is not a FHIR date or dateTime (YYYY, YYYY-MM, "
                             "YYYY-MM-DD or a full dateTime)", expression="date")
    return f"{match.group(1)}-{match.group(3) or '01'}-{match.group(5) or '01'}"


def check_code(code: str | None, name: str = "code") -> None:
    """A FHIR `code`: no leading, trailing or repeated white space, not empty."""
    if code is not None and not _CODE.fullmatch(code):
        raise InvalidRequest(f"The {name} '{code}' is not a valid FHIR code (it must not be "
                             "empty or have leading, trailing or repeated white space)",
                             expression=name)


class LookupSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String()
    system = fields.String()
    version = fields.String()
    coding = fields.Nested(CodingSchema)
    date = fields.String()
    displayLanguage = fields.String()
    property = fields.List(fields.String())
    useSupplement = fields.List(fields.String())

    @validates_schema
    def _code_or_coding(self, data: dict[str, Any], **_: Any) -> None:
        if "coding" in data and "code" in data:
            raise ValidationError("give either code (with system) or coding, not both", "code")
        if "coding" not in data and "code" not in data:
            raise ValidationError("a code (with system) or a coding is required", "code")


_LOOKUP = LookupSchema()  # schema instances are reusable and cost ~40 µs each to build
_LOOKUP_REPEATING = {"property", "useSupplement"}


def _code_or_coding(data: dict[str, Any]) -> bool:
    """LookupSchema._code_or_coding passes."""
    return ("code" in data) != ("coding" in data)


def lookup_request(flat: dict[str, list[Any]], instance_id: str | None = None) -> LookupRequest:
    data = _load(_LOOKUP, flat, _LOOKUP_REPEATING, _code_or_coding)
    coding = data.get("coding")
    if coding is not None:
        if not coding.get("code"):
            raise InvalidRequest("The coding has no code", expression="coding.code")
        if "system" in data and coding.get("system") and data["system"] != coding["system"]:
            raise InvalidRequest("The system and coding.system differ", expression="system")
        code, system = coding["code"], coding.get("system") or data.get("system")
        version = coding.get("version") or data.get("version")
    else:
        code, system, version = data["code"], data.get("system"), data.get("version")
    check_code(code, "coding.code" if coding is not None else "code")
    if system and "|" in system:  # a canonical with its version: url|version
        system, _, pinned = system.partition("|")
        version = version or pinned or None
    if not system and instance_id is None:
        raise InvalidRequest(
            "A system is required to look up a code (give system, or coding with a system)",
            expression="system",
        )
    return LookupRequest(
        code=code,
        system=system,
        version=version,
        date=normalise_date(data.get("date")),
        display_language=data.get("displayLanguage"),
        properties=tuple(data.get("property", ())),
        instance_id=instance_id,
        supplements=tuple(data.get("useSupplement", ())),
    )


class ValidateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String()
    system = fields.String()
    code = fields.String()
    version = fields.String()
    systemVersion = fields.String()
    display = fields.String()
    coding = fields.Nested(CodingSchema)
    codeableConcept = fields.Nested(CodeableConceptSchema)
    date = fields.String()
    displayLanguage = fields.String()
    mode = fields.String()
    abstract = _BOOLEAN
    inferSystem = _BOOLEAN
    activeOnly = _BOOLEAN
    default_valueset_version = fields.List(fields.String(), data_key="default-valueset-version")
    membership_only = fields.Boolean(data_key="valueset-membership-only",
                                     truthy={"true", True}, falsy={"false", False})
    useSupplement = fields.List(fields.String())
    valueSet = fields.Dict()
    valueSetVersion = fields.String()
    system_version = fields.List(fields.String(), data_key="system-version")
    force_system_version = fields.List(fields.String(), data_key="force-system-version")
    check_system_version = fields.List(fields.String(), data_key="check-system-version")
    lenient_display = fields.Boolean(data_key="lenient-display-validation",
                                     truthy={"true", True}, falsy={"false", False})

    @validates_schema
    def _one_subject(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("code", "coding", "codeableConcept") if k in data]
        if len(given) > 1:
            raise ValidationError(f"give only one of code, coding or codeableConcept, not "
                                  f"{' and '.join(given)}", given[1])



_VALIDATE = ValidateSchema()


def _one_subject(data: dict[str, Any]) -> bool:
    """ValidateSchema._one_subject passes."""
    return sum(k in data for k in ("code", "coding", "codeableConcept")) <= 1


_VALIDATE_REPEATING = {"system-version", "force-system-version", "check-system-version",
                       "useSupplement", "default-valueset-version"}


def validate_request(flat: dict[str, list[Any]], instance_id: str | None = None,
                     valueset: bool = False) -> ValidateRequest:
    """CodeSystem/$validate-code, or with `valueset` ValueSet/$validate-code (where `url` is
    the value set's and `system` the code system's)."""
    data = _load(_VALIDATE, flat, _VALIDATE_REPEATING, _one_subject)
    if not any(k in data for k in ("code", "coding", "codeableConcept")):
        raise InvalidRequest("Unable to find code to validate (looked for coding | "
                             "codeableConcept | code+system | code+inferSystem in parameters")
    if valueset:
        return _valueset_validate_request(data, instance_id)
    url = data.get("url") or data.get("system")
    if data.get("url") and data.get("system") and data["url"] != data["system"]:
        raise InvalidRequest("The url and system parameters differ", expression="system")
    if url and "|" in url:  # a canonical with its version: url|version
        url, _, pinned = url.partition("|")
        data["version"] = data.get("version") or pinned or None
    if "code" in data:
        if not url and instance_id is None:
            raise InvalidRequest("A url (the code system) is required with code",
                                 expression="url")
        codings: tuple[Coding, ...] = (Coding(system=url, code=data["code"],
                                              version=data.get("version"),
                                              display=data.get("display")),)
        source = "code"
    elif "coding" in data:
        c = data["coding"]
        codings = (Coding(c.get("system"), c.get("code"), c.get("version"), c.get("display")),)
        source = "coding"
    else:
        cc = data["codeableConcept"]["coding"]
        if not cc:
            raise InvalidRequest("The codeableConcept has no coding to validate",
                                 expression="codeableConcept.coding")
        codings = tuple(Coding(c.get("system"), c.get("code"), c.get("version"),
                               c.get("display")) for c in cc)
        source = "codeableConcept"
    lenient = data.get("mode") == "lenient-display-validation" or bool(data.get("lenient_display"))
    data["_supplements"] = tuple(data.get("useSupplement", ()))
    for coding in codings:
        check_code(coding.code, "code" if source == "code" else f"{source}.code")
    return ValidateRequest(
        **_versions(data),
        supplements=data["_supplements"],
        original=data.get("codeableConcept"),
        codings=codings,
        source=source,
        url=url,
        version=data.get("version"),
        date=normalise_date(data.get("date")),
        display_language=data.get("displayLanguage"),
        lenient_display=lenient,
        instance_id=instance_id,
    )


class FhirInteger(fields.Integer):
    """A FHIR integer, which is written in ASCII digits: int() also reads '٣' as 3."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and not value.isascii():
            raise self.make_error("invalid")
        return super()._validated(value)


# a FHIR integer is 32 bits (https://hl7.org/fhir/R4/datatypes.html#integer)
_INTEGER = FhirInteger(strict=False, validate=validate.Range(max=2**31 - 1))


class ExpandSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String()
    valueSet = fields.Dict()
    valueSetVersion = fields.String()
    filter = fields.String()
    offset = _INTEGER
    count = _INTEGER
    activeOnly = _BOOLEAN
    excludeNested = _BOOLEAN
    includeDesignations = _BOOLEAN
    includeDefinition = _BOOLEAN
    excludeNotForUI = _BOOLEAN
    excludePostCoordinated = _BOOLEAN
    designation = fields.List(fields.String())
    property = fields.List(fields.String())
    displayLanguage = fields.String()
    date = fields.String()
    system_version = fields.List(fields.String(), data_key="system-version")
    force_system_version = fields.List(fields.String(), data_key="force-system-version")
    check_system_version = fields.List(fields.String(), data_key="check-system-version")
    useSupplement = fields.List(fields.String())
    default_valueset_version = fields.List(fields.String(), data_key="default-valueset-version")
    versionsMatch = _BOOLEAN


_EXPAND = ExpandSchema()
_EXPAND_REPEATING = {"designation", "property", "system-version", "force-system-version",
                     "check-system-version", "tx-resource", "useSupplement",
                     "default-valueset-version"}
# Parameters echoed into expansion.parameter, with their FHIR types.
ECHOED = {
    "activeOnly": "valueBoolean", "excludeNested": "valueBoolean",
    "includeDesignations": "valueBoolean", "includeDefinition": "valueBoolean",
    "excludeNotForUI": "valueBoolean", "excludePostCoordinated": "valueBoolean",
    "count": "valueInteger", "offset": "valueInteger", "filter": "valueString",
    "displayLanguage": "valueCode", "designation": "valueString",
    "date": "valueDateTime", "system-version": "valueUri", "force-system-version": "valueUri",
    "check-system-version": "valueUri", "default-valueset-version": "valueUri",
}


def expand_request(flat: dict[str, list[Any]], instance_id: str | None,
                   limit: int) -> ExpandRequest:
    """The request; `limit`: the members an unpaged expansion may list (the server's)."""
    data = _load(_EXPAND, {k: v for k, v in flat.items() if k != "tx-resource"},
                 _EXPAND_REPEATING)
    echo = []
    for name, key in ECHOED.items():
        attribute = name.replace("-", "_")
        if attribute not in data and name not in data:
            continue
        value = data.get(attribute, data.get(name))
        for item in value if isinstance(value, list) else [value]:
            echo.append((name, key, item))
    return ExpandRequest(
        valueset=data.get("valueSet"),
        url=data.get("url"),
        valueset_version=data.get("valueSetVersion"),
        instance_id=instance_id,
        filter=data.get("filter"),
        offset=data.get("offset") or 0,
        count=data.get("count"),
        active_only=bool(data.get("activeOnly")),
        exclude_nested=data.get("excludeNested"),
        include_designations=bool(data.get("includeDesignations")),
        include_definition=bool(data.get("includeDefinition")),
        designations=tuple(data.get("designation", ())),
        properties=tuple(data.get("property", ())),
        display_language=data.get("displayLanguage"),
        date=normalise_date(data.get("date")),
        system_version=tuple(data.get("system_version", ())),
        force_system_version=tuple(data.get("force_system_version", ())),
        check_system_version=tuple(data.get("check_system_version", ())),
        echo=tuple(echo),
        supplements=tuple(data.get("useSupplement", ())),
        default_valueset_versions=tuple(data.get("default_valueset_version", ())),
        versions_match=data.get("versionsMatch"),
        limit=limit,
    )


def tx_resources(flat: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The `tx-resource` parameters: resources the request brings along."""
    resources = flat.get("tx-resource", [])
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict) or "resourceType" not in resource:
            raise InvalidRequest(f"tx-resource[{index}] must be a FHIR resource",
                                 expression="tx-resource")
    return resources


def _versions(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "system_version": tuple(data.get("system_version", ())),
        "force_system_version": tuple(data.get("force_system_version", ())),
        "check_system_version": tuple(data.get("check_system_version", ())),
    }


def _codings(data: dict[str, Any], system: str | None) -> tuple[tuple[Coding, ...], str]:
    if "code" in data:
        return (Coding(system=system, code=data["code"],
                       version=data.get("systemVersion") or data.get("version"),
                       display=data.get("display")),), "code"
    if "coding" in data:
        c = data["coding"]
        return (Coding(c.get("system"), c.get("code"), c.get("version"), c.get("display")),), \
            "coding"
    # A CodeableConcept with no coding (text only) is a result - nothing in the value set -
    # not a bad request
    cc = data["codeableConcept"].get("coding") or []
    return tuple(Coding(c.get("system"), c.get("code"), c.get("version"), c.get("display"))
                 for c in cc), "codeableConcept"


def _valueset_validate_request(data: dict[str, Any], instance_id: str | None) -> ValidateRequest:
    if not (data.get("url") or data.get("valueSet") or instance_id):
        raise InvalidRequest("A value set is required: give url or valueSet", expression="url")
    codings, source = _codings(data, data.get("system"))
    lenient = data.get("mode") == "lenient-display-validation" or bool(data.get("lenient_display"))
    return ValidateRequest(
        codings=codings,
        source=source,
        url=None,
        version=data.get("systemVersion"),
        date=normalise_date(data.get("date")),
        display_language=data.get("displayLanguage"),
        lenient_display=lenient,
        valueset=data.get("valueSet"),
        valueset_url=data.get("url"),
        valueset_version=data.get("valueSetVersion"),
        valueset_id=instance_id,
        original=data.get("codeableConcept"),
        allow_abstract=data.get("abstract", True) is not False,
        membership_only=bool(data.get("membership_only")),
        default_valueset_versions=tuple(data.get("default_valueset_version", ())),
        supplements=tuple(data.get("useSupplement", ())),
        infer_system=bool(data.get("inferSystem")),
        active_only=bool(data.get("activeOnly")),
        **_versions(data),
    )


class TranslateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String()
    conceptMapVersion = fields.String()
    system = fields.String()
    code = fields.String()
    version = fields.String()
    coding = fields.Nested(CodingSchema)
    codeableConcept = fields.Nested(CodeableConceptSchema)
    source = fields.String()
    target = fields.String()
    targetsystem = fields.String()
    reverse = _BOOLEAN
    sourceCode = fields.String()
    sourceSystem = fields.String()
    sourceVersion = fields.String()
    sourceCoding = fields.Nested(CodingSchema)
    sourceCodeableConcept = fields.Nested(CodeableConceptSchema)
    targetCode = fields.String()
    targetCoding = fields.Nested(CodingSchema)
    targetSystem = fields.String()
    sourceScope = fields.String()
    targetScope = fields.String()


_TRANSLATE = TranslateSchema()


def translate_request(flat: dict[str, list[Any]],
                      instance_id: str | None = None) -> TranslateRequest:
    data = _load(_TRANSLATE, flat, set())
    reverse = bool(data.get("reverse"))
    target_system = data.get("targetsystem") or data.get("targetSystem")
    coding: Coding | None = None
    if data.get("targetCode") or data.get("targetCoding"):
        reverse = True
        if data.get("targetCoding"):
            c = data["targetCoding"]
            coding = Coding(c.get("system"), c.get("code"), c.get("version"))
        else:
            coding = Coding(target_system, data["targetCode"])
        target_system = data.get("sourceSystem") or data.get("system")
    else:
        cc = data.get("codeableConcept") or data.get("sourceCodeableConcept")
        c = data.get("coding") or data.get("sourceCoding") or (
            cc["coding"][0] if cc and cc.get("coding") else None)
        if c is not None:
            coding = Coding(c.get("system"), c.get("code"), c.get("version"))
        elif data.get("code") or data.get("sourceCode"):
            coding = Coding(data.get("system") or data.get("sourceSystem"),
                            data.get("code") or data.get("sourceCode"),
                            data.get("version") or data.get("sourceVersion"))
    if coding is None or not coding.code:
        raise InvalidRequest("A code to translate is required: give sourceCode (or code) with "
                             "its system, a coding, or a codeableConcept", expression="code")
    return TranslateRequest(
        coding=coding,
        reverse=reverse,
        url=data.get("url"),
        map_version=data.get("conceptMapVersion"),
        target_system=target_system,
        source_scope=data.get("source") or data.get("sourceScope"),
        target_scope=data.get("target") or data.get("targetScope"),
        instance_id=instance_id,
    )


class SubsumesSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    codeA = fields.String()
    codeB = fields.String()
    system = fields.String()
    version = fields.String()
    codingA = fields.Nested(CodingSchema)
    codingB = fields.Nested(CodingSchema)


_SUBSUMES = SubsumesSchema()


def subsumes_request(flat: dict[str, list[Any]],
                     instance_id: str | None = None) -> SubsumesRequest:
    data = _load(_SUBSUMES, flat, set())
    codings, names = [], []
    for side in ("A", "B"):
        if data.get(f"coding{side}"):
            c = data[f"coding{side}"]
            codings.append(Coding(c.get("system"), c.get("code"), c.get("version")))
            names.append(f"coding{side}")
        elif data.get(f"code{side}"):
            codings.append(Coding(data.get("system"), data[f"code{side}"], data.get("version")))
            names.append(f"code{side}")
        else:
            raise InvalidRequest(f"code{side} (with system) or coding{side} is required",
                                 expression=f"code{side}")
    if not (data.get("system") or codings[0].system or instance_id):
        raise InvalidRequest("No system was provided to test subsumption in: give system with "
                             "codeA and codeB, or a system in codingA and codingB",
                             expression="system", tx_issue_type="invalid-data",
                             message_id="SUBSUMPTION_NO_SYSTEM")
    return SubsumesRequest(codings[0], codings[1], data.get("system"), data.get("version"),
                           instance_id, names=(names[0], names[1]))
