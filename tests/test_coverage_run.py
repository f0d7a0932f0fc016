"""The coverage run counts what the servers the tests start do: the HL7 conformance cases and
the README's calls are answered by `txserver serve` in a subprocess (gunicorn's forked worker
under coverage), and their lines must be in the combined data, not only the test process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _coverage(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "coverage", *args, f"--data-file={data}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, COVERAGE_FILE=str(data)))


def test_a_served_request_counts_in_the_coverage_run(tmp_path: Path) -> None:
    data = tmp_path / ".coverage"
    run = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--data-file={data}", "-m", "pytest", "-q",
         "-p", "no:cacheprovider", "tests/test_readme.py", "-k", "example_calls"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, COVERAGE_FILE=str(data)))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    combined = _coverage("combine", "-q", data=data)
    assert combined.returncode == 0, combined.stdout + combined.stderr
    report = tmp_path / "coverage.json"
    written = _coverage("json", "-q", "-o", str(report), data=data)
    assert written.returncode == 0, written.stdout + written.stderr
    files = json.loads(report.read_text())["files"]
    # only the server answers $lookup: the test process sends HTTP requests
    lookup = files["terminology/operations/lookup.py"]["functions"]["lookup"]
    assert lookup["summary"]["covered_lines"] > 0
    assert "terminology/web/wsgi.py" in files or "terminology/web/hot.py" in files
