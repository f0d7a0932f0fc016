"""Replicas behind nginx, with the real parts: two `txserver serve --snapshots DIR` replicas and
Debian's nginx running deploy/nginx/txserver.conf (its ports and paths replaced by
deploy/nginx/nginx_local.py), all on
127.0.0.1. A repeated $lookup is a HIT of nginx's cache; after the lifetime an unchanged answer
is REVALIDATED with its ETag; a new snapshot rolled out under load gives no failed request and
its new answers within the lifetime; killing a replica loses no request nginx can retry.

Marked `nginx`; .ci/run installs nginx-light when it is missing (CI=true fails instead of
skipping when it is not there).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import CPT, build_store, changed_2025, param_dict, require
from live_server import ROOT, free_port

from codesystems.cpt import loader
from terminology.store import Store
from terminology.store.snapshots import write_snapshot

pytestmark = pytest.mark.nginx

MAX_AGE = 2  # seconds: the replicas' Cache-Control lifetime, short for the test
POLL = 0.5  # seconds between a replica's looks for a new snapshot
LOOKUP_99252 = f"/fhir/CodeSystem/$lookup?system={CPT}&code=99252&version=2025"
sys.path.insert(0, str(ROOT / "deploy" / "nginx"))
import nginx_local  # deploy/nginx/nginx_local.py: the shipped config, run here


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def wait_for(url: str, process: Process, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if process.process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not start:\n"
                       + process.log.read_text(errors="replace")[-3000:])


def start_replica(folder: Path, snapshots: Path, port: int) -> Process:
    env = dict(os.environ, TX_SNAPSHOT_POLL=str(POLL), TX_MAX_AGE=str(MAX_AGE),
               TX_TRUSTED_PROXIES="127.0.0.1", TX_DB=str(folder / "unused.db"))
    log = folder / f"replica-{port}.log"
    command = [sys.executable, "-c", "from server import main; main()", "serve", "--host",
               "127.0.0.1", "--port", str(port), "--snapshots", str(snapshots),
               "--threads", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    replica = Process(f"replica :{port}", process, log)
    wait_for(f"http://127.0.0.1:{port}/readyz", replica)
    return replica


@dataclass
class ReplicaSet:
    base: str
    store: Path
    snapshots: Path
    folder: Path
    replicas: list[Process] = field(default_factory=list)

    def publish(self) -> None:
        write_snapshot(self.store, self.snapshots)


@pytest.fixture(scope="module")
def replica_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    binary = nginx_local.binary()
    require(binary is not None, "nginx is not installed (apt-get install nginx-light)")
    assert binary is not None
    folder = tmp_path_factory.mktemp("replicas")
    store = folder / "primary.db"
    build_store(store)
    snapshots = folder / "snapshots"
    write_snapshot(store, snapshots)
    ports = [free_port(), free_port()]
    started: list[Process] = []
    nginx = None
    try:
        for port in ports:
            started.append(start_replica(folder, snapshots, port))
        listen = free_port()
        conf = nginx_local.render(folder / "nginx", listen, ports)
        log = folder / "nginx.out"
        with log.open("wb") as out:
            process = subprocess.Popen([binary, "-c", str(conf), "-p", str(conf.parent), "-g",
                                        "daemon off;"], stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        nginx = Process("nginx", process, log)
        base = f"http://127.0.0.1:{listen}"
        wait_for(f"{base}/readyz", nginx)
        yield ReplicaSet(base, store, snapshots, folder, started)
    finally:
        if nginx is not None:
            nginx.stop(signal.SIGQUIT)
        for replica in started:
            replica.stop()


def display(response: requests.Response) -> str:
    return str(param_dict(response.json())["display"][0])


def test_a_repeated_lookup_is_served_from_nginx_and_revalidated_after_its_lifetime(
        replica_set: ReplicaSet) -> None:
    url = replica_set.base + LOOKUP_99252
    first = requests.get(url, timeout=10)
    assert first.status_code == 200 and first.headers["X-Cache-Status"] == "MISS"
    second = requests.get(url, timeout=10)
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.content == first.content and second.headers["ETag"] == first.headers["ETag"]
    not_modified = requests.get(url, timeout=10, headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.headers["X-Cache-Status"] == "HIT"
    other_language = requests.get(url, timeout=10, headers={"Accept-Language": "en"})
    assert other_language.headers["X-Cache-Status"] == "MISS"  # its own key
    time.sleep(MAX_AGE + 1.5)  # nginx counts whole seconds: expired after 2 to 3 seconds
    again = requests.get(url, timeout=10)
    assert again.headers["X-Cache-Status"] == "REVALIDATED", (first.headers, again.headers)
    assert again.content == first.content


def test_a_new_snapshot_rolled_out_under_load_fails_no_request(replica_set: ReplicaSet,
                                                               tmp_path: Path) -> None:
    url = replica_set.base + LOOKUP_99252
    before = display(requests.get(url, timeout=10))
    assert not before.startswith("CHANGED ")
    results: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def load(n: int) -> None:
        session = requests.Session()
        for i in range(5000):  # bounded in count, and stopped once the rollout is seen
            if stop.is_set():
                return
            target = url if i % 2 else f"{url}&property=status&_={n}-{i}"
            try:
                response = session.get(target, timeout=10)
                text = display(response) if response.status_code == 200 else ""
                results.append((time.monotonic(), response.status_code, text))
            except requests.RequestException as exc:
                results.append((time.monotonic(), 0, str(exc)))

    workers = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(1)
    loader.import_release(Store(replica_set.store), changed_2025(tmp_path), "2025")
    published = time.monotonic()
    replica_set.publish()
    deadline = published + MAX_AGE + POLL + 10
    seen_new = None
    while time.monotonic() < deadline and seen_new is None:
        if display(requests.get(url, timeout=10)).startswith("CHANGED "):
            seen_new = time.monotonic() - published
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for worker in workers:
        worker.join(30)
    print(f"rollout: {len(results)} requests, new answers after {seen_new:.2f} s")
    failures = [r for r in results if r[1] != 200]
    assert results and failures == [], failures[:5]
    assert seen_new is not None, "the new snapshot was never served"
    # within the cache lifetime plus the replicas' poll (and a margin for a busy machine)
    assert seen_new <= MAX_AGE + POLL + 3, seen_new
    assert {text for _, _, text in results} <= {before, "CHANGED " + before}


def test_a_replica_dying_loses_no_request(replica_set: ReplicaSet) -> None:
    """Uncached requests (each display differs) under load while one replica is killed."""
    url = (f"{replica_set.base}/fhir/CodeSystem/$validate-code?system={CPT}&code=99202"
           "&display=")
    results: list[int] = []
    stop = threading.Event()

    def load(n: int) -> None:
        session = requests.Session()
        for i in range(3000):
            if stop.is_set():
                return
            try:
                results.append(session.get(f"{url}x{n}-{i}", timeout=10).status_code)
            except requests.RequestException:
                results.append(0)

    workers = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(1)
    victim = replica_set.replicas[0]
    victim.stop(signal.SIGKILL)
    killed_at = len(results)
    time.sleep(2)
    stop.set()
    for worker in workers:
        worker.join(30)
    print(f"kill: {killed_at} requests before, {len(results) - killed_at} after")
    assert len(results) > killed_at + 10  # requests went on after the kill
    assert set(results) == {200}, {code: results.count(code) for code in set(results)}
    assert requests.get(replica_set.base + LOOKUP_99252, timeout=10).status_code == 200
