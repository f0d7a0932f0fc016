"""Bcp47Provider: `urn:ietf:bcp:47`, every well-formed language tag whose subtags are registered.

Like tx.fhir.org: no version, an invalid tag is an unknown code, the display is the English
description (`en-US` is `English (United States)`), and value sets may filter on whether a tag
has a component (`region exists true`).
"""

from __future__ import annotations

from collections.abc import Callable

from codesystems.bcp47 import tags
from codesystems.bcp47.registry import SubtagRegistry, load
from codesystems.grammar import GrammarCodeSystem
from terminology.model import Concept, Designation

URL = "urn:ietf:bcp:47"


class Bcp47Provider(GrammarCodeSystem):
    def __init__(self, registry: SubtagRegistry | None = None) -> None:
        self.registry = registry or load()
        super().__init__(
            URL, None, name="IETF Lang (BCP 47)", title="IETF language codes (BCP 47)",
            resource_id="ietf-bcp-47",
            description="Language tags (BCP 47, RFC 5646), checked against the IANA language "
                        f"subtag registry of {self.registry.file_date}")

    def parse(self, code: str) -> tags.LanguageTag:
        """The parsed tag; raises tags.InvalidTag with the reason."""
        return tags.parse(self.registry, code)

    def locate(self, code: str) -> Concept | None:
        try:
            tag = self.parse(code)
        except tags.InvalidTag:
            return None
        others = tags.other_displays(self.registry, tag)
        return Concept(code=code, display=tags.display(self.registry, tag),
                       designations=tuple(Designation(text, "en") for text in others))

    def special_filter(self, prop: str, op: str, value: str) -> Callable[[Concept], bool] | None:
        """`<component> exists true|false` on language, ext-lang, script, region, variant,
        extension and private-use, as tx.fhir.org offers."""
        if op != "exists" or prop not in tags.COMPONENTS:
            return None
        wanted = value.strip().lower() == "true"

        def test(concept: Concept) -> bool:
            try:
                return self.parse(concept.code).has(prop) == wanted
            except tags.InvalidTag:
                return False

        return test
