"""A real headless Chromium (Debian's chromium and chromium-driver) driven by Selenium, for the dashboard tests."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Everything that would make the browser reach the internet or keep state between runs is off.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "images"


def available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


def skip_without_chromium() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not available(),
                              reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@contextmanager
def chromium(window: str = "1400,1000") -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="nestor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag if not flag.startswith("--window-size") else f"--window-size={window}")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """The page's JavaScript errors (and failed loads) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.1)


def open_page(driver: Any, url: str, timeout: float = 90.0) -> None:
    """Loads ``url`` and waits for its scripts to say they rendered (body[data-rendered])."""
    driver.get(url)
    try:
        wait_until(lambda: driver.execute_script("return document.body.dataset.rendered !== undefined"
                                                 " || !document.querySelector('script[src$=\"study.js\"],"
                                                 " script[src$=\"trial.js\"]')"), timeout, f"render of {url}")
    except AssertionError as e:
        raise AssertionError(f"{e}; the page's console: {driver.get_log('browser')}") from None


def screenshot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    return path
