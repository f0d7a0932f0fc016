"""Which version of a code system a $validate-code checks against, and what to say about it.

The coding's own version, the value set include's version (possibly a wildcard such as `1.x`),
and the request's `system-version` (default), `force-system-version` and
`check-system-version` all bear on the choice; mismatches are reported as tx.fhir.org does
(VALUESET_VALUE_MISMATCH and friends).
"""

from __future__ import annotations

from typing import Any

from terminology.errors import NotFound
from terminology.model import Coding, Issue
from terminology.operations.common import provider_for


def version_matches(pattern: str, version: str) -> bool:
    """`1.x`, `1.0.x`, `1.*` match by segment; otherwise versions must be equal."""
    if pattern == version:
        return True
    parts, actual = pattern.split("."), version.split(".")
    if "x" not in parts and "*" not in parts:
        return False
    return all(p in ("x", "*") or (i < len(actual) and p == actual[i])
               for i, p in enumerate(parts))


def choose_code_system(validator: Any, coding: Coding, system: str, path: dict[str, str],
                       out: Any) -> Any | None:
    """The provider to validate `coding` against, or None (the reasons added to `out.issues`).

    `validator` offers: request, registry, evaluator (with `provider(system, version, where)`),
    include_version(system), includes_system(system), not_in_vs(coding, path, system).
    """
    request = validator.request
    in_vs_mode = request.against_valueset
    wanted_version = coding.version or (None if in_vs_mode else request.version)
    pinned = validator.include_version(system) if in_vs_mode else None
    if in_vs_mode and pinned and coding.version and not version_matches(pinned,
                                                                        coding.version):
        try:
            resolved = validator.evaluator.provider(system, pinned, path["system"])
            shown = resolved.canonical.version or pinned
        except NotFound:
            shown = pinned
        out.issues.append(Issue(
            "error", "invalid",
            f"The code system '{system}' version '{shown}' in the ValueSet include is "
            f"different to the one in the value ('{coding.version}')",
            "vs-invalid", path["version"], "VALUESET_VALUE_MISMATCH"))
        wanted_version = pinned
    elif in_vs_mode and not coding.version:
        wanted_version = pinned
    try:
        if in_vs_mode:
            provider = validator.evaluator.provider(system, wanted_version, path["system"])
        else:
            provider = provider_for(
                validator.registry, system=system, version=wanted_version,
                on_date=request.date, instance_id=request.instance_id,
                system_param="url" if request.source == "code" else "system")
    except NotFound as exc:
        unknown = exc.message_id == "UNKNOWN_CODESYSTEM"
        out.issues.append(Issue("error", "not-found", exc.message, "not-found",
                                path["system"], exc.message_id))
        out.version = wanted_version
        label = f"{system}|{wanted_version}" if wanted_version and not unknown else system
        if in_vs_mode and not validator.includes_system(system):
            out.issues.append(validator.not_in_vs(coding, path, system))
        else:
            out.unknown_system = label
        return None
    return provider
