"""End to end: the real `clinextract studio` on 127.0.0.1, driven in headless Chromium.

Open the app, build a two-field schema, save the task; then check that the four pages
load and that the saved task is what `clinextract run` reads. Chromium and its driver
come from Debian (scripts/ensure-chromium.sh installs them when missing).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from clinextract.settings import Settings
from clinextract.studio.schema_builder import FieldSpec, schema_to_fields
from clinextract.task import load_task
from tests.studio.browser import Page, StudioServer, chrome, ensure_chromium
from tests.synthetic_run import make_run


@pytest.fixture(scope="session")
def chromium() -> None:
    ensure_chromium()


@pytest.fixture()
def browser(chromium):  # noqa: ANN001, ANN201
    driver = chrome()
    yield Page(driver, timeout=45)
    driver.quit()


def test_build_a_schema_and_save_a_task_in_the_browser(
    tmp_path: Path, settings: Settings, browser: Page
) -> None:
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

    task = load_task(1, settings.model_copy(update={"task_dir": tmp_path / "tasks"}))
    assert task.description == "Find the side and the size of the lesion."
    assert schema_to_fields(task.schema) == [
        FieldSpec("side", "choice", choices=["left", "right"]),
        FieldSpec("size_mm", "number"),
    ]


def test_results_show_highlighted_evidence_in_the_browser(
    tmp_path: Path, settings: Settings, browser: Page
) -> None:
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
