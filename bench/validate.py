"""Benchmark Claim/$validate of a 20-line claim, served by gunicorn the production way.

Run from the repository root:  python bench/validate.py [--duration 10] [--connections 1,16]

It imports the bundled samples into a fresh store in a temporary folder (what `txserver serve`
does on an empty store: CPT, the CMS add-on, MUE and PTP edits, ICD-10-CM, HCPCS) and serves
`server:create_app()` with gunicorn gthread (default 2 workers x 4 threads, each worker taking
its share of the connections: `--worker-connections`, default connections / workers; without
it, one worker may take all 16 connections and the other idle, which halves the throughput
from one run to the next), checks one answer, then drives
`POST /fhir/Claim/$validate` with `wrk` when it is on PATH (else a Python http.client load
generator, or with --python-client) at each connection count, in two ways:

- `same claim`: the one claim, byte for byte, every time (an EHR re-checking an order);
- `one line changed`: every request a different claim (identifier, patient) whose last line
  differs from all lines sent before (an order being edited, re-checked after each change);
- `all lines new`: every line of every claim has an id never sent before (the codes repeat).

The server checks a body against the FHIR R4B models (fhir.resources) part by part (the claim
without its items, each item) and remembers the parts the models accepted, with their ids,
sequence numbers, dates, units, patient and identifiers masked (those are checked on their own
by the same rules), as the model checks cost more than all the rest: a line whose other
elements (codes, modifiers, their systems) were never seen is parsed by the models in full.

Every coding of the claim is checked (CPT, HCPCS, ICD-10-CM), then the add-on, MUE, PTP and
modifier edits. It prints req/s, p50 and p99, then the verdict on the target: p50 <= 10 ms at
16 connections. Only 127.0.0.1 is used; the server's process group is stopped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lookup import (
    HOST,
    REPO,
    Endpoint,
    Result,
    Server,
    free_port,
    load_parser,
    lua_string,
    measure,
    parse_load_args,
    parse_wrk,
    print_table,
    python_load,
    request,
    server_env,
    wrk_load,
)

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
PATH = "/fhir/Claim/$validate"
TARGET_CONNECTIONS = 16
TARGET_P50_MS = 10.0
DAY = "2026-03-02"
# 20 lines of one visit: a visit with 25, facet joint destruction with add-ons, labs, drugs.
LINES: list[tuple[str, str, int, tuple[str, ...]]] = [
    (CPT, "99214", 1, ("25",)), (CPT, "64635", 1, ()), (CPT, "64636", 2, ()),
    (CPT, "64633", 1, ("59",)), (CPT, "64634", 1, ()), (CPT, "87593", 2, ()),
    (CPT, "87593", 2, ()), (CPT, "86701", 1, ()), (CPT, "1036F", 1, ()),
    (CPT, "0001A", 1, ()), (HCPCS, "J1100", 10, ()), (HCPCS, "A4253", 1, ()),
    (HCPCS, "G0008", 1, ()), (CPT, "00100", 1, ()), (CPT, "0901T", 1, ()),
    (CPT, "99252", 1, ()), (CPT, "0001U", 1, ()), (HCPCS, "E0601", 1, ()),
    (CPT, "87593", 1, ()), (CPT, "64636", 1, ()),
]


def claim(number: int | str, line_ids: str = "none") -> dict[str, Any]:
    """The 20-line claim; `line_ids` gives an id to no line ("none"), the last ("last") or
    every one ("all"), made of `number`, so that those lines differ from claim to claim."""
    items = []
    for sequence, (system, code, units, modifiers) in enumerate(LINES, start=1):
        item: dict[str, Any] = {"sequence": sequence,
                                "productOrService": {"coding": [{"system": system,
                                                                 "code": code}]},
                                "servicedDate": DAY, "quantity": {"value": units}}
        if modifiers:
            item["modifier"] = [{"coding": [{"system": CPT, "code": m}]} for m in modifiers]
        if line_ids == "all" or (line_ids == "last" and sequence == len(LINES)):
            item = {"id": f"line{sequence}-{number}", **item}
        items.append(item)
    return {
        "resourceType": "Claim", "id": f"bench-{number}",
        "identifier": [{"system": "urn:bench:claim", "value": str(number)}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "use": "claim", "patient": {"reference": f"Patient/{number}"}, "created": DAY,
        "provider": {"reference": "Practitioner/dr1"},
        "priority": {"coding": [{"system":
                                 "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
            "coding": [{"system": ICD, "code": "M47.816"}]}}],
        "item": items,
    }


PREPARE = ("import sys; from server import import_samples; from terminology.store import Store; "
           "store = Store(sys.argv[1]); store.create(); import_samples(store)")


# -- load with a different body each request ------------------------------------------------

MARK = "424242424242"  # replaced by a counter in each request
_RUNS = iter(range(1, 10**6))


def salt() -> str:
    """A prefix of the counters of one load run, so that no run repeats an earlier one's."""
    return f"{os.getpid() % 1000:03d}{next(_RUNS):03d}"


class FreshBodies:
    """An Endpoint for lookup.python_load whose body is a new claim at every request."""

    def __init__(self, name: str, template: bytes) -> None:
        self.name, self.server, self.method, self.path = name, "tx", "POST", PATH
        self.content_type = "application/fhir+json"
        self._parts = template.split(MARK.encode())
        self._salt = salt().encode()
        self._counter = itertools.count(1)

    @property
    def body(self) -> bytes:
        return (self._salt + b"%010d" % next(self._counter)).join(self._parts)


def wrk_load_fresh(name: str, wrk: str, port: int, template: bytes, connections: int,
                   seconds: float, tmp: Path) -> Result:
    """wrk with a Lua `request` that puts a counter into every body."""
    pieces = ", ".join(lua_string(p) for p in template.decode().split(MARK))
    script = tmp / f"{name.replace(' ', '-')}.lua"
    script.write_text(
        f"local parts = {{{pieces}}}\n"
        f"local counter = 0\nlocal salt = {lua_string(salt())}\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/fhir+json"\n'
        "request = function()\n"
        "  counter = counter + 1\n"
        '  local id = salt .. string.format("%010d", counter)\n'
        "  return wrk.format(nil, nil, nil, table.concat(parts, id))\n"
        "end\n")
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
            "-s", str(script), f"http://{HOST}:{port}{PATH}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout, Endpoint(name, "tx", "POST", PATH), connections)


# -- the run ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = load_parser(__doc__.split("\n\n")[0], workers=2, warmup=1.0)
    ap.add_argument("--worker-connections", type=int, default=0,
                    help="connections one worker takes (default: the most connections / "
                         "workers, so that each worker gets its share)")
    return parse_load_args(ap, argv)


def summary_of(body: bytes) -> str:
    outcome = orjson.loads(body)
    counts: dict[str, int] = {}
    for issue in outcome.get("issue", []):
        counts[issue["severity"]] = counts.get(issue["severity"], 0) + 1
    return ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items()))


def run(args: argparse.Namespace) -> int:
    wrk = None if args.python_client else shutil.which("wrk")
    tmp = Path(tempfile.mkdtemp(prefix="txbench-validate-"))
    server: Server | None = None
    try:
        db = tmp / "tx.db"
        print(f"importing the bundled samples into a fresh store {db} ...", flush=True)
        subprocess.run([sys.executable, "-c", PREPARE, str(db)], cwd=REPO, check=True,
                       env=server_env(tmp / "run-prepare"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
        port = free_port()
        per_worker = args.worker_connections or -(-max(args.conns) // args.workers)
        server = Server("txserver", [
            sys.executable, "-m", "gunicorn", "-k", "gthread", "--workers", str(args.workers),
            "--threads", str(args.threads), "--worker-connections", str(per_worker),
            "--keep-alive", "5", "-b", f"{HOST}:{port}", "server:create_app()",
        ], port, "/fhir/metadata", server_env(tmp / "run-tx", {"TX_DB": str(db)}),
            tmp / "txserver.log", REPO)
        print(f"starting gunicorn over server.create_app() on {HOST}:{port} ...", flush=True)
        server.start()
        same = orjson.dumps(claim(1))
        templates = {"one line changed": orjson.dumps(claim(MARK, "last")),
                     "all lines new": orjson.dumps(claim(MARK, "all"))}
        status, answer = request(port, "POST", PATH, same,
                                 {"Content-Type": "application/fhir+json"})
        if status != 200:
            raise RuntimeError(f"Claim/$validate answered HTTP {status}: {answer[:300]!r}")
        print(f"the 20-line claim ({len(same)} bytes) answers 200: {summary_of(answer)}")
        client = f"wrk ({wrk})" if wrk else "Python http.client threads"
        print(f"load generator: {client}; gunicorn gthread workers={args.workers} "
              f"threads={args.threads} worker-connections={per_worker}; {args.duration:g} s "
              f"per run; {os.cpu_count()} CPUs", flush=True)

        def load(kind: str, conns: int, seconds: float) -> Result:
            if kind == "same claim":
                ep = Endpoint(kind, "tx", "POST", PATH, same, "application/fhir+json")
                return (wrk_load(wrk, port, ep, conns, seconds, tmp) if wrk
                        else python_load(port, ep, conns, seconds))
            if wrk:
                return wrk_load_fresh(kind, wrk, port, templates[kind], conns, seconds, tmp)
            fresh: Any = FreshBodies(kind, templates[kind])
            return python_load(port, fresh, conns, seconds)

        results = measure(load, ("same claim", *templates), args, str)
        print()
        print_table(results)
        for r in results:
            if r.connections == TARGET_CONNECTIONS:
                met = r.p50_ms <= TARGET_P50_MS and r.errors == 0
                print(f"{'target met' if met else 'target missed'} ({r.endpoint}): p50 "
                      f"{r.p50_ms:.2f} ms at {TARGET_CONNECTIONS} connections (need <= "
                      f"{TARGET_P50_MS:.0f} ms), p99 {r.p99_ms:.2f} ms")
        return 0
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
