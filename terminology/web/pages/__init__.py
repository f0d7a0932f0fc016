"""What the web page for people shows, built from the engine's operations (no SQL, no Flask
views here): the code systems and their keys, search results, code pages, browsing, the order
check. The views in web/ui.py render these with the templates."""
