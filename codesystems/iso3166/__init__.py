"""ISO 3166-1 country codes (`urn:iso:std:iso:3166`) as a FHIR CodeSystem served from memory.

The 2-letter, 3-letter and numeric codes of every country with its ISO English short name, from
the `iso3166` package (MIT licence; ISO 3166-1 as ISO publishes it), then the user-assigned
2-letter codes tx.fhir.org also accepts (AA, QM–QZ, XA–XZ, ZZ). The version is tx.fhir.org's
label for this code system, `2018`, so codings made against it keep matching.
"""

from __future__ import annotations

from typing import Any

import iso3166

URL = "urn:iso:std:iso:3166"
VERSION = "2018"
# ISO 3166-1 § 8.1.3: code elements left for users; tx.fhir.org's names for the ones in use
USER_ASSIGNED = (["AA"] + [f"Q{c}" for c in "MNOPQRSTUVWXYZ"]
                 + [f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] + ["ZZ"])
USER_ASSIGNED_NAMES = {"XK": "Kosovo", "XX": "Unknown", "XZ": "International Waters",
                       "ZZ": "Unknown or Invalid Territory"}


def concepts() -> list[dict[str, str]]:
    """2-letter codes, the user-assigned ones, 3-letter codes, then numeric codes."""
    official = [c for c in iso3166.countries if c.alpha2 not in USER_ASSIGNED]
    out = [{"code": c.alpha2, "display": c.name} for c in sorted(official, key=lambda c: c.alpha2)]
    out += [{"code": code, "display": USER_ASSIGNED_NAMES.get(code, "User-assigned")}
            for code in USER_ASSIGNED]
    out += [{"code": c.alpha3, "display": c.name} for c in sorted(official, key=lambda c: c.alpha3)]
    out += [{"code": c.numeric, "display": c.name}
            for c in sorted(official, key=lambda c: c.numeric)]
    return out


def code_system() -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem", "id": "iso3166", "url": URL, "version": VERSION,
        "name": "CountryCodes", "title": "ISO Country Codes", "status": "active",
        "experimental": False, "language": "en",
        "description": "ISO 3166-1 codes for the names of countries: 2-letter, 3-letter and "
                       "numeric codes, and the user-assigned 2-letter codes",
        "copyright": "ISO 3166-1 country codes and names as published by ISO, from the iso3166 "
                     "package (MIT licence)",
        "caseSensitive": True, "content": "complete", "concept": concepts(),
    }
