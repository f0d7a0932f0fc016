"""The bare baseline for bench/lookup.py: one Flask route answering a fixed Parameters JSON.

The body is the $lookup answer for CPT 64636 captured from the real server; bench/lookup.py
writes it to a file and names it in BENCH_BARE_BODY. It is parsed once here and serialised with
orjson on every request, as the real server does with its answer, so the difference between
the two servers is the terminology work (parsing, store, rendering), not Flask or gunicorn.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from flask import Flask, Response

FHIR_JSON = "application/fhir+json; charset=utf-8"
_FALLBACK = {"resourceType": "Parameters",
             "parameter": [{"name": "name", "valueString": "CPT"},
                           {"name": "code", "valueCode": "64636"}]}

_path = os.environ.get("BENCH_BARE_BODY")
BODY = orjson.loads(Path(_path).read_bytes()) if _path else _FALLBACK

app = Flask(__name__)


@app.route("/fhir/CodeSystem/$lookup", methods=["GET"])
def lookup() -> Response:
    return Response(orjson.dumps(BODY), status=200, content_type=FHIR_JSON)
