"""The status of the code systems and value sets an answer draws on, said as tx.fhir.org says it.

A resource that is deprecated or withdrawn (the structuredefinition-standards-status extension),
retired, experimental or draft is worth a word to whoever relies on the answer: an expansion
lists it as a `warning-<status>` parameter, a $validate-code adds an `information` issue
(MSG_DEPRECATED, MSG_WITHDRAWN, MSG_RETIRED, MSG_EXPERIMENTAL, MSG_DRAFT). Experimental and
draft are said only when the value set that refers to the resource is not so itself; a value set
is judged on its own only for deprecated, withdrawn and retired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from terminology.model import Canonical, Issue

STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"
VALUESET_DEPRECATED = "http://hl7.org/fhir/StructureDefinition/valueset-deprecated"


@dataclass(frozen=True, slots=True)
class StatusNote:
    """One resource's status worth reporting: `kind` is deprecated, withdrawn, retired,
    experimental or draft."""

    kind: str
    canonical: str  # url|version
    resource_type: str

    @property
    def parameter(self) -> tuple[str, str]:
        """The expansion parameter (name, valueUri)."""
        return f"warning-{self.kind}", self.canonical

    def issue(self) -> Issue:
        return Issue("information", "business-rule",
                     f"Reference to {self.kind} {self.resource_type} {self.canonical}",
                     "status-check", None, f"MSG_{self.kind.upper()}")


def standards_status(resource: dict[str, Any] | None) -> str | None:
    return next((e.get("valueCode") for e in (resource or {}).get("extension", [])
                 if e.get("url") == STANDARDS_STATUS), None)


def note(resource: dict[str, Any], resource_type: str, source: dict[str, Any] | None,
         canonical: Canonical | None = None) -> StatusNote | None:
    """What to say about `resource` when `source` (the value set that refers to it; None for the
    value set asked about, or a code system checked on its own) relies on it."""
    kind = _kind(resource, source)
    if kind is None:
        return None
    return StatusNote(kind, str(canonical or Canonical.of(resource)), resource_type)


def _kind(resource: dict[str, Any], source: dict[str, Any] | None) -> str | None:
    standards, status = standards_status(resource), resource.get("status")
    source = source or {}
    if standards in ("deprecated", "withdrawn"):
        return None if standards_status(source) == standards else standards
    if status == "retired":
        return None if source.get("status") == "retired" else "retired"
    if not source:
        return None
    if resource.get("experimental") is True:
        return None if source.get("experimental") is True else "experimental"
    if status == "draft" or standards == "draft":
        source_draft = source.get("status") == "draft" or standards_status(source) == "draft"
        return None if source_draft else "draft"
    return None


def deprecated_in_valueset(extensions: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> bool:
    """A concept a value set lists as deprecated (valueset-deprecated, in R4 a boolean though
    often sent as a code, or the standards-status extension)."""
    for ext in extensions:
        if ext.get("url") == VALUESET_DEPRECATED and (
                ext.get("valueBoolean") is True or ext.get("valueCode") == "true"):
            return True
        if ext.get("url") == STANDARDS_STATUS and ext.get("valueCode") == "deprecated":
            return True
    return False
