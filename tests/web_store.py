"""The store the web page tests read, and helpers to read the pages: every sample the first start imports (CPT 2025/2026 with the
CMS add-on, MUE and PTP edits, ICD-10-CM, ICD-10-PCS and HCPCS samples, the CPT lay supplement)
and the body-site fixture code system with its supplement (served from memory)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from codesets import build_codeset_store
from conftest import FHIR_DATA

import server
from codesystems.cms import mue as cms_mue
from codesystems.cms import ptp as cms_ptp
from codesystems.cpt import loader as cpt_loader
from codesystems.fhir_json import loader as fhir_loader
from terminology.store import Store


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The app over a store of every sample, one per test module (import the fixture)."""
    path = tmp_path_factory.mktemp("web") / "tx.db"
    build_web_store(path)
    return server.create_app({"DB": str(path), "TESTING": True})


@pytest.fixture
def web(web_app):  # type: ignore[no-untyped-def]
    return web_app.test_client()


def build_web_store(path: Path) -> Store:
    store = build_codeset_store(path)
    cms_mue.import_table(store, cms_mue.SAMPLE_FILE)
    cms_ptp.import_tables(store, [cms_ptp.SAMPLE_FILE])
    fhir_loader.import_paths(store, [cpt_loader.LAY_SUPPLEMENT,
                                     FHIR_DATA / "codesystem-body-site.json",
                                     FHIR_DATA / "codesystem-body-site-supplement.json"])
    return store


def page(web: Any, url: str, status: int = 200) -> str:
    response = web.get(url)
    assert response.status_code == status, (url, response.status_code)
    assert response.content_type == "text/html; charset=utf-8"
    return response.get_data(as_text=True)


def text_of(html: str) -> str:
    """The visible text of a page, white space collapsed."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def group(html: str, key: str) -> str:
    found = re.search(rf'<section class="group" id="in-{key}".*?</section>', html, re.S)
    assert found, f"no {key} group"
    return found.group(0)


def section(html: str, heading_id: str) -> str:
    """A page's part from the heading `heading_id` to the next h2 (or the end of main)."""
    start = html.index(f'<h2 id="{heading_id}"')
    ends = [at for at in (html.find("<h2 ", start + 1), html.find("</main>", start)) if at > 0]
    return html[start:min(ends)]


def codes_in(html: str) -> list[str]:
    return re.findall(r'<span class="code">([^<]+)</span>', html)
