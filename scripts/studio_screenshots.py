"""Screenshots of the four Studio pages, taken from the real running app (docs/studio-*.png).

    .venv/bin/python scripts/studio_screenshots.py [--rows 6] [--out docs]

Copies the bundled example (examples/tasks, examples/data) into a temporary workspace,
starts `clinextract studio` on 127.0.0.1, and in headless Chromium: opens the example
task on the Task page, runs its first rows with the bundled model on the Run page,
shows the results, and evaluates them against examples/data/radiology_gold.csv.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.studio.browser import Page, StudioServer, chrome, ensure_chromium  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6, help="rows of the example to run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    ensure_chromium()
    workspace = Path(tempfile.mkdtemp(prefix="clinextract-studio-shots-"))
    shutil.copytree(ROOT / "examples" / "tasks", workspace / "tasks")
    shutil.copytree(ROOT / "examples" / "data", workspace / "data")
    driver = chrome(width=1400, height=1000)
    page = Page(driver, timeout=60)
    try:
        with StudioServer(workspace) as server:
            # Task: the bundled example opened in the builder
            page.open(server.url, "Save task")
            page.choose("Open a task", "Task001_dutch_radiology.json")
            page.wait_text("saving writes it as JSON")
            page.screenshot(args.out / "studio-task.png")

            # Run: the first rows with the bundled model, caught while it runs
            page.open(f"{server.url}/run", "Start")
            page.type("Only the first N rows (0 = all)", str(args.rows))
            page.type("Parallel slots", "4")
            page.click("Start")
            page.wait_text(": running")
            time.sleep(2)
            page.screenshot(args.out / "studio-run.png")
            page.timeout = 900
            page.wait_text("Finished:")
            page.timeout = 60

            # Results: counts, filters, a record beside its report
            page.open(f"{server.url}/results", "Record")
            page.screenshot(args.out / "studio-results.png")

            # Evaluate: against the example's gold labels
            page.open(f"{server.url}/evaluate", "Gold file")
            page.choose("Gold file in the data folder", "radiology_gold.csv")
            page.wait_text("rows matched by id")
            page.screenshot(args.out / "studio-evaluate.png")
    finally:
        driver.quit()
        shutil.rmtree(workspace, ignore_errors=True)
    for name in ("task", "run", "results", "evaluate"):
        print(args.out / f"studio-{name}.png")


if __name__ == "__main__":
    main()
