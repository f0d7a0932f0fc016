"""A small LRU of GET responses for the hot read operations ($lookup, $validate-code, $expand).

An EHR asks for the same handful of codes all day: the same GET with the same query string (and
Accept-Language) gets the same answer while the store's generation and the day (which sets the
default CPT year) stay the same. Only 200 answers are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from terminology import clock


class ResponseCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, path: str, query: bytes, language: str | None, generation: int,
            *more: str | None) -> tuple:
        return (path, query, language, generation, clock.today(), *more)

    def get(self, key: tuple) -> bytes | None:
        if self.size <= 0:
            return None
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = body
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
