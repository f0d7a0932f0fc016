"""The writer's side of a replica set: after each write through the API, a new snapshot.

With TX_SNAPSHOT_PUBLISH=DIR the primary (the server that takes writes) writes a snapshot of
its store into DIR after every write that changed it, in a background thread, one at a time:
writes that land while a snapshot is being written are in the next one. Replicas watching DIR
(or a copy of it) move to it by themselves (web/replica.py). TX_SNAPSHOT_KEEP (default 5)
snapshots are kept.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from terminology.store.snapshots import prune, write_snapshot

DEFAULT_KEEP = 5
log = logging.getLogger("txserver.publish")


class SnapshotPublisher:
    def __init__(self, source: Path, folder: Path, software: str = "",
                 keep: int = DEFAULT_KEEP) -> None:
        self.source = Path(source)
        self.folder = Path(folder)
        self.software = software
        self.keep = keep
        self._lock = threading.Lock()
        self._pending = False
        self._worker: threading.Thread | None = None
        self.published = 0

    def changed(self) -> None:
        """The store changed: publish a snapshot soon (one for any number of changes)."""
        with self._lock:
            self._pending = True
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="snapshot-publisher",
                                                daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._worker = None
                    return
                self._pending = False
            try:
                snapshot = write_snapshot(self.source, self.folder, self.software)
                self.published += 1
                removed = prune(self.folder, self.keep)
                log.info("published snapshot %s%s", snapshot.folder,
                            f" (removed {len(removed)} older)" if removed else "")
            except Exception:  # the write itself has committed; the next change tries again
                log.exception("publishing a snapshot into %s failed", self.folder)

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for the snapshots pending to be written (tests, shutdown); True when idle."""
        with self._lock:
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self._worker is None
