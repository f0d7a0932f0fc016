"""UcumProvider: `http://unitsofmeasure.org`, every unit expression UCUM's grammar accepts.

As tx.fhir.org serves UCUM: the version is the table's (2.2), the display is the code itself
(UCUM defines no display text), the unit's formal analysis is an English designation
(`mg/dL`: `(milligram) / (deciliter)`), and value sets may filter on a unit's canonical units
(`canonical = g`: every unit of mass), which `canonical_units` computes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from codesystems.grammar import GrammarCodeSystem
from codesystems.ucum import expressions
from codesystems.ucum.essence import Essence, load
from terminology.model import Coding, Concept, Designation

URL = "http://unitsofmeasure.org"
COPYRIGHT = ("UCUM is copyright 1999-2024 Regenstrief Institute, Inc. and used under the UCUM "
             "Copyright Notice and License, https://unitsofmeasure.org/license; it is provided "
             "AS IS, without warranties or conditions of any kind.")
PREFERRED = Coding("http://terminology.hl7.org/CodeSystem/hl7TermMaintInfra",
                   "preferredForLanguage")


class UcumProvider(GrammarCodeSystem):
    def __init__(self, essence: Essence | None = None) -> None:
        self.essence = essence or load()
        super().__init__(
            URL, self.essence.version, name="UCUM",
            title="Unified Code for Units of Measure (UCUM)", resource_id="ucum",
            copyright=COPYRIGHT,
            description="Unit expressions of UCUM's grammar over UCUM's table of units "
                        f"(ucum-essence.xml version {self.essence.version}, "
                        f"{self.essence.revision_date})")
        self._canonical = expressions.Canonicaliser(self.essence)
        self._located = lru_cache(maxsize=4096)(self._locate)

    def explain_unknown(self, code: str) -> str | None:
        """Why `code` is not a unit, in tx.fhir.org's words (None if it is one)."""
        try:
            expressions.parse(self.essence, code)
        except expressions.UnitError as exc:
            return str(exc)
        return None

    def canonical_units(self, code: str) -> str | None:
        """The unit's canonical units (`g.m-3`), or None when it has none (Cel, an invalid code)."""
        try:
            return self._canonical.units(code)
        except expressions.UnitError:
            return None

    def locate(self, code: str) -> Concept | None:
        return self._located(code)

    def _locate(self, code: str) -> Concept | None:
        try:
            term = expressions.parse(self.essence, code)
        except expressions.UnitError:
            return None
        return Concept(code=code, display=code,
                       designations=(Designation(code, "en", PREFERRED),
                                     Designation(expressions.analysis(term), "en")))

    def special_filter(self, prop: str, op: str, value: str) -> Callable[[Concept], bool] | None:
        """`canonical = <units>`: the units whose canonical form is the one given."""
        if prop != "canonical" or op != "=":
            return None
        return lambda concept: self.canonical_units(concept.code) == value
