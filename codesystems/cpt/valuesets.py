"""The HL7 Terminology (THO) value sets over CPT, served by every txserver holding CPT.

cpt-all (every code, modifier and, by the grammar, every modifier expression), cpt-base (codes
that are neither modifiers nor modified), cpt-modifiers, cpt-usable (base codes and any
modified expression). Expressions are members (a $validate-code of `99213:25` against cpt-usable
is true) but cannot be listed, so expansions of cpt-all and cpt-usable are not closed.
"""

from __future__ import annotations

from typing import Any

from codesystems.cpt import definition as cpt

THO = "http://terminology.hl7.org/ValueSet"


def _value_set(name: str, title: str, description: str,
               filters: list[dict[str, str]]) -> dict[str, Any]:
    include: dict[str, Any] = {"system": cpt.URL}
    if filters:
        include["filter"] = filters
    return {
        "resourceType": "ValueSet",
        "id": name,
        "url": f"{THO}/{name}",
        "version": "1.0.0",
        "name": title.replace(" ", ""),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": "HL7 Terminology (definition); served by txserver",
        "description": description,
        "copyright": cpt.COPYRIGHT,
        "compose": {"include": [include]},
    }


VALUE_SETS = [
    _value_set("cpt-all", "All CPT codes",
               "Every CPT code and modifier, and every code with modifiers.", []),
    _value_set("cpt-base", "CPT base codes",
               "CPT codes without modifiers, and not modifiers themselves.",
               [{"property": "modifier", "op": "=", "value": "false"},
                {"property": "modified", "op": "=", "value": "false"}]),
    _value_set("cpt-modifiers", "CPT modifiers", "The CPT modifier codes.",
               [{"property": "modifier", "op": "=", "value": "true"}]),
    _value_set("cpt-usable", "Usable CPT codes",
               "CPT codes that can be used: base codes, with or without modifiers.",
               [{"property": "modifier", "op": "=", "value": "false"}]),
]
