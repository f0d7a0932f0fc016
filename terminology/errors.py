"""TerminologyError and its kinds: every failure below the web layer is one of these.

Each carries what the FHIR edge needs to build an OperationOutcome: the HTTP status, the
issue code (http://hl7.org/fhir/issue-type), an optional tx-issue-type code, the message id
tx.fhir.org uses, and the FHIRPath `expression` of the offending element.
"""

from __future__ import annotations

import re
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def fhirpath(prefix: str, loc: tuple[Any, ...]) -> str:
    """The FHIRPath of the element a validator reports at `loc` (pydantic's `('item', 0,
    'quantity')`) inside the resource at `prefix`: `Claim.item[0].quantity`."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            path += f".{part}"
    return path


class TerminologyError(Exception):
    status = 400
    issue_code = "invalid"
    depends_on_load = False  # True when the same request could succeed at a quieter moment
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init__(
        self,
        message: str,
        *,
        expression: str | None = None,
        tx_issue_type: str | None = None,
        message_id: str | None = None,
        issue_code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression
        self.tx_issue_type = tx_issue_type
        self.message_id = message_id
        if issue_code is not None:
            self.issue_code = issue_code
        if status is not None:
            self.status = status


class InvalidRequest(TerminologyError):
    """The request itself is wrong: missing, conflicting or malformed parameters."""

    status = 400
    issue_code = "invalid"


class NotFound(TerminologyError):
    """A code system, version, resource or code the request names does not exist here."""

    status = 404
    issue_code = "not-found"


class NotSupported(TerminologyError):
    """A valid request for something this server does not do."""

    status = 422
    issue_code = "not-supported"


class TooCostly(TerminologyError):
    """The answer would be too large or take too long."""

    status = 422
    issue_code = "too-costly"


class OverBudget(TooCostly):
    """The request's time budget ran out (it may fit on a quieter server: not kept)."""

    depends_on_load = True


class Busy(TerminologyError):
    """Every slot for expensive work is taken: come back in a moment."""

    status = 503
    issue_code = "throttled"
    depends_on_load = True
    retry_after = 1


class ImportFailed(TerminologyError):
    """A source file could not be imported; names the file and line. Nothing was written."""

    status = 400
    issue_code = "invalid"


class IdTaken(ImportFailed):
    """A resource's id is held by a resource with another url (ids are unique per type)."""

    status = 409
    issue_code = "conflict"


class InvalidCode(NotFound):
    """A code that cannot be found because it is malformed: a bad expression, with the reason.

    `$lookup` answers it as not found; `$validate-code` turns it into `result=false` and says why.
    """

    issue_code = "not-found"
