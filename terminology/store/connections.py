"""Where the store lives and how it is opened: one read-only connection per thread, and a
short-lived writer connection per import.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def default_path() -> Path:
    """`TX_DB`, else the user's data folder (XDG), else ~/.local/share."""
    if os.environ.get("TX_DB"):
        return Path(os.environ["TX_DB"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "txserver" / "tx.db"


class Connections:
    """One SQLite database file. Cheap to share between threads: each thread reads on its own."""

    def __init__(self, path: str | os.PathLike[str], immutable: bool = False) -> None:
        """`immutable`: a file that nothing writes while it is open (a snapshot): SQLite then
        reads it without locks or change checks."""
        self.path = Path(path)
        self.immutable = immutable
        self._local = threading.local()

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA busy_timeout = 30000")
            yield con
        finally:
            con.close()

    def _reader(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            uri = self.path.resolve().as_uri() + ("?mode=ro&immutable=1" if self.immutable
                                                  else "?mode=ro")
            con = sqlite3.connect(uri, uri=True, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA query_only = ON")
            self._local.con = con
        return con

    def _snapshot_kept(self) -> dict[tuple[object, ...], Any] | None:
        """Answers kept for the rest of this thread's snapshot (Reads.snapshot: one request);
        None outside one, where nothing is kept."""
        con = self._reader()
        if not con.in_transaction:
            return None
        kept: dict[tuple[object, ...], Any] | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = {}
        return kept

    def _generation(self) -> int:
        """The store's generation: the one this thread's snapshot reads when inside one (read
        once, when it began: Reads.snapshot), else read now."""
        con = self._reader()
        kept: int | None = getattr(self._local, "generation", None)
        if kept is not None and con.in_transaction:
            return kept
        return _read_generation(con)

    def _begin_snapshot(self) -> int:
        """Start this thread's read transaction and fix it (the first read does): its generation."""
        con = self._reader()
        con.execute("BEGIN")
        generation = self._local.generation = _read_generation(con)
        return generation

    def _end_snapshot(self) -> None:
        """End this thread's read transaction, and forget what it kept."""
        self._local.kept = None
        self._local.generation = None
        con = self._reader()
        if con.in_transaction:
            con.execute("ROLLBACK")

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


def _read_generation(con: sqlite3.Connection) -> int:
    row = con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(row[0]) if row else 0
