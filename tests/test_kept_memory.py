"""What a worker keeps from one request to the next is bounded by its size, not only by its
count of entries: text a client sends (a word of a filter, an inline resource) is not kept
whole, where a few hundred of them could hold hundreds of MB."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

from terminology.fhir import structure
from terminology.store import Store
from terminology.textsearch.words import stem


def _kept_bytes(work: Callable[[], None]) -> int:
    """The bytes still allocated after `work`, its garbage collected."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_the_stems_of_long_words_are_not_kept() -> None:
    """No English word is 5,000 letters long: stemming one (a filter of junk) keeps nothing."""
    words = [f"{chr(97 + i % 26)}{'x' * 5000}{i:04}".replace("0", "o").replace("1", "l")
             .translate(str.maketrans("23456789", "abcdefgh")) for i in range(200)]
    assert all(word.isalpha() for word in words)

    def stem_them() -> None:
        for word in words:
            stem(word)

    assert _kept_bytes(stem_them) < 100_000  # 200 words of 5 KB each: 1 MB if kept
    assert stem("diabetes") == "diabet"


def test_a_structure_check_keeps_the_resource_digest_not_the_resource() -> None:
    """Clients send the same inline resources again and again, so each one's check is kept,
    by its digest: a 10 MB body's resource kept in full 512 times was 5 GB."""
    def code_system(n: int) -> dict[str, object]:
        return {"resourceType": "CodeSystem", "url": f"http://example.org/big/{n}",
                "status": "active", "content": "complete",
                "concept": [{"code": f"c{i}", "display": "a display of some length " * 4}
                            for i in range(2000)]}

    resources = [code_system(n) for n in range(10)]  # each about 220 KB of JSON
    assert structure.problem(code_system(-1)) is None  # the models imported, and warm

    def check_them() -> None:
        for resource in resources:
            assert structure.problem(resource) is None

    assert _kept_bytes(check_them) < 200_000  # 2.2 MB if the resources were kept
    broken = {**code_system(99), "concept": [{"code": 1}]}
    assert structure.problem(broken) == structure.problem(broken) is not None


def test_searches_over_one_scope_of_many_code_systems_share_its_key(db_path) -> None:
    """The counts and codes a search keeps are keyed by the code systems it covers: all
    codes covers hundreds (900 ids), and each of 3,000 searches of it held its own copy of
    them (55 MB); equal scopes now share one."""
    store = Store(db_path)
    scope = list(range(1, 901))  # as all codes asks: a new list of the same ids each time
    texts = [f"zq{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}x"
             for i in range(300)]

    def search_them() -> None:
        with store.snapshot():
            for text in texts:
                store.count_by_system(text, list(scope))
                store.search(text, list(scope), 20)

    search_them()  # the shared key made, the vocabulary read
    texts = [t.replace("zq", "zw") for t in texts]
    assert _kept_bytes(search_them) < 600_000  # 300 copies of 900 ids: 2.4 MB and more
