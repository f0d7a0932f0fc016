"""The web page for people: a search box, results across every code system, a page per code.

Server-rendered from Jinja templates (autoescaped) with a little CSS and no JavaScript. The views
use the engine's operations only: `ValueSet/$expand` with a text filter over each code system's
implicit value set (`<system>?fhir_vs`) for search, which ranks through the code system's own
search where it has one; `$lookup` (with every stored supplement of the code system, such as the
CPT lay supplement) for a code page; `$expand` of a small inline value set for the descriptors of
related codes; `$translate` in reverse for the add-on codes of a primary code. No SQL here.

Code systems are addressed by a short key: `cpt`, `hcpcs`, `icd10cm`, `icd10pcs` for the code sets
this server imports, otherwise the CodeSystem resource's id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for

from terminology.errors import NotFound, TerminologyError
from terminology.model import Canonical, Coding, Concept, ExpandRequest, LookupRequest
from terminology.operations.expand import expand
from terminology.operations.lookup import lookup
from terminology.operations.translate import NOT_A_MATCH, TranslateRequest, translate

MAX_ORDER = 100_000
ORDER_EXAMPLE = "64636 x2\n99213:25\n64635 mod 50"
ui = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/ui-static")

KNOWN_KEYS = {
    "http://www.ama-assn.org/go/cpt": ("cpt", "CPT"),
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": ("hcpcs", "HCPCS Level II"),
    "http://hl7.org/fhir/sid/icd-10-cm": ("icd10cm", "ICD-10-CM"),
    "http://www.cms.gov/Medicare/Coding/ICD10": ("icd10pcs", "ICD-10-PCS"),
}
MAX_QUERY = 200  # characters of search text
PER_SYSTEM = 10  # results per code system on the all-systems page
ONE_SYSTEM = 100  # results when searching one code system
NEIGHBOURS = 5  # codes shown on each side of a code in its range
MAX_RELATED = 60  # children or neighbours listed at most
# Properties shown elsewhere on the code page (status, related codes, the footer).
SHOWN_ELSEWHERE = {"parent", "child", "primary-code", "copyright", "inactive", "status"}


@dataclass(frozen=True)
class System:
    key: str
    url: str
    label: str
    title: str
    provider: Any  # the default version

    @property
    def version(self) -> str | None:
        return self.provider.canonical.version


@dataclass
class Hit:
    code: str
    display: str
    badges: list[tuple[str, str]]
    exact: bool = False


@dataclass
class Group:
    system: System
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    error: str | None = None


def _registry() -> Any:
    return current_app.extensions["registry"]


def _fold(code: str) -> str:
    """A code as people type it: case and punctuation ignored (`e119` is `E11.9`)."""
    return re.sub(r"[^0-9a-z]", "", code.casefold())


def systems() -> list[System]:
    """Every loaded code system at its default version, the well-known ones first."""
    registry = _registry()
    found: list[System] = []
    taken: set[str] = set()
    for url in registry.code_system_urls():
        try:
            provider = registry.resolve(url)
        except TerminologyError:
            continue
        key, label = KNOWN_KEYS.get(url, ("", ""))
        if not key:
            base = re.sub(r"[^A-Za-z0-9.-]+", "-", provider.resource_id or provider.name or "cs")
            key, n = base.strip("-") or "cs", 1
            while key in taken or key in {k for k, _ in KNOWN_KEYS.values()}:
                n += 1
                key = f"{base}-{n}"
            label = provider.title or provider.name or url
        taken.add(key)
        found.append(System(key, url, label, provider.title or provider.name or url, provider))
    order = [k for k, _ in KNOWN_KEYS.values()]
    found.sort(key=lambda s: (order.index(s.key) if s.key in order else len(order),
                              s.label.casefold()))
    return found


def _system(key: str) -> System | None:
    return next((s for s in systems() if s.key == key), None)


def badges(concept: Concept) -> list[tuple[str, str]]:
    """(css class, text) of the facts worth a glance: add-on, deleted/inactive, billable."""
    values: dict[str, list[Any]] = {}
    for p in concept.properties:
        values.setdefault(p.code, []).append(p.value)
    out = []
    if True in values.get("add-on", ()):
        out.append(("addon", "Add-on code"))
    if True in values.get("modifier", ()):
        out.append(("modifier", "Modifier"))
    if "deleted" in values.get("status", ()):
        out.append(("deleted", "Deleted"))
    elif concept.inactive:
        out.append(("inactive", "Inactive"))
    if "billable" in values:
        out.append(("billable", "Billable") if True in values["billable"]
                   else ("not-billable", "Not billable"))
    if concept.abstract:
        out.append(("heading", "Heading"))
    return out


def _expand_filter(system: System, text: str, count: int) -> tuple[list[Hit], int]:
    """`ValueSet/$expand` of the code system's implicit value set with `filter=text`."""
    result = expand(_registry(), ExpandRequest(url=f"{system.url}?fhir_vs", filter=text,
                                               count=count))
    hits = [Hit(e.concept.code, e.display or e.concept.display or "", badges(e.concept))
            for e in result.entries]
    return hits, result.total


def search_groups(text: str, only: System | None = None) -> list[Group]:
    """Search results grouped by code system; a code typed exactly comes first."""
    typed = _fold(text)
    groups = []
    for system in [only] if only else systems():
        group = Group(system)
        try:
            group.hits, group.total = _expand_filter(system, text,
                                                     ONE_SYSTEM if only else PER_SYSTEM)
        except TerminologyError as exc:
            group.error = exc.message
        for hit in group.hits:
            hit.exact = bool(typed) and _fold(hit.code) == typed
        group.hits.sort(key=lambda h: not h.exact)
        if group.hits or group.error:
            groups.append(group)
    groups.sort(key=lambda g: not any(h.exact for h in g.hits))
    return groups


# -- views ------------------------------------------------------------------------------------


@ui.route("/")
def index() -> str:
    return render_template("index.html", systems=systems())


@ui.route("/search")
def search() -> Response | str:
    text = " ".join(request.args.get("q", "").split())
    key = request.args.get("in")
    only = _system(key) if key else None
    if key and only is None:
        return _error(404, f"There is no code system '{key}' on this server.")
    if len(text) > MAX_QUERY:
        return _error(400, f"The search text is longer than {MAX_QUERY} characters.", q=text)
    groups = search_groups(text, only) if text else []
    return render_template("search.html", q=text, groups=groups, only=only,
                           per_system=PER_SYSTEM)


@ui.route("/code/<key>/<path:code>")
def code_page(key: str, code: str) -> Response | str:
    system = _system(key)
    if system is None:
        return _error(404, f"There is no code system '{key}' on this server.")
    version = request.args.get("version") or None
    registry = _registry()
    supplements = [s for s in registry.supplement_resources()
                   if Canonical.parse(s.get("supplements", "")).url == system.url]
    used = tuple(str(Canonical.of(s)) for s in supplements)
    try:
        result = lookup(registry, LookupRequest(code=code, system=system.url, version=version,
                                                supplements=used))
    except NotFound as exc:
        where = f"{system.label} {version}" if version else system.label
        return _error(404, f"{where} has no code “{code}”.", system=system, detail=exc.message)
    except TerminologyError as exc:
        return _error(exc.status if 400 <= exc.status < 500 else 400, exc.message, system=system)
    page = _code_page(system, result, supplements)
    page["lookup_url"] = url_for("fhir.codesystem_lookup", system=system.url, code=code,
                                 version=result.version, useSupplement=list(used))
    return render_template("code.html", system=system, **page)


@ui.app_template_filter("line_of")
def line_of(expression: str | None) -> str:
    """`Claim.item[2].productOrService…` -> `line 3`, for a person who typed lines."""
    match = re.match(r"Claim\.item\[(\d+)\]", expression or "")
    return f"line {int(match.group(1)) + 1}" if match else ""


@ui.route("/check", methods=["GET", "POST"])
def check() -> Response | str:
    """Check an order or a claim: one service a line, or a FHIR resource in JSON."""
    text = request.form.get("order", "") if request.method == "POST" else ""
    day = request.form.get("date", "").strip() or None
    if len(text) > MAX_ORDER:
        return _error(400, f"The order is longer than {MAX_ORDER:,} characters.")
    result = None
    if text.strip():
        from terminology.web.validate_api import check_order

        result = check_order(text, service_date=day)
        if not text.lstrip().startswith("{"):
            # the claim was built from the lines: only what concerns the lines interests
            result.issues = [i for i in result.issues if not i.expression
                             or i.expression.startswith("Claim.item")]
    return render_template("check.html", order=text, date=day or "", result=result,
                           example=ORDER_EXAMPLE)


@ui.errorhandler(TerminologyError)
def terminology_error(error: TerminologyError) -> Response:
    return _error(error.status if 400 <= error.status < 500 else 400, error.message)


def html_error(status: int, message: str) -> Response:
    """An error page for a person (a browser asking for a path that is not a page)."""
    return _error(status, message)


def _error(status: int, message: str, **context: Any) -> Response:
    body = render_template("error.html", status=status, message=message, **context)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


# -- the code page ----------------------------------------------------------------------------


def _code_page(system: System, result: Any, supplements: list[dict[str, Any]]) -> dict[str, Any]:
    concept: Concept = result.concept
    provider = _registry().resolve(system.url, result.version)
    sources = {str(Canonical.of(s)): s.get("title") or s.get("name") or s.get("url")
               for s in supplements}
    sections, section_codes = _sections(concept, supplements)
    plain = next((d.value for d in concept.designations if d.source in sources), None)
    descriptors = [{"use": (d.use.display or d.use.code) if d.use else "",
                    "language": d.language or "", "value": d.value,
                    "source": sources.get(d.source or "", "")}
                   for d in concept.designations]
    if concept.display and not any(d["value"] == concept.display for d in descriptors):
        descriptors.insert(0, {"use": "display", "language": "", "value": concept.display,
                               "source": ""})
    defs = dict(getattr(provider, "property_defs", {}) or {})
    for s in supplements:
        for p in s.get("property", []):
            defs.setdefault(p.get("code"), p)
    values = _values(concept)
    properties = [{"code": code, "values": [_value(v) for v in listed],
                   "description": (defs.get(code) or {}).get("description", "")}
                  for code, listed in values.items()
                  if code not in SHOWN_ELSEWHERE and code not in section_codes]
    status = ("Deleted" if "deleted" in values.get("status", []) else
              "Inactive" if concept.inactive else "Active")
    return {
        "code": concept.code,
        "display": concept.display,
        "version": result.version,
        "badges": badges(concept),
        "status": status,
        "deleted_date": next(iter(values.get("deleted-date", [])), None),
        "effective_date": next(iter(values.get("effective-date", [])), None),
        "versions": _versions(system, concept.code, result.version),
        "plain": plain,
        "sections": sections,
        "descriptors": descriptors,
        "properties": properties,
        "related": _related(system, concept, result.version),
        "copyright": result.copyright,
        "supplement_notes": [s.get("description") or s.get("title") for s in supplements
                             if str(Canonical.of(s)) in result.used_supplements],
    }


def _values(concept: Concept) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for p in concept.properties:
        if p.value not in out.setdefault(p.code, []):
            out[p.code].append(p.value)
    return out


def _value(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, dict):  # a Coding
        return " ".join(str(value.get(k)) for k in ("code", "display") if value.get(k))
    return str(value)


def _sections(concept: Concept,
              supplements: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """The supplements' string properties, in the order each supplement declares them, as page
    sections: a heading (the property's description) and paragraphs or numbered steps."""
    values = _values(concept)
    sections = []
    codes: set[str] = set()
    for s in supplements:
        for p in s.get("property", []):
            code = p.get("code")
            if p.get("type") != "string" or not code:
                continue
            codes.add(code)
            for text in values.get(code, []):
                lines = [line.strip() for line in str(text).splitlines() if line.strip()]
                steps = [re.sub(r"^\d+[.)]\s*", "", line) for line in lines]
                numbered = len(lines) > 1 and all(re.match(r"^\d+[.)]\s", x) for x in lines)
                sections.append({"id": code, "heading": p.get("description") or code,
                                 "steps": steps if numbered else [],
                                 "paragraphs": [] if numbered else lines})
    return sections, codes


def _versions(system: System, code: str, shown: str | None) -> list[dict[str, Any]]:
    """The code's status in every version of the code system, newest first."""
    registry = _registry()
    out = []
    for version in reversed(registry.versions(system.url)):
        try:
            concept = lookup(registry, LookupRequest(code=code, system=system.url,
                                                     version=version)).concept
            status = ("deleted" if "deleted" in _values(concept).get("status", []) else
                      "inactive" if concept.inactive else "active")
        except TerminologyError:
            status = "absent"
        out.append({"version": version, "status": status, "current": version == shown})
    return out


def _related(system: System, concept: Concept, version: str | None) -> list[dict[str, Any]]:
    """Lists of related codes, each with descriptors: primary and add-on codes, the parent and
    children, and the neighbours in the code's range."""
    if concept.expression:
        base = concept.code.split(":")[0]
        groups: list[tuple[str, list[str]]] = [("The code without modifiers", [base])]
        return _with_displays(system, version, groups)
    values = _values(concept)
    parents = [str(v) for v in values.get("parent", [])]
    children = [str(v) for v in values.get("child", [])][:MAX_RELATED]
    groups = [
        ("Primary procedure codes this add-on code is reported with",
         [str(v) for v in values.get("primary-code", [])]),
        ("Add-on codes reported with this code", _addons(system, concept.code, version)),
        ("Broader code" if len(parents) == 1 else "Broader codes", parents),
        ("Narrower codes", children),
        ("Nearby codes", _neighbours(system, concept.code, parents, version)),
    ]
    return _with_displays(system, version, groups)


def _addons(system: System, code: str, version: str | None) -> list[str]:
    """Codes the concept maps (such as the CMS add-on code edits) link to this one as their
    primary code; an add-on whose own `primary-code` list no longer holds it (an edit that has
    ended) is left out."""
    registry = _registry()
    try:
        found = translate(registry, TranslateRequest(Coding(system.url, code), reverse=True))
    except TerminologyError:
        return []
    candidates = [m.source.code for m in found.matches
                  if m.source is not None and m.source.system == system.url
                  and m.source.code and m.equivalence not in NOT_A_MATCH]
    out = []
    for candidate in dict.fromkeys(candidates):
        try:
            addon = lookup(registry, LookupRequest(code=candidate, system=system.url,
                                                   version=version)).concept
        except TerminologyError:
            continue
        primaries = _values(addon).get("primary-code")
        if primaries is None or code in primaries:
            out.append(candidate)
    return out


def _neighbours(system: System, code: str, parents: list[str],
                version: str | None) -> list[str]:
    """The codes next to this one: its siblings under the same parent in a hierarchy, otherwise
    the codes of the same length that share all but its last character (a code range)."""
    registry = _registry()
    if parents:
        try:
            parent = lookup(registry, LookupRequest(code=parents[0], system=system.url,
                                                    version=version)).concept
        except TerminologyError:
            return []
        codes = [str(v) for v in _values(parent).get("child", [])]
    elif len(code) > 1:
        prefix = code[:-1]
        try:
            result = expand(registry, ExpandRequest(
                url=f"{system.url}?fhir_vs", filter=prefix, count=ONE_SYSTEM,
                system_version=(f"{system.url}|{version}",) if version else ()))
        except TerminologyError:
            return []
        codes = [e.concept.code for e in result.entries
                 if e.concept.code.startswith(prefix) and len(e.concept.code) == len(code)]
    else:
        return []
    codes = sorted(set(codes) | {code})
    at = codes.index(code)
    window = codes[max(0, at - NEIGHBOURS):at + NEIGHBOURS + 1]
    return [c for c in window if c != code]


def _with_displays(system: System, version: str | None,
                   groups: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """The groups with each code's descriptor and badges, from one `$expand` of an inline value
    set listing them (codes the code system does not hold are shown without a descriptor)."""
    wanted = list(dict.fromkeys(c for _, codes in groups for c in codes))
    found: dict[str, Hit] = {}
    if wanted:
        include: dict[str, Any] = {"system": system.url,
                                   "concept": [{"code": c} for c in wanted]}
        if version:
            include["version"] = version
        try:
            result = expand(_registry(), ExpandRequest(valueset={
                "resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}}))
            found = {e.concept.code: Hit(e.concept.code, e.display or e.concept.display or "",
                                         badges(e.concept)) for e in result.entries}
        except TerminologyError:
            found = {}
    return [{"title": title,
             "hits": [found.get(c) or Hit(c, "", []) for c in codes],
             "linked": {c for c in codes if c in found}}
            for title, codes in groups if codes]
