"""The long version of tests/test_fuzz.py, and a mixed load with memory watched, against a
real `txserver serve`.

Run from the repository root:  python bench/soak.py [--fuzz 30000] [--minutes 10] [--db PATH]

1. fuzz: --fuzz requests drawn from the same generators as tests/test_fuzz.py (GET queries,
   Parameters bodies around damaged inline resources, deep nesting, huge numbers, stray
   bytes), sent over HTTP; every 5xx, and every API error that is not an OperationOutcome, is
   printed; the count by status at the end.
2. load: 16 client threads for --minutes with a realistic mix ($lookup 60 %, $validate-code
   20 %, text-filtered $expand 10 %, an expansion page 5 %, a search 5 %, codes cycling); each
   minute prints requests, errors, 5xx and the largest worker's resident memory, now and at
   its peak.

Only 127.0.0.1 is used; the server's process group is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from abuse import HOST, free_port, start_server, stop  # noqa: E402

from terminology.web import serving  # noqa: E402

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CODES = ["99202", "99213", "64636", "99203", "99212", "64635", "99214", "99215", "0001A",
         "99213:25", "99999"]
ICD_CODES = ["E11.9", "I10", "J18.9", "S72.001A", "E11", "Z00.00"]


def worker_memory(server_pid: int) -> str:
    """The resident memory of the server's largest worker, now and at its peak (VmRSS, VmHWM):
    the processes of its process group but the group's leader (granian's parent)."""
    largest = (0, 0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == server_pid:
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != server_pid:  # its process group
                continue
            fields = dict(line.split(":", 1) for line in
                          (entry / "status").read_text().splitlines() if ":" in line)
            largest = max(largest, (int(fields["VmRSS"].split()[0]),
                                    int(fields["VmHWM"].split()[0])))
        except (OSError, ValueError, IndexError, KeyError):
            continue
    return f"worker memory {largest[0] / 1024:.0f} MB (peak {largest[1] / 1024:.0f} MB)"


def fuzz(port: int, count: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import test_fuzz as generators

    statuses: dict[int, int] = {}
    bad: list[str] = []
    connection = [http.client.HTTPConnection(HOST, port, timeout=60)]

    def send(method: str, path: str, body: bytes | None, kind: str) -> None:
        for attempt in (1, 2):  # the server may close a kept-alive connection: reconnect once
            try:
                connection[0].request(method, path, body=body,
                                      headers={"Content-Type": kind} if kind else {})
                response = connection[0].getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                connection[0].close()
                connection[0] = http.client.HTTPConnection(HOST, port, timeout=60)
                if attempt == 2:
                    bad.append(f"{method} {path[:120]}: {type(exc).__name__}")
                    return
        statuses[response.status] = statuses.get(response.status, 0) + 1
        is_outcome = data[:40].find(b'"OperationOutcome"') >= 0 or b'OperationOutcome' in data
        if response.status >= 500 or (response.status >= 400 and path.startswith("/fhir")
                                       and response.status != 503 and not is_outcome):
            bad.append(f"{response.status} {method} {path[:120]} {data[:200]!r}")

    @settings(max_examples=count // 2, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(generators.OPERATIONS + generators.READS + generators.PAGES),
           query=generators.QUERY)
    def gets(path: str, query: list[tuple[str, str]]) -> None:
        send("GET", f"{path}?{urlencode(query)}", None, "")

    @settings(max_examples=count // 2, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(generators.OPERATIONS + generators.VALIDATES),
           body=generators.PARAMETERS_BODY)
    def posts(path: str, body: object) -> None:
        send("POST", path, json.dumps(body).encode(), "application/fhir+json")

    began = time.monotonic()
    gets()
    posts()
    took = time.monotonic() - began
    total = sum(statuses.values())
    print(f"fuzz: {total} requests in {took:.0f} s; by status {dict(sorted(statuses.items()))}")
    print(f"fuzz: {len(bad)} failures (5xx, an API error that is not an OperationOutcome, or "
          "a broken connection)")
    for line in bad[:30]:
        print("  " + line)


def mixed_request(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return "/fhir/CodeSystem/$lookup?" + urlencode({"system": CPT, "code": rng.choice(CODES)})
    if roll < 0.8:
        system, code = rng.choice([(CPT, rng.choice(CODES)), (ICD, rng.choice(ICD_CODES))])
        return "/fhir/CodeSystem/$validate-code?" + urlencode({"url": system, "code": code})
    if roll < 0.9:
        word = rng.choice(["diabetes", "fracture", "pneumonia", "office visit", "nerve block"])
        return "/fhir/ValueSet/$expand?" + urlencode(
            {"url": f"{ICD}?fhir_vs", "filter": word, "count": "20"})
    if roll < 0.95:
        return "/fhir/ValueSet/$expand?" + urlencode(
            {"url": f"{ICD}?fhir_vs=isa/E11", "count": "50", "offset": str(rng.randrange(100))})
    return "/search?" + urlencode({"q": rng.choice(["diabetes", "knee", "asthma", "99213"])})


def load(port: int, server_pid: int, minutes: float, threads: int = 16) -> None:
    counts = {"requests": 0, "errors": 0, "5xx": 0, "503": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + minutes * 60

    def client(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        while time.monotonic() < stop_at:
            try:
                connection.request("GET", mixed_request(rng))
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=60)
                status = 0
            with lock:
                counts["requests"] += 1
                if status == 503:  # busy: expensive slots full, by design under overload
                    counts["503"] += 1
                elif status >= 500:
                    counts["5xx"] += 1
                if status == 0 or (status >= 500 and status != 503):
                    counts["errors"] += 1

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    minute = 0
    while time.monotonic() < stop_at:
        time.sleep(min(60, max(0.0, stop_at - time.monotonic())))
        minute += 1
        with lock:
            snapshot = dict(counts)
        print(f"load minute {minute}: {snapshot['requests']} requests, {snapshot['errors']} "
              f"errors, {snapshot['5xx']} 5xx, {snapshot['503']} busy (503), "
              f"{worker_memory(server_pid)}",
              flush=True)
    for w in workers:
        w.join(timeout=70)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="an existing store (default: a fresh one)")
    parser.add_argument("--fuzz", type=int, default=30000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=serving.DEFAULT_THREADS,
                        help=f"threads of the worker (default {serving.DEFAULT_THREADS}, as "
                             "`txserver serve`)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tx-soak-"))
    port = free_port()
    server = start_server(args.db or folder / "tx.db", port, folder / "server.log",
                          args.threads)
    try:
        print(f"at start: {worker_memory(server.pid)}", flush=True)
        if args.fuzz:
            fuzz(port, args.fuzz)
            print(f"after the fuzz: {worker_memory(server.pid)}", flush=True)
        if args.minutes:
            load(port, server.pid, args.minutes)
    finally:
        stop(server)


if __name__ == "__main__":
    main()
