"""Benchmark `$expand` with a text filter over HTTP, uncached, beside the bare endpoint.

Run from the repository root:  python bench/search.py [--duration 10] [--connections 1,16]
                                                      [--server granian|gunicorn] [--db PATH]

The store is bench/harness.py's (the samples with the full ICD-10-CM, a 2,000-concept code
system loaded with `import fhir`, the HL7 Terminology package). `txserver serve` runs with
TX_CACHE_BYTES=0 (no answer cache) beside bench/bare_app.py answering a captured 20-concept
expansion as fixed bytes, both under granian (or gunicorn) with the same workers and threads,
pinned to one core with wrk on the other. Each load asks `ValueSet/$expand?url=...&filter=
...&count=20`, the filters in turn:

- the 2,000-concept code system, narrow (`appendectomy number 12`: one match, 50 such
  filters in turn) and broad (`number`: all 2,000 match);
- the full ICD-10-CM (98,000 concepts), narrow (rare words: a handful of matches each) and
  broad (common words: hundreds to thousands of matches each).

The target: at least 1,500 req/s at 16 connections for each, and a cost that follows the page
(20 concepts), not the code system's size nor the number of matches.

The server keeps, for the store generation, the ranked candidates of the last 256 searches
and the match counts of the last 4,096 (terminology/store/search.py), so the loads above,
which repeat their filters, measure a search already ranked and counted. One more load, not
held to the target, shows the cost of a word's first search: every word of the store's
displays used by at least 3 concepts (about 6,500 over ICD-10-CM), one after another from a
start that changes each run, so that hardly any is asked twice.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from harness import GENERATED_URL, PROCEDURES, Load, Target, at_most, rps_at_least

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
TARGET_RPS, P99_MS = 1500.0, 8.0
ICD_NARROW = ("leptospirosis", "anthrax", "cholera", "tularemia", "brucellosis", "listeriosis",
              "psittacosis", "trachoma", "yaws", "pinta")
ICD_BROAD = ("diabetes", "fracture", "injury", "pain", "neoplasm", "infection", "disorder",
             "pregnancy", "dislocation", "burn")


def expand_paths(system: str, filters: list[str]) -> list[str]:
    return ["/fhir/ValueSet/$expand?" + urlencode(
        {"url": f"{system}?fhir_vs", "filter": text, "count": 20}, quote_via=quote)
        for text in filters]


def display_words(db: Path) -> list[str]:
    """Every word (4 letters or more) that at least 3 concepts' displays use, in no order a
    search favours (the index's term order)."""
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [term for (term,) in con.execute(
            "SELECT term FROM concept_search_vocab WHERE col = 'display' AND doc >= 3 "
            "AND length(term) >= 4 AND term NOT GLOB '*[^a-z]*'")]
    finally:
        con.close()


def loads(db: Path) -> list[Load]:
    narrow = [f"{name} number {n}" for name in PROCEDURES[:10] for n in (12, 17, 23, 38, 41)]
    group = "uncached $expand, filter, count=20 (TX_CACHE_BYTES=0)"
    first = expand_paths(ICD, display_words(db))
    return [
        Load("bare", "bare", "GET", expand_paths(GENERATED_URL, ["number"]), group="bare"),
        Load("2,000 concepts narrow", "tx", "GET", expand_paths(GENERATED_URL, narrow),
             group=group),
        Load("2,000 concepts broad", "tx", "GET", expand_paths(GENERATED_URL, ["number"]),
             group=group),
        Load("ICD-10-CM narrow", "tx", "GET", expand_paths(ICD, list(ICD_NARROW)), group=group),
        Load("ICD-10-CM broad", "tx", "GET", expand_paths(ICD, list(ICD_BROAD)), group=group),
        Load(f"ICD-10-CM, a word's first search ({len(first):,} words)", "tx", "GET", first,
             group="not a target: searches not yet ranked nor counted"),
    ]


def run(args: argparse.Namespace, tmp: Path) -> int:
    db = args.db or tmp / "tx.db"
    harness.prepare_store(db, tmp, package=not args.no_package)
    tx = harness.tx_server("txserver (TX_CACHE_BYTES=0)", db, args.opts, tmp,
                           {"TX_CACHE_BYTES": "0"})
    with harness.running([tx]):
        chosen = harness.wanted(args, loads(db))
        status, body = harness.request(tx.port, "GET", chosen[0].paths[0])
        if status != 200:
            raise RuntimeError(f"$expand answered HTTP {status}: {body[:300]!r}")
        body_file = tmp / "bare-body.json"
        body_file.write_bytes(body)
        bare = harness.bare_server(body_file, args.opts, tmp)
        with harness.running([bare]):
            names = [ld.name for ld in chosen if ld.group.startswith("uncached")]
            harness.report(args, tmp, {"bare": bare.port, "tx": tx.port}, chosen, [
                Target(">= 1,500 req/s", names, 16, rps_at_least(TARGET_RPS)),
                Target("p99 <= 8 ms", names, 16, at_most("p99_ms", P99_MS))], [tx])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = harness.parse(harness.parser(__doc__.split("\n\n")[0]), argv)
    return harness.main_wrapper(run, args)


if __name__ == "__main__":
    sys.exit(main())
