"""A seeded fuzz of every route: GET queries, form posts, Parameters bodies, inline resources of
wrong types, deep nesting, huge numbers and stray bytes. Whatever is sent, the answer is never a
5xx, and every error from the FHIR API is an OperationOutcome. (bench/soak.py runs the same
generator for 30,000+ requests against a live server.)"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CPT = "http://www.ama-assn.org/go/cpt"
OPERATIONS = [
    "/fhir/CodeSystem/$lookup", "/fhir/CodeSystem/$validate-code", "/fhir/CodeSystem/$subsumes",
    "/fhir/ValueSet/$validate-code", "/fhir/ValueSet/$expand", "/fhir/ValueSet/$batch-validate-code",
    "/fhir/ConceptMap/$translate", "/fhir/CodeSystem/cpt-2026/$lookup",
    "/fhir/ValueSet/cpt-all/$expand", "/fhir/ValueSet/all-codes/$expand", "/fhir/$versions",
]
READS = [
    "/fhir/metadata", "/fhir/CodeSystem", "/fhir/ValueSet", "/fhir/ConceptMap",
    "/fhir/CodeSystem/cpt-2026", "/fhir/ValueSet/cpt-base", "/fhir/ConceptMap/cms-ptp-practitioner",
]
VALIDATES = ["/fhir/Procedure/$validate", "/fhir/Claim/$validate", "/fhir/Bundle/$validate",
             "/fhir/ServiceRequest/$validate"]
PAGES = ["/", "/search", "/check", "/code/cpt/99213", "/code/icd10cm/E11.9"]
NAMES = [
    "system", "code", "version", "display", "url", "valueSet", "valueSetVersion", "coding",
    "codeableConcept", "codeA", "codeB", "codingA", "codingB", "filter", "count", "offset",
    "date", "displayLanguage", "property", "activeOnly", "excludeNested", "includeDesignations",
    "designation", "system-version", "force-system-version", "check-system-version",
    "useSupplement", "tx-resource", "inferSystem", "abstract", "mode", "target", "targetsystem",
    "reverse", "sourceCode", "validation", "_count", "_offset", "_summary", "_elements", "_format",
    "q", "order", "page", "default-valueset-version", "lenient-display-validation",
]
HUGE = ["4611686018427387904", "-1", "1e309", "100000000000000000000", "NaN", "0x10", ""]
TEXT = st.one_of(
    st.sampled_from(["99213", "99213:25", "64636", "E11.9", CPT, "http://hl7.org/fhir/sid/icd-10-cm",
                     "http://hl7.org/fhir/sid/icd-10-cm?fhir_vs", "true", "false", "*", ".*",
                     "((a+)+)+", "2026", "2026-13-45", "de-DE;q=x", "%00", "\u0000", "a" * 5000,
                     *HUGE]),
    st.text(max_size=30),
)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


DEEP_TEXT = b'{"resourceType":"Parameters","parameter":[' + b'{"a":[' * 1000 + b"1" + b"]}" * 1000 + b"]}"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["code", "system", "concept", "url", "include", "filter", "property",
                         "value", "resourceType", "parameter", "valueString", "coding"]),
        children, max_size=3),
    max_leaves=12,
) | st.sampled_from([_deep(60), _deep(120)])


def _resource(kind: str, damage: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "CodeSystem": {"resourceType": "CodeSystem", "url": "http://example.org/cs",
                       "status": "active", "content": "complete",
                       "concept": [{"code": "a", "display": "A", "concept": [{"code": "b"}]}]},
        "ValueSet": {"resourceType": "ValueSet", "url": "http://example.org/vs", "status": "active",
                     "compose": {"include": [{"system": "http://example.org/cs",
                                              "filter": [{"property": "concept", "op": "is-a",
                                                          "value": "a"}]}]}},
        "ConceptMap": {"resourceType": "ConceptMap", "url": "http://example.org/cm",
                       "status": "active", "group": [{"source": CPT, "element": [
                           {"code": "99213", "target": [{"code": "x", "equivalence": "equal"}]}]}]},
    }[kind]
    return {**base, **damage}


RESOURCES = st.builds(
    _resource, st.sampled_from(["CodeSystem", "ValueSet", "ConceptMap"]),
    st.dictionaries(st.sampled_from(["concept", "url", "property", "supplements", "compose",
                                     "group", "status", "content", "version", "id"]),
                    JSON, max_size=2))
VALUE = st.one_of(
    st.tuples(st.sampled_from(["valueString", "valueCode", "valueUri", "valueCanonical",
                               "valueBoolean", "valueInteger", "valueDateTime"]), JSON),
    st.tuples(st.just("valueCoding"), st.fixed_dictionaries(
        {"system": TEXT, "code": TEXT}, optional={"version": TEXT, "display": TEXT})),
    st.tuples(st.just("valueCodeableConcept"), st.fixed_dictionaries(
        {"coding": st.lists(st.fixed_dictionaries({"system": TEXT, "code": TEXT}), max_size=3)})),
    st.tuples(st.just("resource"), RESOURCES | JSON),
)
PARAMETER = st.builds(lambda name, value: {"name": name, value[0]: value[1]},
                      st.sampled_from(NAMES), VALUE)
def _plausible(kind: str, resource: dict[str, Any], extra: list[dict[str, Any]]) -> dict[str, Any]:
    """A request that reaches the engine: the parameters an operation needs, around a damaged
    inline resource (so the damage is met deep inside, not at the door)."""
    url = {"CodeSystem": "http://example.org/cs", "ValueSet": "http://example.org/vs",
           "ConceptMap": "http://example.org/cm"}[resource.get("resourceType", "CodeSystem")
                                                  if isinstance(resource.get("resourceType"), str)
                                                  and resource.get("resourceType") in (
                                                      "CodeSystem", "ValueSet", "ConceptMap")
                                                  else "CodeSystem"]
    needs = {
        "lookup": [{"name": "system", "valueUri": url}, {"name": "code", "valueCode": "a"}],
        "validate": [{"name": "url", "valueUri": url}, {"name": "code", "valueCode": "a"},
                     {"name": "system", "valueUri": "http://example.org/cs"}],
        "expand": [{"name": "url", "valueUri": url}],
        "inline": [{"name": "valueSet", "resource": resource}],
    }[kind]
    return {"resourceType": "Parameters",
            "parameter": needs + [{"name": "tx-resource", "resource": resource}] + extra}


PLAUSIBLE = st.builds(_plausible, st.sampled_from(["lookup", "validate", "expand", "inline"]),
                      RESOURCES, st.lists(PARAMETER, max_size=2))
PARAMETERS_BODY = st.one_of(
    PLAUSIBLE, PLAUSIBLE,
    st.builds(lambda p: {"resourceType": "Parameters", "parameter": p},
              st.lists(PARAMETER, max_size=5)),
    st.builds(lambda p: {"resourceType": "Parameters", "parameter": p}, JSON),
    JSON,
)
QUERY = st.lists(st.tuples(st.sampled_from(NAMES), TEXT), max_size=5)


def _check(response: Any, path: str) -> None:
    assert response.status_code < 500, (path, response.status_code, response.data[:500])
    if response.status_code >= 400 and path.startswith("/fhir"):
        body = orjson.loads(response.data)
        assert body["resourceType"] == "OperationOutcome", (path, body)


FUZZ = settings(max_examples=700, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@FUZZ
@given(path=st.sampled_from(OPERATIONS + READS + PAGES), query=QUERY)
def test_get_with_any_query(app, path, query):
    client = app.test_client()
    _check(client.get(path, query_string=query), path)


@FUZZ
@given(path=st.sampled_from(OPERATIONS + VALIDATES), body=PARAMETERS_BODY,
       kind=st.sampled_from(["application/fhir+json", "application/json", ""]))
def test_post_any_json(app, path, body, kind):
    client = app.test_client()
    data = json.dumps(body).encode() if not isinstance(body, str) else body.encode(
        "utf-8", "replace")  # json, not orjson: it writes integers past 64 bits
    _check(client.post(path, data=data, content_type=kind), path)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(OPERATIONS + VALIDATES + ["/check"]),
       data=st.binary(max_size=200) | st.sampled_from(
           [b"{", b"[]", b"null", b'{"resourceType":"Parameters","parameter":1}',
            b"\xff\xfe{}", DEEP_TEXT]),
       form=st.booleans())
def test_post_stray_bytes_and_forms(app, path, data, form):
    client = app.test_client()
    if form:
        response = client.post(path, data={"order": data.decode("latin-1"), "code": "99213"})
    else:
        response = client.post(path, data=data, content_type="application/fhir+json")
    _check(response, path)
