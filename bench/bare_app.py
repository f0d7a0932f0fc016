"""The bare baseline of the HTTP benchmarks: one Flask route answering a fixed Parameters JSON.

The body is an answer captured from the real server (the benchmark writes it to a file and
names it in BENCH_BARE_BODY). It is parsed once here and serialised with orjson on every
request, as the real server does with its answer, and a POSTed body is read, so the
difference between the two servers under the same WSGI server is the terminology work
(parsing, store, rendering), not Flask, the WSGI server or the socket. Every path under /fhir
answers it, GET or POST.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from flask import Flask, Response, request

FHIR_JSON = "application/fhir+json; charset=utf-8"
_FALLBACK = {"resourceType": "Parameters",
             "parameter": [{"name": "name", "valueString": "ICD-10-CM"},
                           {"name": "code", "valueCode": "E11.9"}]}


def create_app() -> Flask:
    path = os.environ.get("BENCH_BARE_BODY")
    body = orjson.loads(Path(path).read_bytes()) if path else _FALLBACK
    app = Flask(__name__)

    @app.route("/fhir/<path:anything>", methods=["GET", "POST"])
    def answer(anything: str) -> Response:
        if request.method == "POST":
            request.get_data()
        return Response(orjson.dumps(body), status=200, content_type=FHIR_JSON)

    return app


app = create_app()
