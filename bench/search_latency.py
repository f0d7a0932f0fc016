"""Benchmark the first start (the full ICD-10-CM import) and ranked text search, in-process.

Run from the repository root:  python bench/search_latency.py [--repeat 300]

(bench/search.py measures $expand with a filter over HTTP, beside the bare endpoint.)

It builds a fresh store in a temporary folder exactly as a first `txserver serve` does
(server.import_samples: the CPT and CMS samples, the full ICD-10-CM from the simple-icd-10-cm
package, the ICD-10-PCS and HCPCS samples) and prints how long that took, the ICD-10-CM part
alone (parsing and storing), and the store's size on disk. Then it times searches, each query
`--repeat` times after one warm-up call, and prints p50 and p99 in milliseconds for:

- `SqlProvider.search` over ICD-10-CM (the store's FTS5 query, a typed code first);
- `Registry.search` over every code system at once (one ranked query across all of them);
- `ValueSet/$expand?filter=` through the Flask app's test client (no HTTP, no response cache),
  on the implicit value set of all ICD-10-CM codes and on the all-codes value set.

Queries: a broad word (`diabetes`, 647 ICD-10-CM concepts), a rare word (`leptospirosis`, 6), a
code typed with its dot (`E11.9`) and without (`e119`), and two words (`fracture femur`). Figures
are for one thread on this machine; compare them only within one run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import server
from codesystems.icd10cm import loader as icd_loader
from codesystems.sources import store_code_system
from terminology.store import Store

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ALL_CODES = "urn:txserver:ValueSet/all-codes"
QUERIES = ("diabetes", "leptospirosis", "E11.9", "e119", "fracture femur")


def size_mb(path: Path) -> float:
    """The store's size on disk once the write-ahead log is folded in."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(p50, p99) in milliseconds of `repeat` calls after one warm-up call."""
    call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="timed calls per query")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="txbench-"))
    try:
        run(folder, args.repeat)
    finally:
        for name in os.listdir(folder):
            (folder / name).unlink()
        folder.rmdir()


def run(folder: Path, repeat: int) -> None:
    # -- the ICD-10-CM import alone, then a whole first start ------------------------------
    alone = Store(folder / "icd.db")
    alone.create()
    start = time.perf_counter()
    parsed = icd_loader.read_source()
    parse_s = time.perf_counter() - start
    start = time.perf_counter()
    store_code_system(alone, parsed)
    store_s = time.perf_counter() - start
    icd_mb = size_mb(alone.path)
    alone.close()

    path = folder / "tx.db"
    store = Store(path)
    store.create()
    start = time.perf_counter()
    server.import_samples(store)
    first_start_s = time.perf_counter() - start
    total_mb = size_mb(path)

    print()
    print(f"ICD-10-CM {parsed.version}: {len(parsed.concepts):,} concepts, "
          f"{icd_loader.billable_count(parsed):,} billable")
    print(f"  import: {parse_s + store_s:.2f} s (parse {parse_s:.2f} s, store {store_s:.2f} s); "
          f"store alone {icd_mb:.1f} MB")
    print(f"first start (CPT + CMS samples, full ICD-10-CM, PCS and HCPCS samples): "
          f"{first_start_s:.2f} s; store {total_mb:.1f} MB on disk")

    # -- searches --------------------------------------------------------------------------
    app = server.create_app({"DB": str(path), "CACHE_BYTES": 0})
    registry = app.extensions["registry"]
    provider = registry.resolve(ICD)
    client = app.test_client()

    def expand(url: str, text: str) -> Callable[[], object]:
        query = {"url": url, "filter": text, "count": "20"}

        def call() -> object:
            response = client.get("/fhir/ValueSet/$expand", query_string=query)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return response

        return call

    rows = []
    for text in QUERIES:
        first = provider.search(text, 20)[:1]
        rows.append((text, first[0] if first else "-", [
            timed(lambda t=text: provider.search(t, 20), repeat),
            timed(lambda t=text: registry.search(t, 20), repeat),
            timed(expand(f"{ICD}?fhir_vs", text), repeat),
            timed(expand(ALL_CODES, text), repeat),
        ]))
    heads = ("ICD search", "all systems", "$expand ICD", "$expand all-codes")
    print(f"\nsearch latency, ms (p50 / p99 of {repeat} calls, 20 results, one thread)")
    print(f"{'query':<16}{'first hit':<11}" + "".join(f"{h:>20}" for h in heads))
    for text, first, figures in rows:
        cells = "".join(f"{f'{p50:.2f} / {p99:.2f}':>20}" for p50, p99 in figures)
        print(f"{text:<16}{first:<11}{cells}")


if __name__ == "__main__":
    main()
