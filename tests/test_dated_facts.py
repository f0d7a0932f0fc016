"""Facts that depend on the date of service are computed for that date.

CPT's `primary-code` (the CMS add-on edits in force) and `mue` (the MUE table in force) are
given for the request's `date`, else for today in the server's time zone (TX_TIMEZONE, UTC by
default). Before, the CPT provider kept the facts of the day it first computed them until the
next import, so after midnight the answers still showed yesterday's; and "today" was the
server's local day.

The add-on sample: 64634 -> 64633 (in force), 64634 -> 64635 (edit ended 2014-12-31); both
edits start 2012-01-01. The MUE sample table is in force from 2025-01-01.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from codesystems.cms import mue
from conftest import CPT, LOOKUP, FhirClient, properties
from server import create_app
from terminology import clock


def primaries(client: FhirClient, code: str = "64634", **query: str) -> list[str]:
    r = client.get(LOOKUP, query_string={"system": CPT, "code": code, **query})
    assert r.status_code == 200, r.fhir
    return properties(r.fhir).get("primary-code", [])


@pytest.fixture
def mue_store(db_path: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tx.db"
    shutil.copy(db_path, path)
    from terminology.store import Store

    mue.import_table(Store(path), mue.SAMPLE_FILE)
    return path


def set_utc_now(monkeypatch: pytest.MonkeyPatch, moment: str) -> None:
    instant = datetime.fromisoformat(moment).replace(tzinfo=timezone.utc)
    monkeypatch.setattr(clock, "_utc_now", lambda: instant)


def test_the_request_date_picks_the_add_on_edits_in_force_then(client):
    assert primaries(client) == ["64633"]
    assert primaries(client, date="2014-06-01") == ["64633", "64635"]
    assert primaries(client, date="2014-12-31T23:00:00Z") == ["64633", "64635"]  # its last day
    assert primaries(client, date="2015-01-01") == ["64633"]
    assert primaries(client, date="2011-06-01") == []  # before either edit took effect


def test_the_request_date_picks_the_mue_table_in_force_then(mue_store):
    client = FhirClient(create_app({"DB": str(mue_store)}).test_client())

    def mue_on(**query: str) -> list[int]:
        r = client.get(LOOKUP, query_string={"system": CPT, "code": "64636", **query})
        return properties(r.fhir).get("mue", [])

    assert mue_on() == [4]
    assert mue_on(date="2025-06-01") == [4]
    assert mue_on(date="2024-12-31") == []  # no table in force yet


def test_a_new_day_gets_the_new_days_facts(db_path, tmp_path, monkeypatch):
    """The same GET, asked before and after midnight: neither the provider's facts nor the
    answer cache may keep the previous day's."""
    path = tmp_path / "tx.db"
    shutil.copy(db_path, path)
    client = FhirClient(create_app({"DB": str(path)}).test_client())
    set_utc_now(monkeypatch, "2014-12-31T23:59:00")
    assert primaries(client) == ["64633", "64635"]
    assert primaries(client) == ["64633", "64635"]  # the cached answer
    set_utc_now(monkeypatch, "2015-01-01T00:01:00")
    assert primaries(client) == ["64633"]


def test_today_is_the_day_in_tx_timezone(db_path, tmp_path, monkeypatch):
    """TX_TIMEZONE as it was when the server started."""
    set_utc_now(monkeypatch, "2014-12-31T12:00:00")  # already 2015-01-01 on Kiritimati
    monkeypatch.setattr(clock, "_ZONE_NAME", clock._ZONE_NAME)  # the zone read, restored after
    path = tmp_path / "tx.db"
    shutil.copy(db_path, path)
    monkeypatch.delenv(clock.ENV, raising=False)
    client = FhirClient(create_app({"DB": str(path)}).test_client())
    assert clock.today() == "2014-12-31"  # UTC by default
    assert primaries(client) == ["64633", "64635"]
    monkeypatch.setenv(clock.ENV, "Pacific/Kiritimati")
    assert clock.today() == "2014-12-31"  # not read again while the server runs
    client = FhirClient(create_app({"DB": str(path)}).test_client())  # a start reads it
    assert clock.today() == "2015-01-01"
    assert primaries(client) == ["64633"]


def test_an_unknown_time_zone_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.setenv(clock.ENV, "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="TX_TIMEZONE"):
        create_app({"DB": str(tmp_path / "tx.db")})
