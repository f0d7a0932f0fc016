"""Shared fixtures: one real SQLite store built by the real importers, the Flask app over it,
and a test client that checks every response body against the FHIR R4B models.

The store holds the shipped CPT samples for 2025 and 2026 and the CMS add-on edit sample, imported
exactly as `txserver import` does. Nothing of the store is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from fhir.resources.R4B import get_fhir_model_class

import server
from codesystems.cpt import addons, loader
from terminology.store import Store

CPT = "http://www.ama-assn.org/go/cpt"
TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
LOOKUP = "/fhir/CodeSystem/$lookup"
VALIDATE = "/fhir/CodeSystem/$validate-code"

RESOURCE_TYPES = {
    "Parameters",
    "OperationOutcome",
    "Bundle",
    "CodeSystem",
    "ConceptMap",
    "CapabilityStatement",
    "TerminologyCapabilities",
    "ValueSet",  # $expand and ValueSet reads, as the engine grows them
}
# http://hl7.org/fhir/R4/valueset-issue-type.html and issue-severity
ISSUE_TYPES = {
    "invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
    "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
    "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
    "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
    "exception", "timeout", "incomplete", "throttled", "informational",
}
ISSUE_SEVERITIES = {"fatal", "error", "warning", "information"}


def _closing_open(self: FlaskClient, *args: Any, buffered: bool = True, **kwargs: Any) -> Any:
    return _FLASK_OPEN(self, *args, buffered=buffered, **kwargs)


# Every WSGI server closes each response once sent (PEP 3333), and the app frees its slot for
# expensive work then; Flask's test client closes a response only when it reads it buffered.
_FLASK_OPEN = FlaskClient.open
FlaskClient.open = _closing_open  # type: ignore[method-assign]


def require(available: bool, what: str) -> None:
    """Skip a test whose outside requirement is missing, saying so; in CI (`CI=true`) fail
    instead, so a run that never exercised it cannot pass."""
    if available:
        return
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{what}: required when CI is set", pytrace=False)
    pytest.skip(f"{what} (this would fail with CI=true)")


# -- validation of what the server emits ------------------------------------------------------


def _check_outcome(outcome: dict[str, Any]) -> None:
    issues = outcome.get("issue")
    assert isinstance(issues, list) and issues, "an OperationOutcome needs at least one issue"
    for issue in issues:
        assert issue.get("severity") in ISSUE_SEVERITIES, issue
        assert issue.get("code") in ISSUE_TYPES, issue


def _walk_contained(body: dict[str, Any]) -> None:
    """Checks the models leave to us (required codes from required bindings), recursively."""
    kind = body.get("resourceType")
    if kind == "OperationOutcome":
        _check_outcome(body)
    elif kind == "Parameters":
        stack = list(body.get("parameter", []))
        while stack:
            param = stack.pop()
            if isinstance(param.get("resource"), dict):
                _walk_contained(param["resource"])
            stack.extend(param.get("part", []))
    elif kind == "Bundle":
        for entry in body.get("entry", []):
            _walk_contained(entry["resource"])


def assert_valid_r4b(body: Any) -> Any:
    """Validate a response body against the fhir.resources R4B model of its resourceType."""
    assert isinstance(body, dict), f"a FHIR resource is a JSON object, not {type(body).__name__}"
    kind = body.get("resourceType")
    assert kind in RESOURCE_TYPES, f"unexpected resourceType {kind!r}"
    model = get_fhir_model_class(kind)
    model.model_validate(body)  # raises pydantic.ValidationError with the offending path
    _walk_contained(body)
    return body


# -- reading Parameters ----------------------------------------------------------------------


def _value(param: dict[str, Any]) -> Any:
    if "part" in param:
        return param_dict({"parameter": param["part"]})
    if "resource" in param:
        return param["resource"]
    keys = [k for k in param if k.startswith("value")]
    assert len(keys) == 1, f"parameter {param.get('name')!r} has {len(keys)} values"
    return param[keys[0]]


def param_dict(body: dict[str, Any]) -> dict[str, list[Any]]:
    """A Parameters resource -> {name: [value, ...]}; a parameter with parts -> a nested dict."""
    out: dict[str, list[Any]] = {}
    for param in body.get("parameter", []):
        out.setdefault(param["name"], []).append(_value(param))
    return out


def typed_properties(body: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """$lookup properties as (code, value[x] key, value), in order."""
    found = []
    for param in body.get("parameter", []):
        if param["name"] != "property":
            continue
        parts = {p["name"]: p for p in param["part"]}
        value = parts["value"]
        key = next(k for k in value if k.startswith("value"))
        found.append((parts["code"]["valueCode"], key, value[key]))
    return found


def properties(body: dict[str, Any]) -> dict[str, list[Any]]:
    """$lookup properties as {code: [value, ...]}."""
    out: dict[str, list[Any]] = {}
    for code, _, value in typed_properties(body):
        out.setdefault(code, []).append(value)
    return out


def designations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """$lookup designations as [{'language':…, 'use': Coding or None, 'value':…}]."""
    out = []
    for param in body.get("parameter", []):
        if param["name"] == "designation":
            parts = {p["name"]: p for p in param["part"]}
            out.append({
                "language": parts.get("language", {}).get("valueCode"),
                "use": parts.get("use", {}).get("valueCoding"),
                "value": parts["value"]["valueString"],
            })
    return out


def issues_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues of an OperationOutcome, or of the `issues` parameter of a Parameters."""
    if body["resourceType"] == "OperationOutcome":
        return body["issue"]
    outcomes = param_dict(body).get("issues", [])
    return [i for o in outcomes for i in o["issue"]]


def tx_types(issue: dict[str, Any]) -> list[str]:
    return [c["code"] for c in issue.get("details", {}).get("coding", [])
            if c.get("system") == TX_ISSUE_TYPE]


def message_ids(issue: dict[str, Any]) -> list[str]:
    return [e["valueString"] for e in issue.get("extension", []) if e.get("url") == MESSAGE_ID]


def outcome_text(body: dict[str, Any]) -> str:
    assert body["resourceType"] == "OperationOutcome", body
    return " ".join(i.get("details", {}).get("text", "") for i in body["issue"])


def parameters(*items: tuple[str, str, Any]) -> dict[str, Any]:
    """Build a Parameters body from (name, value[x] key, value) triples."""
    return {"resourceType": "Parameters",
            "parameter": [{"name": name, key: value} for name, key, value in items]}


# -- the store, the app, the client -------------------------------------------------------


def build_store(path: Path) -> Store:
    """A store holding the CPT samples (2025, 2026) and the CMS add-on sample, as the CLI does."""
    store = Store(path)
    store.create()
    for version in ("2025", "2026"):
        loader.import_release(store, loader.sample_folder(version), version)
    addons.import_edits(store, addons.SAMPLE_FILE, "sample")
    return store


def changed_2025(tmp_path: Path) -> Path:
    """The CPT 2025 sample with another descriptor for 99252 (`CHANGED ...`), in a folder."""
    folder = tmp_path / "2025-changed"
    shutil.copytree(loader.sample_folder("2025"), folder)
    longult = folder / "LONGULT.txt"
    longult.write_bytes(longult.read_bytes().replace(b"\n99252\t", b"\n99252\tCHANGED ", 1))
    return folder


@pytest.fixture(scope="session")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "tx.db"
    build_store(path)
    return path


@pytest.fixture
def store_copy(db_path: Path, tmp_path: Path) -> Path:
    """A copy of the session's store (CPT 2025, 2026, the add-on sample) to change freely."""
    path = tmp_path / "tx.db"
    shutil.copy(db_path, path)
    return path


@pytest.fixture(scope="session")
def app(db_path: Path):  # type: ignore[no-untyped-def]
    application = server.create_app({"DB": str(db_path), "TESTING": True})
    return application


class FhirClient:
    """A thin wrapper around Flask's test client: every response must be FHIR JSON that the
    R4B model of its resourceType accepts. The raw werkzeug response is returned, with the
    parsed body as `response.fhir`."""

    def __init__(self, client: Any) -> None:
        self.raw = client

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = self.raw.open(*args, **kwargs)
        content_type = response.headers.get("Content-Type", "")
        assert content_type.startswith("application/fhir+json"), (
            f"{response.status_code} {content_type!r}: {response.get_data(as_text=True)[:300]}"
        )
        body = json.loads(response.get_data(as_text=True))
        assert_valid_r4b(body)
        if response.status_code >= 400:
            assert body["resourceType"] == "OperationOutcome", body
        response.fhir = body
        return response

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="POST", **kwargs)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="PUT", **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="DELETE", **kwargs)

    def post_parameters(self, path: str, body: dict[str, Any], **kwargs: Any) -> Any:
        return self.post(path, data=json.dumps(body),
                         content_type="application/fhir+json", **kwargs)


@pytest.fixture
def client(app) -> FhirClient:  # type: ignore[no-untyped-def]
    return FhirClient(app.test_client())


# -- our own FHIR fixtures (tests/data/fhir), imported by `txserver import fhir` --------------

FHIR_DATA = Path(__file__).parent / "data" / "fhir"
BODY_SITE = "http://example.org/fhir/CodeSystem/body-site"
BODY_SITE_LAY = "http://example.org/fhir/CodeSystem/body-site-lay"
LEGACY_SITE = "http://example.org/fhir/CodeSystem/legacy-site"
BODY_SITE_MAP = "http://example.org/fhir/ConceptMap/body-site-to-legacy"
VS_BASE = "http://example.org/fhir/ValueSet/"
EXPAND = "/fhir/ValueSet/$expand"
VS_VALIDATE = "/fhir/ValueSet/$validate-code"


def fhir_fixture(name: str) -> dict[str, Any]:
    """One JSON file of tests/data/fhir, parsed afresh (callers may change it)."""
    return json.loads((FHIR_DATA / name).read_text(encoding="utf-8"))


def fixture_value_sets() -> dict[str, dict[str, Any]]:
    """The ValueSets of tests/data/fhir/bundle-valuesets.json by id."""
    bundle = fhir_fixture("bundle-valuesets.json")
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}


def build_fhir_store(path: Path) -> Store:
    """A store holding every resource of tests/data/fhir, imported as `txserver import fhir`."""
    from codesystems.fhir_json import loader as fhir_loader

    store = Store(path)
    store.create()
    fhir_loader.import_paths(store, [FHIR_DATA])
    return store


@pytest.fixture(scope="session")
def fhir_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fhir-store") / "tx.db"
    build_fhir_store(path)
    return path


@pytest.fixture(scope="session")
def fhir_app(fhir_db_path: Path):  # type: ignore[no-untyped-def]
    return server.create_app({"DB": str(fhir_db_path), "TESTING": True})


@pytest.fixture
def fhir_client(fhir_app) -> FhirClient:  # type: ignore[no-untyped-def]
    """A client over the store of tests/data/fhir (no CPT in it)."""
    return FhirClient(fhir_app.test_client())


def contains_tree(expansion: dict[str, Any]) -> list[Any]:
    """expansion.contains as [(code, [children...]), ...]: the shape of a nested expansion."""
    def walk(items: list[dict[str, Any]]) -> list[Any]:
        return [(i["code"], walk(i.get("contains", []))) for i in items]
    return walk(expansion.get("contains", []))


def expansion_codes(body: dict[str, Any]) -> list[str]:
    """Every code of a ValueSet's expansion, depth first, in order."""
    out: list[str] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            out.append(item["code"])
            walk(item.get("contains", []))

    walk(body["expansion"].get("contains", []))
    return out


def expansion_items(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every contains item of an expansion by code (nested ones included)."""
    out: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            out[item["code"]] = item
            walk(item.get("contains", []))

    walk(body["expansion"].get("contains", []))
    return out


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real `txserver serve` (fresh store, first-start import) shared by the HTTP tests.
    Under coverage it serves with gunicorn: granian answers on threads of its own (Rust), which
    Python 3.11's tracer never sees, so the conformance cases would count for nothing."""
    from live_server import measuring_coverage, running_server

    server = "gunicorn" if measuring_coverage() else "granian"
    with running_server(tmp_path_factory.mktemp("live"), server=server) as base:
        yield base


def dump(path: Path) -> list[str]:
    """Every row of the store, as SQL (the strongest 'nothing changed' there is)."""
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def client_for(path: Path) -> FhirClient:
    """A fresh app (fresh registry and caches) over the store at `path`."""
    return FhirClient(server.create_app({"DB": str(path)}).test_client())
