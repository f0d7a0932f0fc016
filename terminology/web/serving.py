"""Running the WSGI app: granian by default, gunicorn's gthread workers as the alternative.

granian reads requests on its own Rust event loop and hands only complete requests to the
Python threads, so a slow client holds a socket, not a worker thread; measured here it serves a
bare Flask endpoint at ~2.5x gunicorn's rate on one core (bench/lookup.py prints both).

Neither server writes the access log: the app does (web/access_log.py, TX_ACCESS_LOG), in the
same standard format whichever server runs it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from terminology import heap

# Python threads per worker. They share one interpreter lock, so more threads do not add
# throughput on a core; they add requests in flight, each waiting its turn for the lock at
# every SQLite call, and so the tail: at 16 connections on one core, p99 25-34 ms with 8
# threads, 14-18 with 4, 10 with 2, for the same req/s with 4 as with 8 (bench/lookup.py,
# 2026-12-03). granian queues what waits beyond them, in order.
DEFAULT_THREADS = 4
HEADER_READ_TIMEOUT_MS = 10_000  # a client must send its request headers within this time


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    workers: int
    threads: int


def run_granian(target: str, settings: Settings) -> None:
    """Serve `target` ("module:factory", called once per worker) until stopped."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    Granian(
        target,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        log_access=False,
        respawn_failed_workers=True,
        websockets=False,
    ).serve()


def run_gunicorn(factory: Callable[[], Any], settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("threads", settings.threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("keepalive", 5)
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", None)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return factory()

    Gunicorn().run()


def settle_heap() -> None:
    """Collect once, then take every object alive now out of the cyclic collector's scans
    (gc.freeze). What a worker builds at start (modules, the catalog, the vocabulary) lives as
    long as the worker, yet each full collection walks all of it while every thread of the
    worker waits: 125-140 ms with ICD-10-CM and the HL7 Terminology package loaded, the first
    of them during the first requests served. Reference counting still frees these objects."""
    gc.collect()
    gc.freeze()
    heap.release_freed_memory()
