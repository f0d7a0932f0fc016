"""The SQL of the claim-edit tables (schema.sql, `cms_*`): MUE limits and PTP code pairs.

Importers (codesystems/cms) replace one table at a time inside a `Store.transaction()`; the
claim-edit checkers read rows by code. Kept apart from store/__init__.py so that the edit tables
grow without touching the code-system statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from terminology.store import Store, Writer


@dataclass(frozen=True, slots=True)
class EditTable:
    """One imported edit table: `kind` mue or ptp, for one setting, in force from `effective`
    ('' when the file gives no start date; PTP rows carry their own dates)."""

    id: int
    kind: str
    setting: str
    effective: str
    label: str
    source: str
    row_count: int
    imported_at: str


@dataclass(frozen=True, slots=True)
class MueRow:
    code: str
    units: int
    indicator: int  # MUE adjudication indicator: 1 per line, 2 per day (policy), 3 per day
    rationale: str | None = None


@dataclass(frozen=True, slots=True)
class PtpRow:
    column1: str
    column2: str
    effective: str | None  # ISO date
    deleted: str | None  # ISO date: the last day the edit is in force
    modifier: int  # 0 not bypassed by any modifier, 1 bypassed by the listed modifiers, 9 n/a
    prior_1996: bool = False
    rationale: str | None = None


_TABLE_COLUMNS = "id, kind, setting, effective, label, source, row_count, imported_at"


def edit_tables(store: Store, kind: str | None = None) -> list[EditTable]:
    """The imported edit tables (of one kind), by setting, then oldest first."""
    sql = f"SELECT {_TABLE_COLUMNS} FROM cms_edit_table"
    args: tuple[str, ...] = ()
    if kind is not None:
        sql += " WHERE kind = ?"
        args = (kind,)
    rows = store._reader().execute(sql + " ORDER BY kind, setting, effective", args)
    return [EditTable(*row) for row in rows]


def mue_row(store: Store, table_id: int, code: str) -> MueRow | None:
    row = store._reader().execute(
        "SELECT code, units, indicator, rationale FROM cms_mue WHERE table_id = ? AND code = ?",
        (table_id, code),
    ).fetchone()
    return MueRow(*row) if row else None


def iter_mue_rows(store: Store, table_id: int) -> Iterator[MueRow]:
    rows = store._reader().execute(
        "SELECT code, units, indicator, rationale FROM cms_mue WHERE table_id = ? ORDER BY code",
        (table_id,),
    )
    for row in rows:
        yield MueRow(*row)


_PTP_COLUMNS = "column1, column2, effective, deleted, modifier, prior_1996, rationale"


def _ptp(row: tuple[Any, ...]) -> PtpRow:
    c1, c2, effective, deleted, modifier, prior, rationale = row
    return PtpRow(str(c1), str(c2), effective, deleted, int(modifier), bool(prior), rationale)


def ptp_rows(store: Store, table_id: int, column1: str) -> list[PtpRow]:
    """Every edit (in force or not) whose column-1 code is `column1`."""
    rows = store._reader().execute(
        f"SELECT {_PTP_COLUMNS} FROM cms_ptp WHERE table_id = ? AND column1 = ? "
        "ORDER BY column2, effective",
        (table_id, column1),
    )
    return [_ptp(tuple(r)) for r in rows]


def ptp_rows_bundling(store: Store, table_id: int, column2: str) -> list[PtpRow]:
    """Every edit (in force or not) whose column-2 code is `column2`: the codes it is bundled
    into (not paid beside)."""
    rows = store._reader().execute(
        f"SELECT {_PTP_COLUMNS} FROM cms_ptp WHERE table_id = ? AND column2 = ? "
        "ORDER BY column1, effective",
        (table_id, column2),
    )
    return [_ptp(tuple(r)) for r in rows]


def iter_ptp_rows(store: Store, table_id: int) -> Iterator[PtpRow]:
    rows = store._reader().execute(
        f"SELECT {_PTP_COLUMNS} FROM cms_ptp WHERE table_id = ? "
        "ORDER BY column1, column2, effective",
        (table_id,),
    )
    for row in rows:
        yield _ptp(tuple(row))


# -- writes (inside Store.transaction()) -----------------------------------------------------


def replace_edit_table(writer: Writer, *, kind: str, setting: str, effective: str, label: str,
                       source: str) -> int:
    """Drop the table of (kind, setting, effective), rows and all, and start an empty one."""
    writer.con.execute(
        "DELETE FROM cms_edit_table WHERE kind = ? AND setting = ? AND effective = ?",
        (kind, setting, effective),
    )
    cur = writer.con.execute(
        "INSERT INTO cms_edit_table (kind, setting, effective, label, source, imported_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (kind, setting, effective, label, source,
         datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    return int(cur.lastrowid or 0)


def add_mue_rows(writer: Writer, table_id: int, rows: Iterable[MueRow]) -> None:
    writer.con.executemany(
        "INSERT INTO cms_mue (table_id, code, units, indicator, rationale) VALUES (?, ?, ?, ?, ?)",
        ((table_id, r.code, r.units, r.indicator, r.rationale) for r in rows),
    )
    _count(writer, table_id, "cms_mue")


def add_ptp_rows(writer: Writer, table_id: int, rows: Iterable[PtpRow]) -> None:
    writer.con.executemany(
        "INSERT INTO cms_ptp (table_id, column1, column2, effective, deleted, modifier, "
        "prior_1996, rationale) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ((table_id, r.column1, r.column2, r.effective, r.deleted, r.modifier,
          int(r.prior_1996), r.rationale) for r in rows),
    )
    _count(writer, table_id, "cms_ptp")


def _count(writer: Writer, table_id: int, rows_table: str) -> None:
    writer.con.execute(
        f"UPDATE cms_edit_table SET row_count = (SELECT count(*) FROM {rows_table} "
        "WHERE table_id = ?1) WHERE id = ?1",
        (table_id,),
    )
