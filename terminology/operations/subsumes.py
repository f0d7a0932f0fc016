"""CodeSystem/$subsumes: how two codes of one code system relate in its hierarchy.

Errors follow tx.fhir.org: no system at all is an invalid request (SUBSUMPTION_NO_SYSTEM);
a code the code system lacks is `code-invalid` (Unknown_Code_in_Version), pointing at the
parameter that carried it (codeA/codeB or codingA/codingB).
"""

from __future__ import annotations

from dataclasses import dataclass

from terminology.errors import InvalidRequest, NotFound
from terminology.model import Canonical, Coding
from terminology.operations.common import provider_for
from terminology.provider import Hierarchy, Registry


@dataclass(frozen=True)
class SubsumesRequest:
    code_a: Coding
    code_b: Coding
    system: str | None = None
    version: str | None = None
    instance_id: str | None = None
    names: tuple[str, str] = ("codeA", "codeB")  # the parameters that carried A and B


def subsumes(registry: Registry, request: SubsumesRequest) -> str:
    """`equivalent`, `subsumes` (A subsumes B), `subsumed-by` or `not-subsumed`."""
    systems = {c.system for c in (request.code_a, request.code_b) if c.system}
    if request.system:
        systems.add(request.system)
    if len(systems) > 1:
        raise InvalidRequest("codeA and codeB must be from the same code system (got "
                             f"{' and '.join(sorted(systems))})", expression="codingB")
    provider = provider_for(registry, system=next(iter(systems), None),
                            version=request.version or request.code_a.version,
                            on_date=None, instance_id=request.instance_id)
    concepts = []
    for name, coding in zip(request.names, (request.code_a, request.code_b), strict=True):
        concept = provider.locate(coding.code or "")
        if concept is None:
            raise _unknown_code(coding.code, provider.canonical, name)
        concepts.append(concept.code)
    a, b = concepts
    if a == b:
        return "equivalent"
    if not isinstance(provider, Hierarchy):
        return "not-subsumed"
    if provider.subsumes(a, b):
        return "subsumes"
    if provider.subsumes(b, a):
        return "subsumed-by"
    return "not-subsumed"


def _unknown_code(code: str | None, canonical: Canonical, parameter: str) -> NotFound:
    where = f"'{canonical.url}'"
    if canonical.version:
        where += f" version '{canonical.version}'"
        message_id = "Unknown_Code_in_Version"
    else:
        message_id = "Unknown_Code_in"
    return NotFound(f"Unknown code '{code}' in the CodeSystem {where}", expression=parameter,
                    tx_issue_type="invalid-code", message_id=message_id,
                    issue_code="code-invalid")
