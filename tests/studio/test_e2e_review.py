"""End to end, the review loop: the real `clinextract studio` on 127.0.0.1 in headless
Chromium. Open a finished run (the synthetic run folder, tests/synthetic_run.py: no
model), correct one value, accept another, accept the rest with the A key, reload: the
decisions are there; the browser asked nothing of any other host. Then export the gold
with `clinextract review export` and run again with `--examples-from` on the real
embedded model (1 report, --parallel 1, --max-tokens 48): the example pool holds the
reviewed record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By

from clinextract.review import RunReview
from clinextract.settings import Settings
from clinextract.store import RunFolder
from clinextract.studio import reviewing
from tests.studio.browser import Page, StudioServer, chrome, ensure_chromium, requested_urls
from tests.synthetic_run import ID, INPUT, SCHEMA, make_run

# the last step loads the bundled model: one report and a short answer budget (a cut
# answer is a record too), so it stays within minutes on a busy 2-core machine
pytestmark = [pytest.mark.model, pytest.mark.timeout(1200)]
WEB = ("http", "https", "ws", "wss")
RECORD = "Record (needs review first, then lowest confidence)"


def review_in_the_browser(server: StudioServer, page: Page, label: str, other: str) -> None:
    page.open(f"{server.url}/review", "Review")
    page.type("Reviewer", "anna")
    page.choose(RECORD, label)
    page.choose("onderzoek", other)
    page.click("Correct", nth=0)  # onderzoek: corrected
    page.click("Accept", nth=1)  # regio: accepted
    page.driver.find_element(By.TAG_NAME, "body").send_keys("a")  # the rest: accepted
    page.settle()


def test_review_export_and_learn_in_the_browser(tmp_path: Path, settings: Settings) -> None:
    ensure_chromium()
    folder = make_run(settings.output_dir, 6)
    review = RunReview(folder.path)
    item = next(i for i in reviewing.queue(review) if i.lowest is not None)
    pos = reviewing.queue(review).index(item)
    label = f"{pos + 1}. {item.label}"
    model = review.model_value(item.row, "onderzoek")
    other = next(v for v in ("CT", "MRI") if v != model)
    driver = chrome(1400, 1400, log_network=True)
    page = Page(driver, timeout=45)
    try:
        with StudioServer(tmp_path) as server:
            review_in_the_browser(server, page, label, other)
            page.wait_text("1 / 6 records reviewed by anna")
            driver.refresh()  # a new session: the decisions come from reviews.jsonl
            page.wait_text("Review")
            page.settle()
            page.type("Reviewer", "anna")
            page.wait_text("1 / 6 records reviewed by anna")
            page.choose(RECORD, label)
            page.wait_text(f"reviewed: {other}")
            assert "Traceback" not in driver.page_source
            # no request left this machine (chrome:// and data: URLs are the browser's own)
            web = [u for u in requested_urls(driver) if urlparse(u).scheme in WEB]
            assert {urlparse(u).hostname for u in web} == {"127.0.0.1"}, web
    finally:
        driver.quit()
    reviewed = RunReview(folder.path).reviewed("anna")
    assert reviewed[item.row]["onderzoek"] == other
    assert reviewed[item.row]["regio"] == review.model_value(item.row, "regio")
    assert len(reviewed[item.row]) == len(review.columns)

    gold = tmp_path / "gold.json"
    export = ["review", "export", folder.path, "-o", gold, "--reviewer", "anna"]
    assert clinextract(*export, cwd=tmp_path).returncode == 0
    (labels,) = json.loads(gold.read_text(encoding="utf-8"))
    assert labels[ID] == item.id and labels["onderzoek"] == other

    # run again on two other reports with the reviewed record as the example
    reports = [json.loads(line) for line in (settings.output_dir / "reports.jsonl").open()]
    rest = [r for r in reports if r[ID] != item.id][:1]
    (settings.data_dir / "again.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rest), encoding="utf-8"
    )
    (settings.task_dir / "parsers").mkdir(exist_ok=True)
    (settings.task_dir / "parsers" / "synthetic.json").write_text(json.dumps(SCHEMA))
    task = {
        "Description": "Extract the examination, region, nodule, findings and follow-up.",
        "Data_Path": "again.jsonl",
        "Input_Field": INPUT,
        "Id_Field": ID,
        "Parser_Format": "synthetic.json",
    }
    (settings.task_dir / "Task002_again.json").write_text(json.dumps(task))
    again = [
        *("run", "--task-id", "2", "--task-dir", settings.task_dir, "--data-dir"),
        *(settings.data_dir, "--output-dir", settings.output_dir, "--run-name", "again"),
        *("--examples-from", folder.path, "--num-examples", "1", "--parallel", "1"),
        *("--max-tokens", "48"),
    ]
    proc = clinextract(*again, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = RunFolder(settings.output_dir / "again" / "Task002_again-run0").manifest()
    (source,) = manifest["examples"]["sources"]
    assert source["ids"] == [item.id] and source["count"] == 1
    assert source["reviews"] == str(folder.reviews_path)
    assert manifest["examples"]["num_examples"] == 1 and manifest["counts"]["rows"] == 1


def clinextract(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "clinextract", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1100)
