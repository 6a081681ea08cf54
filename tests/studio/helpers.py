"""Shared set-up for the Studio tests: a workspace folder and, for the pages that read
run folders, a run made by the real pipeline with the FakeEngine from fakes.py (a fake,
so the run's answers - including a failure with raw output - are known exactly)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from clinextract.engines.base import Completion, Request
from clinextract.pipeline import run_task
from clinextract.settings import Settings
from clinextract.studio.workspace import ENV_SETTINGS, settings_env
from clinextract.task import load_task
from tests.fakes import FakeEngine, ok
from tests.paths import ROOT

APP = ROOT / "src" / "clinextract" / "studio" / "app.py"

REPORTS = [
    {"id": "r1", "text": "CT thorax: nodule of 6 mm in the right upper lobe.", "age": "61"},
    {"id": "r2", "text": "Left lung: lesion of 12 mm, spiculated.", "age": "55"},
    {"id": "r3", "text": "No abnormalities. Left kidney normal.", "age": "70"},
    {"id": "r4", "text": "Right breast: mass of 30 mm.", "age": "48"},
]
SCHEMA = {
    "type": "object",
    "properties": {
        "side": {"type": "string", "enum": ["left", "right", "none"]},
        "size_mm": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    },
    "required": ["side"],
}
# the fake model's answers, by report: r4's answer is not valid JSON, twice
ANSWERS = {
    "r1": '{"side":"right","size_mm":6}',
    "r2": '{"side":"left","size_mm":12}',
    "r3": '{"side":"left","size_mm":null}',
    "r4": "the mass is on the right",
}


def make_workspace(root: Path, rows: list[dict[str, str]] | None = None) -> Settings:
    """tasks/, data/reports.csv, output/ under `root`; Settings pointing there."""
    for name in ("tasks", "data", "output"):
        (root / name).mkdir(parents=True, exist_ok=True)
    rows = REPORTS if rows is None else rows
    with (root / "data" / "reports.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Settings(
        task_dir=root / "tasks",
        data_dir=root / "data",
        example_dir=root / "data",
        output_dir=root / "output",
    )


def use_workspace(monkeypatch, settings: Settings) -> None:  # noqa: ANN001 - pytest fixture
    monkeypatch.setenv(ENV_SETTINGS, settings_env(settings))


def write_task(
    settings: Settings,
    number: int = 1,
    name: str = "lesions",
    schema: dict | None = None,
    data: str = "reports.csv",
) -> Path:
    parsers = settings.task_dir / "parsers"
    parsers.mkdir(parents=True, exist_ok=True)
    file_name = f"Task{number:03d}_{name}.json"
    (parsers / file_name).write_text(json.dumps(schema or SCHEMA), encoding="utf-8")
    path = settings.task_dir / file_name
    path.write_text(
        json.dumps(
            {
                "Description": "Find the side and size of the lesion.",
                "Data_Path": data,
                "Input_Field": "text",
                "Parser_Format": file_name,
                "Id_Field": "id",
            }
        ),
        encoding="utf-8",
    )
    return path


def fake_answer(request: Request) -> Completion:
    report = request.messages[-1]["content"]
    for row in REPORTS:
        if row["text"] in report:
            return ok(ANSWERS[row["id"]])
    # a repair request quotes the invalid answer, not the report
    return ok("still not JSON")


def fake_run(settings: Settings, run_name: str = "fake", should_stop=None) -> Path:  # noqa: ANN001
    """Run Task001 through the real pipeline with the fake engine; returns the run folder."""
    task_path = write_task(settings)
    run_settings = settings.model_copy(update={"run_name": run_name})
    task = load_task(task_path, run_settings)
    engine = FakeEngine(fake_answer, capacity=1, threaded=False)
    try:
        summaries = run_task(task, run_settings, engine=engine, should_stop=should_stop)
        return summaries[-1].run_dir
    finally:
        engine.close()
