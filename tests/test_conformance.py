"""The HL7 terminology-server conformance suites (../shared/tx-tests), run against a live server.

Every suite of the `general` mode must pass, with tx.fhir.org's exact message texts. Skipped only
when the suites are not beside the checkout.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT.parent / "shared" / "tx-tests"

pytestmark = pytest.mark.skipif(not (SUITES / "run.py").exists(),
                                reason="the HL7 tx-tests are not beside this checkout")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    port = _free_port()
    env = dict(os.environ, TX_DB=str(tmp_path_factory.mktemp("tx") / "tx.db"))
    process = subprocess.Popen(
        [sys.executable, "-c", "from server import main; main()", "serve", "--port", str(port),
         "--workers", "1", "--threads", "4"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_every_suite_passes(server: str) -> None:
    run = subprocess.run(
        [sys.executable, str(SUITES / "run.py"), "--tests", str(SUITES / "cases"),
         "--server", server, "--externals",
         str(SUITES / "cases" / "messages-tx.fhir.org.json")],
        capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    failures = [line for line in output.splitlines() if ": FAIL" in line]
    assert not failures, "\n".join(failures[:20])
    totals = re.search(r"^(\d+) passed, (\d+) failed$", output, re.M)
    assert totals and int(totals.group(2)) == 0 and int(totals.group(1)) >= 475, output[-2000:]
