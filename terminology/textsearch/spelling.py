"""Typos: a typed word that no loaded code system uses (not as a word, nor as the start of one)
is searched together with the nearest words they do use (edit distance with transpositions, rapidfuzz's OSA): at most 1 edit for words of up to 5
letters, 2 for longer ones, none for words under 3 letters.

The nearest words come first; among as near words, those that sound the same (compared with
vowels made one, c/k/q/s/x/z made one, doubled letters single: `excema` sounds like `eczema`,
not `except`), then those more concepts use. A word one edit further is kept too when many more
concepts use it (`migranes`: `migrans` is nearer, `migraine` far more used): the ranking then
shows whichever says the query best.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from terminology.textsearch.words import stem

MAX_SUGGESTIONS = 4  # words searched in place of one typo
MAX_FORMS = 24  # words starting with a typed one spelt out as index terms; more: FTS5's prefix
MORE_USED = 10  # how many times more concepts a word one edit further needs
_SOUNDS = str.maketrans("eiouyckqsxz", "aaaaakkkkkk")
_DOUBLED = re.compile(r"(.)\1+")


def max_edits(word: str) -> int:
    return 0 if len(word) < 3 else 1 if len(word) <= 5 else 2


def sound(word: str) -> str:
    """A rough key of how a word sounds (`eczema`, `excema` -> `akkama`)."""
    return _DOUBLED.sub(r"\1", word.replace("ph", "f").translate(_SOUNDS))


class Vocabulary:
    """The words of the search index with how many concepts use each: for correcting typos,
    and for spelling out which index terms find the words that start with a typed one."""

    def __init__(self, counts: Iterable[tuple[str, int]]) -> None:
        counts = list(counts)
        self.every = sorted(word for word, _ in counts)
        self.counts = {word: n for word, n in counts if len(word) >= 3 and word.isalpha()}
        self.words = sorted(self.counts)

    def forms(self, word: str) -> list[str] | None:
        """The index terms that find `word` as search reads it (itself, another form of it, the
        start of a word): its stem, and each indexed word starting with it as the index holds
        it (by its stem in the `stems` column where that differs: `fractures` -> fractur).
        None when more than MAX_FORMS words start with it."""
        lo = bisect.bisect_left(self.every, word)
        hi = bisect.bisect_left(self.every, word + "\U0010ffff", lo)
        if hi - lo > MAX_FORMS:
            return None
        return list(dict.fromkeys([stem(word), *(stem(w) for w in self.every[lo:hi])]))

    def knows(self, word: str) -> bool:
        """Whether some word of the index is `word` or starts with it."""
        at = bisect.bisect_left(self.words, word)
        return at < len(self.words) and self.words[at].startswith(word)

    def corrections(self, word: str) -> list[str]:
        """What to search for besides an unknown `word`: its nearest words, less those that
        are another form of it (`joint` for `joints` is found through the stem anyway)."""
        if self.knows(word):
            return []
        root = stem(word)
        return [w for w in self.nearest(word) if stem(w) != root]

    def nearest(self, word: str) -> list[str]:
        """The words to search instead of `word`, best first; [] when none is close enough."""
        limit = max_edits(word)
        if not limit or not self.words:
            return []
        found = process.extract(word, self.words, scorer=OSA.distance, score_cutoff=limit,
                                limit=None)
        if not found:
            return []
        heard = sound(word)
        ranked = sorted(((distance, OSA.distance(heard, sound(w)), -self.counts[w], w)
                         for w, distance, _ in found))
        closest = ranked[0][0]
        most_used = max(-used for distance, _, used, _ in ranked if distance == closest)
        kept = [w for distance, _, used, w in ranked if distance == closest
                or (distance == closest + 1 and -used >= MORE_USED * most_used)]
        return kept[:MAX_SUGGESTIONS]
