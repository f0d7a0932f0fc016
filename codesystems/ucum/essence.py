"""UCUM's table of prefixes and units (`ucum-essence.xml`), read into plain values.

The server ships UCUM's own file unchanged (`data/ucum-essence.xml`, version 2.2, under the
UCUM licence in `data/LICENSE.md`); `TX_UCUM_ESSENCE` (or `create_app(UCUM_ESSENCE=…)`) names
another copy, such as a newer release a user downloaded.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from terminology.errors import ImportFailed

SHIPPED = Path(__file__).parent / "data" / "ucum-essence.xml"


@dataclass(frozen=True, slots=True)
class Prefix:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    names: tuple[str, ...]
    base: bool  # one of the seven base units (m, s, g, rad, K, C, cd)
    metric: bool  # may take a prefix
    special: bool  # defined by a function (Cel, [pH]…), not by a multiple of other units
    definition: str  # the expression it is defined by (`kg.m/s2`), empty for a base unit
    function_unit: str  # for a special unit, the unit its function works on
    offset: bool  # a special unit whose zero is not the zero of its base (Cel, [degF])

    @property
    def name(self) -> str:
        return self.names[0] if self.names else self.code


@dataclass(frozen=True)
class Essence:
    version: str
    revision_date: str | None
    prefixes: tuple[Prefix, ...]  # in the table's order: the parser tries them in turn
    units: dict[str, Unit]


OFFSET_FUNCTIONS = {"Cel", "degF", "degRe"}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in node if _local(child.tag) == name]


def parse_essence(data: bytes, source: str = "ucum-essence.xml") -> Essence:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ImportFailed(f"{source} is not XML: {exc}") from None
    if _local(root.tag) != "root" or not root.get("version"):
        raise ImportFailed(f"{source} is not UCUM's table of units (no <root version=…>)")
    prefixes = tuple(Prefix(p.get("Code", ""), "".join(_children(p, "name")[0].itertext()))
                     for p in _children(root, "prefix"))
    units: dict[str, Unit] = {}
    for node in root:
        kind = _local(node.tag)
        if kind not in ("base-unit", "unit"):
            continue
        names = tuple("".join(n.itertext()).strip() for n in _children(node, "name"))
        values = _children(node, "value")
        value = values[0] if values else None
        functions = _children(value, "function") if value is not None else []
        function = functions[0] if functions else None
        units[node.get("Code", "")] = Unit(
            code=node.get("Code", ""), names=names, base=kind == "base-unit",
            metric=kind == "base-unit" or node.get("isMetric") == "yes",
            special=node.get("isSpecial") == "yes" or function is not None,
            definition=value.get("Unit", "") if value is not None else "",
            function_unit=function.get("Unit", "") if function is not None else "",
            offset=function is not None and function.get("name") in OFFSET_FUNCTIONS)
    return Essence(root.get("version", ""), root.get("revision-date"), prefixes, units)


def load(path: str | None = None) -> Essence:
    """The table at `path`, else `TX_UCUM_ESSENCE`, else the copy the server ships."""
    return _load(str(path or os.environ.get("TX_UCUM_ESSENCE") or SHIPPED))


@cache
def _load(path: str) -> Essence:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFailed(f"Cannot read UCUM's table of units {path}: {exc}") from None
    return parse_essence(data, path)
