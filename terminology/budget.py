"""A time budget per request: work that can grow with the data (expansions, membership tests
over many codes, text search, long listings) checks it as it goes and stops with
`too-costly` once it is spent, so no request holds a worker for longer than the budget.

The budget lives in a context variable set when a request starts (`started`); code outside a
request (imports, the command line) has none and is never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from terminology.errors import OverBudget

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("tx_deadline", default=None)


@contextmanager
def started(seconds: float) -> Iterator[None]:
    """Give the code run inside `seconds` of wall time (0 or less: no budget)."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds) if seconds > 0 else None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left, or None when there is no budget."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline[0] - time.monotonic())


def check(what: str) -> None:
    """Raise OverBudget (too-costly) when the budget is spent (cheap enough to call per item)."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline[0]:
        raise OverBudget(f"{what} took longer than this server allows for one request "
                        f"({deadline[1]:g} s)", message_id="TX_TIME_BUDGET")
