"""Text search without SQL: how typed text becomes a query (words, their stems, synonyms,
corrected typos) and how the concepts it finds are ranked. terminology/store/search.py runs the
queries over the FTS5 index; nothing here touches the store.

    words.py     tokens, stems (Snowball English), stop words, negating words
    synonyms.py  the table of abbreviations and lay terms (data kept in codesystems/synonyms/)
    query.py     typed text -> slots of alternatives -> FTS5 MATCH expressions
    ranking.py   the order of the concepts found (README, "How search ranks")
    spelling.py  a word no code system uses, corrected to the nearest words they do use
"""
