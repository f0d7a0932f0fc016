"""The web page in a real browser: `txserver serve` on an empty store (so the first-start import
runs, the lay supplement included), driven by Debian's headless Chromium through Selenium and
/usr/bin/chromedriver. Skipped when Chromium is not installed (`.ci/run` installs it).

Nothing is downloaded: the driver and the browser are the system's, Selenium Manager is told to
stay offline, and Chromium resolves no host but the loopback address (TESTING.md's flags).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync", "--disable-quic", "--no-default-browser-check", "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--window-size=1280,1000",
)



@pytest.fixture(scope="module")
def server_url(live_server: str) -> str:
    return live_server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require(CHROMIUM.exists() and CHROMEDRIVER.exists(),
            "Debian chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
    os.environ.setdefault("SE_AVOID_STATS", "true")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _screenshot(driver: object, path: Path) -> None:
    """A full-page PNG (the window stretched to the page's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    driver.set_window_size(1280, min(max(int(height), 800), 6000))  # type: ignore[attr-defined]
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    driver.set_window_size(1280, 1000)  # type: ignore[attr-defined]


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}


def _as_phone(driver: object, height: int | None = None) -> None:
    """A phone's viewport (390 CSS pixels wide), through the DevTools protocol: a desktop
    window cannot be made that narrow."""
    metrics = dict(PHONE, height=height or PHONE["height"])
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]


def _phone_screenshot(driver: object, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    _as_phone(driver, min(max(int(height), PHONE["height"]), 8000))
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    _as_phone(driver)


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("TX_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def test_search_click_and_read_the_code_page(server_url: str, browser: object,
                                             tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 15)  # type: ignore[arg-type]
    shots = Path(os.environ.get("TX_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    driver.get(f"{server_url}/")  # type: ignore[attr-defined]
    assert driver.title.startswith("Search all medical codes")  # type: ignore[attr-defined]
    box = driver.find_element(By.CSS_SELECTOR, "input#q")  # type: ignore[attr-defined]
    label = driver.find_element(By.CSS_SELECTOR, "label[for=q]")  # type: ignore[attr-defined]
    assert label.text
    box.send_keys("facet")
    driver.find_element(By.CSS_SELECTOR, "form.search button").click()  # type: ignore[attr-defined]

    wait.until(ec.title_contains("facet"))
    heading = driver.find_element(By.TAG_NAME, "h1").text  # type: ignore[attr-defined]
    assert heading == "Results for “facet”"
    group = driver.find_element(By.ID, "in-cpt")  # type: ignore[attr-defined]
    codes = [e.text for e in group.find_elements(By.CSS_SELECTOR, "ul.hits .code")]
    assert {"64633", "64634", "64635", "64636"} <= set(codes)
    _screenshot(driver, shots / "search-facet.png")

    group.find_element(By.CSS_SELECTOR, "a[href$='/code/cpt/64636']").click()
    wait.until(ec.title_contains("64636"))
    assert driver.current_url.endswith("/code/cpt/64636")  # type: ignore[attr-defined]
    page = driver.find_element(By.TAG_NAME, "main")  # type: ignore[attr-defined]
    assert driver.find_element(By.TAG_NAME, "h1").text == "64636"  # type: ignore[attr-defined]
    descriptor = page.find_element(By.CSS_SELECTOR, ".descriptor").text
    assert "lumbar or sacral" in descriptor and "facet joint" in descriptor
    assert "Add-on code" in page.find_element(By.CSS_SELECTOR, ".badges").text
    assert page.find_element(By.CSS_SELECTOR, ".plain").text.startswith("In plain words:")
    headings = [h.text for h in page.find_elements(By.CSS_SELECTOR, ".lay-section h3")]
    assert headings == ["Summary", "Purpose", "Indications", "Preparation", "Procedure",
                        "Duration", "Setting", "Personnel", "Risks and complications",
                        "Benefits", "Recovery", "Alternatives", "Patient experience"]
    steps = page.find_elements(By.CSS_SELECTOR, "#procedure ol li")
    assert len(steps) >= 3
    related = page.find_element(By.CSS_SELECTOR, "section[aria-labelledby=related]").text
    assert "Primary procedure codes" in related and "64635" in related
    _screenshot(driver, shots / "code-cpt-64636.png")

    page.find_element(By.PARTIAL_LINK_TEXT, "$lookup").click()
    wait.until(ec.url_contains("/fhir/CodeSystem/$lookup"))
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert '"resourceType":"Parameters"' in body
    assert '"used-supplement"' in body and "patient-experience" in body

    driver.get(f"{server_url}/code/cpt/00000")  # type: ignore[attr-defined]
    assert driver.find_element(By.TAG_NAME, "h1").text == "Not found"  # type: ignore[attr-defined]


def test_search_paging_reaches_every_match(server_url: str, browser: object,
                                           tmp_path: Path) -> None:
    """A search with a typo over the full ICD-10-CM says what it searched for instead; then a
    plain search: words marked, counts per system, and the pages of one system together hold
    every match it counts."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 15)  # type: ignore[arg-type]
    shots = _shots(tmp_path)
    driver.get(f"{server_url}/")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "input#q").send_keys("diabetis")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form.search button").click()  # type: ignore[attr-defined]
    wait.until(ec.title_contains("diabetis"))
    correction = driver.find_element(By.CSS_SELECTOR, "p.correction")  # type: ignore[attr-defined]
    assert "Showing results for diabetes" in correction.text
    assert "E11" in driver.find_element(By.CSS_SELECTOR, "#in-icd10cm").text  # type: ignore[attr-defined]
    _screenshot(driver, shots / "search-typo.png")
    literal = correction.find_element(By.TAG_NAME, "a")
    assert literal.text == "diabetis"

    driver.get(f"{server_url}/")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "input#q").send_keys("diabetes")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form.search button").click()  # type: ignore[attr-defined]
    wait.until(ec.title_contains("diabetes"))
    marks = [m.text.casefold() for m in driver.find_elements(By.CSS_SELECTOR, "#in-icd10cm mark")]  # type: ignore[attr-defined]
    assert marks and set(marks) <= {"diabetes", "diabetic"}
    filters = driver.find_element(By.CSS_SELECTOR, "nav.filter").text  # type: ignore[attr-defined]
    assert "All code systems" in filters and "ICD-10-CM" in filters
    _screenshot(driver, shots / "search-diabetes.png")

    more = driver.find_element(By.PARTIAL_LINK_TEXT, "ICD-10-CM matches for")  # type: ignore[attr-defined]
    total = int(more.text.split()[1].replace(",", ""))
    assert total > 100  # past what one page of results ever showed
    more.click()
    wait.until(ec.url_contains("in=icd10cm"))
    first = driver.find_elements(By.CSS_SELECTOR, "#in-icd10cm ul.hits li")  # type: ignore[attr-defined]
    numbers = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav.pages a[aria-label]")]  # type: ignore[attr-defined]
    last = max(int(n) for n in numbers)
    assert (last - 1) * len(first) < total <= last * len(first)
    driver.find_element(By.CSS_SELECTOR, f"nav.pages a[aria-label='Page {last}']").click()  # type: ignore[attr-defined]
    wait.until(ec.url_contains(f"page={last}"))
    on_last = driver.find_elements(By.CSS_SELECTOR, "#in-icd10cm ul.hits li")  # type: ignore[attr-defined]
    assert (last - 1) * len(first) + len(on_last) == total
    count = driver.find_element(By.CSS_SELECTOR, "#in-icd10cm .count").text  # type: ignore[attr-defined]
    assert count.endswith(f"{(last - 1) * len(first) + 1:,}–{total:,} shown")
    assert not driver.find_elements(By.CSS_SELECTOR, "nav.pages a[rel=next]")  # type: ignore[attr-defined]
    _screenshot(driver, shots / "search-diabetes-last-page.png")


def test_order_check_says_why_in_words(server_url: str, browser: object,
                                       tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 15)  # type: ignore[arg-type]
    shots = _shots(tmp_path)

    def check(order: str) -> str:
        driver.get(f"{server_url}/check")  # type: ignore[attr-defined]
        box = driver.find_element(By.ID, "order")  # type: ignore[attr-defined]
        box.send_keys(order)
        driver.find_element(By.ID, "date").send_keys("2026-03-02")  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form.order button").click()  # type: ignore[attr-defined]
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "section.result")))
        return driver.find_element(By.CSS_SELECTOR, "section.result").text  # type: ignore[attr-defined]

    shown = check("hello world")
    assert shown.startswith("The order could not be read")
    assert "Line 1 ('hello world'): 'world' is not units" in shown
    assert "Every code is valid" not in shown
    _screenshot(driver, shots / "check-unreadable-line.png")

    shown = check("6463\n64635")
    assert "6463 is not a CPT, HCPCS or ICD-10 code." in shown
    assert "Did you mean" in shown
    # the FHIR side stays folded away: the visible text names no path, reference or URL
    for word in ("Claim.", "Patient/", "http", "coding["):
        assert word not in shown, word
    details = driver.find_element(By.CSS_SELECTOR, "details.technical")  # type: ignore[attr-defined]
    assert details.get_attribute("open") is None
    details.find_element(By.TAG_NAME, "summary").click()
    assert "Claim.item[0].productOrService.coding[0]" in details.text
    _screenshot(driver, shots / "check-unknown-code.png")


def test_code_page_on_a_phone(server_url: str, browser: object, tmp_path: Path) -> None:
    """E11.9 at 390 px: nothing wider than the screen, the path from chapter 4, jump links,
    related codes before the long sections, E11's notes with their codes as links."""
    from selenium.webdriver.common.by import By

    driver = browser
    shots = _shots(tmp_path)
    _as_phone(driver)
    try:
        driver.get(f"{server_url}/code/icd10cm/e119")  # type: ignore[attr-defined]
        assert driver.current_url.endswith("/code/icd10cm/E11.9")  # type: ignore[attr-defined]
        width = driver.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= PHONE["width"]
        crumbs = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "nav.crumbs li")]  # type: ignore[attr-defined]
        assert crumbs[-4:] == ["Chapter 4", "E08–E13", "E11", "E11.9"]
        toc = driver.find_element(By.CSS_SELECTOR, "nav.toc")  # type: ignore[attr-defined]
        assert toc.is_displayed() and toc.location["y"] < PHONE["height"]
        related = driver.find_element(By.ID, "related").location["y"]  # type: ignore[attr-defined]
        assert related < driver.find_element(By.ID, "descriptors").location["y"]  # type: ignore[attr-defined]
        notes = driver.find_element(By.CSS_SELECTOR, "section.notes")  # type: ignore[attr-defined]
        assert "From E11 (Type 2 diabetes mellitus), for every code below it:" in notes.text
        assert notes.find_elements(By.CSS_SELECTOR, "a[href$='/code/icd10cm/Z79.4']")
        toc.find_element(By.LINK_TEXT, "Coding notes").click()
        assert driver.current_url.endswith("#notes")  # type: ignore[attr-defined]
        top = driver.execute_script(  # type: ignore[attr-defined]
            "return document.getElementById('notes').getBoundingClientRect().top")
        assert -1 < top < PHONE["height"]  # scrolled to it (to within a pixel)
        _phone_screenshot(driver, shots / "code-icd10cm-E11.9-phone.png")
        driver.get(f"{server_url}/code/cpt/64636")  # type: ignore[attr-defined]
        width = driver.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= PHONE["width"]
        policies = driver.find_element(By.CSS_SELECTOR, "section.policies").text  # type: ignore[attr-defined]
        assert "Medically unlikely edit: 4 units per day (clinical)" in policies
        _phone_screenshot(driver, shots / "code-cpt-64636-phone.png")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # type: ignore[attr-defined]
