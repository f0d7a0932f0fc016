"""Replicas behind nginx: $lookup through nginx's cache against a replica directly, and a
snapshot rollout under load. Prints the figures the README's paper plan is made from.

Run from the repository root:  python bench/replicas.py [--duration 10] [--connections 16]

In a temporary folder it builds a store as a first `txserver serve` does (CPT, CMS, the whole
ICD-10-CM, the ICD-10-PCS and HCPCS samples), writes a snapshot of it (time, size, SHA-256 check
time, a local copy's time), starts two replicas (`txserver serve --snapshots`, 1 worker x 4
threads each) and nginx with deploy/nginx/txserver.conf (deploy/nginx/nginx_local.py), all on
127.0.0.1, then in the same run:

1. wrk: the same $lookup through nginx (a cache HIT), the same $lookup from one replica
   directly (its answer cache), a conditional GET from the replica (304), and $lookup of
   ICD-10-CM codes that differ at every request from the replica (computed: misses);
2. a rollout under load: Python client threads send a mix (half one hot $lookup, half
   ICD-10-CM codes that differ) through nginx while a new snapshot (CPT 2025 re-imported with
   another descriptor, written beforehand) is renamed into the replicas' folder, as a copy
   arriving on a host would be; it prints the errors and p50/p99 before, during and after the
   switch, and when each replica switched;
3. the hit rate of a TTL cache under a Zipf-distributed mix (a model, not a measurement).

Everything is stopped at the end. On a 2-core machine wrk takes one core: compare figures
within one run only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "deploy" / "nginx"))
import nginx_local  # deploy/nginx/nginx_local.py
from lookup import (
    HOST,
    REPO,
    Endpoint,
    Result,
    Server,
    free_port,
    lua_string,
    parse_wrk,
    percentile,
    request,
    server_env,
    wrk_load,
)

CPT = "http://www.ama-assn.org/go/cpt"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOOKUP = "/fhir/CodeSystem/$lookup"
HOT = f"{LOOKUP}?{urlencode({'system': CPT, 'code': '64636'})}"
PREPARE = ("import sys; from server import import_samples; from terminology.store import Store; "
           "store = Store(sys.argv[1]); store.create(); import_samples(store)")
CHANGE = ("import sys; sys.path.insert(0, 'tests'); from pathlib import Path; "
          "from conftest import changed_2025; from codesystems.cpt import loader; "
          "from terminology.store import Store; "
          "loader.import_release(Store(sys.argv[1]), changed_2025(Path(sys.argv[2])), '2025')")


def icd_codes(db: Path, limit: int) -> list[str]:
    from terminology.store import Store

    store = Store(db, immutable=True)
    info = next(s for s in store.code_systems() if s.url == ICD)
    codes = [c.code for c in store.iter_concepts(info.id)]
    random.Random(7).shuffle(codes)
    return codes[:limit]


def wrk_varying(wrk: str, port: int, name: str, codes: list[str], connections: int,
                seconds: float, tmp: Path) -> Result:
    """wrk with a Lua `request` that asks for the next code at every request."""
    script = tmp / "varying.lua"
    listed = ",".join(lua_string(c) for c in codes)
    prefix = f"{LOOKUP}?{urlencode({'system': ICD})}&code="
    script.write_text(f"local codes = {{{listed}}}\nlocal i = 0\n"
                      "request = function()\n  i = i + 1\n"
                      f"  return wrk.format(nil, {lua_string(prefix)} .. codes[(i % #codes) + 1])\n"
                      "end\n")
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s",
            str(script), f"http://{HOST}:{port}/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout, Endpoint(name, "tx", "GET", prefix), connections)


def wrk_header(wrk: str, port: int, name: str, path: str, header: str, connections: int,
               seconds: float) -> Result:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-H",
            header, f"http://{HOST}:{port}{path}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    return parse_wrk(done.stdout, Endpoint(name, "tx", "GET", path), connections)


@dataclass
class Sample:
    at: float
    status: int
    seconds: float


def mixed_load(port: int, codes: list[str], threads: int, seconds: float) -> list[Sample]:
    """`threads` keep-alive clients for `seconds`: half the hot $lookup, half a new code."""
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        mine: list[Sample] = []
        i = n
        while time.monotonic() < deadline:
            i += threads
            path = HOT if i % 2 else (f"{LOOKUP}?{urlencode({'system': ICD})}"
                                      f"&code={codes[i % len(codes)]}")
            started = time.monotonic()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
            mine.append(Sample(started, status, time.monotonic() - started))
        conn.close()
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 30)
    return samples


def window(samples: list[Sample], start: float, end: float) -> str:
    chosen = [s for s in samples if start <= s.at < end]
    if not chosen:
        return "no requests"
    latencies = sorted(s.seconds * 1000 for s in chosen)
    errors = sum(1 for s in chosen if s.status != 200)
    rate = len(chosen) / max(end - start, 1e-9)
    return (f"{len(chosen)} requests ({rate:.0f}/s), {errors} errors, p50 "
            f"{percentile(latencies, 50):.2f} ms, p99 {percentile(latencies, 99):.2f} ms")


def ttl_hit_rate(rate: float, ttl: float, keys: int, s: float) -> float:
    """The share of requests a TTL cache answers, for keys requested with Zipf(s) popularity
    as Poisson streams: a key asked at rate r is computed once per lifetime and then reused,
    so its hit share is rT / (1 + rT)."""
    weights = [1 / (i ** s) for i in range(1, keys + 1)]
    total = sum(weights)
    hits = 0.0
    for w in weights:
        p = w / total
        r = rate * p
        hits += p * (r * ttl) / (1 + r * ttl)
    return hits


def snapshot_figures(db: Path, out: Path) -> tuple[Path, dict[str, object]]:
    from terminology.store.snapshots import listing, verify, write_snapshot

    started = time.perf_counter()
    snap = write_snapshot(db, out)
    written = time.perf_counter() - started
    started = time.perf_counter()
    verify(listing(out)[0][0])
    checked = time.perf_counter() - started
    copy = out.parent / "copy-test.db"
    started = time.perf_counter()
    shutil.copyfile(snap.db, copy)
    os.fsync(os.open(copy, os.O_RDONLY))
    copied = time.perf_counter() - started
    copy.unlink()
    return snap.folder, {"bytes": snap.manifest["bytes"], "concepts": snap.manifest["concepts"],
                         "write s": written, "verify s": checked, "local copy s": copied}


def replica_snapshot(port: int) -> str:
    status, body = request(port, "GET", "/readyz", timeout=5)
    return str(orjson.loads(body).get("snapshot")) if status == 200 else ""


def run(args: argparse.Namespace) -> int:
    wrk = shutil.which("wrk")
    nginx = nginx_local.binary()
    if wrk is None or nginx is None:
        print("error: needs wrk and nginx (apt-get install wrk nginx-light)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="txbench-replicas-"))
    servers: list[Server] = []
    nginx_proc: subprocess.Popen[bytes] | None = None
    try:
        db = tmp / "primary.db"
        print(f"building the store of a first start in {db} ...", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", PREPARE, str(db)], cwd=REPO, check=True,
                       env=server_env(tmp / "run-prepare"), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=900)
        print(f"  {time.perf_counter() - started:.1f} s")
        snapshots = tmp / "snapshots"
        _, figures = snapshot_figures(db, snapshots)
        print("snapshot: " + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))
        codes = icd_codes(db, 30_000)

        ports = [free_port(), free_port()]
        for port in ports:
            server = Server(f"replica {port}", [
                sys.executable, "-c", "from server import main; main()", "serve", "--host",
                HOST, "--port", str(port), "--snapshots", str(snapshots), "--workers", "1",
                "--threads", str(args.threads)], port, "/readyz",
                server_env(tmp / f"run-{port}", {"TX_SNAPSHOT_POLL": "1",
                                                 "TX_TRUSTED_PROXIES": "127.0.0.1",
                                                 "TX_ACCESS_LOG": args.access_log}),
                tmp / f"replica-{port}.log", REPO)
            servers.append(server)
            server.start()
        listen = free_port()
        conf = nginx_local.render(tmp / "nginx", listen, ports)
        nginx_proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(conf.parent), "-g",
                                       "daemon off;"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if request(listen, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        conns, seconds = args.connections, args.duration
        print(f"wrk -c{conns} -d{seconds:g}s; replicas: 1 worker x {args.threads} threads; "
              f"{os.cpu_count()} CPUs; access log {args.access_log}", flush=True)
        request(listen, "GET", HOT)  # nginx keeps it
        conn = http.client.HTTPConnection(HOST, ports[0])
        conn.request("GET", HOT)
        etag = conn.getresponse().getheader("ETag") or ""
        conn.close()
        results = [
            wrk_load(wrk, listen, Endpoint("$lookup via nginx (HIT)", "tx", "GET", HOT),
                     conns, seconds, tmp),
            wrk_load(wrk, ports[0], Endpoint("$lookup replica (answer cache)", "tx", "GET",
                                             HOT), conns, seconds, tmp),
            wrk_header(wrk, ports[0], "$lookup replica (304)", HOT, f"If-None-Match: {etag}",
                       conns, seconds),
            wrk_varying(wrk, ports[0], "$lookup replica (computed)", codes, conns, seconds,
                        tmp),
        ]
        print(f"\n{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for r in results:
            print(f"{r.endpoint:34} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")

        print("\nrollout under load: preparing the new snapshot ...", flush=True)
        subprocess.run([sys.executable, "-c", CHANGE, str(db), str(tmp / "change")], cwd=REPO,
                       check=True, env=server_env(tmp / "run-change"), timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        staging = tmp / "staging"
        from terminology.store.snapshots import write_snapshot

        new = write_snapshot(db, staging)
        before = {port: replica_snapshot(port) for port in ports}
        switched: dict[int, float] = {}
        arrived: list[float] = []

        def roll_out() -> None:
            time.sleep(args.rollout_after)
            arrived.append(time.monotonic())
            os.rename(new.folder, snapshots / new.folder.name)  # a copy arriving on the host
            while len(switched) < len(ports) and time.monotonic() < arrived[0] + 30:
                for port in ports:
                    if port not in switched and replica_snapshot(port) == new.name:
                        switched[port] = time.monotonic()
                time.sleep(0.05)

        roller = threading.Thread(target=roll_out)
        roller.start()
        samples = mixed_load(listen, codes, args.rollout_threads, args.rollout_seconds)
        roller.join(60)
        start = min(s.at for s in samples)
        end = max(s.at for s in samples)
        arrive = arrived[0]
        last = max(switched.values()) if switched else arrive
        print(f"  snapshots before: {sorted(set(before.values()))}; new {new.name}")
        for port in ports:
            took = f"{switched[port] - arrive:.2f} s after it arrived" if port in switched \
                else "did not switch"
            print(f"  replica {port}: switched {took}")
        print(f"  before : {window(samples, start, arrive)}")
        print(f"  switch : {window(samples, arrive, last + 1.0)}")
        print(f"  after  : {window(samples, last + 1.0, end + 1e-6)}")
        print(f"  total  : {window(samples, start, end + 1e-6)}")

        print("\nTTL cache hit rate, Zipf mix (model): 50,000 req/s")
        for keys in (100_000, 1_000_000):
            for s in (0.8, 1.0):
                for ttl in (60.0, 300.0):
                    rate = ttl_hit_rate(50_000, ttl, keys, s)
                    print(f"  {keys:>9,} keys, s={s}, max-age {ttl:>3.0f} s: {rate * 100:5.1f} %")
        return 0
    finally:
        if nginx_proc is not None and nginx_proc.poll() is None:
            os.killpg(nginx_proc.pid, 15)
            nginx_proc.wait(15)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=4, help="threads per replica")
    ap.add_argument("--access-log", default="combined", help="the replicas' TX_ACCESS_LOG")
    ap.add_argument("--rollout-seconds", type=float, default=12.0)
    ap.add_argument("--rollout-after", type=float, default=4.0)
    ap.add_argument("--rollout-threads", type=int, default=8)
    args = ap.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
