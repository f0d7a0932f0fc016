"""The CMS edits held for one code, in words for its web page ("Medical policies and
guidelines"): its add-on code edits and their primary codes, its medically unlikely edit in each
setting, the procedure-to-procedure pairs in which it is column 1 (and which modifiers bypass
them), each with the file it comes from and the quarter it is in force.

Read from the store as the claim edits read it (codesystems/cms/edits.py), for one date.
"""

from __future__ import annotations

import re

from codesystems.cms import definition as cms
from codesystems.cms.edits import _in_force as addon_in_force
from codesystems.cms.mue import table_in_force
from codesystems.cms.ptp import in_force as ptp_in_force
from codesystems.cpt import definition as cpt
from codesystems.cpt.addons import HCPCS_URL
from terminology.model import Concept, Policy, PolicyLine
from terminology.provider import Registry
from terminology.store import Store
from terminology.store.edits import (
    EditTable,
    PtpRow,
    edit_tables,
    mue_row,
    ptp_rows,
    ptp_rows_bundling,
)

SYSTEMS = frozenset({cpt.URL, HCPCS_URL})
ADD_ON_TYPES = {
    1: "report it only with one of its primary procedures listed below (CMS edit type 1)",
    2: "its primary procedures are defined by the Medicare contractor (CMS edit type 2)",
    3: "its listed primary procedures are below; the Medicare contractor may accept others "
       "(CMS edit type 3)",
}
MUE_PER = {1: "per claim line", 2: "per day (policy)", 3: "per day (clinical)"}
ANATOMIC = "anatomic modifiers (LT, RT, E1–E4, FA, F1–F9, TA, T1–T9, LC, LD, RC, LM, RI)"
BYPASS = ("bypassed when the services are distinct by an NCCI-associated modifier on either "
          f"code: 59, XE, XS, XP, XU, 27, 91, the global-surgery modifiers 24, 25, 57, 58, 78, "
          f"79, or {ANATOMIC}")


def quarter(day: str) -> str:
    """`2025-04-01` -> `2025 Q2`."""
    match = re.match(r"(\d{4})-(\d{2})", day)
    return f"{match.group(1)} Q{(int(match.group(2)) - 1) // 3 + 1}" if match else day


def ptp_release(label: str) -> str:
    """The quarter of a PTP release from its CMS file name: NCCI version 32.1 (`ccipra-v321r0`)
    is 2026 Q2 (version 1 was 1995; the digit after the point counts quarters from 0);
    `2026Q1` as given; otherwise the label itself."""
    version = re.search(r"v(\d{2})(\d)r\d", label, re.IGNORECASE)
    if version:
        return f"{1994 + int(version.group(1))} Q{int(version.group(2)) + 1}"
    given = re.fullmatch(r"(\d{4})\s*Q([1-4])", label.strip(), re.IGNORECASE)
    return f"{given.group(1)} Q{given.group(2)}" if given else label


def _addon_release(version: str | None) -> str:
    given = re.fullmatch(r"(\d{4})Q([1-4])", version or "")
    return f"{given.group(1)} Q{given.group(2)}" if given else (version or "")


class CmsPolicies:
    """The CMS edits of a CPT or HCPCS code as policies (what ui.install is given)."""

    covers = frozenset({"add-on", "primary-code", "mue", "mue-indicator", "mue-rationale"})

    def policies(self, registry: Registry, system: str, concept: Concept, version: str | None,
                 on_date: str) -> list[Policy]:
        if system not in SYSTEMS or concept.expression:
            return []
        store: Store = registry.store
        code = concept.code
        return [*self._addon(store, system, code, on_date), *self._mue(store, code, on_date),
                *self._ptp(store, code, on_date)]

    def _addon(self, store: Store, system: str, code: str, day: str) -> list[Policy]:
        elements = store.map_targets(cpt.ADDON_MAP_URL, system, code)
        if not elements:
            return []
        in_force = [e for e in elements if addon_in_force(e, day)]
        release = max((m for m in store.concept_maps() if m.url == cpt.ADDON_MAP_URL),
                      key=lambda m: m.version or "", default=None)
        version = release.version if release else None
        source = "CMS NCCI add-on code edits" + (f", release {version}" if version else "")
        if not in_force:
            ended = max((e.extra or {}).get("ended") or "" for e in elements)
            return [Policy("Add-on code", f"Its CMS add-on code edits ended on {ended}: none "
                           f"is in force on {day}.", source=source,
                           in_force=_addon_release(version))]
        types = sorted({(e.extra or {}).get("type") or 1 for e in in_force})
        primaries = list(dict.fromkeys(
            e.target_code for e in in_force if e.target_code
            and not ((e.extra or {}).get("primary_deleted") or "9999") < day))
        since = min((e.extra or {}).get("effective") or "" for e in in_force)
        summary = f"An add-on code: {ADD_ON_TYPES.get(types[0], ADD_ON_TYPES[1])}."
        when = _addon_release(version)
        when = f"{when}; the edit is in force since {since}" if since else when
        return [Policy("Add-on code", summary,
                       tuple(PolicyLine("", p) for p in primaries),
                       source, when.strip("; "))]

    def _mue(self, store: Store, code: str, day: str) -> list[Policy]:
        tables = edit_tables(store, cms.MUE)
        out = []
        for setting, setting_label in cms.MUE_SETTINGS.items():
            table = table_in_force(tables, setting, day)
            row = mue_row(store, table.id, code) if table else None
            if table is None or row is None:
                continue
            units = f"{row.units} unit{'s' if row.units != 1 else ''}"
            lines = [PolicyLine(f"Setting: {setting_label}"),
                     PolicyLine(f"Adjudication indicator {row.indicator}: "
                                f"{cms.MUE_INDICATORS.get(row.indicator, 'unknown')}")]
            if row.rationale:
                lines.append(PolicyLine(f"Rationale: {row.rationale}"))
            out.append(Policy(
                "Medically unlikely edit",
                f"Medically unlikely edit: {units} {MUE_PER.get(row.indicator, '')}".strip(),
                tuple(lines), f"CMS NCCI MUE table for {setting_label} ({table.source})",
                _table_in_force(table)))
        return out

    def _ptp(self, store: Store, code: str, day: str) -> list[Policy]:
        out = []
        for table in edit_tables(store, cms.PTP):
            setting = cms.PTP_SETTINGS.get(table.setting, table.setting)
            source = f"CMS NCCI PTP edits for {setting} ({table.source})"
            as_column1 = [r for r in ptp_rows(store, table.id, code)
                          if r.modifier != 9 and r.column2 != code and ptp_in_force(r, day)]
            as_column2 = [r for r in ptp_rows_bundling(store, table.id, code)
                          if r.modifier != 9 and r.column1 != code and ptp_in_force(r, day)]
            for rows, column in ((as_column1, 1), (as_column2, 2)):
                if rows:
                    out.append(Policy("Procedure-to-procedure edits",
                                      _pairs_summary(code, len(rows), column),
                                      _pair_lines(rows, column), source,
                                      ptp_release(table.label)))
        return out


def _pairs_summary(code: str, n: int, column: int) -> str:
    """What the pairs mean for `code` when it is column 1 of them (it bundles the others) or
    column 2 (it is bundled into them)."""
    codes = "codes" if n != 1 else "code"
    are = "are" if n != 1 else "is"
    pairs = "pairs" if n != 1 else "pair"
    if column == 1:
        return (f"Bundled: the {codes} below {are} not paid when reported with {code} for the "
                f"same patient on the same day ({code} is column 1 of {n} {pairs}).")
    return (f"Bundled into: {code} is not paid when reported with the {codes} below for the "
            f"same patient on the same day ({code} is column 2 of {n} {pairs}).")


def _pair_lines(rows: list[PtpRow], column: int) -> tuple[PolicyLine, ...]:
    """One line per pair: the other code (column 2 of the pairs where `code` is column 1, and
    the reverse), whether a modifier bypasses it, why, since when."""
    lines = []
    for row in rows:
        text = ("a modifier may bypass the edit (indicator 1)" if row.modifier == 1
                else "no modifier bypasses the edit (indicator 0)")
        if row.rationale:
            text += f"; rationale: {row.rationale}"
        if row.effective:
            text += f"; in force since {row.effective}"
        lines.append(PolicyLine(text, row.column2 if column == 1 else row.column1))
    if any(r.modifier == 1 for r in rows):
        lines.append(PolicyLine(f"Indicator 1 pairs are {BYPASS}."))
    return tuple(lines)


def _table_in_force(table: EditTable) -> str:
    if not table.effective:
        return table.label
    return f"{quarter(table.effective)}: the table in force from {table.effective}"
