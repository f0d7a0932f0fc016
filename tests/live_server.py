"""The real server for tests that need one over HTTP: `txserver serve` in a subprocess on
127.0.0.1, a free port and a fresh store (so it runs the first-start import), stopped at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def measuring_coverage() -> bool:
    """Whether this test run is measured by coverage.py (`python -m coverage run -m pytest`)."""
    coverage = sys.modules.get("coverage")
    return coverage is not None and coverage.Coverage.current() is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(folder: Path, threads: int = 4, server: str = "granian",
                   env: dict[str, str] | None = None) -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:PORT`) once /fhir/metadata answers."""
    port = free_port()
    env = dict(os.environ, TX_DB=str(folder / "tx.db"), **(env or {}))
    command = [sys.executable, "-c", "from server import main; main()", "serve",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--threads", str(threads), "--server", server]
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180  # the first start imports ICD-10-CM
            while True:
                try:
                    if requests.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start:\n"
                                       + log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.25)
            yield base
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
