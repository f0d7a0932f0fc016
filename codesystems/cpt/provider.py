"""CptProvider: CPT codes, their CMS add-on edits, and modifier expressions (`99213:25`).

The expression rules are tx.fhir.org's, with its physical-status bug fixed (DOMAIN.md):
modifiers must be known modifier codes, used at most once, at most one of each exclusive group,
and each kind of modifier only on the codes it applies to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any

from codesystems.cms import mue as cms_mue
from codesystems.cpt import definition as cpt
import terminology.clock as clock
from terminology.errors import InvalidCode, NotSupported
from terminology.model import Concept, Property
from terminology.numbers import is_digits
from terminology.provider import Predicate
from terminology.store import CodeSystemInfo, MapElement, Store
from terminology.store.provider import SqlProvider

EXCLUSIVE_GROUPS = (
    frozenset({"25", "57", "59"}),
    frozenset({"52", "53", "73", "74"}),
    frozenset({"76", "77", "78", "79"}),
    frozenset({"93", "95"}),
)
# Codes outside 20100-69990 on which modifier 63 may be reported (CPT Appendix F).
MODIFIER_63_CARDIAC = frozenset(
    "92920 92928 92953 92960 92986 92987 92990 92997 92998 93312 93313 93314 93315 93316 "
    "93317 93318 93452 93453 93454 93455 93456 93457 93458 93459 93460 93461 93462 93463 "
    "93464 93503 93505 93563 93564 93568 93580 93582 93590 93591 93592 93593 93594 93595 "
    "93596 93597 93598 93615 93616".split()
)
MODIFIER_92_CODES = frozenset({"86701", "86702", "86703", "87389"})


def _in_range(code: str, low: str, high: str) -> bool:
    return is_digits(code) and low <= code <= high


def _kinds(concept: Concept) -> set[str]:
    return {p.value for p in concept.properties if p.code == "kind"}


def _flag(concept: Concept, name: str) -> bool:
    return any(p.code == name and p.value is True for p in concept.properties)


class CptProvider(SqlProvider):
    """CPT as stored, with the capabilities of terminology.provider that CPT's definition
    declares: Expressions (modifier expressions and their closing filters), SpecialFilters,
    ExpansionLimit, LenientWhitespace and DatedFacts."""

    lenient_whitespace = cpt.LENIENT_WHITESPACE
    expand_limit = cpt.EXPAND_LIMIT
    closing_filters = cpt.CLOSING_FILTERS

    def __init__(self, store: Store, info: CodeSystemInfo) -> None:
        super().__init__(store, info)
        self._enriched = lru_cache(maxsize=self.CACHE_SIZE)(self._locate_enriched)
        self._mue_tables: list[Any] | None = None

    # the facts that depend on the date of service (DatedFacts): see `dated_facts`
    dated_properties = frozenset({"primary-code", "mue", "mue-indicator", "mue-rationale"})

    def _located(self, code: str) -> Concept | None:
        """The code or expression with its facts as of today (clock.today())."""
        day = clock.today()
        if ":" in code:
            return self._expression(code, day)
        return self._enriched(code, day)

    def _listed(self, offset: int = 0, limit: int = -1) -> Iterator[Concept]:
        """The stored codes, with their add-on facts and status as $lookup gives them."""
        day = clock.today()
        for concept in super()._listed(offset, limit):
            yield self._enriched(concept.code, day) or concept

    def special_filter(self, prop: str, op: str, value: str) -> Predicate | None:
        """CPT's own filters: `modified`, `modifier` (expressions are not modifiers), and
        `code in` ranges such as `20100-69990,92920`. Others fall back to the generic ones."""
        flag = value.strip().lower() == "true"
        if prop in cpt.RELEASE_LISTS and prop not in self.property_defs:
            raise NotSupported(
                f"CPT {self.canonical.version} was imported without {cpt.RELEASE_LISTS[prop]}, "
                f"so the filter {prop} {op} {value} cannot be evaluated"
            )
        if prop == "modified" and op == "=":
            return lambda c: c.expression == flag
        if prop == "modifier" and op == "=":
            return lambda c: _flag(c, "modifier") == flag
        if prop == "code" and op in ("in", "not-in"):
            ranges = _ranges(value)

            def inside(concept: Concept) -> bool:
                base = concept.code.split(":")[0]
                return any(_shape(base) == _shape(low) and low <= base <= high
                           for low, high in ranges)

            return inside if op == "in" else (lambda c: not inside(c))
        return None

    # -- single codes -------------------------------------------------------------------------

    def _locate_enriched(self, code: str, day: str) -> Concept | None:
        """The stored concept with CPT's derived facts, those of the date `day` included
        (cached per code and day: a new day computes its own)."""
        concept = self._stored(code)
        if concept is None:
            return None
        extra: list[Property] = []
        if concept.withdrawn:
            extra += [Property("status", "deleted", "code"),
                      Property("deleted-date", concept.withdrawn, "dateTime")]
        else:
            extra.append(Property("status", "active", "code"))
        if concept.effective:
            extra.append(Property("effective-date", concept.effective, "dateTime"))
        has_addon = _flag(concept, "add-on")
        if not has_addon and self._addon_edits(code):
            extra.append(Property("add-on", True, "boolean"))
            has_addon = True
        if not has_addon and not _flag(concept, "modifier"):
            extra.append(Property("add-on", False, "boolean"))
        extra += self.dated_facts(code, day)
        if self.copyright:
            extra.append(Property("copyright", self.copyright, "string"))
        return replace(concept, properties=concept.properties + tuple(extra))

    def _addon_edits(self, code: str) -> list[MapElement]:
        """The CMS add-on edits of `code` (as an add-on), of any date."""
        return self.store.map_targets(cpt.ADDON_MAP_URL, cpt.URL, code)

    def dated_facts(self, code: str, on_date: str) -> tuple[Property, ...]:
        """The facts of `code` (or of an expression's code) in force on `on_date` (ISO date):
        the primary codes of the CMS add-on edits then in force, and the CMS practitioner MUE
        (`mue`, `mue-indicator`, `mue-rationale`) of the table then in force."""
        base = code.split(":")[0]
        day = on_date[:10]
        primaries = [
            e.target_code for e in self._addon_edits(base)
            if e.target_code and _in_force((e.extra or {}), day)
        ]
        if self._mue_tables is None:
            self._mue_tables = cms_mue.tables(self.store)
        mue = cms_mue.lookup_properties(self.store, base, self._mue_tables, on_date=day)
        return tuple(Property("primary-code", p, "code") for p in primaries) + tuple(mue)

    # -- expressions --------------------------------------------------------------------------

    def _expression(self, expression: str, day: str) -> Concept | None:
        base_code, *modifier_codes = expression.split(":")
        base = self._enriched(base_code, day)
        if base is None:
            return None
        if _flag(base, "modifier"):
            raise InvalidCode(
                f"The expression '{expression}' starts with the modifier {base_code}: "
                "an expression is a code followed by its modifiers"
            )
        modifiers: list[Concept] = []
        for code in modifier_codes:
            if not code:
                raise InvalidCode(f"The expression '{expression}' has an empty modifier")
            modifier = self._stored(code)
            if modifier is None:
                raise InvalidCode(f"The modifier '{code}' is not a known CPT modifier")
            if not _flag(modifier, "modifier"):
                raise InvalidCode(f"The code {code} is not a modifier, so it cannot follow "
                                  f"{base_code} in an expression")
            if modifier in modifiers:
                raise InvalidCode(f"The modifier {code} is used more than once")
            modifiers.append(modifier)
        self._check_rules(base, modifiers)
        properties = tuple(
            p for p in base.properties if p.code not in ("modifier", "modified", "copyright")
        )
        properties += (Property("modified", True, "boolean"),)
        for m in modifiers:
            properties += (Property("modifier", m.code, "code"),
                           Property("modifier-definition", m.display or "", "string"))
        if self.copyright:
            properties += (Property("copyright", self.copyright, "string"),)
        return Concept(
            code=expression,
            display=None,
            inactive=base.inactive,
            withdrawn=base.withdrawn,
            designations=base.designations,
            properties=properties,
            expression=True,
        )

    def _check_rules(self, base: Concept, modifiers: list[Concept]) -> None:
        code = base.code
        base_kinds = _kinds(base)
        used = {m.code for m in modifiers}
        for group in EXCLUSIVE_GROUPS:
            clash = sorted(used & group)
            if len(clash) > 1:
                raise InvalidCode(
                    f"The modifiers {' and '.join(clash)} cannot be used together"
                )
        for m in modifiers:
            kinds = _kinds(m)
            if "cat-2" in kinds and "cat-2" not in base_kinds:
                raise InvalidCode(
                    f"The modifier {m.code} is a Category II modifier and can only be used "
                    f"with Category II codes, not {code}"
                )
            if "physical-status" in kinds and not _in_range(code, "00100", "01999"):
                raise InvalidCode(
                    f"The modifier {m.code} is a physical status modifier and can only be used "
                    f"with anesthesia codes (00100-01999), not {code}"
                )
            if "hcpcs" in kinds and "59" not in used:
                raise InvalidCode(
                    f"The modifier {m.code} is a HCPCS Level II modifier and can only be used "
                    "together with modifier 59"
                )
            if m.code in ("50", "51") and "cat-2" in base_kinds:
                raise InvalidCode(
                    f"The modifier {m.code} cannot be used with the Category II code {code}"
                )
            if m.code == "63" and not (
                _in_range(code, "20100", "69990") or code in MODIFIER_63_CARDIAC
            ):
                raise InvalidCode(
                    f"The modifier 63 can only be used with codes 20100-69990 and the listed "
                    f"cardiac codes, not {code}"
                )
            if m.code == "92" and code not in MODIFIER_92_CODES:
                raise InvalidCode(
                    f"The modifier 92 can only be used with codes 86701-86703 and 87389, "
                    f"not {code}"
                )
            if m.code == "95" and "telemedicine" not in self.property_defs:
                raise InvalidCode(
                    f"The modifier 95 can only be used with the telemedicine codes of CPT "
                    f"Appendix P, and CPT {self.canonical.version} was imported without that "
                    f"list, so whether {code} may take it cannot be checked"
                )
            if m.code == "95" and not _flag(base, "telemedicine"):
                raise InvalidCode(
                    f"The modifier 95 cannot be used with the code {code} as it is not "
                    "designated for telemedicine"
                )


def _in_force(edit: dict[str, Any], day: str) -> bool:
    """Whether an add-on edit is in force on `day`: from its effective date to its last day
    (`ended`), either open."""
    return (edit.get("effective") or "") <= day <= (edit.get("ended") or "9999")


def _shape(code: str) -> str:
    """`1036F` -> `9999F`, `10004` -> `99999`: a range holds only codes of its bounds' shape (as
    text, `1036F` sorts between `10004` and `69990`, yet no Category II code is surgery)."""
    return "".join("9" if is_digits(ch) else ch.upper() for ch in code)


def _ranges(value: str) -> list[tuple[str, str]]:
    """`20100-69990,92920` -> [("20100", "69990"), ("92920", "92920")]."""
    out = []
    for part in value.split(","):
        low, _, high = part.strip().partition("-")
        if low:
            out.append((low.strip(), (high or low).strip()))
    return out

