"""Profile the request path in-process: the WSGI app called directly, no socket, no server.

Run from the repository root:  python bench/profile_requests.py --db STORE [--op lookup]
                                   [--requests 3000] [--cache] [--top 35]

STORE is a store built by bench/lookup.py (--db). Each request of the chosen operation goes
through the whole WSGI app (middleware, Flask, the view, the store, the rendering) with a
different ICD-10-CM code (the answer cache is off unless --cache, when one request repeats).
Prints the time per request and cProfile's top functions by their own time and cumulative.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import lookup

import server


def environs(db: Path, op: str, n: int, repeat: bool) -> list[dict[str, object]]:
    method, paths, bodies = lookup.operations(lookup.icd_codes(db))[op]
    out = []
    for i in range(n):
        j = 0 if repeat else i % len(paths)
        path, _, query = paths[j].partition("?")
        builder = EnvironBuilder(path=path, query_string=query, method=method,
                                 data=bodies[j] if bodies else None,
                                 content_type="application/fhir+json" if bodies else None)
        out.append(builder.get_environ())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--op", default="$lookup",
                    choices=list(lookup.operations([("A00.0", "x")] * 2)))
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--cache", action="store_true", help="answer cache on, one request repeated")
    ap.add_argument("--top", type=int, default=35)
    args = ap.parse_args()
    app = server.create_app({"DB": str(args.db), "CACHE_BYTES": 64 << 20 if args.cache else 0})
    envs = environs(args.db, args.op, args.requests, args.cache)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None
                       ) -> None:
        if not status.startswith("200"):
            raise RuntimeError(status)

    def call(environ: dict[str, object]) -> None:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(environ["wsgi.input"].getvalue())  # type: ignore[attr-defined]
        body = app.wsgi_app(env, start_response)
        b"".join(body)
        close = getattr(body, "close", None)
        if close:
            close()

    for environ in envs[:200]:
        call(environ)  # warm
    start = time.perf_counter()
    for environ in envs:
        call(environ)
    per = (time.perf_counter() - start) / len(envs) * 1e6
    print(f"{args.op}{' (cached)' if args.cache else ''}: {per:.0f} us per request "
          f"(no profiler)")
    profile = cProfile.Profile()
    profile.enable()
    for environ in envs:
        call(environ)
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
