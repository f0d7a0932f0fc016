"""`txserver serve` under each server it offers: the same app answers over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

import server
from live_server import running_server
from terminology.store import Store

LOOKUP = "/fhir/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=99202"


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose store already holds the samples (so each server starts at once)."""
    folder = tmp_path_factory.mktemp("serve")
    store = Store(folder / "tx.db")
    store.create()
    server.import_samples(store)
    return folder


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_each_server_answers_and_logs_requests(seeded_store: Path, kind: str) -> None:
    with running_server(seeded_store, threads=2, server=kind) as base:
        response = requests.get(base + LOOKUP, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/fhir+json")
        assert response.json()["resourceType"] == "Parameters"
        missing = requests.get(base + "/fhir/nothing-here", timeout=10)
        assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    log = (seeded_store / "server.log").read_text(errors="replace")
    assert "/fhir/CodeSystem/$lookup" in log  # the access log is on by default


@pytest.mark.parametrize("chunked", [True, False])
def test_a_body_over_the_limit_is_413_whether_chunked_or_not(seeded_store: Path,
                                                            chunked: bool) -> None:
    body = b'{"resourceType": "Parameters", "parameter": [' + b" " * 5000 + b"]}"
    with running_server(seeded_store, threads=2, env={"TX_MAX_BODY": "1000"}) as base:
        data = iter([body[:2000], body[2000:]]) if chunked else body
        response = requests.post(base + "/fhir/CodeSystem/$lookup", data=data, timeout=10,
                                 headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 413
        assert response.json()["issue"][0]["code"] == "too-costly"
        small = requests.post(base + "/fhir/CodeSystem/$lookup", timeout=10,
                              data=iter([b'{"resourceType": "Parameters", "parameter": []}']),
                              headers={"Content-Type": "application/fhir+json"})
        assert small.status_code == 400  # read whole (no system or code), not cut
        assert "not valid JSON" not in small.text
