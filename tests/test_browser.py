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
