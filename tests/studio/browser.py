"""Drive the real Studio in headless Chromium (Debian's chromium + chromium-driver).

Used by the end-to-end test and by scripts/studio_screenshots.py. The server is the real
`clinextract studio` command on 127.0.0.1; the browser gets a fresh profile and every
switch that keeps it from reaching out (this machine has no network).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.paths import ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM_SWITCHES = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def ensure_chromium() -> None:
    """Install chromium and chromium-driver if missing (scripts/ensure-chromium.sh)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-chromium.sh")], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StudioServer:
    """`clinextract studio` in a workspace folder, on a free loopback port."""

    def __init__(self, workspace: Path, port: int | None = None):
        self.workspace = workspace
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workspace / "studio.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> StudioServer:
        exe = Path(sys.executable).parent / "clinextract"
        args = [
            str(exe),
            "studio",
            "--port",
            str(self.port),
            "--task-dir",
            "tasks",
            "--data-dir",
            "data",
            "--example-dir",
            "data",
            "--output-dir",
            "output",
        ]
        self.process = subprocess.Popen(
            args, cwd=self.workspace, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Studio exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=2).text == "ok":
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the Studio did not answer in 60 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def chrome(width: int = 1400, height: int = 1000, log_network: bool = False) -> webdriver.Chrome:
    """Headless Chromium; with `log_network`, every request it makes is kept in its
    performance log (read with `requested_urls`) and its console in the browser log."""
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager look for downloads
    options = Options()
    options.binary_location = str(CHROMIUM)
    for switch in CHROMIUM_SWITCHES:
        options.add_argument(switch)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='clinextract-chrome-')}")
    options.add_argument(f"--window-size={width},{height}")
    if log_network:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """The URLs the browser asked for since the last call (Chromium's performance log:
    every Network.requestWillBeSent and WebSocket opened, whether or not it got through)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(params["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(params["url"])
    return urls


class Page:
    """Small helpers over Streamlit's DOM (labels are aria-labels on the inputs)."""

    def __init__(self, driver: webdriver.Chrome, timeout: float = 30):
        self.driver = driver
        self.timeout = timeout

    def open(self, url: str, wait_text: str) -> None:
        self.driver.get(url)
        self.wait_text(wait_text)
        self.settle()

    def wait(self, find, what: str):  # noqa: ANN001 - a callable returning a value or None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                found = find()
            except (StaleElementReferenceException, WebDriverException):
                found = None
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_text(self, text: str) -> WebElement:
        xpath = f"//*[contains(normalize-space(text()), {xpath_literal(text)})]"
        return self.wait(
            lambda: self._nth(self._visible(self.driver.find_elements(By.XPATH, xpath)), 0),
            f"text {text!r}",
        )

    def settle(self, quiet: float = 0.8) -> None:
        """Wait until Streamlit has finished rerunning (no 'Running...' status)."""

        def idle() -> bool:
            running = self.driver.find_elements(By.CSS_SELECTOR, "[data-testid=stStatusWidget]")
            return not any("Running" in (el.text or "") for el in running)

        time.sleep(0.3)
        self.wait(idle, "the app to finish running")
        time.sleep(quiet)

    def inputs(self, label: str) -> list[WebElement]:
        return self._visible(
            self.driver.find_elements(
                By.XPATH,
                f"//input[@aria-label={xpath_literal(label)}]"
                f" | //textarea[@aria-label={xpath_literal(label)}]",
            )
        )

    def type(self, label: str, text: str, nth: int = 0) -> None:
        field = self.wait(lambda: self._nth(self.inputs(label), nth), f"input {label!r}")
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(text)
        if field.tag_name == "textarea":
            field.send_keys(Keys.CONTROL, Keys.ENTER)
        else:
            field.send_keys(Keys.ENTER)
        self.settle()

    def choose(self, label: str, option: str, nth: int = 0) -> None:
        box = self.wait(lambda: self._nth(self.inputs(label), nth), f"selectbox {label!r}")
        box.click()
        xpath = f"//*[@role='option'][normalize-space(.)={xpath_literal(option)}]"
        self.wait(
            lambda: self._nth(self._visible(self.driver.find_elements(By.XPATH, xpath)), 0),
            f"option {option!r}",
        ).click()
        self.settle()

    def buttons(self, text: str) -> list[WebElement]:
        """Buttons by their label (an icon's ligature name comes first in .text)."""
        found = self.driver.find_elements(By.TAG_NAME, "button")
        return [b for b in self._visible(found) if (b.text or "").split("\n")[-1] == text]

    def click(self, text: str, nth: int = 0) -> None:
        self.wait(lambda: self._nth(self.buttons(text), nth), f"button {text!r}").click()
        self.settle()

    def screenshot(self, path: Path) -> None:
        """The whole page: the window is made as tall as Streamlit's content first."""
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, 1000)
        self.settle(quiet=0.5)
        height = self.driver.execute_script(
            "const m = document.querySelector('[data-testid=stMain]');"
            "return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight);"
        )
        self.driver.set_window_size(width, min(int(height) + 120, 4000))
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        self.settle(quiet=1.2)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    @staticmethod
    def _visible(elements: list[WebElement]) -> list[WebElement]:
        return [el for el in elements if el.is_displayed()]

    @staticmethod
    def _nth(elements: list[WebElement], nth: int) -> WebElement | None:
        return elements[nth] if len(elements) > nth else None


def xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    parts = text.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"
