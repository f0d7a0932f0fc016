"""The HL7 terminology-server conformance suites (../shared/tx-tests), run against a live server.

Every suite of the `general` mode and the tests of the `tx.fhir.org` mode (478 in all) must pass,
with tx.fhir.org's exact message texts. Skipped only when the suites are not beside the
checkout, and then a failure in CI (`CI=true`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT.parent / "shared" / "tx-tests"



@pytest.fixture(scope="module")
def server(live_server: str) -> str:
    require((SUITES / "run.py").exists(), f"the HL7 tx-tests are not at {SUITES}")
    return f"{live_server}/fhir"


def test_every_suite_passes(server: str) -> None:
    run = subprocess.run(
        [sys.executable, str(SUITES / "run.py"), "--tests", str(SUITES / "cases"),
         "--server", server, "--mode", "tx.fhir.org", "--externals",
         str(SUITES / "cases" / "messages-tx.fhir.org.json")],
        capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    failures = [line for line in output.splitlines() if ": FAIL" in line]
    assert not failures, "\n".join(failures[:20])
    totals = re.search(r"^(\d+) passed, (\d+) failed$", output, re.M)
    assert totals and int(totals.group(2)) == 0 and int(totals.group(1)) >= 478, output[-2000:]
