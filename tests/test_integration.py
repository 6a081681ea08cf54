"""End to end with the real bundled model (small, local): the CLI and the Python API.

These load Gemma 3 270M through llama.cpp; each case keeps to a few rows so the whole
file stays within a few minutes on two cores.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clinextract.values import leaves, top_field
from tests.paths import EXAMPLES

pytestmark = pytest.mark.model

TASK = EXAMPLES / "tasks" / "Task001_dutch_radiology.json"


def example_subset(tmp_path: Path, n: int) -> Path:
    """The bundled example's first n reports, in a data folder of their own."""
    data = tmp_path / "data"
    data.mkdir()
    with (EXAMPLES / "data" / "radiology_reports.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with (data / "radiology_reports.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[: n + 1])
    (data / "radiology_examples.json").write_text(
        (EXAMPLES / "data" / "radiology_examples.json").read_text(encoding="utf-8")
    )
    return data


def assert_grounded(rec: dict, text: str, fields: tuple[str, ...]) -> None:
    """Every leaf value has evidence (spans that are the report's own words) and a
    confidence in [0, 1]; needs_review is a boolean."""
    paths = [p for p, _, _ in leaves({}, {f: rec[f] for f in fields})]
    assert paths and set(paths) <= set(rec["evidence"])
    for path in paths:
        if path in rec["field_errors"]:
            continue
        assert 0.0 <= rec["confidence"][path] <= 1.0, path
        for entry in rec["evidence"][path]:
            assert entry["match"] in ("exact", "fuzzy", "none")
            if entry["match"] != "none":
                assert text[entry["start"] : entry["end"]] == entry["text"]
    assert isinstance(rec["needs_review"], bool)


def run_cli(args, cwd, env, **kw):
    return subprocess.run(
        ["clinextract", "run", str(TASK), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


def input_rows(data: Path) -> list[dict]:
    with (data / "radiology_reports.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def predictions(tmp_path: Path, run_name: str = "run") -> list[dict]:
    path = tmp_path / "out" / run_name / "Task001_dutch_radiology-run0"
    return json.loads((path / "nlp-predictions-dataset.json").read_text(encoding="utf-8"))


FIELDS = (
    "onderzoek",
    "nodus_aanwezig",
    "grootste_nodus_mm",
    "follow_up_geadviseerd",
    "bevindingen",
)


def test_example_end_to_end_with_few_shot(tmp_path, cli_env):
    """No example options: the task's Example_Path is used (auto), as a run given the
    same number explicitly."""
    data = example_subset(tmp_path, 8)
    args = ["--data-dir", data, "--example-dir", data, "--output-dir", "out", "--parallel", "4"]
    proc = run_cli(args, tmp_path, cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "8 rows" in proc.stdout and "docs/s" in proc.stdout
    examples = data / "radiology_examples.json"
    assert f"3 examples per report from {examples}" in proc.stdout
    out, rows = predictions(tmp_path), input_rows(data)
    assert len(out) == len(rows)
    allowed = {"CT thorax", "X-thorax", "echo abdomen", "MRI hersenen", "CT abdomen"}
    for row, rec in zip(rows, out, strict=True):
        assert {k: rec[k] for k in row} == row  # input columns identical ("007" stays)
        assert rec["status"] in ("success", "partial", "failure")
        if rec["status"] == "success":
            assert rec["onderzoek"] in allowed and isinstance(rec["nodus_aanwezig"], bool)
            assert isinstance(rec["bevindingen"], list) and rec["error"] is None
        elif rec["status"] == "partial":
            assert rec["error"] and rec["field_errors"]
            assert all(
                rec[top_field(p)] is None or "[" in p or "." in p for p in rec["field_errors"]
            )
        else:
            assert rec["error"] and all(rec[f] is None for f in FIELDS)
        if rec["status"] != "failure":
            assert_grounded(rec, row["verslag"], FIELDS)
    assert sum(r["status"] == "success" for r in out) >= 6  # few-shot keeps it on track
    manifest = json.loads(
        (tmp_path / "out/run/Task001_dutch_radiology-run0/manifest.json").read_text()
    )
    assert manifest["status"] == "complete"
    assert manifest["engine"]["model"] == "gemma-3-270m-q4_k_m.gguf"
    assert len(manifest["engine"]["model_sha256"]) == 64
    assert manifest["examples"]["num_examples"] == 3
    assert manifest["examples"]["source"] == str(examples)
    # the count given explicitly is the same run: nothing is recomputed, same answers
    again = run_cli([*args, "--num-examples", "3"], tmp_path, cli_env)
    assert again.returncode == 0 and "8 reused" in again.stdout
    assert predictions(tmp_path) == out


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path, cli_env):
    data = example_subset(tmp_path, 12)
    args = [
        "--data-dir",
        data,
        "--example-dir",
        data,
        "--output-dir",
        "out",
        "--num-examples",
        "1",
        "--parallel",
        "2",
    ]
    records = tmp_path / "out/run/Task001_dutch_radiology-run0/records.jsonl"
    proc = subprocess.Popen(
        ["clinextract", "run", str(TASK), *args],
        cwd=tmp_path,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if records.exists() and records.read_text().count("\n") >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [json.loads(x) for x in records.read_text().splitlines() if x.endswith("}")]
    assert 3 <= len(before) < 12
    assert not (
        tmp_path / "out/run/Task001_dutch_radiology-run0/nlp-predictions-dataset.json"
    ).exists()

    done = run_cli(args, tmp_path, cli_env)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} reused" in done.stdout
    after = [json.loads(x) for x in records.read_text().splitlines()]
    assert sorted(r["row"] for r in after) == list(range(12))  # each row exactly once
    assert after[: len(before)] == before  # finished records untouched
    out = predictions(tmp_path)
    assert [r["uid"] for r in out] == [r["uid"] for r in input_rows(data)]


def test_tiny_token_limit_gives_nulls_with_errors(tmp_path, cli_env):
    data = example_subset(tmp_path, 3)
    args = ["--data-dir", data, "--output-dir", "out", "--max-tokens", "3", "--parallel", "2"]
    proc = run_cli([*args, "--num-examples", "0"], tmp_path, cli_env)
    assert proc.returncode == 0  # failed extractions are data, not a crash
    out = predictions(tmp_path)
    assert [r["status"] for r in out] == ["failure"] * 3
    for rec in out:
        assert "token limit (6 tokens)" in rec["error"]  # one retry with twice the budget
        assert all(rec[f] is None for f in FIELDS)
    lines = (tmp_path / "out/run/Task001_dutch_radiology-run0/records.jsonl").read_text()
    assert all(json.loads(x)["raw_output"] for x in lines.splitlines())


NESTED_TASK = {
    "Description": "Beschrijf elke laesie in het verslag.",
    "Data_Path": "cases.jsonl",
    "Input_Field": "verslag tekst",
    "Id_Field": "patiënt-id",
    "Parser_Format": {
        "type": "object",
        "required": ["laesies", "conclusie"],
        "properties": {
            "laesies": {
                "type": "array",
                "maxItems": 4,
                "items": {
                    "type": "object",
                    "required": ["orgaan", "grootte_mm"],
                    "properties": {
                        "orgaan": {"type": "string", "maxLength": 40},
                        "grootte_mm": {"type": ["number", "null"], "minimum": 0, "maximum": 500},
                    },
                },
            },
            "conclusie": {"enum": ["benigne", "maligne", "onzeker"]},
        },
    },
}


def test_unseen_task_nested_schema_awkward_columns_and_string_ids(tmp_path, cli_env):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "Task042_nested.json").write_text(json.dumps(NESTED_TASK))
    rows = [
        {
            "patiënt-id": "007",
            "verslag tekst": "CT abdomen: levercyste 12 mm, benigne.",
            "datum": "2024-02-30",
        },
        {"patiënt-id": "0008", "verslag tekst": "", "datum": None},
        {
            "patiënt-id": "010",
            "verslag tekst": "MRI: nierlaesie 3,5 cm, verdacht.",
            "datum": "03-02-2024",
        },
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    proc = subprocess.run(
        ["clinextract", "run", "--task-id", "42", "--parallel", "2", "--max-tokens", "100"],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(
        (tmp_path / "output/run/Task042_nested-run0/nlp-predictions-dataset.json").read_text(
            encoding="utf-8"
        )
    )
    assert [{k: r[k] for k in rows[0]} for r in out] == rows
    assert out[1]["status"] == "failure" and out[1]["error"] == "empty input text"
    for rec, row in ((out[0], rows[0]), (out[2], rows[2])):
        if rec["status"] == "success":
            assert rec["conclusie"] in ("benigne", "maligne", "onzeker")
            assert all(set(les) == {"orgaan", "grootte_mm"} for les in rec["laesies"])
        if rec["status"] == "failure":
            assert rec["error"] and rec["laesies"] is None and rec["conclusie"] is None
        else:
            assert_grounded(rec, row["verslag tekst"], ("laesies", "conclusie"))


def test_python_api_extract_returns_a_dataframe_in_order(tmp_path):
    code = """
import json
from pydantic import BaseModel, Field
from clinextract import extract

class Out(BaseModel):
    onderzoek: str = Field(max_length=30, description="soort onderzoek")
    afwijkend: bool

texts = ["CT thorax: geen afwijkingen.", "", "MRI knie: meniscusscheur mediaal."]
df = extract(texts, Out, description="Lees het verslag.", parallel=2, max_tokens=60)
print(json.dumps(df.to_dict(orient="records")))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["text"] for r in records] == [
        "CT thorax: geen afwijkingen.",
        "",
        "MRI knie: meniscusscheur mediaal.",
    ]
    assert records[1]["status"] == "failure" and records[1]["onderzoek"] is None
    assert {"onderzoek", "afwijkend", "status", "error"} <= set(records[0])
    assert not list(tmp_path.iterdir())  # the temporary run folder is cleaned up
