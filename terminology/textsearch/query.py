"""What a person typed, as a query: slots that must all match, each with its alternatives.

A slot is one typed word, or several typed words that are a term of the synonym table (`heart
attack`, `HTN`, `a fib`). Its alternatives are the words as typed and, for a term, each of its
meanings (`myocardial infarction`); a typo corrected later replaces the typed word by the
nearest words the code systems use. A word in double quotes is taken literally: matched only as
itself (no stem, no synonym, no correction), so `"diabetis"` searches for exactly that.

The FTS5 expression of a word matches it as a word, as the start of a word, and by its stem (the
index's `stems` column); a literal word or one letter matches only as itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from terminology.errors import InvalidRequest
from terminology.textsearch.synonyms import Synonyms
from terminology.textsearch.words import NEGATIONS, STOP_WORDS, WORD, stem

TYPED, SYNONYM, CORRECTED = "typed", "synonym", "corrected"
# The index terms that find a word in every form search accepts (spelling.Vocabulary.forms);
# None when FTS5's own prefix query is the cheaper way.
WordForms = Callable[[str], Sequence[str] | None]
_NOT_KEY = re.compile(r"[^0-9a-z]")
_QUOTED = re.compile(r'"([^"]*)"?')


def search_key(code: str) -> str:
    """A code folded for search: lower-case letters and digits only (`E11.9` -> `e119`)."""
    return _NOT_KEY.sub("", code.casefold())


def key_token(key: str) -> str:
    """How the index's `key` column holds a folded code: marked (`ke119`), so that a code
    is a term of its own, never the same term as a word (looking up the code `fracture` then
    reads that code's entries, not those of the 20,000 concepts whose text says fracture)."""
    return f"k{key}"


WORD_COLUMNS = "{display terms stems}"  # where words are looked for; codes are in `key`


@dataclass(frozen=True, slots=True)
class Alternative:
    """Words that together satisfy a slot; `literal` words match only as themselves."""

    words: tuple[str, ...]
    literal: bool
    kind: str  # TYPED, SYNONYM or CORRECTED


@dataclass(frozen=True, slots=True)
class Slot:
    typed: str  # the words as typed
    alternatives: tuple[Alternative, ...]

    @property
    def correctable(self) -> bool:
        """One typed word, not literal, long enough and all letters: a candidate typo."""
        (only, *more) = self.alternatives
        return (not more and only.kind == TYPED and not only.literal and len(only.words) == 1
                and len(only.words[0]) >= 3 and only.words[0].isalpha())


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    slots: tuple[Slot, ...]
    code_key: str | None  # the text as a code (`e119`), when it is one token

    @property
    def denies(self) -> bool:
        """Whether the query itself says `non`, `without`, `not` or `no`."""
        return any(w in NEGATIONS for slot in self.slots for alt in slot.alternatives
                   for w in alt.words)

    def words_expression(self, forms: WordForms | None = None) -> str:
        """The FTS5 expression of the concepts that have every slot."""
        return " AND ".join(_slot_expression(slot, forms) for slot in self.slots)

    def match_expression(self, forms: WordForms | None = None,
                         code_prefix: bool = True) -> str | None:
        """The FTS5 expression of the concepts that have all slots or (with `code_prefix`)
        whose code starts with the text; the code typed exactly is `code_expression`."""
        if not self.slots:
            return None
        words = f"{WORD_COLUMNS} : ({self.words_expression(forms)})"
        if code_prefix and self.code_key and len(self.code_key) > 1:
            return f'(key : "{key_token(self.code_key)}"*) OR ({words})'
        return words

    def code_expression(self) -> str | None:
        """The FTS5 expression of the text typed as a code (`key : "ke119"`: key_token)."""
        return f'key : "{key_token(self.code_key)}"' if self.code_key else None

    def with_corrections(self, corrections: dict[int, list[str]]) -> Query:
        """This query with slot i's typed word searched together with corrections[i]."""
        slots = list(self.slots)
        for i, found in corrections.items():
            slots[i] = replace(slots[i], alternatives=slots[i].alternatives + tuple(
                Alternative((word,), False, CORRECTED) for word in found))
        return replace(self, slots=tuple(slots))


    def as_said(self, chosen: dict[int, Alternative]) -> str:
        """The text with each typed word for which a correction was `chosen` replaced by it."""
        shown = []
        for i, slot in enumerate(self.slots):
            alt = chosen.get(i)
            shown.append(" ".join(alt.words) if alt and alt.kind == CORRECTED else slot.typed)
        return " ".join(shown)


def word_expression(word: str, literal: bool, forms: WordForms | None = None) -> str:
    """A word as FTS5 matches it: itself, the start of a word, its stem (not when literal).
    With `forms`, the start of a word is spelt out as the index terms of the words that start
    with it (an OR of a few terms, where FTS5 would merge every term with that prefix)."""
    if literal or len(word) == 1:
        return f'"{word}"'
    found = forms(word) if forms is not None and word.isalpha() else None
    if found:
        return "(" + " OR ".join(f'"{term}"' for term in found) + ")"
    root = stem(word)
    parts = [f'"{word}"', f'"{word}"*'] + ([f'"{root}"'] if root != word else [])
    return f"({' OR '.join(parts)})"


def _slot_expression(slot: Slot, forms: WordForms | None) -> str:
    options = [" AND ".join(word_expression(w, alt.literal, forms) for w in alt.words)
               for alt in slot.alternatives]
    return "(" + " OR ".join(f"({o})" for o in options) + ")"


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(word as typed, literal) for each word; words inside double quotes are literal."""
    out: list[tuple[str, bool]] = []
    at = 0
    for quoted in _QUOTED.finditer(text):
        out += [(w, False) for w in WORD.findall(text[at:quoted.start()])]
        out += [(w, True) for w in WORD.findall(quoted.group(1))]
        at = quoted.end()
    out += [(w, False) for w in WORD.findall(text[at:])]
    return out


def _without_stop_words(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for w in words if w not in STOP_WORDS) or words


MAX_QUERY_WORDS = 64  # a display pasted whole has at most 48 (the HL7 Terminology package's)
MAX_QUERY_LENGTH = 1000  # characters; the longest display loaded has 259


def _too_long(size: str) -> InvalidRequest:
    return InvalidRequest(f"The search text has {size}: a search takes at most "
                          f"{MAX_QUERY_WORDS} words and {MAX_QUERY_LENGTH:,} characters",
                          expression="filter")


def parse(text: str, synonyms: Synonyms | None = None) -> Query:
    """The query for `text`. Terms of the synonym table among the words (not quoted) become one
    slot each, with their meanings as alternatives; stop words are left out of the rest.

    A text of more than MAX_QUERY_WORDS words or MAX_QUERY_LENGTH characters is refused (400):
    no description is that long, and each word costs a spelling correction."""
    if len(text) > MAX_QUERY_LENGTH:
        raise _too_long(f"{len(text):,} characters")
    tokens = _tokens(text)
    if len(tokens) > MAX_QUERY_WORDS:
        raise _too_long(f"{len(tokens):,} words")
    typed = [w for w, _ in tokens]
    folded = [w.casefold() for w in typed]
    spans = {s.start: s for s in (synonyms.spans(typed, folded) if synonyms else [])
             if not any(tokens[i][1] for i in range(s.start, s.end))}
    plain = [w for i, w in enumerate(folded) if w not in STOP_WORDS]
    keep_stop_words = not plain and not spans
    slots: list[Slot] = []
    i = 0
    while i < len(tokens):
        span = spans.get(i)
        if span is not None:
            as_typed = Alternative(_without_stop_words(tuple(folded[i:span.end])), True, TYPED)
            meanings = tuple(Alternative(_without_stop_words(m), False, SYNONYM)
                             for m in span.meanings)
            slots.append(Slot(" ".join(typed[i:span.end]), (as_typed, *meanings)))
            i = span.end
            continue
        word, literal = folded[i], tokens[i][1]
        if keep_stop_words or literal or word not in STOP_WORDS:
            slots.append(Slot(typed[i], (Alternative((word,), literal, TYPED),)))
        i += 1
    key = search_key(text)
    one_token = len(text.split()) == 1 and '"' not in text
    return Query(text, tuple(slots), key if key and one_token else None)
