"""The web page for people: a search box, results across every code system, a page per code,
browsing from each code system's top, and an order check.

Server-rendered from Jinja templates (autoescaped) with a CSS file and no JavaScript, so that a
Content-Security-Policy without inline script or style holds. The views only read the request
and render: what a page shows is built in web/pages/ from the engine's operations (`$expand`,
`$lookup`, `$translate`, `$validate`), never from SQL.

Code systems are addressed by a short key: the one its code set declares (`cpt`, `hcpcs`,
`icd10cm`, `icd10pcs`, given by server.py from codesystems/), otherwise the CodeSystem's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from terminology.errors import NotFound, TerminologyError
from terminology.model import Canonical, CodeSetPages
from terminology.numbers import is_digits
from terminology.web.pages import browse as browsing
from terminology.web.pages import check as checking
from terminology.web.pages import code as code_pages
from terminology.web.pages import search as searching
from terminology.web.pages.systems import (
    EXTENSION_CODE_SETS,
    EXTENSION_POLICIES,
    PolicySource,
    System,
    system_by_key,
    systems,
)

MAX_ORDER = 100_000
MAX_QUERY = 200  # characters of search text
MAX_PAGE = 10_000
ORDER_EXAMPLE = "64636 x2\n99213:25\n64635 mod 50"
ui = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/ui-static")


def install(app: Flask, code_sets: Sequence[CodeSetPages],
            policies: Sequence[PolicySource]) -> None:
    """Serve the pages at `/`, knowing the code sets' own declarations and the sources of the
    policies shown on a code's page."""
    app.extensions[EXTENSION_CODE_SETS] = tuple(code_sets)
    app.extensions[EXTENSION_POLICIES] = tuple(policies)
    app.register_blueprint(ui)


def _page_number() -> int | None:
    """`?page=N` (default 1); None when it is not a page number."""
    raw = request.args.get("page", "1")
    return int(raw) if is_digits(raw) and 1 <= int(raw) <= MAX_PAGE else None


def _known(key: str) -> System:
    system = system_by_key(key)
    if system is None:
        raise NotFound(f"There is no code system '{key}' on this server.")
    return system


# -- views ------------------------------------------------------------------------------------


@ui.route("/")
def index() -> str:
    return render_template("index.html", systems=systems())


@ui.route("/search")
def search() -> Response | str:
    text = " ".join(request.args.get("q", "").split())
    key = request.args.get("in")
    only = _known(key) if key else None
    page = _page_number()
    if page is None:
        return _error(400, "The page number must be a whole number from 1.", q=text)
    if len(text) > MAX_QUERY:
        return _error(400, f"The search text is longer than {MAX_QUERY} characters.", q=text)
    results = searching.search(text, only, page) if text else None
    if results and only and page > results.pages:
        return _error(404, f"There are {results.pages} pages of results, not {page}.", q=text)
    return render_template("search.html", q=text, results=results, only=only,
                           per_system=searching.PER_SYSTEM,
                           literal=" ".join(f'"{w}"' for w in text.replace('"', " ").split()))


@ui.route("/browse/<key>")
def browse_system(key: str) -> Response | str:
    system = _known(key)
    page = _page_number()
    if page is None:
        return _error(400, "The page number must be a whole number from 1.", system=system)
    groups = browsing.groups(system)
    top = browsing.top_level(system)
    every = browsing.listing(system, (), page) if not groups and top is None else None
    return render_template("browse.html", system=system, groups=groups, top=top,
                           listing=every, group=None)


@ui.route("/browse/<key>/<group_key>")
def browse_group(key: str, group_key: str) -> Response | str:
    system = _known(key)
    group = browsing.group(system, group_key)
    if group is None:
        return _error(404, f"{system.label} has no group '{group_key}'.", system=system)
    page = _page_number()
    if page is None:
        return _error(400, "The page number must be a whole number from 1.", system=system)
    listing = browsing.listing(system, group.filters, page)
    return render_template("browse.html", system=system, groups=(), top=None,
                           listing=listing, group=group)


@ui.route("/code/<key>/<path:code>")
def code_page(key: str, code: str) -> ResponseReturnValue:
    system = _known(key)
    version = request.args.get("version") or None
    try:
        result, supplements = code_pages.look_up(system, code, version)
    except NotFound as exc:
        written = code_pages.canonical_code(system, code, version)
        if written:
            return redirect(url_for("ui.code_page", key=key, code=written, version=version), 301)
        where = f"{system.label} {version}" if version else system.label
        return _error(404, f"{where} has no code “{code}”.", system=system, detail=exc.message)
    page = code_pages.page(system, result, supplements)
    page["lookup_url"] = url_for("fhir.codesystem_lookup", system=system.url, code=code,
                                 version=result.version,
                                 useSupplement=[str(Canonical.of(s)) for s in supplements])
    return render_template("code.html", system=system, **page)


@ui.route("/check", methods=["GET", "POST"])
def check() -> Response | str:
    """Check an order or a claim: one service a line, or a FHIR resource in JSON."""
    text = request.form.get("order", "") if request.method == "POST" else ""
    day = request.form.get("date", "").strip() or None
    if len(text) > MAX_ORDER:
        return _error(400, f"The order is longer than {MAX_ORDER:,} characters.")
    found = None
    if text.strip():
        from terminology.web.validate_api import check_order

        result = check_order(text, service_date=day, patient=None)
        found = checking.findings(result, typed_lines=not text.lstrip().startswith("{"))
    return render_template("check.html", order=text, date=day or "", found=found,
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
