"""HTTP caching of the API's GET answers: strong ETags from the store version and the request,
Cache-Control, Last-Modified and Vary on every GET, 304 to conditional requests, and a new
import changing every ETag (terminology/web/http_cache.py)."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import orjson
import pytest
from conftest import CPT, LOOKUP, VALIDATE, build_store, changed_2025, param_dict

from codesystems.cpt import loader
from server import create_app
from terminology import clock
from terminology.registry import StoreRegistry
from terminology.store import Store
from terminology.web.cache import ResponseCache
from terminology.web.http_cache import CachePolicy, HttpCache

GETS = [
    f"{LOOKUP}?system={CPT}&code=99202",
    f"{VALIDATE}?system={CPT}&code=99202",
    "/fhir/ValueSet/all-codes/$expand?filter=office&count=2",
    f"/fhir/ValueSet/$validate-code?url={CPT}?fhir_vs&system={CPT}&code=99202",
    f"/fhir/CodeSystem/$subsumes?system={CPT}&codeA=99202&codeB=99202",
    "/fhir/CodeSystem/cpt-2026?_summary=true",
    "/fhir/CodeSystem",
    "/fhir/ValueSet",
    "/fhir/ConceptMap",
    "/fhir/metadata",
    "/fhir/metadata?mode=terminology",
]


@pytest.fixture
def web(store_copy: Path):  # type: ignore[no-untyped-def]
    return create_app({"DB": str(store_copy)}).test_client()


def _lookup_display(response) -> str:  # type: ignore[no-untyped-def]
    return str(param_dict(response.get_json())["display"][0])


@pytest.mark.parametrize("path", GETS)
def test_every_get_of_the_api_carries_a_validator_and_a_lifetime(web, path):
    response = web.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert parsedate_to_datetime(response.headers["Last-Modified"]) <= datetime.now(timezone.utc)
    assert response.headers["Vary"] == "Accept, Accept-Language"
    again = web.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, max-age=300"


def test_conditional_requests(web):
    path = f"{LOOKUP}?system={CPT}&code=99202"
    first = web.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert web.get(path, headers={"If-None-Match": f"W/{etag}"}).status_code == 304  # weak
    assert web.get(path, headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert web.get(path, headers={"If-None-Match": "*"}).status_code == 200
    assert web.get(path, headers={"If-None-Match": '"other"'}).data == first.data
    assert web.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    assert web.get(path, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
                   ).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 13.1.3)
    both = web.get(path, headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert both.status_code == 200
    assert web.get(path, headers={"If-Modified-Since": "not a date"}).status_code == 200


def test_errors_are_not_stored_but_not_found_is(web):
    bad = web.get(f"{LOOKUP}?code=99202")  # no system
    assert bad.status_code == 400
    assert bad.headers["Cache-Control"] == "no-store" and "ETag" not in bad.headers
    xml = web.get(f"{LOOKUP}?system={CPT}&code=99202", headers={"Accept": "application/xml"})
    assert xml.status_code == 406 and xml.headers["Cache-Control"] == "no-store"
    missing = web.get(f"{LOOKUP}?system={CPT}&code=00000")
    assert missing.status_code == 404
    assert missing.headers["Cache-Control"] == "public, max-age=300" and missing.headers["ETag"]


def test_a_new_import_changes_every_etag(web, store_copy, tmp_path):
    paths = [*GETS, f"{LOOKUP}?system={CPT}&code=99252&version=2025"]
    before = {path: web.get(path).headers["ETag"] for path in paths}
    assert len(set(before.values())) == len(paths)
    loader.import_release(Store(store_copy), changed_2025(tmp_path), "2025")
    after = {path: web.get(path) for path in paths}
    for path in paths:
        assert after[path].headers["ETag"] != before[path], path
        stale = web.get(path, headers={"If-None-Match": before[path]})
        assert stale.status_code == 200, path
    assert _lookup_display(after[paths[-1]]).startswith("CHANGED ")
    newer = parsedate_to_datetime(after[paths[0]].headers["Last-Modified"])
    assert newer >= parsedate_to_datetime(web.get(paths[0]).headers["Last-Modified"])


def test_the_etag_names_the_request_headers_an_answer_depends_on(web):
    path = f"{LOOKUP}?system={CPT}&code=99202"
    tags = {web.get(path, headers=headers).headers["ETag"] for headers in (
        {}, {"Accept-Language": "en"}, {"Accept": "application/fhir+json"},
        {"X-TOO-COSTLY-THRESHOLD": "5"})}
    assert len(tags) == 4
    assert web.get(path).headers["ETag"] == web.get(path).headers["ETag"]


def test_copies_of_one_generation_give_the_same_etags(store_copy, tmp_path):
    """Replicas on copies of one store agree, so a cache in front revalidates with any."""
    copy = tmp_path / "copy.db"
    shutil.copy(store_copy, copy)
    path = f"{LOOKUP}?system={CPT}&code=99202"
    one = create_app({"DB": str(store_copy)}).test_client().get(path)
    two = create_app({"DB": str(copy)}).test_client().get(path)
    assert one.headers["ETag"] == two.headers["ETag"]
    assert one.headers["Last-Modified"] == two.headers["Last-Modified"]
    other = tmp_path / "other.db"  # another store, built the same way: the same generation
    build_store(other)
    assert Store(other).generation() == Store(store_copy).generation()
    three = create_app({"DB": str(other)}).test_client().get(path)
    assert three.headers["ETag"] != one.headers["ETag"]


def test_the_lifetime_is_configurable_and_private_when_reads_need_a_token(store_copy):
    path = f"{LOOKUP}?system={CPT}&code=99202"
    short = create_app({"DB": str(store_copy), "MAX_AGE": 7}).test_client().get(path)
    assert short.headers["Cache-Control"] == "public, max-age=7"
    closed = create_app({"DB": str(store_copy), "READ_TOKENS": ["r"]}).test_client()
    answer = closed.get(path, headers={"Authorization": "Bearer r"})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "private, max-age=300"


def test_no_answer_is_fresh_past_the_end_of_the_day(web, monkeypatch):
    """Answers depend on the day (the CPT year and the edits in force): a cache must ask again
    after midnight, and Last-Modified is never before the day started."""
    instant = datetime(2026, 12, 2, 23, 59, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(clock, "_utc_now", lambda: instant)
    response = web.get(f"{LOOKUP}?system={CPT}&code=99202")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    modified = parsedate_to_datetime(response.headers["Last-Modified"])
    assert modified >= datetime(2026, 12, 2, tzinfo=timezone.utc)


def test_head_gets_the_headers_and_is_not_kept_as_an_empty_answer(web):
    path = f"{LOOKUP}?system={CPT}&code=99203"
    head = web.head(path)
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"]
    full = web.get(path)
    assert full.headers["ETag"] == head.headers["ETag"]
    assert _lookup_display(full)
    assert web.head(path).headers["Content-Length"] == str(len(full.data))


def test_304s_and_repeats_are_answered_without_the_app(store_copy):
    """The HTTP cache answers a matching conditional GET and a repeat by itself: the app
    (routing, parsing, the operation) is called once for three requests."""
    from flask import Flask
    from werkzeug.test import Client

    app = create_app({"DB": str(store_copy)})
    calls = []

    def counting(environ, start_response):  # type: ignore[no-untyped-def]
        calls.append(environ["PATH_INFO"])
        return Flask.wsgi_app(app, environ, start_response)  # the bare Flask app

    registry = StoreRegistry(Store(store_copy), {})
    cache = HttpCache(counting, registry, ResponseCache(), CachePolicy())
    client = Client(cache)
    path = f"{LOOKUP}?system={CPT}&code=99202"
    first = client.get(path)
    assert first.status_code == 200
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.get(path).data == first.data
    assert calls == [LOOKUP]


def test_a_streamed_read_carries_validators_and_passes_through_unkept(store_copy):
    """A CodeSystem read with its concepts is written as it is built: the HTTP cache gives it
    its headers but neither buffers nor keeps it."""
    app = create_app({"DB": str(store_copy)})
    web = app.test_client()
    kept = len(app.extensions["response_cache"])
    read = web.get("/fhir/CodeSystem/cpt-2026?_summary=false")
    assert read.status_code == 200 and "Content-Length" not in read.headers
    assert read.headers["ETag"] and read.headers["Cache-Control"] == "public, max-age=300"
    assert len(read.get_json()["concept"]) == read.get_json()["count"]
    assert len(app.extensions["response_cache"]) == kept
    again = web.get("/fhir/CodeSystem/cpt-2026?_summary=false",
                    headers={"If-None-Match": read.headers["ETag"]})
    assert again.status_code == 304


def test_a_refusal_the_request_earns_is_kept_but_not_by_shared_caches(store_copy):
    app = create_app({"DB": str(store_copy), "EXPAND_LIMIT": 5})
    web = app.test_client()
    path = f"/fhir/ValueSet/$expand?url={CPT}?fhir_vs"
    first = web.get(path)
    assert first.status_code == 422 and first.headers["Cache-Control"] == "no-store"
    assert len(app.extensions["response_cache"]) == 1
    again = web.get(path)
    assert again.status_code == 422 and again.data == first.data
    assert again.headers["Cache-Control"] == "no-store" and "ETag" not in again.headers


def test_a_get_reads_one_snapshot_until_its_streamed_answer_is_written(store_copy):
    """The HTTP cache pins a GET to the generation committed when it arrives: a streamed
    answer still reads it while it is written, and the read transaction ends once the server
    has taken the last chunk, or closed the body if it stops before (a client gone)."""
    app = create_app({"DB": str(store_copy)})
    store = app.extensions["registry"].store
    path = "/fhir/CodeSystem/cpt-2026?_summary=false"
    read = app.test_client().get(path, buffered=False)
    assert read.status_code == 200
    chunks = iter(read.response)
    body = next(chunks)
    assert store.in_snapshot()  # being written
    body += b"".join(chunks)
    assert not store.in_snapshot()  # the last chunk taken
    read.close()
    assert len(orjson.loads(body)["concept"]) > 0
    stopped = app.test_client().get(path, buffered=False)
    next(iter(stopped.response))
    assert store.in_snapshot()
    stopped.close()  # before the end
    assert not store.in_snapshot()
    whole = app.test_client().get(f"{LOOKUP}?system={CPT}&code=99202")
    assert whole.status_code == 200 and not store.in_snapshot()  # a whole answer: ended at once
