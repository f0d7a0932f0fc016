"""What a process does with glibc's malloc: how many arenas its threads keep, and giving
the system back the memory it holds freed. Elsewhere (musl, macOS) both do nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc's mallopt parameter


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
