"""Running the WSGI app: granian by default, gunicorn's gthread workers as the alternative.

granian reads requests on its own Rust event loop and hands only complete requests to the
Python threads, so a slow client holds a socket, not a worker thread; measured here it serves a
bare Flask endpoint at ~2.5x gunicorn's rate on one core (bench/lookup.py prints both).

Neither server writes the access log: the app does (web/access_log.py, TX_ACCESS_LOG), in the
same standard format whichever server runs it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

M_ARENA_MAX = -8  # glibc's mallopt parameter
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
    release_freed_memory()


def release_freed_memory() -> bool:
    """Give the system back the memory malloc holds freed (glibc's malloc_trim): building the
    catalog reads every code system's resource and drops most of it, and glibc kept those
    22 MB (a worker with ICD-10-CM and the HL7 Terminology package: 92 MB at start, 70 MB
    trimmed). Says whether it could (only glibc has malloc_trim)."""
    libc = _glibc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except AttributeError:
        return False
    return True


def limit_malloc_arenas(arenas: int) -> bool:
    """Let glibc's malloc keep at most `arenas` arenas for this process's threads (0: leave
    its default). By default it makes up to 8 per core and each thread allocates from its own,
    so what one request freed stays held by the arena of the thread that ran it: after every
    value set of the HL7 Terminology package was expanded once, a worker of 8 threads held
    158 MB, 134 MB with 2 arenas (the interpreter lock runs one thread at a time anyway).
    Says whether it was set (only glibc has mallopt)."""
    libc = _glibc()
    if arenas <= 0 or libc is None:
        return False
    try:
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except AttributeError:
        return False


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library, found once (find_library runs ldconfig: 3-5 ms)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
