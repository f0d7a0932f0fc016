"""Immutable snapshots of a store: a consistent, checksummed, read-only copy and its manifest.

A snapshot is a folder holding `tx.db` (the store as of one committed generation, written by
SQLite's `VACUUM INTO`, which reads inside one transaction, so an import committing meanwhile
is either wholly in the copy or not at all) and `manifest.json` (what is in it, its size and
SHA-256, when it was made). The folder is written under a hidden temporary name and renamed
into place only when complete, so a reader never sees half a snapshot being written here; a
copy still arriving from elsewhere (rsync, scp) fails its checksum and is refused.

Replicas serve a snapshot read-only (`Store(path, immutable=True)`): no locks, no WAL, no
writes, and any number of processes may share the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from terminology.store.reads import Reads
from terminology.store.records import StoreVersion
from terminology.store.schema import out_of_date

FORMAT = "txserver-snapshot/1"
DB_FILE = "tx.db"
MANIFEST_FILE = "manifest.json"
_CHUNK = 1024 * 1024


class SnapshotRefused(Exception):
    """A snapshot folder that must not be served: says why."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot folder and its manifest (checked or not: see `verify`)."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def db(self) -> Path:
        return self.folder / str(self.manifest.get("file", DB_FILE))

    @property
    def created(self) -> str:
        return str(self.manifest.get("created", ""))

    @property
    def version(self) -> StoreVersion:
        return StoreVersion(int(self.manifest["generation"]), str(self.manifest["store_id"]),
                            str(self.manifest["committed_at"]))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _contents(db: Path) -> dict[str, Any]:
    """What the copy holds, read from the copy itself (not from the live store, which may have
    moved on since)."""
    reads = Reads(db, immutable=True)
    try:
        version = reads.version()
        systems = reads.code_systems()
        value_sets = reads.value_sets()
        maps = reads.concept_maps()
        schema = reads._reader().execute(
            "SELECT value FROM meta WHERE key = 'schema'").fetchone()
    finally:
        reads.close()
    return {
        "generation": version.generation, "store_id": version.store_id,
        "committed_at": version.committed_at, "schema": schema[0] if schema else None,
        "code_systems": [{"url": s.url, "version": s.version, "id": s.resource_id,
                          "provider": s.provider, "concepts": s.count} for s in systems],
        "concepts": sum(s.count for s in systems),
        "value_sets": len(value_sets),
        "concept_maps": len(maps),
    }


def _copy(source: Path, target: Path) -> None:
    """`VACUUM INTO` the target (one read transaction of the source), then check it whole."""
    con = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True,
                          isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("VACUUM INTO ?", (str(target),))
    finally:
        con.close()
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
    if verdict != "ok":
        raise SnapshotRefused(f"the copy of {source} failed SQLite's integrity check: {verdict}")


def snapshot_name(version: StoreVersion, created: str) -> str:
    """`20261202T153000.123Z-g12`: sorts by time of creation, names the generation."""
    stamp = re.sub(r"[-:]", "", created)
    return f"{stamp}-g{version.generation}"


def write_snapshot(source: Path, out: Path, software: str = "",
                   name: str | None = None) -> Snapshot:
    """Write a snapshot of the store at `source` as a new folder inside `out` (created if
    missing), named `name` or by `snapshot_name`. Returns the snapshot written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".partial-{os.getpid()}-{datetime.now().timestamp():.6f}"
    partial.mkdir()
    try:
        db = partial / DB_FILE
        _copy(source, db)
        created = _utc_now()
        manifest = {"format": FORMAT, "created": created, "software": software,
                    **_contents(db), "file": DB_FILE, "bytes": db.stat().st_size,
                    "sha256": sha256_of(db)}
        version = StoreVersion(manifest["generation"], manifest["store_id"],
                               manifest["committed_at"])
        final = out / (name or snapshot_name(version, created))
        manifest["id"] = final.name
        db.chmod(0o444)
        _write_synced(partial / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())
        _fsync(db)
        if final.exists():
            raise SnapshotRefused(f"{final} exists already: nothing was overwritten")
        os.rename(partial, final)
        _fsync_folder(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Snapshot(final, manifest)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    path.chmod(0o444)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(path: Path) -> None:
    try:
        _fsync(path)
    except OSError:  # some file systems cannot sync a folder; the rename is still atomic
        pass


def read_manifest(folder: Path) -> Snapshot:
    """The snapshot in `folder` with its manifest, unchecked (raises SnapshotRefused when the
    manifest is missing or unreadable)."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise SnapshotRefused(f"{folder.name}: no {MANIFEST_FILE} (still being copied?)") from None
    except (OSError, ValueError) as exc:
        raise SnapshotRefused(f"{folder.name}: {MANIFEST_FILE} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotRefused(f"{folder.name}: {MANIFEST_FILE} is not a {FORMAT} manifest")
    for key in ("created", "generation", "store_id", "committed_at", "bytes", "sha256"):
        if key not in manifest:
            raise SnapshotRefused(f"{folder.name}: {MANIFEST_FILE} has no {key}")
    return Snapshot(folder, manifest)


def verify(snapshot: Snapshot) -> Snapshot:
    """Check that the file is whole and the one the manifest describes (size, SHA-256, and the
    generation inside it); raises SnapshotRefused naming what is wrong."""
    db, manifest = snapshot.db, snapshot.manifest
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        raise SnapshotRefused(f"{snapshot.name}: {db.name} is missing") from None
    if size != manifest["bytes"]:
        raise SnapshotRefused(f"{snapshot.name}: {db.name} has {size} bytes, the manifest says "
                              f"{manifest['bytes']} (damaged or still being copied)")
    digest = sha256_of(db)
    if digest != manifest["sha256"]:
        raise SnapshotRefused(f"{snapshot.name}: {db.name} does not match the manifest's "
                              f"SHA-256 (damaged)")
    reads = Reads(db, immutable=True)
    try:
        inside = reads.version()
        stale = out_of_date(reads._reader())
    except sqlite3.DatabaseError as exc:
        raise SnapshotRefused(f"{snapshot.name}: {db.name} is not a readable store ({exc})")
    finally:
        reads.close()
    if stale is not None:  # served read-only, it cannot be brought up to date in place
        raise SnapshotRefused(f"{snapshot.name}: made by another version of txserver: {stale} "
                              f"(take a new snapshot)")
    if inside != snapshot.version:
        raise SnapshotRefused(f"{snapshot.name}: the store inside is {inside.id}, the manifest "
                              f"says {snapshot.version.id}")
    return snapshot


def listing(folder: Path) -> tuple[list[Snapshot], list[tuple[Path, str]]]:
    """The snapshots in `folder` by their manifests, newest first (by `created`, then name),
    unchecked; and the folders without a readable manifest, with the reason. Hidden folders
    (`.partial-...`, being written) are left out."""
    try:
        folders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return [], []
    found, unreadable = [], []
    for path in folders:
        try:
            found.append(read_manifest(path))
        except SnapshotRefused as exc:
            unreadable.append((path, str(exc)))
    found.sort(key=lambda s: (s.created, s.name), reverse=True)
    return found, unreadable


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the `keep` newest snapshots of `folder` (folders without a manifest,
    perhaps still arriving, are left alone); returns the folders removed."""
    removed = [s.folder for s in listing(folder)[0][keep:]]
    for path in removed:
        for child in path.iterdir():
            child.chmod(0o644)
        shutil.rmtree(path)
    return removed
