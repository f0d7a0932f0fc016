"""MimeTypeProvider: `urn:ietf:bcp:13`, every well-formed media type, parameters allowed.

`type/subtype` are restricted names (RFC 6838 § 4.2: a letter or digit, then up to 126 of
letters, digits and ``!#$&-^_.+``), each parameter is `; name=value` with a token or a quoted
string as its value (RFC 2045 § 5.1). Type, subtype and parameter names are case-insensitive.
As tx.fhir.org serves it: no version, and the display is the code itself.
"""

from __future__ import annotations

import re

from codesystems.grammar import GrammarCodeSystem
from terminology.model import Concept

URL = "urn:ietf:bcp:13"
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&\-^_.+]{0,126}"
_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
MEDIA_TYPE = re.compile(
    rf"^(?P<type>{_NAME})/(?P<subtype>{_NAME})"
    rf"(?P<parameters>(?:[ \t]*;[ \t]*{_TOKEN}[ \t]*=[ \t]*(?:{_TOKEN}|{_QUOTED}))*)[ \t]*;?[ \t]*$")


class MimeTypeProvider(GrammarCodeSystem):
    case_sensitive = False

    def __init__(self) -> None:
        super().__init__(URL, None, name="Mime Types", title="Mime Types",
                         resource_id="mimetypes",
                         description="Media types (BCP 13: RFC 6838 and RFC 2045), with any "
                                     "parameters")

    def locate(self, code: str) -> Concept | None:
        if MEDIA_TYPE.match(code.strip()) is None:
            return None
        return Concept(code=code, display=code.strip())
