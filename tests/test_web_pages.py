"""The web page's search results, code pages and browsing, through Flask's test client over the
store of every sample (web_store.py): matched words marked, every match reachable by paging,
counts and a filter by system, plain-language names; a code's path, inherited notes, codes
typed another way redirected, related codes listed once, jump links; the browsable top level
of each code system; pages that a Content-Security-Policy without inline script or style
allows.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from web_store import codes_in, group, page, section, text_of, web, web_app  # noqa: F401

import server
from terminology.web.pages import search as searching

ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _filter_counts(html: str) -> dict[str, int]:
    nav = re.search(r'<nav class="filter".*?</nav>', html, re.S)
    assert nav, "no filter by system"
    items = re.findall(r"<li>(.*?)</li>", nav.group(0), re.S)
    return {text_of(i).rsplit(" ", 1)[0]: int(text_of(i).rsplit(" ", 1)[1].replace(",", ""))
            for i in items}


# -- search -----------------------------------------------------------------------------------


def test_matched_words_are_marked_and_escaped(web) -> None:
    html = page(web, "/search?q=facet+joint")
    cpt = group(html, "cpt")
    marked = {m.casefold() for m in re.findall(r"<mark>([^<]+)</mark>", cpt)}
    assert marked == {"facet", "joint"}
    html = web.get("/search", query_string={"q": "facet <b>x</b>"}).get_data(as_text=True)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_results_show_the_plain_language_name_of_a_supplement(web) -> None:
    cpt = group(page(web, "/search?q=facet"), "cpt")
    item = re.search(r'<li>\s*<a href="/code/cpt/64636">.*?</li>', cpt, re.S).group(0)
    assert "In plain words:" in text_of(item) and "lower back" in text_of(item)


def test_counts_per_system_and_a_filter_by_system(web) -> None:
    html = page(web, "/search?q=hand")
    counts = _filter_counts(html)
    shown = {k: int(re.search(r"([\d,]+) match", text_of(group(html, k))).group(1))
             for k in re.findall(r'id="in-([^"]+)"', html)}
    assert counts["All code systems"] == sum(shown.values())
    assert len(counts) == len(shown) + 1
    body_site = next(k for k in shown if k.startswith("body"))
    link = re.search(rf'href="(/search\?q=hand&amp;in={body_site})"', html)
    assert link, "no link to the filtered results"
    filtered = page(web, unescape(link.group(1)))
    assert re.findall(r'id="in-([^"]+)"', filtered) == [body_site]
    assert _filter_counts(filtered) == counts  # the other systems' counts stay in view
    assert '<span aria-current="page">' in re.search(r'<nav class="filter".*?</nav>', filtered,
                                                     re.S).group(0)


def test_every_match_is_reachable_page_by_page(web, monkeypatch: pytest.MonkeyPatch) -> None:
    """"N matches" means N can be seen: the pages together hold every code the FHIR $expand
    of the same filter holds, each once, in the same order."""
    monkeypatch.setattr(searching, "PAGE_SIZE", 3)
    expected = [c["code"] for c in web.get("/fhir/ValueSet/$expand", query_string={
        "url": f"{ICD}?fhir_vs", "filter": "diabetes", "count": 1000}).get_json()[
        "expansion"]["contains"]]
    assert len(expected) > 6, "the sample must give several pages"
    first = page(web, "/search?q=diabetes&in=icd10cm")
    total = int(re.search(r"([\d,]+) match", text_of(first)).group(1))
    assert total == len(expected)
    pages = -(-total // 3)
    seen: list[str] = []
    url = "/search?q=diabetes&in=icd10cm"
    for number in range(1, pages + 1):
        html = page(web, url)
        assert f'<span aria-current="page">{number}</span>' in html
        seen += codes_in(group(html, "icd10cm"))
        following = re.search(r'<a rel="next" href="([^"]+)"', html)
        if number < pages:
            url = unescape(following.group(1))
        else:
            assert following is None
    assert seen == expected
    last = page(web, f"/search?q=diabetes&in=icd10cm&page={pages}")
    assert f"{total - len(codes_in(group(last, 'icd10cm'))) + 1}–{total} shown" in text_of(last)
    page(web, f"/search?q=diabetes&in=icd10cm&page={pages + 1}", 404)
    page(web, "/search?q=diabetes&in=icd10cm&page=0", 400)
    page(web, "/search?q=diabetes&in=icd10cm&page=x", 400)


def test_all_systems_page_links_to_every_match_of_a_system(web) -> None:
    html = page(web, "/search?q=diabetes")
    icd = group(html, "icd10cm")
    total = int(re.search(r"([\d,]+) match", text_of(icd)).group(1))
    if total > searching.PER_SYSTEM:
        assert f"All {total} ICD-10-CM matches" in text_of(icd)
        assert 'href="/search?q=diabetes&amp;in=icd10cm"' in icd


# -- code pages -------------------------------------------------------------------------------


def test_code_page_path_from_the_top(web) -> None:
    html = page(web, "/code/icd10cm/E11.649")
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', html, re.S).group(0)
    assert text_of(crumbs) == ("All code systems ICD-10-CM Chapter 4 E08–E13 E11 E11.6 E11.64 "
                               "E11.649")
    for code in ("4", "E08-E13", "E11", "E11.6", "E11.64"):
        assert f'href="/code/icd10cm/{code}"' in crumbs, code
    assert '<span aria-current="page">E11.649</span>' in crumbs
    # a code without parents stands in its code set's group
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', page(web, "/code/cpt/64636"), re.S)
    assert "Surgery (10004–69990)" in text_of(crumbs.group(0))
    assert 'href="/browse/cpt/surgery"' in crumbs.group(0)


def test_notes_of_the_parents_are_shown_where_they_apply(web) -> None:
    html = page(web, "/code/icd10cm/E11.649")
    notes = text_of(section(html, "notes"))
    assert "Use additional code From E11 (Type 2 diabetes mellitus), for every code below it: " \
           "code to identify control using insulin (Z79.4)" in notes
    assert "Excludes1" in notes and "gestational diabetes (O24.4-)" in notes
    assert "Includes" in notes
    # inclusion terms stay with their own code; a code's own notes are shown as its own
    own = text_of(section(page(web, "/code/icd10cm/E11"), "notes"))
    assert "Use additional code code to identify control using insulin (Z79.4)" in own
    assert "From " not in own.split("Use additional code", 1)[1].split("Excludes1", 1)[0]


@pytest.mark.parametrize("typed", ["e11.9", "E119", "e119"])
def test_a_code_typed_another_way_redirects(web, typed: str) -> None:
    response = web.get(f"/code/icd10cm/{typed}")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/code/icd10cm/E11.9")
    kept = web.get("/code/icd10cm/e11.9?version=2026")
    assert kept.status_code == 301 and kept.headers["Location"].endswith("E11.9?version=2026")
    assert web.get("/code/icd10cm/" + "e" * 5000).status_code == 404  # not searched for


def test_related_codes_are_listed_once(web) -> None:
    for url in ("/code/cpt/64636", "/code/cpt/64635", "/code/icd10cm/E11.9",
                "/code/icd10cm/E11.6"):
        html = page(web, url)
        related = section(html, "related")
        listed = codes_in(related)
        assert len(listed) == len(set(listed)), (url, listed)
        assert url.rsplit("/", 1)[1] not in listed


def test_jump_links_lead_to_the_sections(web) -> None:
    for url in ("/code/cpt/64636", "/code/icd10cm/E11.9", "/code/hcpcs/J1100"):
        html = page(web, url)
        toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
        targets = re.findall(r'href="#([^"]+)"', toc)
        assert "related" in targets and "descriptors" in targets
        for target in targets:
            assert f'id="{target}"' in html, (url, target)
    # related codes come before the other sections in the page (a phone shows them near the top)
    html = page(web, "/code/cpt/64636")
    assert html.index('id="related"') < html.index('id="policies"') < html.index(
        'id="descriptors"')


# -- browsing ---------------------------------------------------------------------------------


def test_home_page_links_every_code_system_to_its_top_level(web) -> None:
    html = page(web, "/")
    table = re.search(r'<table class="systems">.*?</table>', html, re.S).group(0)
    keys = re.findall(r'href="/browse/([^"]+)"', table)
    assert {"cpt", "hcpcs", "icd10cm", "icd10pcs"} <= set(keys)
    assert any(k.startswith("body") for k in keys)
    for key in keys:
        page(web, f"/browse/{key}")


def test_icd10cm_top_level_is_its_chapters(web) -> None:
    html = page(web, "/browse/icd10cm")
    assert codes_in(html) == ["1", "4", "19"]
    assert "Endocrine, nutritional and metabolic diseases" in text_of(html)
    chapter = page(web, "/code/icd10cm/4")
    assert "E08-E13" in codes_in(section(chapter, "related"))


def test_cpt_sections_and_hcpcs_letters(web) -> None:
    html = page(web, "/browse/cpt")
    assert 'href="/browse/cpt/surgery"' in html and "Evaluation and Management" in html
    surgery = page(web, "/browse/cpt/surgery")
    assert {"64633", "64634", "64635", "64636"} <= set(codes_in(surgery))
    assert all(c.isdigit() and "10004" <= c <= "69990" for c in codes_in(surgery))  # no 1036F
    assert codes_in(page(web, "/browse/cpt/category-ii")) == ["1036F"]
    visits = codes_in(page(web, "/browse/cpt/evaluation-and-management"))
    assert "99213" in visits and all(c.startswith("99") for c in visits)
    assert set(codes_in(page(web, "/browse/cpt/modifiers"))) >= {"25", "50", "95"}
    assert "Category III" in text_of(page(web, "/browse/cpt"))
    letters = page(web, "/browse/hcpcs")
    assert 'href="/browse/hcpcs/j"' in letters
    assert "J1100" in codes_in(page(web, "/browse/hcpcs/j"))
    assert all(len(c) == 2 for c in codes_in(page(web, "/browse/hcpcs/modifiers")))
    page(web, "/browse/cpt/nothing", 404)
    page(web, "/browse/nothing", 404)


def test_a_code_system_nobody_described_lists_its_codes(web) -> None:
    key = next(k for k in re.findall(r'href="/browse/([^"]+)"', page(web, "/"))
               if k.startswith("body"))
    assert {"left-hand", "right-hand"} <= set(codes_in(page(web, f"/browse/{key}")))


# -- safe to serve under a strict Content-Security-Policy --------------------------------------


def test_pages_have_no_inline_script_or_style(web) -> None:
    urls = ["/", "/search?q=facet", "/search?q=diabetes&in=icd10cm", "/code/cpt/64636",
            "/code/icd10cm/E11.649", "/browse/cpt", "/browse/cpt/surgery", "/check",
            "/code/cpt/00000"]
    for url in urls:
        html = web.get(url).get_data(as_text=True)
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", html, re.I), url
    posted = web.post("/check", data={"order": "6463\nhello world"}).get_data(as_text=True)
    assert not re.search(r"<script|<style|\sstyle=", posted, re.I)


def test_templates_use_the_static_stylesheet_only() -> None:
    folder = Path(server.__file__).resolve().parent / "terminology" / "web" / "templates"
    for template in folder.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "style=" not in text and "<script" not in text, template.name
