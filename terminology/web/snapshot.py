"""Every request reads one store generation from start to end.

Before a request runs, its thread is pinned to the generation committed at that moment
(`StoreRegistry.snapshot`: a read transaction on the store and that generation's providers);
the pin is released when the request ends. An import committing meanwhile is seen by the next
request, never by half of this one, and the answer cache keys answers by that generation.
"""

from __future__ import annotations

from contextlib import ExitStack

from flask import Flask, g, request

from terminology.registry import StoreRegistry

_STACK = "tx_snapshot"


def install(app: Flask, registry: StoreRegistry, unpinned: frozenset[str] = frozenset()) -> None:
    """`unpinned`: blueprints whose requests need no pin: writes (their own read transaction
    would hold back the write's checkpoint until it timed out) and health checks (which must
    answer 503 when the store cannot be read, not fail before they run)."""
    @app.before_request
    def pin_generation() -> None:
        if request.blueprint in unpinned:
            return
        stack = ExitStack()
        stack.enter_context(registry.snapshot())
        setattr(g, _STACK, stack)

    @app.teardown_request
    def release_generation(_error: BaseException | None) -> None:
        stack: ExitStack | None = g.pop(_STACK, None)
        if stack is not None:
            stack.close()
