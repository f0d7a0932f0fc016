"""Immutable snapshots (`txserver snapshot OUT`) and the replica that serves the newest valid
one (`txserver serve --snapshots DIR`): the manifest, the switch to a newer snapshot without
dropping a request, damaged and half-copied snapshots refused with the old one kept."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CPT, LOOKUP, changed_2025, param_dict
from werkzeug.test import Client

import server
from codesystems.cpt import loader
from terminology.store import Store
from terminology.store.snapshots import Snapshot, listing, write_snapshot
from terminology.web.replica import SnapshotReplica

QUERY_99252 = f"{LOOKUP}?system={CPT}&code=99252&version=2025"


def open_snapshot(snapshot: Snapshot):  # type: ignore[no-untyped-def]
    """What `txserver serve --snapshots` opens for a snapshot (server.create_replica)."""
    return server.build_app({"DB": str(snapshot.db), "READ_ONLY": True,
                             "SNAPSHOT_NAME": snapshot.name}).wsgi_app


def display(client: Client, path: str = QUERY_99252) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return str(param_dict(response.get_json())["display"][0])


def test_the_snapshot_command_writes_a_checksummed_read_only_copy_and_its_manifest(
        store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    result = CliRunner().invoke(server.main, ["snapshot", str(out), "--db", str(store_copy)])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.iterdir()]
    assert str(folder) in result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    live = Store(store_copy)
    version = live.version()
    assert manifest["format"] == "txserver-snapshot/1"
    assert manifest["id"] == folder.name and folder.name.endswith(f"-g{version.generation}")
    assert (manifest["generation"], manifest["store_id"], manifest["committed_at"]) == (
        version.generation, version.store_id, version.committed_at)
    assert manifest["created"].endswith("Z") and manifest["created"] >= version.committed_at
    systems = {(s["url"], s["version"]): s["concepts"] for s in manifest["code_systems"]}
    assert systems == {(s.url, s.version): s.count for s in live.code_systems()}
    assert set(systems) >= {(CPT, "2025"), (CPT, "2026")}
    assert manifest["concepts"] == sum(systems.values())
    assert manifest["value_sets"] == len(live.value_sets())
    assert manifest["concept_maps"] == len(live.concept_maps())
    db = folder / "tx.db"
    assert manifest["bytes"] == db.stat().st_size
    assert manifest["sha256"] == hashlib.sha256(db.read_bytes()).hexdigest()
    for path in (db, folder / "manifest.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not list(folder.glob("tx.db-*"))  # one self-contained file: no -wal, no -shm
    # it serves what the live store serves, read-only
    (snapshot,), _ = listing(out)
    assert display(Client(open_snapshot(snapshot))) == display(
        server.create_app({"DB": str(store_copy)}).test_client())


def test_the_replica_moves_to_a_newer_snapshot(store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    first = write_snapshot(store_copy, out)
    replica = SnapshotReplica(out, open_snapshot)
    assert replica.check() and replica.snapshot == first
    client = Client(replica)
    old = client.get(QUERY_99252)
    assert not display(client).startswith("CHANGED ")
    assert client.get("/readyz").get_json()["snapshot"] == first.name
    assert replica.check() is False  # nothing newer

    loader.import_release(Store(store_copy), changed_2025(tmp_path), "2025")
    second = write_snapshot(store_copy, out)
    assert replica.check() and replica.snapshot == second
    assert display(client).startswith("CHANGED ")
    assert client.get(QUERY_99252).headers["ETag"] != old.headers["ETag"]
    assert client.get(QUERY_99252, headers={"If-None-Match": old.headers["ETag"]}
                      ).status_code == 200
    assert client.get("/readyz").get_json()["snapshot"] == second.name


def test_requests_in_flight_finish_on_the_snapshot_they_started_on(store_copy: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    write_snapshot(store_copy, out)
    entered, release = threading.Event(), threading.Event()

    def open_held(snapshot: Snapshot):  # type: ignore[no-untyped-def]
        """The real app, with a request that waits inside it until released."""
        app = open_snapshot(snapshot)

        def held(environ, start_response):  # type: ignore[no-untyped-def]
            if environ.get("HTTP_X_HOLD"):
                entered.set()
                assert release.wait(10)
            return app(environ, start_response)
        return held

    replica = SnapshotReplica(out, open_held)
    replica.check()
    client = Client(replica)
    before = display(client)
    answers: list[str] = []
    request = threading.Thread(target=lambda: answers.append(str(param_dict(client.get(
        QUERY_99252, headers={"X-Hold": "1"}).get_json())["display"][0])))
    request.start()
    assert entered.wait(10)
    loader.import_release(Store(store_copy), changed_2025(tmp_path), "2025")
    write_snapshot(store_copy, out)
    assert replica.check()  # switched while the held request is inside the old snapshot
    assert display(client).startswith("CHANGED ")
    release.set()
    request.join(10)
    assert answers == [before]  # finished on the old one, not dropped, not mixed


def test_no_request_fails_while_snapshots_switch_under_load(store_copy: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    write_snapshot(store_copy, out)
    original = display(server.create_app({"DB": str(store_copy)}).test_client())
    replica = SnapshotReplica(out, open_snapshot)
    replica.check()
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def load() -> None:
        client = Client(replica)
        for _ in range(2000):  # bounded, and stopped when the switches are done
            if stop.is_set():
                return
            response = client.get(QUERY_99252)
            body = response.get_json() if response.status_code == 200 else {}
            seen.append((response.status_code, str(param_dict(body).get("display", [""])[0])))

    workers = [threading.Thread(target=load) for _ in range(3)]
    for worker in workers:
        worker.start()
    for n in range(4):
        folder = changed_2025(tmp_path / f"change-{n}") if n % 2 == 0 else (
            loader.sample_folder("2025"))
        loader.import_release(Store(store_copy), folder, "2025")
        write_snapshot(store_copy, out)
        assert replica.check()
    stop.set()
    for worker in workers:
        worker.join(30)
    assert seen and {status for status, _ in seen} == {200}
    assert {text for _, text in seen} <= {original, "CHANGED " + original}


def test_a_damaged_or_half_copied_snapshot_is_refused_and_the_old_one_kept(
        store_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "snapshots"
    good = write_snapshot(store_copy, out)
    replica = SnapshotReplica(out, open_snapshot)
    replica.check()
    client = Client(replica)
    loader.import_release(Store(store_copy), changed_2025(tmp_path), "2025")

    damaged = write_snapshot(store_copy, out)
    data = bytearray(damaged.db.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.db.chmod(0o644)
    damaged.db.write_bytes(bytes(data))
    caplog.set_level(logging.INFO, logger="txserver")
    assert replica.check() is False
    assert replica.snapshot == good and not display(client).startswith("CHANGED ")
    assert f"refused snapshot {damaged.folder}" in caplog.text and "SHA-256" in caplog.text
    assert f"still serving {good.name}" in caplog.text
    caplog.clear()
    assert replica.check() is False
    assert "refused" not in caplog.text  # said once per state of its files

    shutil.rmtree(damaged.folder)
    truncated = write_snapshot(store_copy, out)
    truncated.db.chmod(0o644)
    with truncated.db.open("r+b") as handle:
        handle.truncate(truncated.manifest["bytes"] // 2)
    assert replica.check() is False and replica.snapshot == good
    assert "damaged or still being copied" in caplog.text

    shutil.rmtree(truncated.folder)
    arriving = out / "20991231T000000.000Z-g99"  # a copy that has no manifest yet
    arriving.mkdir()
    shutil.copy(good.db, arriving / "tx.db")
    assert replica.check() is False and replica.snapshot == good
    assert "no manifest.json (still being copied?)" in caplog.text

    shutil.rmtree(arriving)
    repaired = write_snapshot(store_copy, out)
    assert replica.check() and replica.snapshot == repaired
    assert display(client).startswith("CHANGED ")


def test_a_snapshot_made_by_another_version_is_refused_and_the_old_one_kept(
        store_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A snapshot is served read-only, so it cannot be brought up to this version's search
    index or term analysis: one made by another version is refused, not served wrong."""
    out = tmp_path / "snapshots"
    good = write_snapshot(store_copy, out)
    replica = SnapshotReplica(out, open_snapshot)
    replica.check()
    con = sqlite3.connect(store_copy)
    con.execute("UPDATE meta SET value = 'other rules' WHERE key = 'term_analysis'")
    con.commit()
    con.close()
    older = write_snapshot(store_copy, out, name="20991231T000000.000Z-g98")
    caplog.set_level(logging.INFO, logger="txserver")
    assert replica.check() is False and replica.snapshot == good
    assert f"refused snapshot {older.folder}" in caplog.text
    assert "made by another version of txserver" in caplog.text
    assert "analysed for search by other rules" in caplog.text


def test_removing_the_snapshot_served_rolls_back_to_the_newest_left(store_copy: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    first = write_snapshot(store_copy, out)
    loader.import_release(Store(store_copy), changed_2025(tmp_path), "2025")
    bad = write_snapshot(store_copy, out)
    replica = SnapshotReplica(out, open_snapshot)
    assert replica.check() and replica.snapshot == bad
    shutil.rmtree(bad.folder)
    assert replica.check() and replica.snapshot == first
    assert not display(Client(replica)).startswith("CHANGED ")


def test_a_replica_without_a_snapshot_is_live_but_not_ready(store_copy: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    replica = SnapshotReplica(out, open_snapshot)
    assert replica.check() is False
    client = Client(replica)
    assert client.get("/healthz").status_code == 200
    waiting = client.get("/fhir/metadata")
    assert waiting.status_code == 503 and waiting.headers["Retry-After"]
    assert waiting.get_json()["resourceType"] == "OperationOutcome"
    assert client.get("/readyz").status_code == 503
    write_snapshot(store_copy, out)
    assert replica.check()
    assert client.get("/readyz").status_code == 200


def test_a_replica_takes_no_writes(store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    write_snapshot(store_copy, out)
    replica = SnapshotReplica(out, open_snapshot)
    replica.check()
    app = server.layers.wrap(replica, {"ADMIN_TOKENS": ["secret"], "ACCESS_LOG": "off"})
    response = Client(app).put("/fhir/ValueSet/x", headers={"Authorization": "Bearer secret"},
                               json={"resourceType": "ValueSet", "id": "x",
                                     "url": "http://example.org/vs", "status": "active"})
    assert response.status_code == 405
    assert "primary" in response.get_json()["issue"][0]["details"]["text"]
    statement = Client(app).get("/fhir/metadata").get_json()  # and says so
    assert {i["code"] for r in statement["rest"][0]["resource"]
            for i in r.get("interaction", [])} == {"read", "search-type"}


def test_prune_keeps_the_newest(store_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    written = [write_snapshot(store_copy, out) for _ in range(3)]
    result = CliRunner().invoke(server.main, ["snapshot", str(out), "--db", str(store_copy),
                                              "--keep", "2"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and written[2].name in names
    assert written[0].name not in names and written[1].name not in names
