"""End to end: the real `clinextract studio` on 127.0.0.1, driven in headless Chromium.

Open the app, build a two-field schema, save the task; then check that the four pages
load, that the saved task is what `clinextract run` reads, and that the browser made no
request that leaves 127.0.0.1 (DevTools' log of every request, tests/browser_egress.py).
Chromium and its driver come from Debian (scripts/ensure-chromium.sh installs them when
missing).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from clinextract.settings import Settings
from clinextract.studio.schema_builder import FieldSpec, schema_to_fields
from clinextract.task import load_task
from tests.browser_egress import EgressBrowser, leaving
from tests.studio.browser import Page, StudioServer, ensure_chromium
from tests.synthetic_run import make_run


@pytest.fixture(scope="session")
def chromium() -> None:
    ensure_chromium()


@pytest.fixture()
def egress(chromium):  # noqa: ANN001, ANN201
    with EgressBrowser() as recording:
        yield recording


def test_build_a_schema_and_save_a_task_in_the_browser(
    tmp_path: Path, settings: Settings, egress: EgressBrowser
) -> None:
    browser = egress.page
    with StudioServer(tmp_path) as server:
        browser.open(server.url, "Save task")
        browser.type("Field name", "side")
        browser.choose("Type", "choice")
        browser.type("Allowed values", "left, right")
        browser.click("Add field")
        browser.type("Field name", "size_mm", nth=1)
        browser.choose("Type", "number", nth=1)
        browser.type("Description", "Find the side and the size of the lesion.", nth=2)
        browser.type("Task name", "browser lesions")
        browser.click("Save task")
        browser.wait_text("Saved tasks/Task001_browser_lesions.json")

        pages = (
            ("run", "fields: side, size_mm"),  # the Run page offers the new task
            ("results", "No runs in"),
            ("evaluate", "No finished runs in"),
        )
        for path, text in pages:
            browser.open(f"{server.url}/{path}", text)
            assert "Traceback" not in browser.driver.page_source
        time.sleep(2)  # late requests: icons, fonts
        egress.requests()

    assert any(url.startswith(server.url) for url in egress.urls)  # the log does record
    assert leaving(egress.urls) == []  # nothing but 127.0.0.1: no fonts, icons, telemetry

    task = load_task(1, settings.model_copy(update={"task_dir": tmp_path / "tasks"}))
    assert task.description == "Find the side and the size of the lesion."
    assert schema_to_fields(task.schema) == [
        FieldSpec("side", "choice", choices=["left", "right"]),
        FieldSpec("size_mm", "number"),
    ]


def test_results_show_highlighted_evidence_in_the_browser(
    tmp_path: Path, settings: Settings, egress: EgressBrowser
) -> None:
    browser: Page = egress.page
    folder = make_run(settings.output_dir, 12)
    record = folder.records()[0]
    with StudioServer(tmp_path) as server:
        browser.open(f"{server.url}/results", "Needs review")
        marks = browser.wait(
            lambda: browser.driver.find_elements(By.CSS_SELECTOR, "mark[data-paths]"),
            "highlighted evidence",
        )
        # the marks survive the page's HTML sanitising: colour, paths and hover text
        by_path = {m.get_attribute("data-paths"): m for m in marks}
        first = by_path["onderzoek"]
        assert first.text == record["evidence"]["onderzoek"][0]["text"]
        assert first.get_attribute("title").startswith(
            f"onderzoek = {record['fields']['onderzoek']} · confidence "
        )
        assert "background" in (first.get_attribute("style") or "")
        assert "Traceback" not in browser.driver.page_source
        egress.requests()
    assert leaving(egress.urls) == []
