"""Benchmark $lookup and $validate-code beside the bare endpoint, under the same WSGI server.

Run from the repository root:  python bench/lookup.py [--duration 10] [--connections 1,16]
                                                      [--server granian|gunicorn] [--db PATH]

It builds a store (the samples with the full ICD-10-CM, the 2,000-concept code system of
bench/harness.py, the HL7 Terminology package) and serves it with `txserver serve` twice: once
as configured (the answer cache on) and once with TX_CACHE_BYTES=0 (no answer cache), beside
bench/bare_app.py answering the captured $lookup answer as fixed bytes, all three under granian
(or gunicorn) with the same workers and threads, pinned to one core with wrk on the other.

Each operation is measured twice: `cached`, the same URL (or body) over and over on the first
server; `uncached`, 200 different ICD-10-CM codes in turn (a wrk Lua script) on the second:
- $lookup GET;
- CodeSystem/$validate-code GET with the code's display;
- CodeSystem/$validate-code POST with a Parameters resource holding a Coding;
- ValueSet/$validate-code GET on the ICD-10-CM implicit value set.
Every figure is printed with its ratio to the bare endpoint's req/s at the same connection
count, then the verdict on the targets and each server's peak memory per worker; then (unless
--no-memory) every value set served is expanded once on the cached server, filling its answer
cache, and its peak memory per worker is read again; then every ICD-10-CM code is validated
with its display, distinct answers filling the answer cache to its bound, and the peak read
once more (target: at most 150 MB, cache included).
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlencode

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from harness import Load, Target, at_most, ratio_at_least

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ICD_VS = f"{ICD}?fhir_vs"
CODES = 200
UNCACHED_RATIO, CACHED_RATIO, P99_MS, P50_MS, MEMORY_MB = 0.6, 0.85, 8.0, 0.3, 150.0


def icd_codes(db: Path, n: int = CODES) -> list[tuple[str, str]]:
    """`n` ICD-10-CM codes that can be billed, spread over the code system, with displays
    (0: every one)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT c.code, c.display FROM concept c JOIN code_system s ON s.id = c.cs_id "
            "WHERE s.url = ? AND c.abstract = 0 AND c.inactive = 0 AND c.display IS NOT NULL "
            "ORDER BY s.version DESC, c.code", (ICD,)).fetchall()
    finally:
        con.close()
    if n == 0:
        return [(code, display) for code, display in rows]
    if len(rows) < n:
        raise RuntimeError(f"the store holds only {len(rows)} ICD-10-CM codes")
    step = len(rows) // n
    return [(rows[i * step][0], rows[i * step][1]) for i in range(n)]


def q(**args: str) -> str:
    return urlencode(args, quote_via=quote)


def operations(codes: list[tuple[str, str]]) -> dict[str, tuple[str, list[str], list[bytes]]]:
    """name -> (method, paths, bodies), one request per code."""
    post = [orjson.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "coding", "valueCoding": {"system": ICD, "code": c, "display": d}}]})
        for c, d in codes]
    return {
        "$lookup": ("GET", [f"/fhir/CodeSystem/$lookup?{q(system=ICD, code=c)}"
                            for c, _ in codes], []),
        "CS $validate-code": ("GET", [
            f"/fhir/CodeSystem/$validate-code?{q(url=ICD, code=c, display=d)}"
            for c, d in codes], []),
        "CS $validate-code POST": ("POST", ["/fhir/CodeSystem/$validate-code"] * len(codes),
                                   post),
        "VS $validate-code": ("GET", [
            f"/fhir/ValueSet/$validate-code?{q(url=ICD_VS, system=ICD, code=c)}"
            for c, _ in codes], []),
    }


def loads(codes: list[tuple[str, str]]) -> list[Load]:
    out = [Load("bare", "bare", "GET", [operations(codes)["$lookup"][1][0]], group="bare")]
    for name, (method, paths, bodies) in operations(codes).items():
        ctype = "application/fhir+json" if method == "POST" else None
        label = f"{name} repeated (not kept)" if method == "POST" else f"{name} cached"
        out.append(Load(label, "cached", method, paths[:1], bodies[:1], ctype,
                        group="cached: one request repeated (POSTs are never kept)"))
    for name, (method, paths, bodies) in operations(codes).items():
        ctype = "application/fhir+json" if method == "POST" else None
        out.append(Load(f"{name} uncached", "uncached", method, paths, bodies, ctype,
                        group=f"uncached: {len(codes)} codes in turn, TX_CACHE_BYTES=0"))
    return out


def targets(names: list[str]) -> list[Target]:
    cached = [n for n in names if n.endswith(" cached")]
    uncached = [n for n in names if n.endswith(" uncached")]
    return [
        Target("uncached >= 0.6 of bare", uncached, 16, ratio_at_least(UNCACHED_RATIO)),
        Target("cached >= 0.85 of bare", cached, 16, ratio_at_least(CACHED_RATIO)),
        Target("p99 <= 8 ms", cached + uncached, 16, at_most("p99_ms", P99_MS)),
        Target("p50 <= 0.3 ms", cached + uncached, 1, at_most("p50_ms", P50_MS)),
    ]


def expand_every_value_set(port: int) -> str:
    """GET $expand of every value set served, one after the other (the answers fill the cache;
    the catalog reads each value set): what the memory target is measured after."""
    status, body = harness.request(port, "GET", "/fhir/ValueSet?_count=1000&_elements=url")
    urls: list[str] = []
    offset = 0
    while status == 200:
        bundle = orjson.loads(body)
        urls += [e["resource"]["url"] for e in bundle.get("entry", []) if "url" in e["resource"]]
        offset += 1000
        if offset >= bundle.get("total", 0):
            break
        status, body = harness.request(port, "GET", f"/fhir/ValueSet?_count=1000&_offset="
                                                    f"{offset}&_elements=url")
    answered: Counter[int] = Counter()
    for url in urls:
        code, _ = harness.request(port, "GET", "/fhir/ValueSet/$expand?" + q(url=url))
        answered[code] += 1
    return f"{len(urls)} value sets expanded: {_by_status(answered)}"


def _by_status(answered: Counter[int]) -> str:
    return ", ".join(f"{n} answered {code}" for code, n in sorted(answered.items()))


def fill_answer_cache(port: int, db: Path) -> str:
    """GET $validate-code of every ICD-10-CM code with its display, one after the other, over
    one kept-alive connection: distinct answers until the answer cache is full (what the
    memory target, cache included, is measured after)."""
    codes = icd_codes(db, n=0)
    conn = http.client.HTTPConnection(harness.HOST, port, timeout=30)
    answered: Counter[int] = Counter()
    sent = 0
    try:
        for code, display in codes:
            path = f"/fhir/CodeSystem/$validate-code?{q(url=ICD, code=code, display=display)}"
            conn.request("GET", path)
            response = conn.getresponse()
            sent += len(response.read())
            answered[response.status] += 1
    finally:
        conn.close()
    return (f"{len(codes)} ICD-10-CM codes validated ({sent / 2**20:.0f} MiB of answers): "
            f"{_by_status(answered)}")


def run(args: argparse.Namespace, tmp: Path) -> int:
    db = args.db or tmp / "tx.db"
    harness.prepare_store(db, tmp, package=not args.no_package)
    codes = icd_codes(db)
    cached = harness.tx_server("txserver (answer cache on)", db, args.opts, tmp)
    uncached = harness.tx_server("txserver (TX_CACHE_BYTES=0)", db, args.opts, tmp,
                                 {"TX_CACHE_BYTES": "0"})
    with harness.running([cached, uncached]):
        status, body = harness.request(cached.port, "GET", loads(codes)[0].paths[0])
        if status != 200:
            raise RuntimeError(f"$lookup answered HTTP {status}: {body[:300]!r}")
        body_file = tmp / "bare-body.json"
        body_file.write_bytes(body)
        bare = harness.bare_server(body_file, args.opts, tmp)
        with harness.running([bare]):
            ports = {"bare": bare.port, "cached": cached.port, "uncached": uncached.port}
            chosen = harness.wanted(args, loads(codes))
            harness.report(args, tmp, ports, chosen, targets([ld.name for ld in chosen]),
                           [cached, uncached], MEMORY_MB)
            if not args.no_memory:
                print(f"then on the cached server, {expand_every_value_set(cached.port)}")
                print("\n".join(harness.memory_lines([cached], MEMORY_MB)))
                print(f"then {fill_answer_cache(cached.port, db)}")
                print("\n".join(harness.memory_lines([cached], MEMORY_MB)))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = harness.parser(__doc__.split("\n\n")[0])
    ap.add_argument("--no-memory", action="store_true",
                    help="skip expanding every value set before the last memory reading")
    args = harness.parse(ap, argv)
    return harness.main_wrapper(run, args)


if __name__ == "__main__":
    sys.exit(main())
