"""Reader of the ICD-10-CM Alphabetic Index (CDC `icd10cm_index_YYYY.xml` and the external cause
index `icd10cm_eindex_YYYY.xml`, root `<ICD10CM.index>`): each term that leads to a code becomes
a searchable designation of that code (use `index`), its words being the main term and the
subterms above it ("Diabetes, diabetic (mellitus) (sugar), with, chronic kidney disease" for
E11.22).

Layout: `<letter>` holds `<mainTerm>`s; a main term or `<term level="N">` has a `<title>` (text,
with non-essential modifiers in `<nemod>` inside it), and a `<code>` (a manifestation code in
`<manif>` too), a `<see>` reference (`Attack, heart` -> see `Infarct, myocardium`: the term
then names the codes of the term it points to) or `<seeAlso>` (read as nothing: the term has
codes of its own), and subterms. A code with a trailing `-` (`S72.0-`) names the code it
extends. A see reference is followed through the index (main term, then subterms; a main
term's title may list variants: "Infarct, infarction"), up to three references deep. The
neoplasm and drug tables share the root but hold `<cell>`s: the release picker leaves them out.
"""

from __future__ import annotations

import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

from terminology.errors import ImportFailed

MAX_TERMS_PER_CODE = 60  # index terms kept per code (a few general codes gather hundreds)
SEE_DEPTH = 3
EXAMPLES = 5


@dataclass
class Entry:
    """One main term or subterm."""

    title: str = ""  # with the non-essential modifiers, as printed
    key: str = ""  # the title without them, folded: how a see reference names it
    codes: list[str] = field(default_factory=list)
    see: str | None = None
    terms: list[Entry] = field(default_factory=list)
    line: int = 0


@dataclass
class IndexTerms:
    """What an index gives: code -> its terms, and what was read and left out."""

    name: str
    terms: dict[str, list[str]]
    main_terms: int
    read: str
    skipped: list[str]


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _names(key: str) -> set[str]:
    """A folded title and each comma-separated variant in it ("infarct, infarction")."""
    return {key, *(part.strip() for part in key.split(","))} - {""}


class _Parser:
    """A streaming expat parser that keeps the text of a title in order around <nemod>."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.main: list[Entry] = []
        self.stack: list[Entry] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.key: list[str] = []
        self.root = ""
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.data
        self.parser.buffer_text = True

    def parse(self) -> list[Entry]:
        try:
            with open(self.path, "rb") as handle:
                self.parser.ParseFile(handle)
        except xml.parsers.expat.ExpatError as exc:
            raise ImportFailed(f"{self.path.name} line {exc.lineno}: not well-formed XML "
                               f"({xml.parsers.expat.ErrorString(exc.code)})") from None
        if self.root != "ICD10CM.index":
            raise ImportFailed(f"{self.path.name}: <{self.root}> is not the ICD-10-CM "
                               "Alphabetic Index (<ICD10CM.index>)")
        return self.main

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if not self.tags:
            self.root = tag
        self.tags.append(tag)
        if tag in ("mainTerm", "term"):
            entry = Entry(line=self.parser.CurrentLineNumber)
            (self.stack[-1].terms if self.stack else self.main).append(entry)
            self.stack.append(entry)
        if tag in ("title", "code", "manif", "see"):
            self.text, self.key = [], []
        elif tag == "nemod":
            self.text.append(" ")

    def data(self, text: str) -> None:
        if not self.stack or len(self.tags) < 2:
            return
        self.text.append(text)
        if "nemod" not in self.tags:
            self.key.append(text)

    def end(self, tag: str) -> None:
        self.tags.pop()
        if not self.stack:
            return
        entry = self.stack[-1]
        said = " ".join("".join(self.text).split())
        if tag == "title" and self.tags and self.tags[-1] in ("mainTerm", "term"):
            entry.title, entry.key = said, _fold("".join(self.key))
        elif tag in ("code", "manif") and said:
            entry.codes.append(said)
        elif tag == "see" and said:
            entry.see = said
        elif tag in ("mainTerm", "term"):
            self.stack.pop()
        elif tag == "nemod":
            self.text.append(" ")


def _targets(main: list[Entry]) -> dict[str, list[Entry]]:
    """Main terms by their folded title and by each comma-separated variant in it."""
    found: dict[str, list[Entry]] = {}
    for entry in main:
        for name in _names(entry.key):
            found.setdefault(name, []).append(entry)
    return found


def _follow(see: str, by_title: dict[str, list[Entry]]) -> Entry | None:
    """The entry a see reference names: its first parts a main term (its whole title or one
    variant), each further part a subterm of the one before (by title or variant)."""
    parts = [p.strip() for p in _fold(see).split(",") if p.strip()]
    for split in range(len(parts), 0, -1):
        for entry in by_title.get(", ".join(parts[:split]), []):
            found: Entry | None = entry
            for part in parts[split:]:
                found = next((t for t in found.terms if part in _names(t.key)), None) \
                    if found is not None else None
            if found is not None:
                return found
    return None


def read_index(path: Path, codes: set[str]) -> IndexTerms:
    """code -> index terms for the codes of the tabular list (`codes`); a code the tabular list
    lacks and a see reference that leads nowhere are counted, not kept."""
    path = Path(path)
    main = _Parser(path).parse()
    by_title = _targets(main)
    terms: dict[str, list[str]] = {}
    unknown: dict[str, int] = {}
    unresolved: list[str] = []
    resolved = 0
    capped: set[str] = set()

    def add(code: str, term: str) -> None:
        code = code.rstrip("-").rstrip(".")
        if code not in codes:
            unknown[code] = unknown.get(code, 0) + 1
            return
        kept = terms.setdefault(code, [])
        if term in kept:
            return
        if len(kept) >= MAX_TERMS_PER_CODE:
            capped.add(code)
            return
        kept.append(term)

    def codes_of(entry: Entry, depth: int = 0) -> list[str]:
        if entry.codes or entry.see is None or depth >= SEE_DEPTH:
            return entry.codes
        target = _follow(entry.see, by_title)
        return codes_of(target, depth + 1) if target is not None else []

    def walk(entry: Entry, path_titles: list[str]) -> None:
        nonlocal resolved
        titles = path_titles + [entry.title]
        term = ", ".join(t for t in titles if t)
        found = codes_of(entry)
        if entry.see and not entry.codes:
            if found:
                resolved += 1
            else:
                unresolved.append(f"{term} (see {entry.see})")
        for code in found:
            add(code, term)
        for child in entry.terms:
            walk(child, titles)

    for entry in main:
        walk(entry, [])
    skipped = []
    if unknown:
        shown = ", ".join(sorted(unknown)[:EXAMPLES]) + (", ..." if len(unknown) > EXAMPLES else "")
        skipped.append(f"{sum(unknown.values()):,} index terms of {path.name} lead to "
                       f"{len(unknown):,} codes not in the tabular list: {shown}")
    if unresolved:
        shown = "; ".join(unresolved[:EXAMPLES]) + ("; ..." if len(unresolved) > EXAMPLES else "")
        skipped.append(f"{len(unresolved):,} see references of {path.name} that lead to no "
                       f"code (a general reference such as 'condition', or a table): {shown}")
    if capped:
        skipped.append(f"index terms past the first {MAX_TERMS_PER_CODE} of {len(capped):,} "
                       f"codes of {path.name}: {', '.join(sorted(capped)[:EXAMPLES])}")
    kept = sum(map(len, terms.values()))
    read = (f"{path.name}: Alphabetic Index, {len(main):,} main terms; {kept:,} terms of "
            f"{len(terms):,} codes kept as designations ({resolved:,} through see references)")
    return IndexTerms(path.name, terms, len(main), read, skipped)
