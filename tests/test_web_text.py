"""The pieces the templates mark up (web/pages/text.py): matched words and codes inside notes,
cut from plain text so that nothing a code system holds is ever injected as HTML."""

from __future__ import annotations

from terminology.web.pages.text import Piece, codes_named, highlighted, linked, query_words

ICD_CODE = r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?"


def marked(pieces: list[Piece]) -> list[str]:
    return [p.text for p in pieces if p.mark]


def test_words_are_marked_as_the_search_matches_them() -> None:
    text = "Type 2 diabetes mellitus with diabetic nephropathy"
    assert marked(highlighted(text, query_words("diabetic"))) == ["diabetes", "diabetic"]
    assert marked(highlighted("Injection, facet joints", query_words("facet joint"))) == [
        "facet", "joints"]
    assert marked(highlighted("Facet joint", query_words("joints"))) == ["joint"]
    assert marked(highlighted("Hand", query_words("han"))) == ["Hand"]  # the start of a word
    assert marked(highlighted("Hearing loss", query_words("heart"))) == []
    assert "".join(p.text for p in highlighted(text, ["diab"])) == text  # nothing lost


def test_markup_in_text_stays_text() -> None:
    pieces = highlighted("<b>facet</b> & <script>", ["facet"])
    assert "".join(p.text for p in pieces) == "<b>facet</b> & <script>"
    assert marked(pieces) == ["facet"]  # `b` and `script` are words of the text, not tags


def test_codes_in_notes_become_links_when_they_exist() -> None:
    note = ("transitory disorders (P70-P74), E08.-, gestational (O24.4-), E16-E31, E99.9, "
            "insulin (Z79.4)")
    assert codes_named([note], ICD_CODE) == {"P70", "P74", "P70-P74", "E08", "O24.4", "E16",
                                              "E31", "E16-E31", "E99.9", "Z79.4"}
    pieces = linked(note, ICD_CODE, {"P70-P74", "E08", "O24.4", "E16", "Z79.4"})
    links = [(p.text, p.code) for p in pieces if p.code]
    assert links == [("P70-P74", "P70-P74"), ("E08.-", "E08"), ("O24.4-", "O24.4"),
                     ("E16", "E16"), ("Z79.4", "Z79.4")]
    assert "".join(p.text for p in pieces) == note
    assert linked(note, None, {"E08"}) == [Piece(note)]


def test_a_code_inside_a_word_is_not_a_code() -> None:
    assert codes_named(["vitamin B12X deficiency, 1E11.9, E11.9x"], ICD_CODE) == set()
