"""The synonym table: abbreviations and lay terms with the words the code systems use for them
(`HTN` -> hypertension, `heart attack` -> myocardial infarction, `type II` -> type 2).

The table is data (codesystems/synonyms/synonyms.tsv, read by server.py, and any files a user
names in TX_SYNONYMS): one line per meaning,
`term<TAB>meaning`; a term may have several lines. Terms are matched on whole words, longest
first; a term written with a leading `=` matches only in exactly that case (`=ALL` is the
leukaemia, not the word "all"). Lines starting with `#` are comments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminology.errors import ImportFailed
from terminology.textsearch.words import WORD, words


@dataclass(frozen=True, slots=True)
class Span:
    """Typed words [start, end) that are a term of the table, and what the term means."""

    start: int
    end: int
    meanings: tuple[tuple[str, ...], ...]


@dataclass
class Synonyms:
    """Terms (as word tuples) and their meanings (word tuples)."""

    folded: dict[tuple[str, ...], list[tuple[str, ...]]] = field(default_factory=dict)
    exact_case: dict[tuple[str, ...], list[tuple[str, ...]]] = field(default_factory=dict)
    longest: int = 0

    @classmethod
    def from_tsv(cls, *paths: Path) -> Synonyms:
        """Read the tables; a line that is not `term<TAB>meaning` stops the start, naming it."""
        table = cls()
        for path in paths:
            table.read_tsv(path)
        return table

    def read_tsv(self, path: Path) -> None:
        table = self
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            term, tab, meaning = line.partition("\t")
            if not tab or not words(term.lstrip("=")) or not words(meaning):
                raise ImportFailed(f"{Path(path).name} line {number}: expected "
                                   "'term<TAB>meaning', both with words")
            table.add(term.strip(), meaning.strip())

    def with_supplements(self, supplements: Iterable[dict[str, Any]],
                         display_of: Callable[[str, str], str | None]) -> Synonyms:
        """This table and the designations of CodeSystem supplements (the FHIR way for a user
        to add lay terms: `txserver import fhir`), each meaning its concept's display in the
        code system supplemented (`display_of(system, code)`)."""
        table = Synonyms({k: list(v) for k, v in self.folded.items()},
                         {k: list(v) for k, v in self.exact_case.items()}, self.longest)
        for supplement in supplements:
            system = supplement.get("supplements")
            if not isinstance(system, str):
                continue
            system = system.partition("|")[0]
            for concept in _concepts(supplement.get("concept")):
                meaning = display_of(system, str(concept.get("code", "")))
                if not meaning:
                    continue
                terms = [concept.get("display")] + [d.get("value") for d in concept.get(
                    "designation") or [] if isinstance(d, dict)]
                for term in terms:
                    if isinstance(term, str) and words(term) and words(meaning):
                        table.add(term, meaning)
        return table

    def add(self, term: str, meaning: str) -> None:
        exact = term.startswith("=")
        key = tuple(WORD.findall(term[1:])) if exact else tuple(words(term))
        target = self.exact_case if exact else self.folded
        meanings = target.setdefault(key, [])
        value = tuple(words(meaning))
        if value != tuple(words(term.lstrip("="))) and value not in meanings:
            meanings.append(value)
        self.longest = max(self.longest, len(key))

    def spans(self, typed: list[str], folded: list[str]) -> list[Span]:
        """The terms among the typed words, longest match first, left to right (`typed`: the
        words as typed, `folded`: the same words case-folded)."""
        found: list[Span] = []
        i = 0
        while i < len(folded):
            for n in range(min(self.longest, len(folded) - i), 0, -1):
                meanings = (self.exact_case.get(tuple(typed[i:i + n]), [])
                            + self.folded.get(tuple(folded[i:i + n]), []))
                if meanings:
                    found.append(Span(i, i + n, tuple(dict.fromkeys(meanings))))
                    i += n
                    break
            else:
                i += 1
        return found


def _concepts(items: Any) -> Iterator[dict[str, Any]]:
    """Every concept of a CodeSystem's (nested) concept list."""
    stack = list(items) if isinstance(items, list) else []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            if isinstance(item.get("concept"), list):
                stack.extend(item["concept"])
