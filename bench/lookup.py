"""Benchmark $lookup and $validate-code against a bare Flask endpoint, both served by gunicorn.

Run from the repository root:  python bench/lookup.py [--duration 10] [--connections 1,16]

It builds a fresh store in a temporary folder, starts `txserver serve` on it (the production
way: gunicorn gthread over server.create_app; the empty store makes it import the bundled CPT
sample), captures the $lookup answer for 64636, then starts bench/bare_app.py (one Flask route
returning those same bytes via orjson) under gunicorn with the same worker class, workers and
threads. Both are driven by `wrk` when it is on PATH (else by a Python http.client load
generator, or with --python-client) at each connection count, and a table of req/s, p50, p99
and the ratio to the bare endpoint is printed, followed by a verdict on the target:
$lookup at 16 connections >= 70 % of the bare endpoint's req/s, with p99 <= 15 ms.

Default workers=1, threads=4: on the 2-core machine the target is stated for, the load
generator needs a core of its own, so one gunicorn process gets the other; more processes would
only compete with wrk for the same two cores. Both servers get the same settings, so the ratio
compares application work, not server configuration.

Only 127.0.0.1 is used; every loop is bounded in time; both servers are stopped (their process
groups terminated) at the end, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode

import orjson

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"
CPT = "http://www.ama-assn.org/go/cpt"
LOOKUP_PATH = "/fhir/CodeSystem/$lookup"
VALIDATE_PATH = "/fhir/CodeSystem/$validate-code"
LOOKUP_64636 = f"{LOOKUP_PATH}?{urlencode({'system': CPT, 'code': '64636'})}"
TARGET_CONNECTIONS = 16
TARGET_RATIO = 0.70
TARGET_P99_MS = 15.0
START_TIMEOUT = 180.0  # seconds to wait for a server (the first start imports the sample)
STOP_TIMEOUT = 15.0
T = TypeVar("T")


@dataclass
class Endpoint:
    name: str
    server: str  # "bare" or "tx"
    method: str
    path: str  # with query string
    body: bytes | None = None
    content_type: str | None = None


@dataclass
class Result:
    endpoint: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers and socket errors


# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A subprocess in its own process group, stopped by terminating that group."""

    def __init__(self, name: str, argv: list[str], port: int, ready_path: str,
                 env: dict[str, str], log: Path, cwd: Path) -> None:
        self.name, self.argv, self.port, self.ready_path = name, argv, port, ready_path
        self.env, self.log_path, self.cwd = env, log, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                status, _ = request(self.port, "GET", self.ready_path, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} server did not answer {self.ready_path} within "
                           f"{START_TIMEOUT:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we created: gunicorn and workers
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


def server_env(runtime_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    # gunicorn >= 25.1 opens a control socket in $XDG_RUNTIME_DIR (else ~/.gunicorn): give each
    # server its own folder so that the two running side by side do not share one socket path.
    runtime_dir.mkdir(parents=True, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    env.update(extra or {})
    return env


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# -- load generators -----------------------------------------------------------------------


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def python_load(port: int, ep: Endpoint, connections: int, seconds: float) -> Result:
    """`connections` threads, each on one keep-alive connection, until the deadline."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    headers = {"Content-Type": ep.content_type} if ep.content_type else {}
    barrier = threading.Barrier(connections + 1)
    deadline_box: list[float] = []

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        mine = latencies[i]
        barrier.wait()
        deadline = deadline_box[0]
        try:
            while True:
                start = time.perf_counter()
                if start >= deadline:
                    break
                try:
                    conn.request(ep.method, ep.path, body=ep.body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    if not 200 <= resp.status < 400:
                        errors[i] += 1
                except (OSError, http.client.HTTPException):
                    errors[i] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=10)
                    continue
                mine.append(time.perf_counter() - start)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(connections)]
    for t in threads:
        t.start()
    deadline_box.append(time.perf_counter() + seconds)
    began = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(seconds + 30)
    elapsed = time.perf_counter() - began
    values = sorted(v for lst in latencies for v in lst)
    return Result(ep.name, connections, len(values) / elapsed if elapsed > 0 else 0.0,
                  percentile(values, 50) * 1000, percentile(values, 99) * 1000,
                  len(values), sum(errors))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"cannot read the wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, ep: Endpoint, connections: int) -> Result:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"unexpected wrk output for {ep.name}:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     output)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return Result(ep.name, connections, float(rps.group(1)), _ms(p50.group(1)),
                  _ms(p99.group(1)), int(total.group(1)), errors)


def wrk_load(wrk: str, port: int, ep: Endpoint, connections: int, seconds: float,
             tmp: Path) -> Result:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if ep.method != "GET" or ep.body is not None:
        script = tmp / f"{re.sub(r'[^A-Za-z0-9]+', '_', ep.name)}.lua"
        lines = [f"wrk.method = {lua_string(ep.method)}"]
        if ep.body is not None:
            lines.append(f"wrk.body = {lua_string(ep.body.decode())}")
        if ep.content_type:
            lines.append(f'wrk.headers["Content-Type"] = {lua_string(ep.content_type)}')
        script.write_text("\n".join(lines) + "\n")
        argv += ["-s", str(script)]
    argv.append(f"http://{HOST}:{port}{ep.path}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed for {ep.name} ({done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout, ep, connections)


def lua_string(text: str) -> str:
    """A Lua string literal: safe ASCII as is, every other byte as a decimal escape."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :/.,-_{}[]")
    return '"' + "".join(chr(b) if b in safe else f"\\{b:03d}" for b in text.encode()) + '"'


# -- the run -------------------------------------------------------------------------------


def endpoints(display: str) -> list[Endpoint]:
    post_body = orjson.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": CPT}, {"name": "code", "valueCode": "64636"}]})
    return [
        Endpoint("bare", "bare", "GET", LOOKUP_64636),
        Endpoint("$lookup GET", "tx", "GET", LOOKUP_64636),
        Endpoint("$lookup POST", "tx", "POST", LOOKUP_PATH, post_body, "application/fhir+json"),
        Endpoint("$validate-code", "tx", "GET",
                 f"{VALIDATE_PATH}?{urlencode({'url': CPT, 'code': '99202:25'})}"),
        Endpoint("$validate-code+display", "tx", "GET", f"{VALIDATE_PATH}?" + urlencode(
            {"url": CPT, "code": "99202", "display": display}, quote_via=quote)),
        Endpoint("VS $validate-code", "tx", "GET", "/fhir/ValueSet/$validate-code?" + urlencode(
            {"url": "http://terminology.hl7.org/ValueSet/cpt-usable", "system": CPT,
             "code": "99213:25"})),
        Endpoint("$expand filter", "tx", "GET", "/fhir/ValueSet/$expand?" + urlencode(
            {"url": "http://terminology.hl7.org/ValueSet/cpt-all", "filter": "facet joint"},
            quote_via=quote)),
        *(Endpoint(f"search {word}", "tx", "GET", "/fhir/ValueSet/all-codes/$expand?" + urlencode(
            {"filter": word, "count": 20}, quote_via=quote))
          for word in ("diabetes", "leptospirosis", "E11.9")),
    ]


def check_answers(ports: dict[str, int], eps: list[Endpoint], captured: bytes) -> list[str]:
    """One request per endpoint before measuring: status 200 and the expected content."""
    notes = []
    for ep in eps:
        headers = {"Content-Type": ep.content_type} if ep.content_type else {}
        status, body = request(ports[ep.server], ep.method, ep.path, ep.body, headers)
        if status != 200:
            notes.append(f"{ep.name}: HTTP {status}: {body[:300]!r}")
            continue
        answer = orjson.loads(body)
        if ep.name == "bare" and body != captured:
            notes.append("bare: the body differs from the captured $lookup answer")
        if ep.name.startswith("$lookup") and body != captured:
            notes.append(f"{ep.name}: the answer differs from the captured GET $lookup answer")
        if "$validate-code" in ep.name:
            result = next((p.get("valueBoolean") for p in answer.get("parameter", [])
                           if p.get("name") == "result"), None)
            if result is not True:
                notes.append(f"{ep.name}: result is {result!r}: {body[:300]!r}")
    return notes


def display_of(port: int, code: str) -> str:
    status, body = request(port, "GET", f"{LOOKUP_PATH}?{urlencode({'system': CPT, 'code': code})}")
    if status != 200:
        raise RuntimeError(f"$lookup {code} answered HTTP {status}: {body[:300]!r}")
    for p in orjson.loads(body)["parameter"]:
        if p["name"] == "display":
            return p["valueString"]
    raise RuntimeError(f"$lookup {code} has no display")


def print_table(results: list[Result]) -> None:
    bare = {r.connections: r.rps for r in results if r.endpoint == "bare"}
    header = ("endpoint", "conns", "req/s", "p50 ms", "p99 ms", "vs bare")
    rows = []
    for r in results:
        base = bare.get(r.connections)
        ratio = f"{r.rps / base:.2f}" if base else "-"
        rows.append((r.endpoint, str(r.connections), f"{r.rps:.0f}", f"{r.p50_ms:.2f}",
                     f"{r.p99_ms:.2f}", ratio))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt.format(*row))
    for r in results:
        if r.errors:
            print(f"note: {r.endpoint} @ {r.connections}: {r.errors} errors "
                  f"(non-2xx or socket) of {r.requests} requests")


def verdict(results: list[Result]) -> str:
    bare = next((r for r in results
                 if r.endpoint == "bare" and r.connections == TARGET_CONNECTIONS), None)
    look = next((r for r in results
                 if r.endpoint == "$lookup GET" and r.connections == TARGET_CONNECTIONS), None)
    if bare is None or look is None or not bare.rps:
        return (f"target not checked: {TARGET_CONNECTIONS} connections were not measured")
    ratio = look.rps / bare.rps
    met = ratio >= TARGET_RATIO and look.p99_ms <= TARGET_P99_MS and look.errors == 0
    errors = f", {look.errors} errors" if look.errors else ""
    return (f"{'target met' if met else 'target missed'}: $lookup@{TARGET_CONNECTIONS} "
            f"{ratio:.2f} of bare (need >= {TARGET_RATIO:.2f}), p99 {look.p99_ms:.2f} ms "
            f"(need <= {TARGET_P99_MS:.0f} ms){errors}")


def load_parser(description: str, workers: int = 1, warmup: float = 1.0
                ) -> argparse.ArgumentParser:
    """The options every load benchmark here takes (bench/validate.py adds its own)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--connections", default="1,16",
                    help="comma-separated connection counts (default 1,16)")
    ap.add_argument("--workers", type=int, default=workers,
                    help=f"gunicorn processes (default {workers})")
    ap.add_argument("--threads", type=int, default=4, help="threads per process (default 4)")
    ap.add_argument("--warmup", type=float, default=warmup,
                    help=f"seconds of unmeasured load per endpoint first (default {warmup:g}, "
                         "0: none)")
    ap.add_argument("--python-client", action="store_true",
                    help="use the Python load generator even if wrk is installed")
    return ap


def parse_load_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse and check: `args.conns` is the list of connection counts."""
    args = ap.parse_args(argv)
    try:
        args.conns = [int(c) for c in args.connections.split(",") if c.strip()]
    except ValueError:
        ap.error(f"--connections must be integers separated by commas, not {args.connections!r}")
    if not args.conns or min(args.conns) < 1:
        ap.error("--connections needs at least one count >= 1")
    if args.duration <= 0 or args.workers < 1 or args.threads < 1:
        ap.error("--duration, --workers and --threads must be positive")
    return args


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return parse_load_args(load_parser(__doc__.split("\n\n")[0]), argv)


def measure(load: Callable[[T, int, float], Result], targets: Sequence[T],
            args: argparse.Namespace, name: Callable[[T], str]) -> list[Result]:
    """Warm up on every target at the most connections, then measure each target at each
    connection count for `args.duration` seconds, saying how it goes."""
    if args.warmup > 0:
        for target in targets:
            load(target, max(args.conns), args.warmup)
    results: list[Result] = []
    for conns in args.conns:
        for target in targets:
            print(f"  {name(target)} @ {conns} ...", end=" ", flush=True)
            r = load(target, conns, args.duration)
            print(f"{r.rps:.0f} req/s", flush=True)
            results.append(r)
    return results


def run(args: argparse.Namespace) -> int:
    wrk = None if args.python_client else shutil.which("wrk")
    tmp = Path(tempfile.mkdtemp(prefix="txbench-"))
    servers: list[Server] = []
    try:
        db = tmp / "tx.db"
        tx_port = free_port()
        tx = Server("txserver", [
            sys.executable, "-c", "from server import main; main()", "serve",
            "--host", HOST, "--port", str(tx_port), "--db", str(db),
            "--workers", str(args.workers), "--threads", str(args.threads),
        ], tx_port, "/fhir/metadata", server_env(tmp / "run-tx"), tmp / "txserver.log", REPO)
        servers.append(tx)
        print(f"starting txserver on {HOST}:{tx_port} (fresh store {db}) ...", flush=True)
        tx.start()

        status, captured = request(tx_port, "GET", LOOKUP_64636)
        if status != 200:
            raise RuntimeError(f"$lookup 64636 answered HTTP {status}: {captured[:300]!r}")
        body_file = tmp / "lookup-64636.json"
        body_file.write_bytes(captured)

        bare_port = free_port()
        bare = Server("bare", [
            sys.executable, "-m", "gunicorn", "-k", "gthread",
            "--workers", str(args.workers), "--threads", str(args.threads),
            "--keep-alive", "5", "-b", f"{HOST}:{bare_port}",
            "--chdir", str(BENCH_DIR), "bare_app:app",
        ], bare_port, LOOKUP_PATH,
            server_env(tmp / "run-bare", {"BENCH_BARE_BODY": str(body_file)}),
            tmp / "bare.log", REPO)
        servers.append(bare)
        print(f"starting bare endpoint on {HOST}:{bare_port} ...", flush=True)
        bare.start()

        ports = {"tx": tx_port, "bare": bare_port}
        eps = endpoints(display_of(tx_port, "99202"))
        notes = check_answers(ports, eps, captured)
        for note in notes:
            print(f"warning: {note}", flush=True)

        def load(ep: Endpoint, conns: int, seconds: float) -> Result:
            if wrk:
                return wrk_load(wrk, ports[ep.server], ep, conns, seconds, tmp)
            return python_load(ports[ep.server], ep, conns, seconds)

        client = f"wrk ({wrk})" if wrk else "Python http.client threads"
        print(f"load generator: {client}; gunicorn gthread workers={args.workers} "
              f"threads={args.threads}; {args.duration:g} s per run; {os.cpu_count()} CPUs",
              flush=True)
        results = measure(load, eps, args, lambda ep: ep.name)
        print()
        print_table(results)
        print(verdict(results))
        return 0
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
