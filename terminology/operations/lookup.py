"""CodeSystem/$lookup: the details of one code (or CPT expression) in one code-system version."""

from __future__ import annotations

from dataclasses import replace

from terminology import languages, supplements
from terminology.errors import InvalidCode, NotFound
from terminology.model import Concept, Designation, LookupRequest, LookupResult, Property
from terminology.operations.common import provider_for
from terminology.provider import CodeSystemProvider, DatedFacts, Hierarchy, Registry, facts_on


def lookup(registry: Registry, request: LookupRequest) -> LookupResult:
    registry, used = supplements.apply(registry, list(request.supplements))
    provider = provider_for(
        registry,
        system=request.system,
        version=request.version,
        on_date=request.date,
        instance_id=request.instance_id,
    )
    where = f"{provider.canonical.url}" + (
        f" version {provider.canonical.version}" if provider.canonical.version else ""
    )
    try:
        concept = provider.locate(request.code)
    except InvalidCode as exc:
        raise NotFound(
            f"Unable to find code '{request.code}' in {where} ({exc.message})",
            tx_issue_type="invalid-code",
            expression="code",
        ) from None
    if concept is None:
        raise NotFound(
            f"Unable to find code '{request.code}' in {where}",
            tx_issue_type="invalid-code",
            expression="code",
            message_id="Unknown_Code_in_Version",
        )
    if request.date and isinstance(provider, DatedFacts):
        concept = facts_on(provider, concept, request.date)
    concept = _with_hierarchy(provider, concept)
    concept = _with_display_designation(provider, concept)
    if request.display_language:
        languages.check(request.display_language)
        shown = languages.display_for(concept, provider.language, request.display_language)
        concept = replace(concept, display=shown)
    return LookupResult(
        name=provider.name,
        system=provider.canonical.url,
        version=provider.canonical.version,
        concept=concept,
        copyright=provider.copyright,
        wanted=request.properties,
        used_supplements=tuple(used),
    )


def _with_hierarchy(provider: CodeSystemProvider, concept: Concept) -> Concept:
    """Add `parent` and `child` properties from a hierarchical code system."""
    if not isinstance(provider, Hierarchy) or concept.expression:
        return concept
    extra = tuple(Property("parent", code, "code") for code in provider.parents(concept.code))
    extra += tuple(Property("child", code, "code") for code in provider.children(concept.code))
    return replace(concept, properties=concept.properties + extra) if extra else concept


def _with_display_designation(provider: CodeSystemProvider, concept: Concept) -> Concept:
    """The display as a designation in the code system's language, unless one already is."""
    language = provider.language
    if not language or not concept.display or any(
            d.value == concept.display for d in concept.designations):
        return concept
    first = Designation(concept.display, language, languages.PREFERRED_FOR_LANGUAGE)
    return replace(concept, designations=(first, *concept.designations))
