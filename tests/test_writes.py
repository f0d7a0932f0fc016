"""Writes that need a key: PUT/POST/DELETE of CodeSystem, ValueSet and ConceptMap through the
FHIR REST API, accepted only with a bearer token that allows them (static tokens, or JWTs from
a configured issuer with SMART scopes); reads open unless a read token is set; every write
audited (terminology/web/auth.py, writes.py)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import CPT, LOOKUP, FhirClient, dump, fhir_fixture, param_dict
from cryptography.hazmat.primitives.asymmetric import rsa

import server
from terminology.store import Store
from terminology.store.snapshots import listing, verify
from terminology.web.layers import from_env

ADMIN = "admin-secret-token"
READER = "read-only-token"
ISSUER = "https://auth.example.org"
AUDIENCE = "https://tx.example.org/fhir"
VS_URL = "http://example.org/fhir/ValueSet/written"


def value_set(resource_id: str | None = "written", title: str = "Written") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ValueSet", "url": VS_URL, "version": "1", "name": "Written",
        "title": title, "status": "active",
        "compose": {"include": [{"system": CPT, "concept": [{"code": "99202"}]}]}}
    if resource_id is not None:
        resource["id"] = resource_id
    return resource


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(client: FhirClient, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None, content_type: str = "application/fhir+json"):
    data = None if body is None else json.dumps(body)
    return client.open(path, method=method, data=data, headers=headers or {},
                       content_type=content_type)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An issuer's signing key, its JWKS file, and a key nobody trusts."""
    tmp_path = tmp_path_factory.mktemp("issuer")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    return {"private": private, "jwks": jwks,
            "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048)}


def token(keys: dict[str, Any], scope: str, **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "backend-client", "scope": scope,
            "exp": int(time.time()) + 300, **claims}
    key = claims.pop("key", None) or keys["private"]
    body.pop("key", None)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def web(store_copy: Path, keys: dict[str, Any]) -> FhirClient:
    app = server.create_app({"DB": str(store_copy), "ADMIN_TOKENS": [ADMIN],
                             "JWT_ISSUER": ISSUER, "JWT_JWKS": str(keys["jwks"]),
                             "JWT_AUDIENCE": AUDIENCE})
    return FhirClient(app.test_client())


WRITES = [("POST", "/fhir/ValueSet"), ("PUT", "/fhir/ValueSet/written"),
          ("DELETE", "/fhir/ValueSet/written"), ("PUT", "/fhir/CodeSystem/cs"),
          ("POST", "/fhir/ConceptMap")]


@pytest.mark.parametrize("method, path", WRITES)
def test_a_write_without_a_credential_is_401_with_a_challenge(web, store_copy, method, path):
    before = dump(store_copy)
    response = send(web, method, path, value_set())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="txserver"'
    assert response.fhir["issue"][0]["code"] == "login"
    assert dump(store_copy) == before


@pytest.mark.parametrize("authorization", [f"Bearer {ADMIN}x", "Bearer ", f"Basic {ADMIN}",
                                           "Bearer not.a.jwt"])
def test_a_bad_credential_is_401_invalid_token(web, authorization):
    response = send(web, "PUT", "/fhir/ValueSet/written", value_set(),
                    {"Authorization": authorization})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_in_the_query_string_is_refused_even_for_reads(web, caplog):
    caplog.set_level(logging.INFO, logger="txserver.access")
    for method, path in (("PUT", f"/fhir/ValueSet/written?access_token={ADMIN}"),
                         ("GET", f"{LOOKUP}?system={CPT}&code=99202&access_token={ADMIN}")):
        response = send(web, method, path, value_set() if method == "PUT" else None)
        assert response.status_code == 400, method
        assert response.fhir["issue"][0]["code"] == "security"
        assert "Authorization: Bearer" in response.fhir["issue"][0]["details"]["text"]
    assert ADMIN not in caplog.text and "access_token=REDACTED" in caplog.text


def test_the_admin_token_creates_updates_and_deletes(web, store_copy):
    created = send(web, "POST", "/fhir/ValueSet", value_set("ignored-id"), bearer(ADMIN))
    assert created.status_code == 201, created.fhir
    resource_id = created.fhir["id"]
    assert resource_id != "ignored-id"  # FHIR create: the server chooses the id
    assert created.headers["Location"].endswith(f"/fhir/ValueSet/{resource_id}")
    read = web.get(f"/fhir/ValueSet/{resource_id}")
    assert read.status_code == 200 and read.fhir["title"] == "Written"
    expanded = web.get(f"/fhir/ValueSet/{resource_id}/$expand")
    assert [c["code"] for c in expanded.fhir["expansion"]["contains"]] == ["99202"]

    etag = web.get(f"/fhir/ValueSet/{resource_id}").headers["ETag"]
    updated = send(web, "PUT", f"/fhir/ValueSet/{resource_id}",
                   value_set(resource_id, title="Rewritten"), bearer(ADMIN))
    assert updated.status_code == 200 and updated.fhir["title"] == "Rewritten"
    again = web.get(f"/fhir/ValueSet/{resource_id}", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.fhir["title"] == "Rewritten"

    fresh = {**value_set("other-vs"), "url": "http://example.org/fhir/ValueSet/other"}
    assert send(web, "PUT", "/fhir/ValueSet/other-vs", fresh, bearer(ADMIN)).status_code == 201

    deleted = send(web, "DELETE", f"/fhir/ValueSet/{resource_id}", None, bearer(ADMIN))
    assert deleted.status_code == 200
    assert deleted.fhir["issue"][0]["severity"] == "information"
    assert web.get(f"/fhir/ValueSet/{resource_id}").status_code == 404
    generation = Store(store_copy).generation()
    gone = send(web, "DELETE", f"/fhir/ValueSet/{resource_id}", None, bearer(ADMIN))
    assert gone.status_code == 404
    assert Store(store_copy).generation() == generation  # nothing changed, ETags kept


def test_a_code_system_and_a_concept_map_written_are_served(web):
    cs = fhir_fixture("codesystem-body-site.json")
    assert send(web, "PUT", f"/fhir/CodeSystem/{cs['id']}", cs, bearer(ADMIN)).status_code == 201
    looked = web.get(LOOKUP, query_string={"system": cs["url"], "code": "left-hand"})
    assert param_dict(looked.fhir)["display"] == ["Left hand"]
    cm = fhir_fixture("conceptmap-body-site-to-legacy.json")
    assert send(web, "PUT", f"/fhir/ConceptMap/{cm['id']}", cm, bearer(ADMIN)).status_code == 201
    translated = web.get("/fhir/ConceptMap/$translate", query_string={
        "url": cm["url"], "system": cs["url"], "code": "left-hand"})
    assert param_dict(translated.fhir)["result"] == [True]
    assert send(web, "DELETE", f"/fhir/CodeSystem/{cs['id']}", None,
                bearer(ADMIN)).status_code == 200
    assert web.get(LOOKUP, query_string={"system": cs["url"], "code": "left-hand"}
                   ).status_code == 404


@pytest.mark.parametrize("change, status", [
    (lambda vs: vs.update(id="another"), 400),              # the body's id is not the URL's
    (lambda vs: vs.update(resourceType="CodeSystem"), 400),  # not the type of the URL
    (lambda vs: vs.update(experimental="maybe"), 400),       # not valid FHIR
    (lambda vs: vs.pop("url"), 400),                         # no url: cannot be referenced
])
def test_a_bad_resource_changes_nothing(web, store_copy, change, status):
    before = dump(store_copy)
    resource = value_set()
    change(resource)
    response = send(web, "PUT", "/fhir/ValueSet/written", resource, bearer(ADMIN))
    assert response.status_code == status, response.fhir
    assert dump(store_copy) == before


def test_an_id_held_by_another_url_is_a_conflict(web, store_copy):
    before = dump(store_copy)
    clash = {"resourceType": "CodeSystem", "id": "cpt-2026", "url": "http://example.org/cs",
             "version": "1", "status": "active", "content": "complete",
             "concept": [{"code": "a", "display": "A"}]}
    response = send(web, "PUT", "/fhir/CodeSystem/cpt-2026", clash, bearer(ADMIN))
    assert response.status_code == 409 and response.fhir["issue"][0]["code"] == "conflict"
    assert "already taken" in response.fhir["issue"][0]["details"]["text"]
    assert dump(store_copy) == before


def test_only_fhir_json_is_taken(web):
    response = send(web, "PUT", "/fhir/ValueSet/written", value_set(), bearer(ADMIN),
                    content_type="text/plain")
    assert response.status_code == 415


def test_jwt_scopes_decide(web, keys):
    write_vs = token(keys, "system/ValueSet.write")
    assert send(web, "PUT", "/fhir/ValueSet/written", value_set(),
                bearer(write_vs)).status_code == 201
    denied = send(web, "PUT", "/fhir/CodeSystem/cs", fhir_fixture("codesystem-body-site.json"),
                  bearer(write_vs))
    assert denied.status_code == 403 and denied.fhir["issue"][0]["code"] == "forbidden"
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
    assert 'scope="system/CodeSystem.write"' in denied.headers["WWW-Authenticate"]
    v2 = token(keys, "system/CodeSystem.cud")  # SMART v2
    cs = {**fhir_fixture("codesystem-body-site.json"), "id": "cs"}
    assert send(web, "PUT", "/fhir/CodeSystem/cs", cs, bearer(v2)).status_code == 201
    reader = token(keys, "system/*.read system/CodeSystem.rs")
    assert send(web, "DELETE", "/fhir/CodeSystem/cs", None, bearer(reader)).status_code == 403
    create_only = token(keys, "system/ValueSet.c")
    assert send(web, "DELETE", "/fhir/ValueSet/written", None,
                bearer(create_only)).status_code == 403
    assert send(web, "DELETE", "/fhir/ValueSet/written", None,
                bearer(token(keys, "system/*.*"))).status_code == 200


@pytest.mark.parametrize("claims", [
    {"exp": int(time.time()) - 3600},           # expired
    {"iss": "https://someone-else.example"},    # another issuer
    {"aud": "https://another-server.example"},  # for another server
    {"key": "stranger"},                        # signed by a key the issuer does not have
])
def test_a_jwt_not_from_the_issuer_for_us_now_is_401(web, keys, claims):
    if claims.get("key") == "stranger":
        claims = {"key": keys["stranger"]}
    response = send(web, "PUT", "/fhir/ValueSet/written", value_set(),
                    bearer(token(keys, "system/*.write", **claims)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_reads_are_closed_by_a_read_token(store_copy):
    app = server.create_app({"DB": str(store_copy), "ADMIN_TOKENS": [ADMIN],
                             "READ_TOKENS": [READER]})
    web = FhirClient(app.test_client())
    path = f"{LOOKUP}?system={CPT}&code=99202"
    allowed = web.get(path, headers=bearer(READER))  # now an answer is in the cache
    assert allowed.status_code == 200
    refused = web.get(path)
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
    etag = allowed.headers["ETag"]
    assert web.get(path, headers={"If-None-Match": etag}).status_code == 401
    assert web.get(path, headers=bearer(ADMIN)).status_code == 200
    assert web.get("/fhir/metadata", headers=bearer("wrong")).status_code == 401
    assert app.test_client().get("/healthz").status_code == 200
    assert app.test_client().get("/", headers={"Accept": "text/html"}).status_code == 401
    # a read token cannot write
    denied = send(web, "PUT", "/fhir/ValueSet/written", value_set(), bearer(READER))
    assert denied.status_code == 403


def test_reads_stay_open_whatever_authorization_a_client_sends(web):
    path = f"{LOOKUP}?system={CPT}&code=99202"
    assert web.get(path).status_code == 200
    assert web.get(path, headers=bearer("meant-for-another-server")).status_code == 200


def test_tokens_come_from_the_environment_and_token_files(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# one a line\nfirst-token\n\n  second-token  \n")
    config = from_env({"TX_ADMIN_TOKEN": "env-token", "TX_ADMIN_TOKEN_FILE": str(tokens),
                       "TX_READ_TOKEN": "reader"})
    assert config["ADMIN_TOKENS"] == ["env-token", "first-token", "second-token"]
    assert config["READ_TOKENS"] == ["reader"]
    with pytest.raises(ValueError, match="TX_JWT_JWKS"):
        from_env({"TX_JWT_ISSUER": ISSUER})


def test_no_writes_at_all_without_any_credential_configured(store_copy):
    web = FhirClient(server.create_app({"DB": str(store_copy)}).test_client())
    response = send(web, "PUT", "/fhir/ValueSet/written", value_set(), bearer("guess"))
    assert response.status_code == 401
    plain = send(web, "PUT", "/fhir/ValueSet/written", value_set())
    assert "no TX_ADMIN_TOKEN" in plain.fhir["issue"][0]["details"]["text"]


def test_every_write_is_audited_without_its_token(web, keys, caplog):
    caplog.set_level(logging.INFO, logger="txserver.audit")
    send(web, "PUT", "/fhir/ValueSet/written", value_set(), bearer(ADMIN))
    send(web, "PUT", "/fhir/ValueSet/written", {**value_set(), "experimental": "maybe"},
         bearer(ADMIN))
    send(web, "DELETE", "/fhir/ValueSet/written", None)
    send(web, "DELETE", "/fhir/ValueSet/written", None,
         bearer(token(keys, "system/ValueSet.read")))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "txserver.audit"]
    assert [(line["method"], line["status"]) for line in lines] == [
        ("PUT", 201), ("PUT", 400), ("DELETE", 401), ("DELETE", 403)]
    assert lines[0]["who"].startswith("token:") and lines[0]["id"] == "written"
    assert lines[0]["kind"] == "ValueSet" and lines[0]["action"] == "update"
    assert "not valid FHIR" in lines[1]["reason"]
    assert lines[3]["who"] == "jwt:backend-client"
    assert ADMIN not in caplog.text


def test_the_writer_publishes_a_snapshot_after_a_write(store_copy, tmp_path):
    out = tmp_path / "published"
    app = server.create_app({"DB": str(store_copy), "ADMIN_TOKENS": [ADMIN],
                             "SNAPSHOT_PUBLISH": str(out)})
    web = FhirClient(app.test_client())
    assert send(web, "PUT", "/fhir/ValueSet/written", value_set(),
                bearer(ADMIN)).status_code == 201
    assert app.extensions["snapshot_publisher"].wait(30)
    (snapshot,), _ = listing(out)
    verify(snapshot)
    assert snapshot.manifest["generation"] == Store(store_copy).generation()
    assert snapshot.manifest["value_sets"] == len(Store(store_copy).value_sets())
