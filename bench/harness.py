"""What the HTTP benchmarks share: a store to serve, servers on their own core, wrk on the other.

Every benchmark here measures our app beside the bare endpoint (bench/bare_app.py: one Flask
route answering fixed bytes) under the same WSGI server with the same workers and threads, in
the same run, and prints each figure with its ratio to the bare endpoint's: the request loop
(granian or gunicorn, Flask, the socket) is the ceiling, and the ratio is what our own code
costs beneath it. On a machine with two or more cores the servers run on the first one and wrk
on the second (`taskset`), so that the load generator does not take the server's core.

Only 127.0.0.1 is used; every load run is bounded in time; every server is stopped (its process
group terminated) at the end, also on an error or Ctrl-C.
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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from terminology.web import serving

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"
START_TIMEOUT = 300.0  # seconds to wait for a server (a first start imports the samples)
STOP_TIMEOUT = 15.0
THO = "hl7.terminology.r4@7.0.1"
GENERATED_URL = "urn:txbench:CodeSystem/procedures-2000"


# -- the machine -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cores:
    """Where the servers and the load generator run: lists of CPU numbers, empty for anywhere."""

    server: tuple[int, ...]
    load: tuple[int, ...]

    @staticmethod
    def split() -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2 and shutil.which("taskset"):
            return Cores((cpus[0],), (cpus[1],))
        return Cores((), ())

    def describe(self) -> str:
        if not self.server:
            return "servers and wrk share the cores (fewer than two, or no taskset)"
        return (f"servers pinned to CPU {','.join(map(str, self.server))}, wrk to CPU "
                f"{','.join(map(str, self.load))} (taskset)")


def pinned(argv: list[str], cpus: tuple[int, ...]) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, cpus)), *argv] if cpus else argv


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def stamp() -> str:
    """The date and the load average (while a load runs, the benchmark's own threads count
    in it: judge the machine by the figure printed before the first run)."""
    return f"{datetime.now().strftime('%Y-%m-%d %H:%M')}, {load_average()}"


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def env_for(runtime_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)  # gunicorn's control socket: one per server
    env.update(extra or {})
    return env


class Server:
    """A subprocess in its own process group, stopped by terminating that group."""

    def __init__(self, name: str, argv: list[str], port: int, ready_path: str,
                 env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.port, self.ready_path = name, argv, port, ready_path
        self.env, self.log_path = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                if request(self.port, "GET", self.ready_path, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not answer {self.ready_path} within "
                           f"{START_TIMEOUT:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def workers(self) -> list[int]:
        """The pids of the processes that serve requests: the group's processes other than the
        one started (granian's and gunicorn's main processes only supervise)."""
        if self.proc is None:
            return []
        group = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields_ = stat.rsplit(")", 1)[1].split()
            if int(fields_[2]) == self.proc.pid:  # the process group id
                group.append(int(entry.name))
        return [pid for pid in group if pid != self.proc.pid] or group

    def rss_mb(self, field: str = "VmHWM") -> list[float]:
        """VmHWM (the peak resident set; VmRSS: now) of each worker, in MB."""
        found = []
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
            if match:
                found.append(int(match.group(1)) / 1024)
        return found

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we created: the server and workers
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


@dataclass
class ServerOptions:
    kind: str  # granian or gunicorn
    workers: int
    threads: int
    access_log: bool
    cores: Cores


def tx_server(name: str, db: Path, opts: ServerOptions, tmp: Path,
              env: dict[str, str] | None = None) -> Server:
    """`txserver serve` over `db`, the production way."""
    port = free_port()
    argv = [sys.executable, "-c", "from server import main; main()", "serve",
            "--server", opts.kind, "--host", HOST, "--port", str(port), "--db", str(db),
            "--workers", str(opts.workers), "--threads", str(opts.threads),
            "--access-log" if opts.access_log else "--no-access-log"]
    slug = re.sub(r"\W+", "-", name)
    return Server(name, pinned(argv, opts.cores.server), port, "/fhir/metadata",
                  env_for(tmp / f"run-{slug}", env), tmp / f"{slug}.log")


def bare_server(body_file: Path, opts: ServerOptions, tmp: Path) -> Server:
    """bench/bare_app.py under the same WSGI server and settings as `txserver serve`."""
    port = free_port()
    launch = ("from terminology.web import serving; "
              f"s = serving.Settings({HOST!r}, {port}, {opts.workers}, {opts.threads}); ")
    if opts.kind == "gunicorn":
        launch += "import bare_app; serving.run_gunicorn(bare_app.create_app, s)"
    else:
        launch += "serving.run_granian('bare_app:create_app', s)"
    return Server(f"bare ({opts.kind})", pinned([sys.executable, "-c", launch],
                                                opts.cores.server),
                  port, "/fhir/CodeSystem/$lookup",
                  env_for(tmp / f"run-bare-{opts.kind}", {"BENCH_BARE_BODY": str(body_file)}),
                  tmp / f"bare-{opts.kind}.log")


@contextmanager
def running(servers: Sequence[Server]) -> Iterator[None]:
    try:
        for server in servers:
            print(f"starting {server.name} on {HOST}:{server.port} ...", flush=True)
            server.start()
        yield
    finally:
        for server in reversed(servers):
            server.stop()


# -- the store -------------------------------------------------------------------------------

# 40 procedures x 50 numbers: the 2,000-concept code system loaded with `import fhir`.
PROCEDURES = (
    "appendectomy", "arthroscopy", "biopsy", "bronchoscopy", "cholecystectomy", "colonoscopy",
    "craniotomy", "cystoscopy", "debridement", "dialysis", "endoscopy", "excision",
    "fasciotomy", "gastrectomy", "hemodialysis", "hernia repair", "hysterectomy",
    "incision and drainage", "laminectomy", "laparoscopy", "lobectomy", "mastectomy",
    "nephrectomy", "osteotomy", "pacemaker insertion", "paracentesis", "prostatectomy",
    "rhinoplasty", "splenectomy", "spinal fusion", "thoracentesis", "thyroidectomy",
    "tonsillectomy", "tracheostomy", "transfusion", "vasectomy", "vertebroplasty",
    "knee replacement", "hip replacement", "cataract extraction",
)


def generated_code_system() -> dict[str, object]:
    concepts = [{"code": f"P{i * 50 + n:04d}", "display": f"{name} number {n}",
                 "definition": f"The {name} of the benchmark, variant {n}."}
                for i, name in enumerate(PROCEDURES) for n in range(1, 51)]
    return {"resourceType": "CodeSystem", "id": "txbench-procedures", "url": GENERATED_URL,
            "version": "1", "name": "BenchProcedures", "status": "active",
            "content": "complete", "count": len(concepts), "concept": concepts}


def txserver(*args: str, env: dict[str, str], timeout: float = 1200) -> None:
    done = subprocess.run([sys.executable, "-c", "from server import main; main()", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"txserver {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}{done.stderr[-2000:]}")


def prepare_store(db: Path, tmp: Path, package: bool) -> None:
    """The samples with the full ICD-10-CM (what a first `txserver serve` imports), the
    2,000-concept code system, and the HL7 Terminology package unless told otherwise. A store
    that already holds the generated code system is used as it is."""
    env = env_for(tmp / "run-prepare")
    if db.exists() and _holds(db, GENERATED_URL):
        print(f"using the store {db} as it is", flush=True)
        return
    started = time.monotonic()
    print(f"importing the samples and the full ICD-10-CM into {db} ...", flush=True)
    prepare = ("import sys; from server import import_samples; from terminology.store import "
               "Store; s = Store(sys.argv[1]); s.create(); import_samples(s)")
    done = subprocess.run([sys.executable, "-c", prepare, str(db)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the sample import failed:\n{done.stderr[-3000:]}")
    source = tmp / "procedures-2000.json"
    import orjson
    source.write_bytes(orjson.dumps(generated_code_system()))
    txserver("import", "fhir", str(source), "--db", str(db), env=env)
    if package:
        print(f"importing {THO} (from ~/.fhir/packages when cached) ...", flush=True)
        txserver("import", "package", THO, "--db", str(db), env=env)
    print(f"store ready in {time.monotonic() - started:.0f} s", flush=True)


def _holds(db: Path, url: str) -> bool:
    import sqlite3
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT 1 FROM code_system WHERE url = ?", (url,)).fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        con.close()


# -- load ------------------------------------------------------------------------------------


@dataclass
class Load:
    """What wrk sends: one request over and over, or a list it cycles through."""

    name: str
    server: str  # which server of the run answers it
    method: str
    paths: list[str]
    bodies: list[bytes] = field(default_factory=list)  # for POST, one per path (cycled together)
    content_type: str | None = None
    group: str = ""  # the table section
    script: Callable[[], str] | None = None  # makes a wrk Lua script of its own for each run


@dataclass
class Result:
    load: Load
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers and socket errors


def lua_string(text: str) -> str:
    """A Lua string literal: safe ASCII as is, every other byte as a decimal escape."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :/.,-_{}[]")
    return '"' + "".join(chr(b) if b in safe else f"\\{b:03d}" for b in text.encode()) + '"'


def lua_script(load: Load) -> str | None:
    """None for one GET (wrk's own loop, the fastest); else a script that sends the requests
    in turn, from a start that differs run by run."""
    if load.script is not None:
        return load.script()
    if len(load.paths) == 1 and load.method == "GET":
        return None
    lines = [f"wrk.method = {lua_string(load.method)}"]
    if load.content_type:
        lines.append(f'wrk.headers["Content-Type"] = {lua_string(load.content_type)}')
    if len(load.paths) == 1:
        if load.bodies:
            lines.append(f"wrk.body = {lua_string(load.bodies[0].decode())}")
        return "\n".join(lines) + "\n"
    lines.append("local paths = {" + ",\n".join(lua_string(p) for p in load.paths) + "}")
    if load.bodies:
        lines.append("local bodies = {" + ",\n".join(lua_string(b.decode())
                                                    for b in load.bodies) + "}")
    lines += [
        "local i = 0",
        "setup = function(thread) end",
        # seeded by the clock: unseeded, wrk's random start is the same every run
        "init = function(args) math.randomseed(os.time()) i = math.random(#paths) - 1 end",
        "request = function()",
        "  i = i % #paths + 1",
        ("  return wrk.format(nil, paths[i], nil, bodies[i])" if load.bodies
         else "  return wrk.format(nil, paths[i])"),
        "end",
    ]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"cannot read the wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, load: Load, connections: int) -> Result:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"unexpected wrk output for {load.name}:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     output)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return Result(load, connections, float(rps.group(1)), _ms(p50.group(1)),
                  _ms(p99.group(1)), int(total.group(1)), errors)


class Wrk:
    def __init__(self, cores: Cores, tmp: Path) -> None:
        found = shutil.which("wrk")
        if found is None:
            raise RuntimeError("wrk is not installed (apt-get install wrk)")
        self.wrk, self.cores, self.tmp = found, cores, tmp

    def run(self, load: Load, port: int, connections: int, seconds: float) -> Result:
        argv = [self.wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                "--latency", "--timeout", "10s"]
        script = lua_script(load)
        if script is not None:
            path = self.tmp / f"{re.sub(r'[^A-Za-z0-9]+', '_', load.name)}.lua"
            path.write_text(script)
            argv += ["-s", str(path)]
        argv.append(f"http://{HOST}:{port}{load.paths[0]}")
        done = subprocess.run(pinned(argv, self.cores.load), capture_output=True, text=True,
                              timeout=seconds + 60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed for {load.name} ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")
        return parse_wrk(done.stdout, load, connections)


def check(port: int, load: Load) -> str | None:
    """The first and the last request of the load answer 200 (else why not)."""
    picks = {0, len(load.paths) - 1}
    for i in sorted(picks):
        headers = {"Content-Type": load.content_type} if load.content_type else {}
        body = load.bodies[i] if load.bodies else None
        status, answer = request(port, load.method, load.paths[i], body, headers)
        if status != 200:
            return f"{load.name}: {load.method} {load.paths[i][:120]} -> HTTP {status}: " \
                   f"{answer[:300]!r}"
    return None


def measure(wrk: Wrk, ports: dict[str, int], loads: Sequence[Load], conns: Sequence[int],
            seconds: float, warmup: float, rounds: int = 1) -> list[Result]:
    """Each load at each connection count, after `warmup` seconds of unmeasured load; with
    `rounds` > 1 every load is run that many times in turn and the run with the median req/s
    is kept (the machine is shared: one slow moment should not decide a figure)."""
    for load in loads:
        problem = check(ports[load.server], load)
        if problem:
            raise RuntimeError(problem)
    if warmup > 0:
        for load in loads:
            wrk.run(load, ports[load.server], max(conns), warmup)
    runs: dict[tuple[str, int], list[Result]] = {}
    for round_ in range(1, rounds + 1):
        for n in conns:
            for load in loads:
                label = f" (round {round_}/{rounds})" if rounds > 1 else ""
                print(f"  {load.name} @ {n}{label} ...", end=" ", flush=True)
                r = wrk.run(load, ports[load.server], n, seconds)
                print(f"{r.rps:.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms",
                      flush=True)
                runs.setdefault((load.name, n), []).append(r)
    return [sorted(found, key=lambda r: r.rps)[len(found) // 2] for found in runs.values()]


# -- report ----------------------------------------------------------------------------------


def table(results: Sequence[Result], bare: str = "bare") -> str:
    """req/s, p50, p99 and the ratio to the bare endpoint's req/s at the same connections."""
    base = {r.connections: r.rps for r in results if r.load.name == bare}
    header = ("", "conns", "req/s", "p50 ms", "p99 ms", "vs bare")
    rows: list[tuple[str, ...]] = []
    group = None
    for r in sorted(results, key=lambda r: r.connections):
        if r.load.group != group and r.load.group:
            rows.append((f"[{r.load.group}]", "", "", "", "", ""))
        group = r.load.group
        ratio = f"{r.rps / base[r.connections]:.2f}" if base.get(r.connections) else "-"
        rows.append((r.load.name, str(r.connections), f"{r.rps:.0f}", f"{r.p50_ms:.2f}",
                     f"{r.p99_ms:.2f}", ratio))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header), "  ".join("-" * w for w in widths)]
    out += [fmt.format(*row) for row in rows]
    out += [f"note: {r.load.name} @ {r.connections}: {r.errors} errors (non-2xx or socket) "
            f"of {r.requests} requests" for r in results if r.errors]
    return "\n".join(out)


@dataclass
class Target:
    """A line of the verdict: `check(result, bare)` says whether it is met."""

    what: str
    loads: Sequence[str]
    connections: int
    check: Callable[[Result, Result | None], tuple[bool, str]]


def ratio_at_least(minimum: float) -> Callable[[Result, Result | None], tuple[bool, str]]:
    def judge(r: Result, bare: Result | None) -> tuple[bool, str]:
        if bare is None or not bare.rps:
            return False, "no bare figure"
        ratio = r.rps / bare.rps
        return ratio >= minimum and not r.errors, f"{ratio:.2f} of bare (need >= {minimum:g})"
    return judge


def at_most(attribute: str, limit: float, unit: str = "ms"
            ) -> Callable[[Result, Result | None], tuple[bool, str]]:
    def judge(r: Result, _bare: Result | None) -> tuple[bool, str]:
        value = float(getattr(r, attribute))
        said = f"{attribute.replace('_ms', '')} {value:.2f} {unit} (need <= {limit:g})"
        return value <= limit, said
    return judge


def rps_at_least(minimum: float) -> Callable[[Result, Result | None], tuple[bool, str]]:
    def judge(r: Result, _bare: Result | None) -> tuple[bool, str]:
        return r.rps >= minimum and not r.errors, f"{r.rps:.0f} req/s (need >= {minimum:g})"
    return judge


def report(args: argparse.Namespace, tmp: Path, ports: dict[str, int], loads: Sequence[Load],
           targets: Sequence[Target], servers: Sequence[Server],
           limit_mb: float | None = None) -> list[Result]:
    """What every HTTP benchmark prints: the settings, each load measured (`measure`), the
    table, the verdict on each target, the servers' memory."""
    print(f"{stamp()}; {args.opts.kind} workers={args.workers} threads={args.threads}; "
          f"{args.cores.describe()}; {args.duration:g} s per run", flush=True)
    results = measure(Wrk(args.cores, tmp), ports, loads, args.conns, args.duration,
                      args.warmup, args.rounds)
    print(f"\n{stamp()}")
    print(table(results))
    print()
    print("\n".join(verdicts(results, targets)))
    print("\n".join(memory_lines(servers, limit_mb)))
    return results


def verdicts(results: Sequence[Result], targets: Sequence[Target]) -> list[str]:
    lines = []
    for target in targets:
        bare = next((r for r in results if r.load.name == "bare"
                     and r.connections == target.connections), None)
        for name in target.loads:
            r = next((r for r in results if r.load.name == name
                      and r.connections == target.connections), None)
            if r is None:
                continue
            met, said = target.check(r, bare)
            lines.append(f"{'met   ' if met else 'MISSED'}  {target.what}: {name} @ "
                         f"{target.connections}: {said}")
    return lines


def memory_lines(servers: Sequence[Server], limit_mb: float | None = None) -> list[str]:
    lines = []
    for server in servers:
        peaks = server.rss_mb()
        if not peaks:
            continue
        shown = ", ".join(f"{p:.0f}" for p in peaks)
        now = ", ".join(f"{p:.0f}" for p in server.rss_mb("VmRSS"))
        verdict = ""
        if limit_mb is not None:
            met = "met" if max(peaks) <= limit_mb else "MISSED"
            verdict = f" ({met}: need <= {limit_mb:g} MB)"
        lines.append(f"peak RSS per worker of {server.name}: {shown} MB (now {now} MB)"
                     f"{verdict}")
    return lines


# -- options ---------------------------------------------------------------------------------


def parser(description: str, threads: int = serving.DEFAULT_THREADS) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    ap.add_argument("--connections", default="1,16",
                    help="comma-separated connection counts (default 1,16)")
    ap.add_argument("--server", choices=("granian", "gunicorn"), default="granian",
                    help="the WSGI server for both our app and the bare endpoint (default "
                         "granian, as `txserver serve`)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--threads", type=int, default=threads,
                    help=f"threads per worker (default {threads}, as `txserver serve`)")
    ap.add_argument("--access-log", action="store_true",
                    help="txserver logs every request (default off; the bare endpoint "
                         "writes no log)")
    ap.add_argument("--warmup", type=float, default=2.0,
                    help="seconds of unmeasured load per load first (default 2, 0: none)")
    ap.add_argument("--db", type=Path, default=None,
                    help="a store to use (built there on the first run, reused after); "
                         "default: a fresh one in a temporary folder")
    ap.add_argument("--no-package", action="store_true",
                    help=f"do not import {THO} into a fresh store")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every load this many times in turn and keep the median run "
                         "(default 1)")
    ap.add_argument("--only", default="",
                    help="comma-separated words: run only the loads whose names hold one")
    return ap


def parse(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = ap.parse_args(argv)
    try:
        args.conns = [int(c) for c in args.connections.split(",") if c.strip()]
    except ValueError:
        ap.error(f"--connections must be integers separated by commas, not {args.connections!r}")
    if not args.conns or min(args.conns) < 1:
        ap.error("--connections needs at least one count >= 1")
    if args.duration <= 0 or args.workers < 1 or args.threads < 1:
        ap.error("--duration, --workers and --threads must be positive")
    args.cores = Cores.split()
    args.opts = ServerOptions(args.server, args.workers, args.threads, args.access_log,
                              args.cores)
    return args


def wanted(args: argparse.Namespace, loads: Sequence[Load]) -> list[Load]:
    words = [w.strip().lower() for w in args.only.split(",") if w.strip()]
    if not words:
        return list(loads)
    return [ld for ld in loads if ld.name == "bare" or any(w in ld.name.lower() for w in words)]


def main_wrapper(run: Callable[[argparse.Namespace, Path], int], args: argparse.Namespace
                 ) -> int:
    """Run with a temporary folder, turning SIGTERM into a clean stop."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    print(f"before the run: {stamp()}; {os.cpu_count()} CPUs", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="txbench-"))
    try:
        return run(args, tmp)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(tmp, ignore_errors=True)
