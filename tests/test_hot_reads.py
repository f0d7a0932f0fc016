"""The hot GETs answered before Flask (web/hot.py) get exactly the answer the Flask views give:
status, headers and body, for answers, refusals, bad formats, languages and limits; and what
the layer does not answer (POST, HEAD, a resource id, another path) reaches Flask unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import CPT
from werkzeug.test import EnvironBuilder

from server import create_app

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOOKUP = "/fhir/CodeSystem/$lookup"
CS_VALIDATE = "/fhir/CodeSystem/$validate-code"
VS_VALIDATE = "/fhir/ValueSet/$validate-code"
EXPAND = "/fhir/ValueSet/$expand"
CPT_ALL = "http://terminology.hl7.org/ValueSet/cpt-all"

REQUESTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    (LOOKUP, {"system": CPT, "code": "99202"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "property": ["designation", "inactive"]}, {}),
    (LOOKUP, {"system": CPT, "code": "99202:25"}, {}),
    (LOOKUP, {"system": CPT, "code": "00000"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "version": "1999"}, {}),
    (LOOKUP, {"system": "http://example.org/unknown", "code": "x"}, {}),
    (LOOKUP, {"code": "99202"}, {}),
    (LOOKUP, {"system": CPT}, {}),
    (LOOKUP, {"system": CPT, "code": ["99202", "99203"]}, {}),
    (LOOKUP, {"system": CPT, "code": " 99202"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "coding": "x"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "date": "2026-02"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "date": "yesterday"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202"}, {"Accept": "application/fhir+xml"}),
    (LOOKUP, {"system": CPT, "code": "99202", "_format": "xml"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "_format": "json"}, {"Accept": "*/*"}),
    (LOOKUP, {"system": CPT, "code": "99202"}, {"Accept-Language": "fr"}),
    (LOOKUP, {"system": CPT, "code": "99202", "displayLanguage": "x-bad!"}, {}),
    (LOOKUP, {"system": CPT, "code": "99202", "tx-resource": "not a resource"}, {}),
    (LOOKUP, {"system": f"{CPT}|2025", "code": "99202"}, {}),
    (CS_VALIDATE, {"url": CPT, "code": "99202"}, {}),
    (CS_VALIDATE, {"url": CPT, "code": "99202", "display": "wrong display"}, {}),
    (CS_VALIDATE, {"url": CPT, "code": "99202:25"}, {}),
    (CS_VALIDATE, {"url": CPT, "code": "nope"}, {}),
    (CS_VALIDATE, {"url": CPT, "code": "99202", "abstract": "maybe"}, {}),
    (CS_VALIDATE, {"url": CPT, "system": "http://other", "code": "99202"}, {}),
    (CS_VALIDATE, {"code": "99202"}, {}),
    (CS_VALIDATE, {"url": CPT}, {}),
    (VS_VALIDATE, {"url": "http://terminology.hl7.org/ValueSet/cpt-usable", "system": CPT,
                   "code": "99213:25"}, {}),
    (VS_VALIDATE, {"url": f"{CPT}?fhir_vs", "system": CPT, "code": "99202"}, {}),
    (VS_VALIDATE, {"url": "http://example.org/no-such-vs", "system": CPT, "code": "99202"}, {}),
    (VS_VALIDATE, {"system": CPT, "code": "99202"}, {}),
    (EXPAND, {"url": CPT_ALL, "filter": "facet joint", "count": "20"}, {}),
    (EXPAND, {"url": CPT_ALL, "count": "2", "offset": "1"}, {}),
    (EXPAND, {"url": CPT_ALL, "count": "-1"}, {}),
    (EXPAND, {"url": CPT_ALL, "count": "3"}, {"X-TOO-COSTLY-THRESHOLD": "2"}),
    (EXPAND, {"url": CPT_ALL}, {"X-TOO-COSTLY-THRESHOLD": "5"}),
    (EXPAND, {"url": "http://example.org/none"}, {}),
]

# each expansion has its own identifier and timestamp
_VOLATILE = re.compile(rb'"(identifier|timestamp)":"[^"]*"')


def _call(wsgi: Any, method: str, path: str, query: str, headers: dict[str, str],
          body: bytes | None = None) -> tuple[str, dict[str, str], bytes]:
    environ = EnvironBuilder(path=path, query_string=query, method=method, headers=headers,
                             data=body).get_environ()
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]],
                       exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    result = wsgi(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return seen["status"], seen["headers"], _VOLATILE.sub(rb'"\1":"-"', body)


@pytest.fixture(scope="module")
def hot_app(db_path):  # type: ignore[no-untyped-def]
    return create_app({"DB": str(db_path), "CACHE_BYTES": 0})


@pytest.fixture(scope="module")
def cached_apps(db_path):  # type: ignore[no-untyped-def]
    """Two apps with the answer cache, the second without the hot layer (all goes to Flask)."""
    hot, flask = (create_app({"DB": str(db_path), "CACHE_BYTES": 1 << 20}) for _ in range(2))
    flask.extensions["hot_reads"].answers = {}
    return hot, flask


def _through_flask(app: Any, *request: Any) -> tuple[str, dict[str, str], bytes]:
    """The answer of the same app with its hot layer stepping aside."""
    hot = app.extensions["hot_reads"]
    answers, hot.answers = hot.answers, {}
    try:
        return _call(app.wsgi_app, *request)
    finally:
        hot.answers = answers


@pytest.mark.parametrize(("path", "query", "headers"), REQUESTS,
                         ids=[f"{p.rsplit('/', 1)[1]}-{i}" for i, (p, _, _) in
                              enumerate(REQUESTS)])
def test_hot_answer_is_the_flask_answer(hot_app, path: str, query: dict[str, Any],
                                        headers: dict[str, str]) -> None:
    request = ("GET", path, urlencode(query, doseq=True), headers)
    assert _call(hot_app.wsgi_app, *request) == _through_flask(hot_app, *request)


@pytest.mark.parametrize(("path", "query", "headers"), REQUESTS,
                         ids=[f"{p.rsplit('/', 1)[1]}-{i}" for i, (p, _, _) in
                              enumerate(REQUESTS)])
def test_hot_answers_are_kept_as_flask_answers_are(cached_apps, path: str,
                                                   query: dict[str, Any],
                                                   headers: dict[str, str]) -> None:
    """The HTTP cache keeps what the hot layer answers exactly when it keeps Flask's answer
    (200s and the refusals that follow from the request), and serves it again."""
    request = ("GET", path, urlencode(query, doseq=True), headers)
    kept = []
    for app in cached_apps:
        cache = app.extensions["response_cache"]
        before = len(cache)
        status, _, body = _call(app.wsgi_app, *request)
        kept.append(len(cache) - before)
        again, _, body_again = _call(app.wsgi_app, *request)
        assert (again[:3], body_again) == (status[:3], body)  # (a kept answer's reason phrase
        # is the HTTP cache's own: `404 Not Found`)
    assert kept[0] == kept[1]


def _parameters(*items: tuple[str, str, Any]) -> bytes:
    return json.dumps({"resourceType": "Parameters", "parameter": [
        {"name": name, kind: value} for name, kind, value in items]}).encode()


CODE_SYSTEM = {"resourceType": "CodeSystem", "url": "http://example.org/cs", "version": "1",
               "status": "active", "content": "complete",
               "concept": [{"code": "a", "display": "Alpha"}]}
POSTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    (LOOKUP, "", _parameters(("system", "valueUri", CPT), ("code", "valueCode", "99202")), {}),
    (LOOKUP, "", _parameters(("coding", "valueCoding", {"system": CPT, "code": "99202"})), {}),
    (LOOKUP, "", _parameters(("coding", "valueCoding", {"system": CPT, "code": 5})), {}),
    (LOOKUP, "property=designation", _parameters(("system", "valueUri", CPT),
                                                 ("code", "valueCode", "99202")), {}),
    (LOOKUP, "_format=xml", _parameters(("system", "valueUri", CPT),
                                        ("code", "valueCode", "99202")), {}),
    (LOOKUP, "", b"{not json", {}),
    (LOOKUP, "", b'{"resourceType": "Patient"}', {}),
    (LOOKUP, "", b"[" * 150 + b"]" * 150, {}),
    (LOOKUP, "", _parameters(("system", "valueUri", CPT), ("code", "valueCode", "99202")),
     {"Content-Type": "application/x-www-form-urlencoded"}),
    (LOOKUP, "", _parameters(("system", "valueUri", CPT), ("code", "valueCode", "99202")),
     {"Accept-Language": "de", "Content-Type": "application/json; charset=utf-8"}),
    (CS_VALIDATE, "", _parameters(("coding", "valueCoding", {
        "system": CPT, "code": "99202", "display": "Wrong"})), {}),
    (CS_VALIDATE, "", _parameters(("url", "valueUri", "http://example.org/cs"),
                                  ("code", "valueCode", "a")) [:-2] + b', {"name": '
     b'"tx-resource", "resource": ' + json.dumps(CODE_SYSTEM).encode() + b"}]}", {}),
    (VS_VALIDATE, "", _parameters(("url", "valueUri", f"{CPT}?fhir_vs"), (
        "coding", "valueCoding", {"system": CPT, "code": "99202"})), {}),
    (VS_VALIDATE, "", _parameters(("code", "valueCode", "99202")), {}),
    (EXPAND, "", _parameters(("url", "valueUri", CPT_ALL), ("filter", "valueString", "facet"),
                             ("count", "valueInteger", 3)), {}),
]


@pytest.mark.parametrize(("path", "query", "body", "headers"), POSTS,
                         ids=[f"post-{p.rsplit('/', 1)[1]}-{i}" for i, (p, _, _, _) in
                              enumerate(POSTS)])
def test_hot_post_answer_is_the_flask_answer(hot_app, path: str, query: str, body: bytes,
                                             headers: dict[str, str]) -> None:
    request = ("POST", path, query, {"Content-Type": "application/fhir+json", **headers}, body)
    assert _call(hot_app.wsgi_app, *request) == _through_flask(hot_app, *request)


def test_the_layer_answers_the_hot_gets_itself(db_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app({"DB": str(db_path), "CACHE_BYTES": 0})
    hot = app.extensions["hot_reads"]
    reached: list[str] = []
    inner = hot.app

    def flask(environ: dict[str, Any], start_response: Any) -> Any:
        reached.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    hot.app = flask
    query = urlencode({"system": CPT, "code": "99202"})
    client = app.test_client()
    assert client.get(f"{LOOKUP}?{query}").status_code == 200
    assert client.get(f"{CS_VALIDATE}?url={CPT}&code=99202").status_code == 200
    assert reached == []
    posted = _parameters(("system", "valueUri", CPT), ("code", "valueCode", "99202"))
    assert client.post(LOOKUP, data=posted, content_type="application/fhir+json"
                       ).status_code == 200
    assert reached == []
    assert client.head(f"{LOOKUP}?{query}").status_code == 200
    assert client.post(LOOKUP, data={"system": CPT, "code": "99202"}).status_code == 200
    assert client.get("/fhir/CodeSystem/cpt-2026/$lookup?code=99202").status_code in (200, 404)
    assert client.get(f"{LOOKUP}/?{query}").status_code in (200, 308, 404)
    assert len(reached) == 4


def test_an_unexpected_error_is_a_500_outcome(db_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from terminology.web import api

    app = create_app({"DB": str(db_path), "CACHE_BYTES": 0})

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "lookup_answer", broken)
    response = app.test_client().get(f"{LOOKUP}?{urlencode({'system': CPT, 'code': '99202'})}")
    assert response.status_code == 500
    assert response.get_json()["issue"][0]["code"] == "exception"


@pytest.mark.parametrize("query", [
    "", "a=1", "a=1&a=2&b=", "a", "a&b=2", "&&a=1&", "=x", "a=%41%42", "a=b+c%2Bd",
    "sys=http%3A%2F%2Fhl7.org%2Ffhir%2Fsid%2Ficd-10-cm&code=E11.9", "a=%E2%82%AC", "a=%E2%82",
    "a=%zz%4", "a=%C3a", "%61=1", "a+b=c", "a=" + "%41" * 150, "d=Type%202%20diabetes",
])
def test_query_parameters_are_werkzeugs(query: str) -> None:
    from werkzeug.wrappers import Request

    from terminology.fhir.params import parameters_from_query
    from terminology.web.hot import query_parameters

    args = Request(EnvironBuilder(query_string=query).get_environ()).args
    assert query_parameters(query) == parameters_from_query(args)
    assert query_parameters(query) == parameters_from_query(args)  # remembered
