"""A read-only replica: serves the newest valid snapshot of a folder, and moves to a newer one
without dropping a request.

`txserver serve --snapshots DIR`. At start and then every few seconds (a watcher thread) the
folder is listed (terminology/store/snapshots.py): the newest snapshot newer than the one served
is checked whole (size, SHA-256, the generation inside), opened as an app of its own (its own
read-only store, registry and answer cache) and asked /readyz; only then is it swapped in, by
replacing one reference. A request takes that reference once, when it starts, so requests in
flight finish on the snapshot they started on, and the old app is dropped when the last of them
ends. A damaged or half-copied snapshot is refused with a log line (once per state of its files)
and the one served is kept. If the folder of the snapshot served disappears (an operator rolls
back by deleting a bad snapshot), the newest valid one left is served, even if older.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from werkzeug.test import Client

from terminology.store.snapshots import Snapshot, SnapshotRefused, listing, verify
from terminology.web import metrics
from terminology.web.wsgi import Environ, StartResponse, WsgiApp, outcome, path_of, respond

DEFAULT_POLL_SECONDS = 2.0
log = logging.getLogger("txserver.replica")

Served = tuple[Snapshot, WsgiApp]


def _state(folder: Path) -> tuple[tuple[str, int, float], ...]:
    """The names, sizes and times of a folder's files: a refused snapshot is tried again only
    once they change (a copy still arriving, a repaired file)."""
    try:
        return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime)
                            for p in folder.iterdir()))
    except OSError:
        return ()


class SnapshotReplica:
    """WSGI app over the snapshots of `folder`; `open_app(snapshot)` makes the app serving one
    (server.py: a read-only create_app over its file)."""

    def __init__(self, folder: Path, open_app: Callable[[Snapshot], WsgiApp],
                 poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        self.folder = Path(folder)
        self.open_app = open_app
        self.poll_seconds = poll_seconds
        self._served: Served | None = None
        self._refused: dict[Path, tuple[tuple[str, int, float], ...]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def snapshot(self) -> Snapshot | None:
        served = self._served
        return served[0] if served is not None else None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        served = self._served  # taken once: this request stays on it whatever comes next
        if served is not None:
            return served[1](environ, start_response)
        if path_of(environ) == "/healthz":
            return respond(start_response, 200, [("Content-Type", "application/json")],
                           b'{"status": "live"}')
        return outcome(start_response, 503, f"No valid snapshot in {self.folder} yet",
                       "transient", [("Retry-After", str(max(1, round(self.poll_seconds))))])

    def check(self) -> bool:
        """Serve the newest valid snapshot newer than the one served (any, when none is or its
        folder is gone). True when it switched."""
        with self._lock:
            found, unreadable = listing(self.folder)
            for path, reason in unreadable:
                self._refuse(path, reason)
            served = self._served
            floor = None
            if served is not None and served[0].folder.exists():
                floor = (served[0].created, served[0].name)
            for snapshot in found:
                if floor is not None and (snapshot.created, snapshot.name) <= floor:
                    return False
                if self._refused.get(snapshot.folder) == _state(snapshot.folder):
                    continue
                app = self._open(snapshot)
                if app is not None:
                    self._switch(snapshot, app)
                    return True
            return False

    def _open(self, snapshot: Snapshot) -> WsgiApp | None:
        started = time.perf_counter()
        try:
            verify(snapshot)
            app = self.open_app(snapshot)
            ready = Client(app).get("/readyz")
            if ready.status_code != 200:
                raise SnapshotRefused(f"{snapshot.name}: /readyz answered {ready.status_code}: "
                                      f"{ready.get_data(as_text=True)[:300]}")
        except Exception as exc:  # whatever stops a snapshot opening: refuse it, keep serving
            self._refuse(snapshot.folder, str(exc))
            return None
        metrics.IMPORT_SECONDS.labels("snapshot-load").observe(time.perf_counter() - started)
        return app

    def _refuse(self, folder: Path, reason: str) -> None:
        state = _state(folder)
        if self._refused.get(folder) == state:
            return  # said already for these files
        self._refused[folder] = state
        metrics.SNAPSHOTS_REFUSED.inc()
        served = self.snapshot
        log.error("refused snapshot %s: %s; %s", folder, reason,
                  f"still serving {served.name}" if served else "no snapshot served yet")

    def _switch(self, snapshot: Snapshot, app: WsgiApp) -> None:
        before = self.snapshot
        self._served = (snapshot, app)
        version = snapshot.version
        metrics.serving(version.id, snapshot.name, version.generation)
        log.info("now serving snapshot %s (%s, %s concepts)%s", snapshot.name, version.id,
                    snapshot.manifest.get("concepts", "?"),
                    f", after {before.name}" if before else "")

    def watch(self) -> threading.Thread:
        """Check every `poll_seconds` in a daemon thread until `stop()`."""
        def loop() -> None:
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.check()
                except Exception:  # a watcher that dies would leave the replica stale
                    log.exception("checking %s for snapshots failed", self.folder)

        thread = threading.Thread(target=loop, name="snapshot-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
