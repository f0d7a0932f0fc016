"""Writes the registry subset the server ships (`data/language-subtag-registry.txt`).

    python -m codesystems.bcp47.build_data SOURCE [OUT]

SOURCE is the IANA language subtag registry as IANA publishes it (record-jar text), or the same
registry as JSON (a list of records, as the `language-subtag-registry` and `language-tags`
packages carry it). Only the fields the server reads are kept, in the registry's own format.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from codesystems.bcp47.registry import SHIPPED, records

KEPT = ("Type", "Subtag", "Tag", "Description")


def _source_records(text: str) -> tuple[str | None, list[dict[str, list[str]]]]:
    if text.lstrip().startswith("["):
        items = json.loads(text)
        rows = [{k: (v if isinstance(v, list) else [v]) for k, v in item.items()}
                for item in items]
        return None, rows
    found = records(text)
    head = found[0].get("File-Date", [None])[0] if found else None
    return head, found[1:]


def subset(text: str, file_date: str | None = None) -> str:
    date, rows = _source_records(text)
    lines = [f"File-Date: {file_date or date or 'unknown'}"]
    for row in rows:
        if not row.get("Type"):
            continue
        lines.append("%%")
        for name in KEPT:
            lines.extend(f"{name}: {value}" for value in row.get(name, []))
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    source = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else SHIPPED
    file_date = argv[2] if len(argv) > 2 else None
    out.write_text(subset(source.read_text(encoding="utf-8"), file_date), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
