"""TerminologyError and its kinds: every failure below the web layer is one of these.

Each carries what the FHIR edge needs to build an OperationOutcome: the HTTP status, the
issue code (http://hl7.org/fhir/issue-type), an optional tx-issue-type code, the message id
tx.fhir.org uses, and the FHIRPath `expression` of the offending element. Also what the FHIR
models (fhir.resources) say is wrong in a resource (`model_errors`), and where (`fhirpath`):
both the importers and the checks of inline resources use them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


def model_errors(resource: dict[str, Any]) -> list[list[dict[str, Any]]] | None:
    """None when the FHIR R4 models (R4B) or the R5 ones accept `resource`; else each one's
    validation errors, R4's first."""
    found: list[list[dict[str, Any]]] = []
    for errors in each_model_errors(resource):
        if not errors:
            return None
        found.append(errors)
    return found


def each_model_errors(resource: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The validation errors of the FHIR R4 models (R4B), then of the R5 ones, each as it is
    asked for ([]: that model accepts `resource`); a caller that has its answer from R4 never
    loads R5's models. A model that cannot read it at all (a contained resource of a type it
    lacks) gives one error saying so. pydantic and the models are imported on the first call:
    together they take 23 MB of a worker that never checks a resource."""
    import pydantic
    from fhir.resources import get_fhir_model_class as r5_model
    from fhir.resources.R4B import get_fhir_model_class as r4_model

    kind = resource["resourceType"]
    for model in (r4_model, r5_model):
        try:
            model(kind).model_validate(resource)
            yield []
        except pydantic.ValidationError as exc:
            yield [dict(e) for e in exc.errors()]
        except (KeyError, TypeError):  # how the models fail on a nested resourceType they lack
            yield [{"type": "unknown_resource", "loc": ("contained",),
                    "msg": "a resource of no known FHIR resource type"}]


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
