"""Language tags parsed by the grammar of RFC 5646 (BCP-47), each subtag checked against the
IANA registry, and their English displays as tx.fhir.org words them.

Subtags must be written in the registry's case (`en-US`, `zh-Hant`): the code system is case
sensitive in FHIR, and tx.fhir.org rejects `en-us`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codesystems.bcp47.registry import SubtagRegistry

_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_ALPHA = re.compile(r"^[A-Za-z]+$")


class InvalidTag(ValueError):
    """The tag breaks the grammar, or names a subtag the registry does not have."""


@dataclass(frozen=True)
class LanguageTag:
    code: str
    language: str = ""
    extlangs: tuple[str, ...] = ()
    script: str = ""
    region: str = ""
    variants: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()  # `u-co-phonebk`: a singleton and its subtags
    private_use: tuple[str, ...] = ()
    whole_tag: bool = False  # a grandfathered tag, registered as a whole

    def has(self, component: str) -> bool:
        """Whether the tag has the component a BCP-47 `exists` filter names."""
        return bool({
            "language": self.language, "ext-lang": self.extlangs, "script": self.script,
            "region": self.region, "variant": self.variants, "extension": self.extensions,
            "private-use": self.private_use,
        }.get(component))


COMPONENTS = ("language", "ext-lang", "script", "region", "variant", "extension", "private-use")


def _private_use(code: str, parts: list[str]) -> tuple[str, ...]:
    if not parts or any(not (1 <= len(p) <= 8 and _ALNUM.match(p)) for p in parts):
        raise InvalidTag(f"The private use part of the code '{code}' is not valid: each subtag "
                         "after 'x' has 1 to 8 letters or digits")
    return tuple(parts)


def _check(registry: SubtagRegistry, kind: str, label: str, subtag: str, code: str) -> None:
    if registry.describe(kind, subtag) is None:
        raise InvalidTag(f"The {label} '{subtag}' in the code '{code}' is not valid")


def parse(registry: SubtagRegistry, code: str) -> LanguageTag:
    """The parsed tag; raises InvalidTag saying which part is wrong."""
    if code in registry.grandfathered:
        return LanguageTag(code, whole_tag=True)
    parts = code.split("-")
    if any(not p for p in parts):
        raise InvalidTag(f"The code '{code}' has an empty subtag")
    if parts[0] == "x":
        return LanguageTag(code, private_use=_private_use(code, parts[1:]))
    language, rest = parts[0], parts[1:]
    if not (2 <= len(language) <= 8 and _ALPHA.match(language)):
        raise InvalidTag(f"The language '{language}' in the code '{code}' is not valid")
    _check(registry, "language", "language", language, code)
    index = 0
    extlangs: list[str] = []
    while (index < len(rest) and len(extlangs) < 3 and len(rest[index]) == 3
           and _ALPHA.match(rest[index])):
        _check(registry, "extlang", "extLanguage", rest[index], code)
        extlangs.append(rest[index])
        index += 1
    script = region = ""
    if index < len(rest) and len(rest[index]) == 4 and _ALPHA.match(rest[index]):
        script = rest[index]
        _check(registry, "script", "script", script, code)
        index += 1
    if index < len(rest) and ((len(rest[index]) == 2 and _ALPHA.match(rest[index]))
                              or (len(rest[index]) == 3 and rest[index].isdigit())):
        region = rest[index]
        _check(registry, "region", "region", region, code)
        index += 1
    variants: list[str] = []
    while index < len(rest) and _ALNUM.match(rest[index]) and (
            5 <= len(rest[index]) <= 8 or (len(rest[index]) == 4 and rest[index][0].isdigit())):
        if rest[index] in variants:
            raise InvalidTag(f"The variant '{rest[index]}' is repeated in the code '{code}'")
        _check(registry, "variant", "variant", rest[index], code)
        variants.append(rest[index])
        index += 1
    extensions: list[str] = []
    while index < len(rest) and len(rest[index]) == 1 and rest[index].lower() != "x":
        singleton, index = rest[index], index + 1
        start = index
        while index < len(rest) and 2 <= len(rest[index]) <= 8 and _ALNUM.match(rest[index]):
            index += 1
        if index == start or not _ALNUM.match(singleton):
            raise InvalidTag(f"The extension '{singleton}' in the code '{code}' has no subtags")
        if any(e.split("-")[0] == singleton for e in extensions):
            raise InvalidTag(f"The extension '{singleton}' is repeated in the code '{code}'")
        extensions.append("-".join([singleton, *rest[start:index]]))
    private: tuple[str, ...] = ()
    if index < len(rest) and rest[index] == "x":
        private, index = _private_use(code, rest[index + 1:]), len(rest)
    if index < len(rest):
        raise InvalidTag(f"Unable to recognise '{rest[index]}' as a valid part of the "
                         f"language code {code}")
    return LanguageTag(code, language, tuple(extlangs), script, region, tuple(variants),
                       tuple(extensions), private)


def _first(registry: SubtagRegistry, kind: str, subtag: str, index: int = 0) -> str:
    found = registry.describe(kind, subtag) or ()
    return found[index] if index < len(found) else subtag


def display(registry: SubtagRegistry, tag: LanguageTag, index: int = 0) -> str:
    """`English (United States)`; `Chinese (Script=Han (Traditional variant), Region=Taiwan)`:
    the language's description (its `index`th), then the script, region and variants."""
    if tag.whole_tag:
        return (registry.tags.get(tag.code) or (tag.code,))[0]
    if not tag.language:
        return tag.code  # private use only: nothing registered to describe
    text = _first(registry, "language", tag.language, index)
    if tag.region and not tag.script and not tag.variants:
        return f"{text} ({_first(registry, 'region', tag.region)})"
    parts = []
    if tag.script:
        parts.append(f"Script={_first(registry, 'script', tag.script)}")
    if tag.region:
        parts.append(f"Region={_first(registry, 'region', tag.region)}")
    parts += [f"Variant={_first(registry, 'variant', v)}" for v in tag.variants]
    return f"{text} ({', '.join(parts)})" if parts else text


def other_displays(registry: SubtagRegistry, tag: LanguageTag) -> list[str]:
    """Other wordings tx.fhir.org accepts: `English (Region=United States)`,
    `English-United States`, and the tag shown with the language's other descriptions."""
    out: list[str] = []
    lang_region = bool(tag.language and tag.region and not (
        tag.extlangs or tag.script or tag.variants or tag.extensions or tag.private_use))
    if lang_region:
        language, region = _first(registry, "language", tag.language), _first(
            registry, "region", tag.region)
        out += [f"{language} (Region={region})", f"{language}-{region}"]
    names = registry.describe("language", tag.language) or () if tag.language else ()
    out += [display(registry, tag, i) for i in range(1, len(names))]
    return out
