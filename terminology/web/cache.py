"""A small LRU of GET answers of the API, bounded by bytes (used by web/http_cache.py).

An EHR asks for the same handful of codes all day: the same GET with the same query string and
headers gets the same answer while the store's generation and the day (which sets the default
CPT year and the facts in force) stay the same; http_cache.py makes the key of those. 200
answers are kept, and refusals that follow from the request alone (a 404, a 422 too-costly
expansion), so that asking again for something refused costs as little as a repeated answer.
The cache is bounded by bytes, not by count: one ICD-10-CM expansion can be 750 KB, so
thousands of entries could hold gigabytes. An answer over the per-answer limit is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

# per worker process: with ICD-10-CM, the samples and the HL7 Terminology package a worker holds
# ~95 MB before it answers anything; its peak (the target: 150 MB) is that, this, and the
# concepts and value sets kept parsed (~15 MB)
DEFAULT_BYTES = 24 * 1024 * 1024
DEFAULT_ANSWER_BYTES = 1024 * 1024
ENTRY_OVERHEAD = 500  # the dict slot, the key tuple, the str and bytes headers (measured)

Key = tuple[object, ...]


def _key_bytes(key: Key) -> int:
    return sum(len(part) for part in key if isinstance(part, (str, bytes)))


class ResponseCache:
    """At most `max_bytes` of answers (bodies and keys); none larger than `max_answer_bytes`.
    `max_bytes` 0 turns the cache off."""

    def __init__(self, max_bytes: int = DEFAULT_BYTES,
                 max_answer_bytes: int = DEFAULT_ANSWER_BYTES) -> None:
        self.max_bytes = max_bytes
        self.max_answer_bytes = min(max_answer_bytes, max_bytes)
        self.bytes = 0  # what the entries held now count
        self._items: OrderedDict[Key, tuple[bytes, int, int]] = OrderedDict()  # body, size, status
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def bodies(self) -> Iterator[bytes]:
        with self._lock:
            held = [body for body, _, _ in self._items.values()]
        yield from held

    def get(self, key: Key) -> bytes | None:
        """A kept 200 answer's body."""
        found = self.answer(key)
        return found[1] if found is not None and found[0] == 200 else None

    def answer(self, key: Key) -> tuple[int, bytes] | None:
        """A kept answer: (HTTP status, body)."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[2], found[0]

    def put(self, key: Key, body: bytes, status: int = 200) -> None:
        if len(body) > self.max_answer_bytes:
            return
        # kept as a copy of its own length: orjson's bytes keep the buffer they were written
        # into (8 KiB for a 700-byte $lookup answer), ten times what the bound counts
        body = memoryview(body).tobytes()
        size = len(body) + _key_bytes(key) + ENTRY_OVERHEAD
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.max_bytes:
                return
            while self._items and self.bytes + size > self.max_bytes:
                _, (_, dropped, _) = self._items.popitem(last=False)
                self.bytes -= dropped
            self._items[key] = (body, size, status)
            self.bytes += size
