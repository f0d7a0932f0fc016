"""Request bodies read within a limit: at most the configured size, and 413 above it whether
the client sent a Content-Length or chunks (werkzeug alone cuts a chunked body silently)."""

from __future__ import annotations

from flask import current_app, request

from terminology.errors import InvalidRequest


def too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"The request body is larger than the limit of {limit} bytes",
                          status=413, issue_code="too-costly")


def read_body() -> bytes:
    """The whole body, or 413 when it is over the limit (never a silently cut body)."""
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    if request.content_length is not None:
        if request.content_length > limit:
            raise too_large(limit)
        return request.get_data(cache=False)
    data: bytes = request.environ["wsgi.input"].read(limit + 1)  # chunked: no length sent
    if len(data) > limit:
        raise too_large(limit)
    return data
