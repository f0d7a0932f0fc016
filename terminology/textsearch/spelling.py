"""Typos: a typed word that no loaded code system uses, corrected to the nearest words they do
use (edit distance with transpositions, rapidfuzz's OSA): at most 1 edit for words of up to 5
letters, 2 for longer ones, none for words under 3 letters. Among the nearest, words that start
with the same letter come first, then the words more concepts use."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

MAX_SUGGESTIONS = 3  # nearest words searched in place of a typo


def max_edits(word: str) -> int:
    return 0 if len(word) < 3 else 1 if len(word) <= 5 else 2


class Vocabulary:
    """The words of the search index with how many concepts use each, for correcting typos."""

    def __init__(self, counts: Iterable[tuple[str, int]]) -> None:
        self.counts = {word: n for word, n in counts if len(word) >= 3 and word.isalpha()}
        self.words = list(self.counts)

    def nearest(self, word: str) -> list[str]:
        """The nearest words to `word` (best first), or [] when none is close enough."""
        limit = max_edits(word)
        if not limit or not self.words:
            return []
        found = process.extract(word, self.words, scorer=OSA.distance, score_cutoff=limit,
                                limit=None)
        if not found:
            return []
        closest = min(distance for _, distance, _ in found)
        ranked = sorted((w for w, distance, _ in found if distance == closest),
                        key=lambda w: (w[0] != word[0], -self.counts[w], w))
        return ranked[:MAX_SUGGESTIONS]
