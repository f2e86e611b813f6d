"""The dashboard in headless Chromium, on the data of the end-to-end replay."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT = ROOT / "tests" / "artifacts" / "dashboard.png"
CHART_IDS = ("chart-searches", "chart-rates", "chart-top-queries", "chart-zero-queries", "chart-funnel",
             "chart-top-products")


@pytest.fixture()
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are missing: run scripts/setup.sh --browser")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1300",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_dashboard_renders_charts_with_data(live_stack, live_token, replayed, browser):
    browser.get(f"{live_stack.base_url}/dashboard#key={live_token}")

    deadline = time.monotonic() + 60
    while browser.execute_script("return document.body.dataset.loaded || ''") == "" and time.monotonic() < deadline:
        time.sleep(0.5)
    status = browser.find_element("id", "status").text
    assert browser.execute_script("return document.body.dataset.loaded") == "true", status

    # The key moved from the address bar into the browser's storage.
    assert "key=" not in browser.current_url

    searches = browser.find_element("id", "kpi-searches").text
    assert searches.replace(",", "").isdigit()
    assert int(searches.replace(",", "")) > 0

    for chart_id in CHART_IDS:
        points = browser.execute_script(
            "const chart = echarts.getInstanceByDom(document.getElementById(arguments[0]));"
            "if (!chart) { return -1; }"
            "return chart.getOption().series.reduce((n, s) => n + s.data.filter((v) => "
            "(v && typeof v === 'object' ? v.value : v) > 0).length, 0);", chart_id)
        assert points > 0, chart_id

    # ECharts animates for about a second after drawing.
    time.sleep(1.5)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
