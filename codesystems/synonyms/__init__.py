"""The synonym table of search: abbreviations and lay terms, and the words the code systems use
for them (`synonyms.tsv`, written by this project: facts of medical language, not anyone's text).
server.py hands it to the store's search; terminology/textsearch/synonyms.py reads it."""

from __future__ import annotations

from pathlib import Path

TABLE = Path(__file__).with_name("synonyms.tsv")
