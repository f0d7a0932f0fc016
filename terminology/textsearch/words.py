"""Words as search sees them: case-folded letter/digit runs, their Snowball (Porter 2) stems,
and the small words that carry no meaning of their own in a code's description."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

WORD = re.compile(r"[^\W_]+")
# Left out of a search with other words: they narrow nothing and slow the search down.
STOP_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to"})
# Words that tie the words of a description together without adding to what it names.
CONNECTIVES = STOP_WORDS | {"with", "due", "as", "from", "nos", "nec", "unspecified"}
# A word right after one of these is denied, not stated ("non-diabetic", "without pneumonia").
NEGATIONS = frozenset({"non", "without", "not", "no"})
MIN_STEMMED = 4  # shorter words are kept as they are: their stems mislead ("was" -> "wa")

_stemmer = Stemmer.Stemmer("english")  # snowballstemmer's C backend: the same stems, faster
_stemmer.maxCacheSize = 0  # off: it kept the last 10,000 words whole, however long (see stem)
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def words(text: str) -> list[str]:
    """The case-folded words of `text` (`Non-diabetic` -> non, diabetic): WORD's runs, found
    without the regular expression when the folded text is ASCII (most terms; the same runs)."""
    folded = text.casefold()
    if folded.isascii():
        return folded.translate(_ASCII_SEPARATORS).split()
    return WORD.findall(folded)


MAX_KEPT_STEM = 40  # letters of the longest word whose stem is kept (English words run to ~30)


def stem(word: str) -> str:
    """The Snowball English stem of a folded word (diabetic, diabetes -> diabet); words with
    digits and short words are their own stem. Stems are kept, but not of a longer word than
    any language has (a filter of junk): 65,536 of those could hold gigabytes."""
    if len(word) < MIN_STEMMED or not word.isalpha():
        return word
    if len(word) > MAX_KEPT_STEM:
        return str(_stemmer.stemWord(word))
    return _kept_stem(word)


@lru_cache(maxsize=65536)
def _kept_stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def stems_of(text: str) -> list[str]:
    """The stems of the words of `text` that differ from the word itself, once each, in order:
    what the index's `stems` column holds (a word that is its own stem is found as itself)."""
    seen: set[str] = set()
    out: list[str] = []
    for word in words(text):
        s = stem(word)
        if s != word and s not in seen:
            seen.add(s)
            out.append(s)
    return out
