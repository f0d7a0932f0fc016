"""`txserver import package NAME[@VERSION]` and `serve --package`: FHIR packages by name from a
package registry (the npm registry protocol), cached as FHIR tools cache them, with their
dependencies, imported in one transaction with a summary.

The registry is a tiny HTTP server on 127.0.0.1 serving packages built here from our own
fixtures in tests/data/fhir; never a real registry.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import server
from codesystems.fhir_json import packages as fhir_packages
from conftest import (
    BODY_SITE,
    EXPAND,
    LOOKUP,
    VS_BASE,
    client_for,
    dump,
    expansion_codes,
    fhir_fixture,
    param_dict,
)
from terminology.store import Store

FIXTURES = ("codesystem-body-site.json", "codesystem-body-site-supplement.json",
            "codesystem-legacy-site.json", "conceptmap-body-site-to-legacy.json",
            "bundle-valuesets.json", "namingsystem-body-site.json")
DEP_CS = "http://example.org/fhir/CodeSystem/dep-colour"
OID = "urn:oid:2.999.1.1"


def tgz(members: dict[str, Any]) -> bytes:
    """A package tarball: JSON documents (or raw bytes) under their member names."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, document in members.items():
            data = document if isinstance(document, bytes) else json.dumps(document).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def manifest(name: str, version: str, dependencies: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "version": version, "fhirVersions": ["4.0.1"],
            "dependencies": dependencies}


def body_site_package(version: str = "1.0.0", extra: dict[str, Any] | None = None) -> bytes:
    members: dict[str, Any] = {
        "package/package.json": manifest("example.body-site", version, {
            "example.dep": "2.0.0", "hl7.fhir.r4.core": "4.0.1", "example.gone": "1.0.0"}),
        "package/StructureDefinition-note.json": {"resourceType": "StructureDefinition",
                                                  "url": "http://example.org/sd"},
        "package/other/validation-summary.json": {"errors": 0},
        "package/xml/note.sch": b"<schema/>",
        "package/ValueSet-pinned.json": {
            "resourceType": "ValueSet", "id": "pinned", "url": VS_BASE + "pinned",
            "status": "active", "compose": {"include": [
                {"system": BODY_SITE, "version": "0.5.0", "concept": [{"code": "head"}]},
                {"system": "http://snomed.info/sct", "concept": [{"code": "38266002"}]}]}},
    }
    for name in FIXTURES:
        members[f"package/{name}"] = fhir_fixture(name)
    members.update(extra or {})
    return tgz(members)


def dep_package() -> bytes:
    return tgz({
        "package/package.json": manifest("example.dep", "2.0.0",
                                         {"example.body-site": "0.9.0"}),
        "package/.index.json": {"index-version": 2, "files": [
            {"filename": "CodeSystem-dep-colour.json", "resourceType": "CodeSystem"},
            {"filename": "ImplementationGuide-dep.json", "resourceType": "ImplementationGuide"}]},
        "package/CodeSystem-dep-colour.json": {
            "resourceType": "CodeSystem", "id": "dep-colour", "url": DEP_CS, "version": "2.0.0",
            "status": "active", "content": "complete", "caseSensitive": True,
            "concept": [{"code": "red", "display": "Red"}, {"code": "blue", "display": "Blue"}]},
        # listed by the index as not terminology: not even parsed
        "package/ImplementationGuide-dep.json": b"not JSON at all",
    })


class Registry:
    """An npm-protocol package registry on 127.0.0.1: `GET /NAME` gives the package document,
    `GET /NAME/-/NAME-VERSION.tgz` the tarball. `requests` counts what it was asked."""

    def __init__(self) -> None:
        self.tarballs: dict[tuple[str, str], bytes] = {}
        self.requests: list[str] = []
        self.broken_digest = False
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                registry.requests.append(self.path)
                body = registry.answer(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def add(self, name: str, version: str, data: bytes) -> None:
        self.tarballs[(name, version)] = data

    def answer(self, path: str) -> bytes | None:
        name, _, rest = path.lstrip("/").partition("/")
        if rest:
            found = [data for (n, v), data in self.tarballs.items()
                     if n == name and rest == f"-/{n}-{v}.tgz"]
            return found[0] if found else None
        versions = {v: data for (n, v), data in self.tarballs.items() if n == name}
        if not versions:
            return None
        document = {"name": name, "dist-tags": {"latest": max(versions)}, "versions": {
            v: {"name": name, "version": v, "dist": {
                "tarball": f"{self.url}/{name}/-/{name}-{v}.tgz",
                "shasum": hashlib.sha1(data).hexdigest(),
                "integrity": "sha512-" + base64.b64encode(hashlib.sha512(
                    data + (b"x" if self.broken_digest else b"")).digest()).decode()}}
            for v, data in versions.items()}}
        return json.dumps(document).encode()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Registry]:
    monkeypatch.setenv("TX_PACKAGE_CACHE", str(tmp_path / "fhir-packages"))
    running = Registry()
    running.add("example.body-site", "1.0.0", body_site_package())
    running.add("example.dep", "2.0.0", dep_package())
    monkeypatch.setenv("TX_PACKAGE_REGISTRY", running.url)
    yield running
    running.stop()


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(server.main, list(args), catch_exceptions=False)


def test_import_package_by_name_fetches_caches_follows_and_summarises(registry, tmp_path):
    db = tmp_path / "tx.db"
    result = run("import", "package", "example.body-site@1.0.0", "--db", str(db))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "stored 4 CodeSystem, 10 ValueSet, 1 ConceptMap, 1 NamingSystem" in out
    assert "example.dep#2.0.0 (from " + registry.url in out
    assert "example.body-site#1.0.0 (from " + registry.url in out
    assert "NamingSystems: 1 read, 1 stored" in out
    # what the packages hold besides terminology resources is counted, never fatal
    assert "skipped 3 package manifest files (package.json, .index.json)" in out
    assert "skipped 1 StructureDefinition resources: not terminology resources" in out
    assert "skipped 1 ImplementationGuide resources: not terminology resources" in out
    assert "skipped 1 files in package/other/" in out and "skipped 1 files in package/xml/" in out
    # dependencies not imported, each with its reason
    assert "hl7.fhir.r4.core@4.0.1 (a dependency of example.body-site#1.0.0): the FHIR core" in out
    assert "example.gone@1.0.0 (a dependency of example.body-site#1.0.0): package " \
           "example.gone@1.0.0 could not be fetched" in out
    assert ("example.body-site@0.9.0 (a dependency of example.dep#2.0.0): "
            "example.body-site#1.0.0 is imported instead") in out
    # the value set pinning a version the store does not hold, and the unknown system
    assert "1 ValueSets pin (include.version) a code-system version the store does not hold" in out
    assert f"pinned pins {BODY_SITE}|0.5.0 (held: 1.0.0)" in out
    assert "include a code system the store does not hold (1 systems), most used: " \
           "http://snomed.info/sct (1)" in out
    # cached where FHIR tools cache packages
    cache = tmp_path / "fhir-packages"
    assert (cache / "example.body-site#1.0.0" / "package" / "package.json").is_file()
    assert (cache / "example.dep#2.0.0" / "package" / "CodeSystem-dep-colour.json").is_file()
    assert Store(db).packages() == [("example.body-site", "1.0.0"), ("example.dep", "2.0.0")]
    client = client_for(db)
    r = client.get(LOOKUP, query_string={"system": DEP_CS, "code": "red"})
    assert param_dict(r.fhir)["display"] == ["Red"]
    r = client.get(EXPAND, query_string={"url": VS_BASE + "body-site-left"})
    assert expansion_codes(r.fhir) == ["left-hand", "left-foot"]


def test_the_cached_package_is_used_without_the_network(registry, tmp_path):
    assert run("import", "package", "example.body-site@1.0.0", "--no-dependencies",
               "--db", str(tmp_path / "a.db")).exit_code == 0
    asked = len(registry.requests)
    registry.stop()  # the registry is gone
    result = run("import", "package", "example.body-site@1.0.0", "--no-dependencies",
                 "--db", str(tmp_path / "b.db"))
    assert result.exit_code == 0, result.output
    assert "example.body-site#1.0.0 (from the cache" in result.output
    assert len(registry.requests) == asked


def test_latest_version_and_the_next_registry(registry, tmp_path, monkeypatch):
    registry.add("example.body-site", "1.1.0", body_site_package("1.1.0"))
    nowhere = "http://127.0.0.1:9"  # refused: the next registry is asked
    monkeypatch.setenv("TX_PACKAGE_REGISTRY", f"{nowhere}, {registry.url}")
    result = run("import", "package", "example.body-site", "--no-dependencies",
                 "--db", str(tmp_path / "tx.db"))
    assert result.exit_code == 0, result.output
    assert "example.body-site#1.1.0" in result.output


def test_unknown_package_fails_saying_what_each_registry_answered(registry, tmp_path):
    db = tmp_path / "tx.db"
    result = run("import", "package", "example.nothing@1.0.0", "--registry", registry.url,
                 "--registry", "http://127.0.0.1:9", "--db", str(db))
    assert result.exit_code != 0
    assert (f"package example.nothing@1.0.0 could not be fetched: {registry.url}: does not "
            "have it (404); http://127.0.0.1:9: cannot be reached") in result.output
    result = run("import", "package", "example.body-site@9.9.9", "--db", str(db))
    assert "has no version 9.9.9" in result.output and "(it has 1.0.0)" in result.output


def test_a_download_that_does_not_match_its_digest_is_refused(registry, tmp_path):
    registry.broken_digest = True
    db = tmp_path / "tx.db"
    Store(db).create()
    before = dump(db)
    result = run("import", "package", "example.body-site@1.0.0", "--db", str(db))
    assert result.exit_code != 0
    assert "does not match its sha512 digest" in result.output
    assert dump(db) == before
    assert not list((tmp_path / "fhir-packages").glob("example.body-site*"))


def test_an_invalid_resource_in_a_package_changes_nothing(registry, tmp_path):
    bad = {"package/CodeSystem-bad.json": {"resourceType": "CodeSystem", "url": "http://x/bad",
                                           "status": "active", "content": "complete",
                                           "concept": {"code": "elbow"}}}
    registry.add("example.bad", "1.0.0", body_site_package(extra=bad))
    db = tmp_path / "tx.db"
    Store(db).create()
    before = dump(db)
    result = run("import", "package", "example.bad@1.0.0", "--db", str(db))
    assert result.exit_code != 0
    assert "CodeSystem-bad.json: CodeSystem is not valid FHIR" in result.output
    assert dump(db) == before


def test_an_invalid_naming_system_is_left_out_and_named(registry, tmp_path):
    broken = {**fhir_fixture("namingsystem-body-site.json"), "id": "broken",
              "uniqueId": [{"value": "2.999.1.2", "preferred": True}]}  # no type
    registry.add("example.ns", "1.0.0", body_site_package(
        extra={"package/NamingSystem-broken.json": broken}))
    result = run("import", "package", "example.ns@1.0.0", "--no-dependencies",
                 "--db", str(tmp_path / "tx.db"))
    assert result.exit_code == 0, result.output
    assert "NamingSystems: 2 read, 1 stored" in result.output
    assert ("skipped 1 NamingSystems that are not valid FHIR: example.ns#1.0.0:package/"
            "NamingSystem-broken.json: NamingSystem is not valid FHIR: "
            "NamingSystem.uniqueId[0].type") in result.output


def test_an_id_taken_by_another_url_is_refused(registry, tmp_path):
    clash = {"package/CodeSystem-legacy-site.json": {
        **fhir_fixture("codesystem-legacy-site.json"), "id": "body-site"}}
    registry.add("example.clash", "1.0.0", body_site_package(extra=clash))
    result = run("import", "package", "example.clash@1.0.0", "--db", str(tmp_path / "tx.db"))
    assert result.exit_code != 0
    assert "CodeSystem id 'body-site' is already taken by" in result.output


def test_serve_package_imports_what_the_store_lacks_once(registry, tmp_path):
    store = Store(tmp_path / "tx.db")
    store.create()
    server.ensure_packages(store, ["example.dep@2.0.0"])
    assert store.packages() == [("example.dep", "2.0.0")]
    generation = store.generation()
    server.ensure_packages(store, ["example.dep", "example.dep@2.0.0"])  # held: nothing to do
    assert store.generation() == generation


def test_serve_package_that_cannot_be_had_stops_the_start(registry, tmp_path):
    result = run("serve", "--db", str(tmp_path / "tx.db"), "--package", "example.none@1.0.0")
    assert result.exit_code != 0
    assert "cannot start: package example.none@1.0.0 could not be fetched" in result.output


def test_naming_system_ids_resolve_to_the_code_system(registry, tmp_path):
    db = tmp_path / "tx.db"
    assert run("import", "package", "example.body-site@1.0.0", "--db",
               str(db)).exit_code == 0
    client = client_for(db)
    for system in (OID, "http://example.org/body-site"):
        r = client.get(LOOKUP, query_string={"system": system, "code": "left-hand"})
        assert r.status_code == 200, r.fhir
        assert param_dict(r.fhir)["system"] == [BODY_SITE]
    r = client.get("/fhir/CodeSystem/$validate-code",
                   query_string={"url": OID, "code": "left-hand", "display": "Left hand"})
    assert param_dict(r.fhir)["result"] == [True]
    valueset = {"resourceType": "ValueSet", "url": "http://example.org/vs/by-oid",
                "status": "active", "compose": {"include": [
                    {"system": OID, "filter": [{"property": "concept", "op": "is-a",
                                                "value": "upper-limb"}]}]}}
    r = client.post(EXPAND, json={"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": valueset}]})
    assert r.status_code == 200, r.fhir
    assert expansion_codes(r.fhir) == ["upper-limb", "left-hand", "right-hand"]
    r = client.post("/fhir/ValueSet/$validate-code", json={
        "resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": valueset},
            {"name": "coding", "valueCoding": {"system": BODY_SITE, "code": "left-hand"}}]})
    assert param_dict(r.fhir)["result"] == [True]
    unknown = client.get(LOOKUP, query_string={"system": "urn:oid:2.999.9", "code": "x"})
    assert unknown.status_code == 404


def test_package_refs():
    ref = fhir_packages.PackageRef.parse
    assert ref("hl7.terminology.r4@7.0.1") == fhir_packages.PackageRef("hl7.terminology.r4",
                                                                       "7.0.1")
    assert ref("hl7.terminology.r4#7.0.1").version == "7.0.1"
    assert ref("hl7.terminology.r4").version is None
    with pytest.raises(Exception, match="is not a package name"):
        ref("../etc@1")
