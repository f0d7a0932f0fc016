"""The README's quick start, run as written: install is done; `txserver serve` on an empty store
imports the samples and serves the three example calls with the answers the README shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_readme_names_the_two_commands() -> None:
    shell = _blocks("sh")
    assert "pip install -e . && txserver serve" in shell[0]
    assert "pip install -e '.[test]' && python -m pytest" in shell[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest" in ci.splitlines()[-1]


@pytest.fixture(scope="module")
def served(live_server: str):
    """The README's server: `txserver serve` on a fresh store."""
    yield f"{live_server}/fhir", int(live_server.rsplit(":", 1)[1])


def _curl_urls() -> list[str]:
    return [m for block in _blocks("sh") for m in re.findall(r"'(http://[^']+)'", block)]


def _answers() -> list[dict]:
    answers = []
    for block in _blocks("json"):
        try:
            answers.append(json.loads(block))
        except json.JSONDecodeError:
            answers.append({"_text": block})
    return answers


def test_example_calls_answer_as_the_readme_says(served) -> None:
    base, port = served
    urls = _curl_urls()
    assert len(urls) == 3
    answers = _answers()
    # 1: the lookup answer is shown whole and must match exactly.
    got = requests.get(urls[0].replace("8080", str(port)), timeout=5)
    assert got.status_code == 200
    assert got.json() == answers[0]
    # 2: the invalid expression: result false, with the reason in the message.
    got = requests.get(urls[1].replace("8080", str(port)), timeout=5).json()
    shown = {p["name"]: p for p in answers[1]["parameter"] if p["name"] != "issues"}
    assert {p["name"]: p for p in got["parameter"] if p["name"] != "issues"} == shown
    # 3: the POSTed Coding with a wrong display.
    body = re.search(r"-d '(\{.*\})'", "\n".join(_blocks("sh"))).group(1)
    got = requests.post(urls[2].replace("8080", str(port)), data=body, timeout=5,
                        headers={"Content-Type": "application/fhir+json"}).json()
    message = next(p["valueString"] for p in got["parameter"] if p["name"] == "message")
    assert message.startswith("Wrong Display Name 'Office visit'")
    assert "invalid-display" in json.dumps(got)
