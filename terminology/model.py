"""Value types shared by the engine: frozen, slotted dataclasses with no behaviour of note."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Canonical:
    """A canonical reference: `url` with an optional `version` (from `url|version`)."""

    url: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str, version: str | None = None) -> Canonical:
        url, bar, ver = text.partition("|")
        return cls(url, (ver or None) if bar else version)

    @classmethod
    def of(cls, resource: dict[str, Any]) -> Canonical:
        """The canonical of a CodeSystem, ValueSet or ConceptMap resource."""
        return cls(resource.get("url") or "", resource.get("version") or None)

    def __str__(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Designation:
    value: str
    language: str | None = None
    use: Coding | None = None
    source: str | None = None  # the supplement (url|version) it came from
    extensions: tuple[dict[str, Any], ...] = ()  # kept as given (coding-sctdescid, …)


@dataclass(frozen=True, slots=True)
class Property:
    """One concept property value. `type` is the FHIR value[x] suffix: boolean, code, string…"""

    code: str
    value: Any
    type: str = "string"


@dataclass(frozen=True, slots=True)
class Concept:
    """A concept as a provider hands it to the operations, designations and properties included.

    `withdrawn` is the date since which the code is no longer valid for use in this version (a CPT
    code deleted this year); such a code is still found by $lookup but fails $validate-code.
    """

    code: str
    display: str | None = None
    definition: str | None = None
    inactive: bool = False
    abstract: bool = False
    effective: str | None = None
    withdrawn: str | None = None
    designations: tuple[Designation, ...] = ()
    properties: tuple[Property, ...] = ()
    expression: bool = False
    extensions: tuple[dict[str, Any], ...] = ()  # rendering hints carried into expansions


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome issue, as $validate-code reports it inside its `issues` parameter."""

    severity: str
    code: str
    text: str
    tx_issue_type: str | None = None
    expression: str | None = None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class LookupRequest:
    code: str
    system: str | None = None
    version: str | None = None
    date: str | None = None
    display_language: str | None = None
    properties: tuple[str, ...] = ()
    instance_id: str | None = None
    supplements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LookupResult:
    name: str
    system: str
    version: str | None
    concept: Concept
    copyright: str | None = None
    wanted: tuple[str, ...] = ()
    used_supplements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ValidateRequest:
    """CodeSystem/$validate-code: one code, a Coding or a CodeableConcept (its codings)."""

    codings: tuple[Coding, ...]
    source: str  # 'code', 'coding' or 'codeableConcept': names the element in `expression`
    url: str | None = None
    version: str | None = None
    date: str | None = None
    display_language: str | None = None
    lenient_display: bool = False
    instance_id: str | None = None
    valueset: dict[str, Any] | None = None  # ValueSet/$validate-code: the inline value set
    valueset_url: str | None = None
    valueset_version: str | None = None
    valueset_id: str | None = None
    original: Any = None  # the CodeableConcept as sent, echoed back
    allow_abstract: bool = True
    membership_only: bool = False  # valueset-membership-only: no code-system checks
    default_valueset_versions: tuple[str, ...] = ()
    supplements: tuple[str, ...] = ()
    infer_system: bool = False
    active_only: bool = False
    system_version: tuple[str, ...] = ()
    force_system_version: tuple[str, ...] = ()
    check_system_version: tuple[str, ...] = ()

    @property
    def against_valueset(self) -> bool:
        return (self.valueset is not None or self.valueset_url is not None
                or self.valueset_id is not None)


@dataclass(frozen=True, slots=True)
class ValidationResult:
    result: bool
    system: str | None = None
    code: str | None = None
    version: str | None = None
    display: str | None = None
    message: str | None = None
    issues: tuple[Issue, ...] = ()
    codeable_concept: Any = None
    unknown_system: str | None = None
    x_unknown_system: str | None = None
    normalized_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExpandRequest:
    """ValueSet/$expand, with the request's parameters echoed into the expansion."""

    valueset: dict[str, Any] | None = None  # inline `valueSet`
    url: str | None = None
    valueset_version: str | None = None
    instance_id: str | None = None
    filter: str | None = None
    offset: int = 0
    count: int | None = None
    active_only: bool = False
    exclude_nested: bool | None = None
    include_designations: bool = False
    include_definition: bool = False
    designations: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    display_language: str | None = None
    date: str | None = None
    system_version: tuple[str, ...] = ()
    force_system_version: tuple[str, ...] = ()
    check_system_version: tuple[str, ...] = ()
    echo: tuple[tuple[str, str, Any], ...] = ()  # (name, value[x] key, value)
    supplements: tuple[str, ...] = ()
    limit: int = 10000  # more members than this, unpaged, is too costly
    default_valueset_versions: tuple[str, ...] = ()
    versions_match: bool | None = None  # codes of one system match across its versions


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One ordered or billed service as claim edits see it: a coding of ServiceRequest.code,
    Procedure.code or Claim.item.productOrService, with its units, date of service and patient.

    `code` is as sent (a CPT expression keeps its modifiers: `64636:50`); `modifiers` are the
    Claim.item.modifier codings, `modifier_paths` their FHIRPaths. `path` is the coding's
    FHIRPath (`Bundle.entry[2].resource.code.coding[0]`), `units_path` the quantity's.
    `number` counts the lines of the request from 1; `setting` is the Claim.type code.
    """

    number: int
    system: str
    code: str
    date: str
    path: str
    patient: str | None = None
    units: float = 1
    units_path: str | None = None
    modifiers: tuple[Coding, ...] = ()
    modifier_paths: tuple[str, ...] = ()
    setting: str | None = None


# -- what the web page is told about a code set (declared in codesystems/, read by web/) -------

Filter = tuple[str, str, str]  # one ValueSet.compose filter: (property, op, value)


def _code_itself(code: str, kinds: tuple[str, ...]) -> str:
    return code


@dataclass(frozen=True, slots=True)
class BrowseGroup:
    """One entry of a code set's top level that is not a concept of its own (a CPT section, a
    HCPCS letter): the filters that list its codes, and whether a code belongs to it (which
    places a code that has no parent)."""

    key: str
    label: str
    filters: tuple[Filter, ...]
    holds: Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class CodeSetPages:
    """How a code set reads on the web page: the key of its pages (`/code/cpt/64636`), its
    label, the name a person knows it by in a sentence (`family`: "ICD-10" for ICD-10-CM and
    ICD-10-PCS), its top level (fixed `groups`, or the concepts matching `top`), the words for
    its hierarchy levels (`crumb`), descriptor kinds and properties, and its notes: their
    headings in reading order, which of them the codes below inherit, and the pattern of a
    code inside a note's text."""

    url: str
    key: str
    label: str
    family: str
    groups: tuple[BrowseGroup, ...] = ()
    top: tuple[Filter, ...] = ()
    crumb: Callable[[str, tuple[str, ...]], str] = _code_itself
    designations: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    notes: tuple[tuple[str, str], ...] = ()
    inherited_notes: frozenset[str] = frozenset()
    code_in_text: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyLine:
    """One line of a policy; `code` is a code of the same code system it names (a link)."""

    text: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A rule a payer or publisher applies to a code (a CMS edit, a CPT appendix), in words,
    with where it comes from and when it is in force."""

    topic: str
    summary: str
    lines: tuple[PolicyLine, ...] = ()
    source: str = ""
    in_force: str = ""
