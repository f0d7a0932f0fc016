"""Benchmark Claim/$validate of a 20-line claim beside the bare endpoint, under one WSGI server.

Run from the repository root:  python bench/validate.py [--duration 10] [--connections 1,16]
                                                        [--server granian|gunicorn] [--db PATH]

The store is bench/harness.py's (the samples with the full ICD-10-CM, the CMS add-on, MUE and
PTP edits, HCPCS, a 2,000-concept code system, the HL7 Terminology package). `txserver serve`
and bench/bare_app.py (answering the claim's OperationOutcome as fixed bytes) run under granian
(or gunicorn) with the same workers and threads, pinned to one core with wrk on the other;
every figure is printed with its ratio to the bare endpoint's. `POST /fhir/Claim/$validate` is
sent three ways:

- `same claim`: the one claim, byte for byte, every time (an EHR re-checking an order);
- `one line changed`: every request a different claim (identifier, patient) whose last line
  differs from all lines sent before (an order being edited, re-checked after each change);
- `all lines new`: every line of every claim has an id never sent before (the codes repeat).

The server checks a body against the FHIR R4B models (fhir.resources) part by part (the claim
without its items, each item) and remembers the parts the models accepted, with their ids,
sequence numbers, dates, units, patient and identifiers masked (those are checked on their own
by the same rules), as the model checks cost more than all the rest: a line whose other
elements (codes, modifiers, their systems) were never seen is parsed by the models in full.

Every coding of the claim is checked (CPT, HCPCS, ICD-10-CM), then the add-on, MUE, PTP and
modifier edits. The verdict: p50 <= 10 ms at 16 connections.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from harness import Load, Target, at_most, lua_string

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
PATH = "/fhir/Claim/$validate"
TARGET_CONNECTIONS = 16
TARGET_P50_MS = 10.0
DAY = "2026-03-02"
GROUP = "POST /fhir/Claim/$validate, 20 lines"
# 20 lines of one visit: a visit with 25, facet joint destruction with add-ons, labs, drugs.
LINES: list[tuple[str, str, int, tuple[str, ...]]] = [
    (CPT, "99214", 1, ("25",)), (CPT, "64635", 1, ()), (CPT, "64636", 2, ()),
    (CPT, "64633", 1, ("59",)), (CPT, "64634", 1, ()), (CPT, "87593", 2, ()),
    (CPT, "87593", 2, ()), (CPT, "86701", 1, ()), (CPT, "1036F", 1, ()),
    (CPT, "0001A", 1, ()), (HCPCS, "J1100", 10, ()), (HCPCS, "A4253", 1, ()),
    (HCPCS, "G0008", 1, ()), (CPT, "00100", 1, ()), (CPT, "0901T", 1, ()),
    (CPT, "99252", 1, ()), (CPT, "0001U", 1, ()), (HCPCS, "E0601", 1, ()),
    (CPT, "87593", 1, ()), (CPT, "64636", 1, ()),
]


def claim(number: int | str, line_ids: str = "none") -> dict[str, Any]:
    """The 20-line claim; `line_ids` gives an id to no line ("none"), the last ("last") or
    every one ("all"), made of `number`, so that those lines differ from claim to claim."""
    items = []
    for sequence, (system, code, units, modifiers) in enumerate(LINES, start=1):
        item: dict[str, Any] = {"sequence": sequence,
                                "productOrService": {"coding": [{"system": system,
                                                                 "code": code}]},
                                "servicedDate": DAY, "quantity": {"value": units}}
        if modifiers:
            item["modifier"] = [{"coding": [{"system": CPT, "code": m}]} for m in modifiers]
        if line_ids == "all" or (line_ids == "last" and sequence == len(LINES)):
            item = {"id": f"line{sequence}-{number}", **item}
        items.append(item)
    return {
        "resourceType": "Claim", "id": f"bench-{number}",
        "identifier": [{"system": "urn:bench:claim", "value": str(number)}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "use": "claim", "patient": {"reference": f"Patient/{number}"}, "created": DAY,
        "provider": {"reference": "Practitioner/dr1"},
        "priority": {"coding": [{"system":
                                 "http://terminology.hl7.org/CodeSystem/processpriority",
                                 "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c1"}}],
        "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
            "coding": [{"system": ICD, "code": "M47.816"}]}}],
        "item": items,
    }


# -- load with a different body each request ------------------------------------------------

MARK = "424242424242"  # replaced by a counter in each request
_RUNS = itertools.count(1)


def salt() -> str:
    """A prefix of the counters of one load run, so that no run repeats an earlier one's."""
    return f"{os.getpid() % 1000:03d}{next(_RUNS):03d}"


def fresh_script(template: bytes) -> str:
    """A wrk Lua script putting a new counter into every body (each run its own salt)."""
    pieces = ", ".join(lua_string(p) for p in template.decode().split(MARK))
    return (f"local parts = {{{pieces}}}\n"
            f"local counter = 0\nlocal salt = {lua_string(salt())}\n"
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/fhir+json"\n'
            "request = function()\n"
            "  counter = counter + 1\n"
            '  local id = salt .. string.format("%010d", counter)\n'
            "  return wrk.format(nil, nil, nil, table.concat(parts, id))\n"
            "end\n")


def summary_of(body: bytes) -> str:
    outcome = orjson.loads(body)
    counts: dict[str, int] = {}
    for issue in outcome.get("issue", []):
        counts[issue["severity"]] = counts.get(issue["severity"], 0) + 1
    return ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items()))


def fresh(name: str, template: bytes) -> Load:
    """POSTs of `template` with a counter never sent before in place of MARK."""
    return Load(name, "tx", "POST", [PATH], [template], "application/fhir+json",
                group=GROUP, script=lambda: fresh_script(template))


def run(args: argparse.Namespace, tmp: Path) -> int:
    db = args.db or tmp / "tx.db"
    harness.prepare_store(db, tmp, package=not args.no_package)
    tx = harness.tx_server("txserver", db, args.opts, tmp)
    same = orjson.dumps(claim(1))
    with harness.running([tx]):
        status, answer = harness.request(tx.port, "POST", PATH, same,
                                         {"Content-Type": "application/fhir+json"})
        if status != 200:
            raise RuntimeError(f"Claim/$validate answered HTTP {status}: {answer[:300]!r}")
        print(f"the 20-line claim ({len(same)} bytes) answers 200: {summary_of(answer)}")
        body_file = tmp / "bare-body.json"
        body_file.write_bytes(answer)
        bare = harness.bare_server(body_file, args.opts, tmp)
        with harness.running([bare]):
            loads = [
                Load("bare", "bare", "POST", [PATH], [same], "application/fhir+json",
                     group="bare"),
                Load("same claim", "tx", "POST", [PATH], [same], "application/fhir+json",
                     group=GROUP),
                fresh("one line changed", orjson.dumps(claim(MARK, "last"))),
                fresh("all lines new", orjson.dumps(claim(MARK, "all"))),
            ]
            chosen = harness.wanted(args, loads)
            names = [ld.name for ld in chosen if ld.name != "bare"]
            harness.report(args, tmp, {"bare": bare.port, "tx": tx.port}, chosen, [
                Target("p50 <= 10 ms", names, TARGET_CONNECTIONS,
                       at_most("p50_ms", TARGET_P50_MS))], [tx])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = harness.parse(harness.parser(__doc__.split("\n\n")[0]), argv)
    return harness.main_wrapper(run, args)


if __name__ == "__main__":
    sys.exit(main())
