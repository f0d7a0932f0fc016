"""Reading the AMA's modifier file, `MODUL.txt` (CPT Appendix A), into modifier records.

Its layout, as the AMA's own parser reads it (GitHub `AMADataLabs/Core`,
`Source/Python/datalabs/curate/cpt/modifier.py` and `Test/.../cpt/test_modifier.py`): a notice,
a line `Appendix A`, then prose with sections. Each section heading gives the kind of the
modifiers under it; a modifier listed in two sections (25 is general and Level I) has both kinds.
  - after `Appendix A`: paragraphs `NN definition…` (general modifiers);
  - `Anesthesia Physical Status`: paragraphs `… P1: definition` (physical status);
  - `CPT Level I Modifiers`: paragraphs `NN definition…` (the hospital outpatient list, cat-1);
  - `Category II Modifiers`: paragraphs `1P definition…` (cat-2);
  - `Level II (HCPCS/National) Modifiers`: lines `XX definition` (hcpcs).
A definition runs on until a blank line; any other paragraph is prose and is not a modifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from codesystems.cpt.files import SourceFile, decode, split_lines
from terminology.errors import ImportFailed

FILE_NAME = "MODUL.txt"
START = "appendix a"
HEADINGS = {
    "anesthesia physical status": "physical-status",
    "anesthesia physical status modifiers": "physical-status",
    "cpt level i modifiers": "cat-1",
    "category ii modifiers": "cat-2",
    "level ii (hcpcs/national) modifiers": "hcpcs",
}
SECTION_NAMES = {
    "general": "Appendix A (general)",
    "physical-status": "Anesthesia Physical Status",
    "cat-1": "CPT Level I Modifiers",
    "cat-2": "Category II Modifiers",
    "hcpcs": "Level II (HCPCS/National) Modifiers",
}
# A code alone on its line is an entry too (then without a definition, which is an error).
TWO_DIGITS = re.compile(r"([0-9]{2})(?: +(.*))?")
ENTRY = {
    "general": TWO_DIGITS,
    "cat-1": TWO_DIGITS,
    "physical-status": re.compile(r"(?:.*\s)?(P[0-9]) *:(?: *(.*))?"),
    "cat-2": re.compile(r"([0-9][A-Z])(?: +(.*))?"),
    "hcpcs": re.compile(r"([A-Z][0-9A-Z])(?: +(.*))?"),
}
# Level II modifiers are listed one a line, the others one a paragraph.
ONE_A_LINE = {"hcpcs"}


@dataclass
class Modifier:
    code: str
    line: int
    definition: str
    kinds: list[str] = field(default_factory=list)
    other_definitions: list[str] = field(default_factory=list)


@dataclass
class ModifierFile:
    source: SourceFile
    modifiers: list[Modifier]

    def count(self, kind: str) -> int:
        return sum(1 for m in self.modifiers if kind in m.kinds)


@dataclass
class _Entry:
    code: str
    kind: str
    line: int
    texts: list[str]


def read_modifier_file(path: Path, folder: Path) -> ModifierFile:
    text, encoding = decode(path)
    lines = split_lines(text)
    label = path.relative_to(folder).as_posix()
    start = next((i for i, line in enumerate(lines) if _normal(line) == START), None)
    if start is None:
        raise ImportFailed(f"{label}: no line 'Appendix A': this is not the AMA's modifier "
                           "appendix (MODUL.txt)")
    source = SourceFile(label, lines, encoding, start + 1, None)
    by_code: dict[str, Modifier] = {}
    for entry in _entries(source):
        definition = " ".join(entry.texts).strip()
        if not definition:
            raise source.fail(entry.line, f"modifier {entry.code} has no definition")
        known = by_code.get(entry.code)
        if known is None:
            by_code[entry.code] = Modifier(entry.code, entry.line, definition, [entry.kind])
            continue
        if entry.kind in known.kinds:
            raise source.fail(entry.line, f"modifier {entry.code} is listed twice under "
                              f"{SECTION_NAMES[entry.kind]} (first on line {known.line})")
        known.kinds.append(entry.kind)
        if definition != known.definition and definition not in known.other_definitions:
            known.other_definitions.append(definition)
    if not by_code:
        raise ImportFailed(f"{label}: no modifiers found after the line 'Appendix A'")
    return ModifierFile(source, list(by_code.values()))


def _normal(line: str) -> str:
    """A line as headings are compared: white space collapsed, lower case, no ® or ™."""
    return " ".join(line.replace("®", "").replace("™", "").split()).lower()


def _entries(source: SourceFile) -> list[_Entry]:
    """Every modifier paragraph (or line) with its section's kind, in file order."""
    entries: list[_Entry] = []
    kind = "general"
    current: _Entry | None = None
    paragraph_start = True
    for number in range(source.data_start + 1, len(source.lines) + 1):
        line = " ".join(source.lines[number - 1].split())
        heading = HEADINGS.get(_normal(line))
        if heading or not line:
            current = None
            kind = heading or kind
            paragraph_start = True
            continue
        match = ENTRY[kind].fullmatch(line)
        starts = match is not None and (paragraph_start or kind in ONE_A_LINE)
        paragraph_start = False
        if starts and match:
            current = _Entry(match.group(1), kind, number, [match.group(2) or ""])
            entries.append(current)
        elif current is not None:
            current.texts.append(line)
    return entries
