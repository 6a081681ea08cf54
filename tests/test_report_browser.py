"""report.html in headless Chromium: it opens from the file with no request leaving the
machine, shows each value's evidence highlighted where the run says it is, and its
filters, sort and search work over the data. Checked against the run folder's own
files (tests/synthetic_run.py), never against numbers written here."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from clinextract.highlight import value_text
from clinextract.report import write_report
from clinextract.store import RunFolder
from clinextract.values import leaves as value_leaves
from tests.studio.browser import chrome, ensure_chromium, requested_urls
from tests.synthetic_run import INPUT, TRICKY, make_run

N = 60


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    folder = make_run(tmp_path_factory.mktemp("report-browser"), N)
    write_report(folder)
    return folder


@pytest.fixture(scope="module")
def driver():  # noqa: ANN201
    ensure_chromium()
    browser = chrome(1400, 1000, log_network=True)
    yield browser
    browser.quit()


def shown(driver) -> list[int]:  # noqa: ANN001
    """Rows of the record cards on the page (read in one go: the page may be redrawing)."""
    script = "return [...document.querySelectorAll('article.rec')].map(a => +a.dataset.row)"
    return driver.execute_script(script)


def count_line(driver) -> str:  # noqa: ANN001
    return driver.find_element(By.ID, "count").text


def test_the_report_opens_offline_and_shows_the_highlights(run: RunFolder, driver) -> None:  # noqa: ANN001
    # the log sees requests: a page asking for a loopback image shows up in it
    probe = run.path.parent / "probe.html"
    probe.write_text('<img src="http://127.0.0.1:9/probe.png">', encoding="utf-8")
    driver.get(probe.as_uri())
    assert "http://127.0.0.1:9/probe.png" in requested_urls(driver)
    driver.get_log("browser")  # its failed load, read and forgotten

    driver.get(run.report_path.as_uri())
    assert count_line(driver) == f"{N} of {N} records · page 1 of 3"
    assert requested_urls(driver) == [run.report_path.as_uri()]  # the file itself, nothing else
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no script error, no blocked request
    assert len(driver.find_elements(By.TAG_NAME, "script")) == 2

    records, items = run.records(), run.predictions()
    for row in (2, 3):  # row 3 starts with markup and an emoji, and must stay text
        card = driver.find_element(By.CSS_SELECTOR, f'article[data-row="{row}"]')
        text = card.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent")
        assert text == items[row][INPUT]
        marks = card.find_elements(By.TAG_NAME, "mark")
        values = {path: value for path, value, _ in value_leaves({}, records[row]["fields"])}
        leaves = [
            tr.find_elements(By.TAG_NAME, "td")[0].text
            for tr in card.find_elements(By.CSS_SELECTOR, "tr.leaf")
        ]
        for path, entries in records[row]["evidence"].items():
            n = str(leaves.index(path))
            covering = [m for m in marks if n in m.get_attribute("data-leaves").split()]
            quoted = [e["text"] for e in entries if e["match"] != "none"]
            assert "".join(m.get_attribute("textContent") for m in covering) == "".join(quoted)
            value = value_text(values[path])
            for mark in covering:  # hover: field, value, confidence; the field's colour
                assert f"{path} = {value}\nconfidence " in mark.get_attribute("title")
                assert mark.get_attribute("style").startswith("background")
    assert (
        TRICKY.split("\n")[0] in driver.find_element(By.CSS_SELECTOR, 'article[data-row="3"]').text
    )


def test_filters_sort_and_search_work_over_the_data(run: RunFolder, driver) -> None:  # noqa: ANN001
    driver.get(run.report_path.as_uri())
    records = run.records()
    review = [r for r, rec in sorted(records.items()) if rec["needs_review"]]
    driver.find_element(By.ID, "review").click()
    assert count_line(driver).startswith(f"{len(review)} of {N} records")
    assert shown(driver) == review[:25]
    cards = driver.find_elements(By.CSS_SELECTOR, "article.rec")
    assert all("needs review" in c.text for c in cards)
    driver.find_element(By.ID, "review").click()

    failures = [r for r, rec in sorted(records.items()) if rec["status"] == "failure"]
    Select(driver.find_element(By.ID, "status")).select_by_value("failure")
    assert shown(driver) == failures
    card = driver.find_elements(By.CSS_SELECTOR, "article.rec")[0]
    assert records[failures[0]]["error"] in card.text
    assert records[failures[0]]["raw_output"] in card.text  # open for a failure
    Select(driver.find_element(By.ID, "status")).select_by_value("")

    Select(driver.find_element(By.ID, "sort")).select_by_value("conf")
    lowest = {r: min(rec["confidence"].values()) for r, rec in records.items() if rec["confidence"]}
    assert shown(driver)[0] == min(lowest, key=lambda r: (lowest[r], r))
    Select(driver.find_element(By.ID, "sort")).select_by_value("row")

    field = Select(driver.find_element(By.ID, "field"))
    field.select_by_visible_text("onderzoek")
    Select(driver.find_element(By.ID, "value")).select_by_visible_text("MRI")
    mri = [r for r, rec in sorted(records.items()) if rec["fields"]["onderzoek"] == "MRI"]
    assert count_line(driver).startswith(f"{len(mri)} of {N} records")
    field.select_by_value("-1")

    search = driver.find_element(By.ID, "q")
    search.send_keys(records[42]["id"])
    for _ in range(50):  # the search waits for typing to pause
        if shown(driver) == [42]:
            break
        time.sleep(0.1)
    assert shown(driver) == [42]

    # clicking a value in the table scrolls to its evidence and flashes it
    row = driver.find_element(By.CSS_SELECTOR, "article.rec tr.leaf")
    row.click()
    assert driver.find_elements(By.CSS_SELECTOR, "article.rec mark.flash")
    assert requested_urls(driver) == [run.report_path.as_uri()]
