"""ISO 4217 currency codes (`urn:iso:std:iso:4217`) as a FHIR CodeSystem served from memory.

The 3-letter codes with ISO's English names and minor units (property `decimals`, as
tx.fhir.org filters on it: `decimals = 2`), from the `iso4217` package (public domain), which
carries the ISO 4217 list as its maintenance agency publishes it. No version, as tx.fhir.org;
the list's publication date is the CodeSystem's `date`.
"""

from __future__ import annotations

from typing import Any

import iso4217

URL = "urn:iso:std:iso:4217"
DECIMALS = {"code": "decimals", "type": "integer",
            "description": "The number of decimal places of the currency's minor unit"}


def concepts() -> list[dict[str, Any]]:
    out = []
    for code, entry in sorted((k, v) for k, v in iso4217.raw_table.items() if k):
        concept: dict[str, Any] = {"code": code, "display": entry["CcyNm"]}
        minor = str(entry.get("CcyMnrUnts") or "")
        if minor.isdigit():
            concept["property"] = [{"code": "decimals", "valueInteger": int(minor)}]
        out.append(concept)
    return out


def code_system() -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem", "id": "iso4217", "url": URL, "name": "Currencies",
        "title": "Currencies", "status": "active", "experimental": False, "language": "en",
        "date": iso4217.__published__.isoformat(),
        "description": "ISO 4217 currency codes, with the decimal places of each minor unit",
        "copyright": "ISO 4217 currency codes as published by its maintenance agency, from "
                     "the iso4217 package (public domain)",
        "caseSensitive": True, "content": "complete", "property": [DECIMALS],
        "concept": concepts(),
    }
