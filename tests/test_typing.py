"""The typed contracts are checked, not only written: `mypy --strict` over the engine, the code
sets and server.py finds no error.

This is what makes the provider protocol real: server.py hands every provider to the registry
as a `CodeSystemProvider` (the factories of stored code systems, the built-in grammars), so a
provider that lacks a member of the contract, or a capability implemented with the wrong
signature, fails here. mypy is a test dependency (`pip install -e '.[test]'`); without it the
test fails rather than skips.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("terminology", "codesystems", "server.py")


def test_mypy_strict_finds_no_error() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *CHECKED],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert "No module named mypy" not in output, "mypy is a test dependency: pip install mypy"
    assert run.returncode == 0, output[-4000:]
    assert "Success: no issues found" in output, output[-4000:]
