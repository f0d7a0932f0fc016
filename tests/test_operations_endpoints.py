"""What a person running replicas needs: /healthz, /readyz, Prometheus metrics at /metrics, an
access log in a standard format; and the headers browsers need (CSP, nosniff, Referrer-Policy,
CORS) (terminology/web/health.py, metrics.py, access_log.py, browser.py)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from conftest import CPT, LOOKUP

import server
from terminology.store import Store

ADMIN = "admin-secret-token"


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


def test_health_and_readiness(store_copy):
    web = server.create_app({"DB": str(store_copy)}).test_client()
    assert web.get("/healthz").get_json() == {"status": "live"}
    ready = web.get("/readyz")
    version = Store(store_copy).version()
    assert ready.status_code == 200 and ready.headers["Cache-Control"] == "no-store"
    assert ready.get_json() == {"status": "ready", "version": version.id,
                                "generation": version.generation,
                                "committed": version.committed_at, "snapshot": None}


def test_not_ready_when_the_store_cannot_be_read(store_copy):
    web = server.create_app({"DB": str(store_copy)}).test_client()
    store_copy.write_bytes(b"this is not a database")
    assert web.get("/readyz").status_code == 503
    assert web.get("/healthz").status_code == 200


def test_metrics_count_requests_latency_cache_and_writes(store_copy):
    web = server.create_app({"DB": str(store_copy), "ADMIN_TOKENS": [ADMIN]}).test_client()
    before = web.get("/metrics").get_data(as_text=True)
    path = f"{LOOKUP}?system={CPT}&code=99202"
    first = web.get(path)
    web.get(path)
    web.get(path, headers={"If-None-Match": first.headers["ETag"]})
    web.get(f"{LOOKUP}?system={CPT}&code=00000")
    web.put("/fhir/ValueSet/m", headers={"Authorization": f"Bearer {ADMIN}"}, json={
        "resourceType": "ValueSet", "id": "m", "url": "http://example.org/vs/m",
        "status": "active"})
    web.get("/fhir/metadata")  # served from the new generation
    response = web.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.get_data(as_text=True)

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    lookup = "CodeSystem/$lookup"
    assert grew("txserver_requests_total", operation=lookup, status="200") == 2
    assert grew("txserver_requests_total", operation=lookup, status="304") == 1
    assert grew("txserver_requests_total", operation=lookup, status="404") == 1
    assert grew("txserver_requests_total", operation="ValueSet/update", status="201") == 1
    assert grew("txserver_request_seconds_count", operation=lookup) == 4
    assert grew("txserver_request_seconds_bucket", operation=lookup, le="+Inf") == 4
    assert grew("txserver_answer_cache_total", result="hit") == 1
    assert grew("txserver_answer_cache_total", result="not_modified") == 1
    assert grew("txserver_answer_cache_total", result="miss") == 3  # 99202, 00000, metadata
    assert grew("txserver_import_seconds_count", kind="api-ValueSet") == 1
    version = Store(store_copy).version()
    assert metric(after, "txserver_snapshot", version=version.id) == 1
    assert metric(after, "txserver_store_generation") == version.generation
    assert "_created" not in after


def test_operation_names_are_bounded(store_copy):
    web = server.create_app({"DB": str(store_copy)}).test_client()
    for path in ("/fhir/Made-Up-Type-1", "/fhir/CodeSystem/x/$made-up", "/nowhere/at/all",
                 "/fhir/CodeSystem/cpt-2026", "/fhir/CodeSystem", "/fhir/metadata"):
        web.get(path)
    text = web.get("/metrics").get_data(as_text=True)
    names = set(re.findall(r'txserver_requests_total\{operation="([^"]+)"', text))
    assert {"fhir/other", "page", "CodeSystem/read", "CodeSystem/search", "metadata"} <= names
    assert not any("Made-Up" in n or "made-up" in n for n in names)


@pytest.mark.parametrize("fmt, pattern", [
    ("combined", r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                 r'"GET /fhir/CodeSystem/\$lookup\?system=http://www\.ama-assn\.org/go/cpt&'
                 r'code=99202 HTTP/1\.1" 200 \d+ "https://ehr\.example/x" "test-agent/1\.0"$'),
    ("common", r'^127\.0\.0\.1 - - \[[^]]+\] "GET /fhir/CodeSystem/\$lookup\?system=http://'
               r'www\.ama-assn\.org/go/cpt&code=99202 HTTP/1\.1" 200 \d+$'),
])
def test_the_access_log_is_in_a_standard_format(store_copy, caplog, fmt, pattern):
    caplog.set_level(logging.INFO, logger="txserver.access")
    web = server.create_app({"DB": str(store_copy), "ACCESS_LOG": fmt}).test_client()
    web.get(f"{LOOKUP}?system={CPT}&code=99202",
            headers={"Referer": "https://ehr.example/x", "User-Agent": "test-agent/1.0"})
    (line,) = [r.getMessage() for r in caplog.records if r.name == "txserver.access"]
    assert re.match(pattern, line), line


def test_the_access_log_as_json_and_off(store_copy, caplog):
    caplog.set_level(logging.INFO, logger="txserver.access")
    web = server.create_app({"DB": str(store_copy), "ACCESS_LOG": "json"}).test_client()
    web.get("/fhir/metadata", headers={"Authorization": "Bearer x"})
    (line,) = [r.getMessage() for r in caplog.records if r.name == "txserver.access"]
    entry = json.loads(line)
    assert entry["method"] == "GET" and entry["target"] == "/fhir/metadata"
    assert entry["status"] == 200 and entry["bytes"] > 0 and entry["ms"] >= 0
    caplog.clear()
    quiet = server.create_app({"DB": str(store_copy), "ACCESS_LOG": "off"}).test_client()
    quiet.get("/fhir/metadata")
    assert not [r for r in caplog.records if r.name == "txserver.access"]


def test_the_access_log_cannot_be_forged_and_names_the_forwarded_client(store_copy, caplog):
    caplog.set_level(logging.INFO, logger="txserver.access")
    app = server.create_app({"DB": str(store_copy), "TRUSTED_PROXIES": ("10.0.0.1",)})
    web = app.test_client()
    web.get("/fhir/metadata", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"},
            environ_base={"REMOTE_ADDR": "10.0.0.1",  # as a server might pass it on
                          "HTTP_USER_AGENT": 'x" 200 1 "\n127.0.0.1 - - forged'})
    web.get("/fhir/metadata", headers={"X-Forwarded-For": "203.0.113.9"},
            environ_base={"REMOTE_ADDR": "192.0.2.1"})  # not a trusted proxy: ignored
    proxied, direct = [r.getMessage() for r in caplog.records if r.name == "txserver.access"]
    assert "\n" not in proxied and '\\x22 200 1 \\x22\\x0a127' in proxied
    assert proxied.startswith("203.0.113.9 ") and direct.startswith("192.0.2.1 ")


def test_pages_send_a_content_security_policy_and_the_api_nosniff(store_copy):
    web = server.create_app({"DB": str(store_copy)}).test_client()
    for path in ("/", "/search?q=office", "/no-such-page"):
        page = web.get(path, headers={"Accept": "text/html"})
        assert page.headers["Content-Type"].startswith("text/html"), path
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script>" not in page.get_data(as_text=True)  # nothing inline to allow
    api = web.get(f"{LOOKUP}?system={CPT}&code=99202")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in api.headers


def test_cors_lets_any_origin_read_the_api_by_default(store_copy):
    web = server.create_app({"DB": str(store_copy)}).test_client()
    origin = {"Origin": "https://app.example"}
    read = web.get(f"{LOOKUP}?system={CPT}&code=99202", headers=origin)
    assert read.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in read.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in read.headers
    cached = web.get(f"{LOOKUP}?system={CPT}&code=99202", headers=origin)  # from the cache
    assert cached.headers["Access-Control-Allow-Origin"] == "*"
    preflight = web.options(LOOKUP, headers={**origin, "Access-Control-Request-Method": "GET",
                                             "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    post = web.options(LOOKUP, headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in post.headers  # only GET by default
    page = web.get("/", headers={**origin, "Accept": "text/html"})
    assert "Access-Control-Allow-Origin" not in page.headers  # the API only


def test_cors_can_name_origins_and_methods_or_be_off(store_copy):
    named = server.create_app({"DB": str(store_copy), "CORS_ORIGINS": "https://a.example",
                               "CORS_METHODS": "GET, POST"}).test_client()
    path = f"{LOOKUP}?system={CPT}&code=99202"
    allowed = named.get(path, headers={"Origin": "https://a.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "Origin" in allowed.headers.getlist("Vary")
    assert "Access-Control-Allow-Origin" not in named.get(
        path, headers={"Origin": "https://b.example"}).headers
    preflight = named.options(LOOKUP, headers={"Origin": "https://a.example",
                                               "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.example"
    off = server.create_app({"DB": str(store_copy), "CORS_ORIGINS": ""}).test_client()
    assert "Access-Control-Allow-Origin" not in off.get(
        path, headers={"Origin": "https://a.example"}).headers
