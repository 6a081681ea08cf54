"""Which requests a page makes in a real browser: headless Chromium (Debian's, see
scripts/ensure-chromium.sh) with its DevTools performance log, which lists every request
the page starts, also those that fail because this machine has no network.

    with EgressBrowser() as browser:
        urls = browser.visit("http://127.0.0.1:8501/run", wait=lambda d: ...)
    assert leaving(urls) == []

Used by the Studio's end-to-end test and by the test for `report.html`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from selenium import webdriver

from tests.studio.browser import Page, chrome, requested_urls

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
LOCAL_SCHEMES = ("data", "blob", "about", "file", "chrome", "chrome-extension", "devtools")


def leaving(urls: list[str]) -> list[str]:
    """The URLs that would leave this machine (any host but the loopback one)."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES:
            continue
        if parts.hostname not in LOCAL_HOSTS:
            out.append(url)
    return out


class EgressBrowser:
    """Headless Chromium that records the URL of every request and WebSocket it opens."""

    def __init__(self, width: int = 1400, height: int = 1000):
        self.driver: webdriver.Chrome = chrome(width, height, log_network=True)
        self.page = Page(self.driver, timeout=45)
        self.urls: list[str] = []

    def visit(
        self, url: str, wait: Callable[[Page], Any] | None = None, settle: float = 2.0
    ) -> list[str]:
        """Open `url`, let it load (and `wait` for what it should show), then return every
        request URL seen since the last visit."""
        self.driver.get(url)
        if wait is not None:
            wait(self.page)
        time.sleep(settle)  # late requests: fonts, icons, lazy scripts
        return self.requests()

    def requests(self) -> list[str]:
        found = requested_urls(self.driver)
        self.urls.extend(found)
        return found

    def __enter__(self) -> EgressBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.driver.quit()
