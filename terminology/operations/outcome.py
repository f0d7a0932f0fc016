"""CodingOutcome: the verdict on one Coding of a $validate-code as it is built, shared by the
checks of validate_code.py and the version choice of versioning.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from terminology.model import Issue


@dataclass
class CodingOutcome:
    """The verdict on one Coding."""

    valid: bool = False
    issues: list[Issue] = field(default_factory=list)
    system: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None
    inactive: bool = False
    unknown_system: str | None = None
    x_unknown_system: str | None = None
    valueset_error: bool = False
    status: str | None = None
    normalized_code: str | None = None
    include_matched: bool = False  # in the value set's include (or its version is unknown)
    # what the issues so far are about, (message id, canonical): each is reported once
    reported: set[tuple[str | None, str]] = field(default_factory=set)
