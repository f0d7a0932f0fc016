"""Numbers written in requests and files: only the ASCII digits 0-9 are digits here."""

from __future__ import annotations


def is_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9. str.isdigit() also takes '³', which int() refuses
    (a 500 the fuzz found in `_offset=³1`), and '٣', which int() reads as 3."""
    return text.isascii() and text.isdigit()
