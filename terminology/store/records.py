"""The values the store hands out (frozen dataclasses) and how their rows are encoded.

Reads decode rows here and writes encode them here, so that the two always agree on the layout
of a stored concept (designations and properties as JSON arrays).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from terminology.model import Coding, Concept, Designation, Property
from terminology.numbers import is_digits


@dataclass(frozen=True, slots=True)
class CodeSystemInfo:
    """One stored code-system version: its searchable metadata and its resource without concepts."""

    id: int
    url: str
    version: str | None
    resource_id: str
    provider: str
    name: str | None
    title: str | None
    status: str
    effective_date: str | None
    content: str
    case_sensitive: bool
    count: int
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoreVersion:
    """One committed state of one store: its generation, the store's own random id (so that
    generation 12 of one store is never taken for generation 12 of another) and when that
    generation was committed (UTC, ISO, to the millisecond)."""

    generation: int
    store_id: str
    committed_at: str

    @property
    def id(self) -> str:
        """`g12-1a2b3c4d`: names the data served, the same on every copy of it."""
        return f"g{self.generation}-{self.store_id[:8]}"

    @property
    def committed(self) -> datetime:
        return datetime.fromisoformat(self.committed_at.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One concept found by text search: `exact` when the text is its code (E11.9, e119);
    otherwise `score` is its bm25 rank (lower is better)."""

    cs_id: int
    code: str
    exact: bool
    score: float


@dataclass(frozen=True, slots=True)
class ConceptMapInfo:
    id: int
    url: str
    version: str | None
    resource_id: str
    name: str | None
    title: str | None
    status: str
    resource: dict[str, Any]


SUMMARY_KEYS = ("url", "version", "id", "name", "title", "status")


@dataclass(frozen=True, slots=True)
class ValueSetInfo:
    """A value set as a catalog keeps it: what choosing and listing it needs, its `summary`
    (url, version, id, name, title, status as the resource gives them; absent ones left
    out). A stored one's resource is read from its `row` when it is used; a built-in one is
    held whole in `resource`."""

    row: int | None
    summary: dict[str, Any]
    resource: dict[str, Any] | None = None

    @staticmethod
    def held(resource: dict[str, Any]) -> ValueSetInfo:
        return ValueSetInfo(None, {k: resource[k] for k in SUMMARY_KEYS if k in resource},
                            resource)


@dataclass(frozen=True, slots=True)
class NamingSystemId:
    """One unique id (`uniqueId`) of a stored NamingSystem."""

    ns_id: int
    kind: str  # the naming system's: codesystem, identifier, root
    type: str  # oid, uuid, uri, other, ...
    value: str
    preferred: bool


@dataclass(frozen=True, slots=True)
class MapElement:
    source_system: str
    source_code: str
    target_system: str | None
    target_code: str | None
    equivalence: str
    comment: str | None = None
    extra: dict[str, Any] | None = None


def now() -> str:
    """The time an import is recorded with (UTC, to the second)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_designations(designations: Iterable[Designation]) -> bytes:
    """[language, use system, use code, value], then [use display, extensions] when either is
    given (FHIR designations loaded with `import fhir` keep both)."""
    rows: list[list[Any]] = []
    for d in designations:
        row: list[Any] = [d.language, d.use.system if d.use else None,
                          d.use.code if d.use else None, d.value]
        use_display = d.use.display if d.use else None
        if use_display or d.extensions:
            row += [use_display, list(d.extensions)]
        rows.append(row)
    return orjson.dumps(rows)


def decode_designations(text: str | bytes) -> tuple[Designation, ...]:
    out = []
    for row in orjson.loads(text):
        lang, us, uc, value = row[:4]
        use_display, extensions = row[4:6] if len(row) > 4 else (None, ())
        use = Coding(system=us, code=uc, display=use_display) if uc else None
        out.append(Designation(value, lang, use, extensions=tuple(extensions or ())))
    return tuple(out)


def encode_properties(properties: Iterable[Property]) -> bytes:
    return orjson.dumps([[p.code, p.type, p.value] for p in properties])


def decode_properties(text: str | bytes) -> tuple[Property, ...]:
    return tuple(Property(code, value, type_) for code, type_, value in orjson.loads(text))


CONCEPT_COLUMNS = (
    "code, display, definition, inactive, effective, withdrawn, designations, properties, "
    "abstract, extensions"
)


def concept_from_row(row: tuple[Any, ...]) -> Concept:
    """A Concept from the CONCEPT_COLUMNS of one concept row."""
    (code, display, definition, inactive, effective, withdrawn, designations, properties,
     abstract, extensions) = row
    decoded = decode_properties(properties)
    return Concept(
        code=code,
        display=display,
        definition=definition,
        inactive=bool(inactive),
        abstract=bool(abstract) or any(p.code == "notSelectable" and p.value is True
                                       for p in decoded),
        effective=effective,
        withdrawn=withdrawn,
        designations=decode_designations(designations),
        properties=decoded,
        extensions=tuple(orjson.loads(extensions)) if extensions else (),
    )


def code_system_from_row(row: sqlite3.Row) -> CodeSystemInfo:
    return CodeSystemInfo(
        id=row["id"],
        url=row["url"],
        version=row["version"] or None,
        resource_id=row["resource_id"],
        provider=row["provider"],
        name=row["name"],
        title=row["title"],
        status=row["status"],
        effective_date=row["effective_date"],
        content=row["content"],
        case_sensitive=bool(row["case_sensitive"]),
        count=row["concept_count"],
        resource=orjson.loads(row["resource"]),
    )


def map_element_from_row(row: sqlite3.Row) -> MapElement:
    source_system, source_code, target_system, target_code, equivalence, comment, extra = row
    return MapElement(source_system, source_code, target_system, target_code, equivalence,
                      comment, orjson.loads(extra) if extra else None)


def concept_map_from_row(row: sqlite3.Row) -> ConceptMapInfo:
    return ConceptMapInfo(
        id=row["id"],
        url=row["url"],
        version=row["version"] or None,
        resource_id=row["resource_id"],
        name=row["name"],
        title=row["title"],
        status=row["status"],
        resource=orjson.loads(row["resource"]),
    )


def version_key(version: str) -> tuple[Any, ...]:
    """Order versions numerically where they are numbers (2, 10, 2025; 1.2 < 1.10)."""
    parts = version.replace("-", ".").split(".")
    return tuple((0, int(p), "") if is_digits(p) else (1, 0, p) for p in parts)
