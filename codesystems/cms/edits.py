"""The CMS claim edits as checkers over the service lines of a resource (`$validate`).

Each checker has a `name` and `check(registry, lines) -> issues`; server.py hands them to the
generic operation, which knows nothing of CPT or CMS. Lines are grouped by patient and date of
service, as the edits apply to one patient on one day:

- `AddOnEdit`: an add-on code needs one of its primary codes (CMS add-on code edits; type 1 an
  error, types 2 and 3 a warning naming the listed primaries);
- `MueEdit`: units over the medically unlikely edit of the code (per line for adjudication
  indicator 1, per day for 2 and 3);
- `PtpEdit`: procedure-to-procedure pairs, bypassed only by an NCCI-associated modifier when the
  edit's modifier indicator is 1.

Edit rows are read per code and kept until the store's generation moves (a new import).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from codesystems.cms import definition as cms
from codesystems.cms.mue import table_in_force
from codesystems.cms.ptp import in_force as ptp_in_force
from codesystems.cpt import definition as cpt
from codesystems.cpt.addons import HCPCS_URL
from terminology.model import Issue, ServiceLine
from terminology.provider import Registry
from terminology.store import MapElement, Store
from terminology.store.edits import EditTable, MueRow, PtpRow, edit_tables, mue_row, ptp_rows

SYSTEMS = frozenset({cpt.URL, HCPCS_URL})
T = TypeVar("T")


class _GenerationCache:
    """Values by key, all dropped when the registry's generation moves. Bounded: when full it
    starts over (the working set of one server is a few thousand codes)."""

    def __init__(self, size: int = 20000) -> None:
        self.size = size
        self._generation = -1
        self._values: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, generation: int, key: Any, load: Callable[[], T]) -> T:
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    self._values = {}
                    self._generation = generation
        values = self._values
        try:
            return values[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = load()
        if len(values) >= self.size:
            values.clear()
        values[key] = value
        return value


class _Line:
    """A CPT/HCPCS service line split into its base code and all its modifiers."""

    __slots__ = ("code", "line", "modifiers")

    def __init__(self, line: ServiceLine) -> None:
        base, *expression_modifiers = line.code.split(":")
        self.line = line
        self.code = base
        self.modifiers = frozenset(expression_modifiers) | {m.code for m in line.modifiers
                                                            if m.code}


Grouped = dict[tuple[str, str], list[_Line]]


def groups(lines: Sequence[ServiceLine]) -> Grouped:
    """CPT and HCPCS lines by (patient, date of service), in request order."""
    out: dict[tuple[str, str], list[_Line]] = {}
    for line in lines:
        if line.system in SYSTEMS:
            out.setdefault((line.patient or "", line.date), []).append(_Line(line))
    return out


def _where(patient: str, day: str) -> str:
    return f"for {patient} on {day}" if patient else f"on {day}"


def _units(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _codes(codes: Iterable[str]) -> str:
    listed = list(codes)
    if len(listed) <= 1:
        return "".join(listed)
    return ", ".join(listed[:-1]) + " or " + listed[-1]


class _GroupedEdit:
    """An edit over the lines grouped by patient and date (`check_groups`)."""

    def check(self, registry: Registry, lines: Sequence[ServiceLine]) -> list[Issue]:
        return self.check_groups(registry, groups(lines))

    def check_groups(self, registry: Registry, grouped: Grouped) -> list[Issue]:
        raise NotImplementedError


class _TableEdit(_GroupedEdit):
    """Shared by MUE and PTP: the edit tables (by generation) and the setting of a line."""

    kind = ""
    settings: Mapping[str, str] = {}

    def __init__(self) -> None:
        self._tables = _GenerationCache(4)
        self._rows = _GenerationCache()

    def tables(self, registry: Registry) -> list[EditTable]:
        store: Store = registry.store
        return self._tables.get(registry.generation, "tables",
                                lambda: edit_tables(store, self.kind))

    def table(self, registry: Registry, line: ServiceLine) -> EditTable | None:
        setting = cms.setting_for_claim_type(line.setting, self.settings)
        return table_in_force(self.tables(registry), setting, line.date)


class AddOnEdit(_GroupedEdit):
    """CMS add-on code edits: an add-on code with none of its primary codes the same day."""

    name = "cms-add-on"

    def __init__(self) -> None:
        self._edits = _GenerationCache()

    def _elements(self, registry: Registry, system: str, code: str) -> list[MapElement]:
        store: Store = registry.store
        return self._edits.get(
            registry.generation, (system, code),
            lambda: store.map_targets(cpt.ADDON_MAP_URL, system, code))

    def check_groups(self, registry: Registry, grouped: Grouped) -> list[Issue]:
        issues: list[Issue] = []
        for (patient, day), members in grouped.items():
            present = {m.code for m in members}
            done: set[str] = set()
            for member in members:
                if member.code in done:
                    continue
                done.add(member.code)
                edits = [e for e in self._elements(registry, member.line.system, member.code)
                         if _in_force(e, day)]
                if not edits:
                    continue
                primaries = list(dict.fromkeys(
                    e.target_code for e in edits if e.target_code and not (
                        (e.extra or {}).get("primary_deleted") or "9999") < day))
                if present & set(primaries):
                    continue
                issues.append(_addon_issue(member, edits, primaries, patient, day))
        return issues


def _in_force(element: MapElement, day: str) -> bool:
    extra = element.extra or {}
    return ((extra.get("effective") or "") <= day
            and not (extra.get("ended") or "9999") < day)


def _addon_issue(member: _Line, edits: list[MapElement], primaries: list[str], patient: str,
                 day: str) -> Issue:
    types = {(e.extra or {}).get("type") for e in edits}
    code, where = member.code, _where(patient, day)
    if 1 in types:
        return Issue(
            "error", "business-rule",
            f"{code} is an add-on code: it is reported only with its primary procedure "
            f"{_codes(primaries)} (CMS add-on code edit type 1), and none is reported {where}",
            None, member.line.path, "CMS_ADD_ON_WITHOUT_PRIMARY")
    if primaries:
        return Issue(
            "warning", "business-rule",
            f"{code} is an add-on code; its listed primary procedures are {_codes(primaries)}, "
            f"and none is reported {where} (CMS add-on code edit type 3: the Medicare "
            "contractor may accept other primary procedures)",
            None, member.line.path, "CMS_ADD_ON_WITHOUT_LISTED_PRIMARY")
    return Issue(
        "warning", "business-rule",
        f"{code} is an add-on code whose primary procedures are defined by the Medicare "
        f"contractor (CMS add-on code edit type 2): make sure its primary procedure is reported "
        f"{where}", None, member.line.path, "CMS_ADD_ON_CONTRACTOR_PRIMARY")


class MueEdit(_TableEdit):
    """CMS medically unlikely edits: the most units of a code for one patient."""

    name = "cms-mue"
    kind = cms.MUE
    settings = cms.MUE_SETTINGS

    def _row(self, registry: Registry, table: EditTable, code: str) -> MueRow | None:
        store: Store = registry.store
        return self._rows.get(registry.generation, (table.id, code),
                              lambda: mue_row(store, table.id, code))

    def check_groups(self, registry: Registry, grouped: Grouped) -> list[Issue]:
        issues: list[Issue] = []
        for (patient, day), members in grouped.items():
            by_code: dict[tuple[str, int], list[_Line]] = {}
            tables: dict[int, EditTable] = {}
            for member in members:
                table = self.table(registry, member.line)
                if table is not None:
                    tables[table.id] = table
                    by_code.setdefault((member.code, table.id), []).append(member)
            for (code, table_id), same in by_code.items():
                table = tables[table_id]
                row = self._row(registry, table, code)
                if row is not None:
                    issues += _mue_issues(row, table, same, patient, day)
        return issues


def _mue_issues(row: MueRow, table: EditTable, same: list[_Line], patient: str,
                day: str) -> list[Issue]:
    setting = cms.MUE_SETTINGS.get(table.setting, table.setting)
    rule = (f"the CMS {setting} MUE of {row.code} is {row.units} "
            f"unit{'s' if row.units != 1 else ''}, {cms.MUE_INDICATORS[row.indicator]}")
    if row.indicator == 1:
        return [Issue("error", "business-rule",
                      f"{_units(m.line.units)} units of {row.code} on line {m.line.number} are "
                      f"more than allowed: {rule} (adjudication indicator 1)",
                      None, m.line.units_path or m.line.path, "CMS_MUE_LINE")
                for m in same if m.line.units > row.units]
    total = sum(m.line.units for m in same)
    if total <= row.units:
        return []
    lines = ", ".join(str(m.line.number) for m in same)
    first = same[0].line
    return [Issue("error", "business-rule",
                  f"{_units(total)} units of {row.code} {_where(patient, day)} (line"
                  f"{'s' if len(same) > 1 else ''} {lines}) are more than allowed: {rule} "
                  f"(adjudication indicator {row.indicator})",
                  None, first.units_path or first.path, "CMS_MUE_DAY")]


class PtpEdit(_TableEdit):
    """CMS NCCI procedure-to-procedure edits: pairs of codes not paid together on one day."""

    name = "cms-ptp"
    kind = cms.PTP
    settings = cms.PTP_SETTINGS

    def _rows_of(self, registry: Registry, table: EditTable, column1: str) -> list[PtpRow]:
        store: Store = registry.store
        return self._rows.get(registry.generation, (table.id, column1),
                              lambda: ptp_rows(store, table.id, column1))

    def check_groups(self, registry: Registry, grouped: Grouped) -> list[Issue]:
        issues: list[Issue] = []
        for (patient, day), members in grouped.items():
            table = self.table(registry, members[0].line)
            if table is None:
                continue
            by_code: dict[str, list[_Line]] = {}
            for member in members:
                by_code.setdefault(member.code, []).append(member)
            if len(by_code) < 2:
                continue
            reported: set[tuple[str, str]] = set()
            for column1, firsts in by_code.items():
                for row in self._rows_of(registry, table, column1):
                    seconds = by_code.get(row.column2)
                    if (seconds is None or row.column2 == column1 or row.modifier == 9
                            or (column1, row.column2) in reported
                            or not ptp_in_force(row, day)):
                        continue
                    issue = _ptp_issue(row, firsts, seconds, patient, day)
                    if issue is not None:
                        reported.add((column1, row.column2))
                        issues.append(issue)
        return issues


def _ptp_issue(row: PtpRow, firsts: list[_Line], seconds: list[_Line], patient: str,
               day: str) -> Issue | None:
    used = frozenset().union(*(m.modifiers for m in firsts + seconds))
    bypass = sorted(used & cms.NCCI_MODIFIERS)
    if row.modifier == 1 and bypass:
        return None
    pair = (f"{row.column2} is not reported with {row.column1} {_where(patient, day)} "
            "(CMS NCCI procedure-to-procedure edit")
    reason = f"; {row.rationale}" if row.rationale else ""
    if row.modifier == 0:
        text = f"{pair}, modifier indicator 0: no modifier allows the pair{reason})"
    else:
        text = (f"{pair}{reason}); modifier indicator 1: report it only if the services were "
                "distinct, with a modifier such as 59, XE, XS, XP, XU or an anatomic modifier "
                "(LT, RT, F1 …) on either code")
    return Issue("error", "business-rule", text, None, seconds[0].line.path, "CMS_PTP_PAIR")


class CmsEdits:
    """The three CMS edits over one grouping of the lines (what server.py registers)."""

    name = "cms"

    def __init__(self) -> None:
        self.edits = (AddOnEdit(), MueEdit(), PtpEdit())

    def check(self, registry: Registry, lines: Sequence[ServiceLine]) -> list[Issue]:
        grouped = groups(lines)
        if not grouped:
            return []
        return [issue for edit in self.edits for issue in edit.check_groups(registry, grouped)]


CLAIM_EDITS: tuple[Callable[[], Any], ...] = (CmsEdits,)
