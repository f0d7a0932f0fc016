"""Text cut into pieces for the templates to mark up: the words of a descriptor that match a
search, the codes inside a note. The pieces are plain text (the templates escape them); no HTML
is ever built here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+")
# Endings a word loses before two forms are compared (`joints`/`joint`,
# `diabetic`/`diabetes`, `infected`/`infection`): enough to mark the words a search matched.
_ENDINGS = ("ations", "ation", "ities", "ity", "ics", "ic", "ies", "es", "ed", "ing", "ions",
            "ion", "al", "s")
_SHORTEST_STEM = 3


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of text; `mark` when it matched the search, `code` when it names a code."""

    text: str
    mark: bool = False
    code: str | None = None


def stem(word: str) -> str:
    word = word.casefold()
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _SHORTEST_STEM:
            return word[: -len(ending)]
    return word


def query_words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _matches(word: str, wanted: list[str], stems: set[str]) -> bool:
    lowered = word.casefold()
    return any(lowered.startswith(w) for w in wanted) or stem(lowered) in stems


def highlighted(text: str, words: Iterable[str]) -> list[Piece]:
    """`text` in pieces, the words that match one of `words` (as the search matches: a word or
    the start of one, or another form of it) marked."""
    wanted = [w for w in words if w]
    if not wanted:
        return [Piece(text)]
    stems = {stem(w) for w in wanted}
    pieces: list[Piece] = []
    at = 0
    for match in _WORD.finditer(text):
        if not _matches(match.group(0), wanted, stems):
            continue
        if match.start() > at:
            pieces.append(Piece(text[at:match.start()]))
        pieces.append(Piece(match.group(0), mark=True))
        at = match.end()
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def code_candidates(text: str, pattern: str) -> list[tuple[int, int, str, str | None]]:
    """Where codes of `pattern` stand in `text`: (start, end, code, range end), a range such as
    `P70-P74` as one, `E08.-` and `O24.4-` (the code and everything below it) as the code."""
    found = []
    code = f"(?:{pattern})"
    joined = re.compile(rf"(?<![\w.])({code})(?:-({code})|\.?-)?(?!\w|\.\w)")
    for match in joined.finditer(text):
        found.append((match.start(), match.end(), match.group(1), match.group(2)))
    return found


def linked(text: str, pattern: str | None, exists: set[str]) -> list[Piece]:
    """`text` in pieces, each code of `pattern` that is in `exists` a link (a range a link to
    its block when there is one, else to each end)."""
    if not pattern:
        return [Piece(text)]
    pieces: list[Piece] = []
    at = 0
    for start, end, low, high in code_candidates(text, pattern):
        shown = text[start:end]
        targets: list[tuple[str, str]] = []
        if high and f"{low}-{high}" in exists:
            targets = [(shown, f"{low}-{high}")]
        elif high:
            first, _, second = shown.partition("-")
            targets = [(first, low), ("-", ""), (second, high)]
        else:
            targets = [(shown, low)]
        if not any(code in exists for _, code in targets):
            continue
        if start > at:
            pieces.append(Piece(text[at:start]))
        pieces += [Piece(part, code=code if code in exists else None) for part, code in targets]
        at = end
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def codes_named(texts: Iterable[str], pattern: str | None) -> set[str]:
    """Every code (and range) that `texts` name, to look up at once."""
    if not pattern:
        return set()
    out: set[str] = set()
    for text in texts:
        for _, _, low, high in code_candidates(text, pattern):
            out.add(low)
            if high:
                out |= {high, f"{low}-{high}"}
    return out
