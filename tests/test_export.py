"""export.py on the synthetic run folder (tests/synthetic_run.py: no model, evidence at
known offsets): CSV/JSONL/Parquet items, Label Studio pre-annotations whose spans match
the report text, doccano [start, end, label] lines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from clinextract.errors import ConfigError
from clinextract.export import export_run, label_config_path
from tests.synthetic_run import ID, INPUT, make_run


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path, 8).path


def test_label_studio_one_prediction_per_record_spans_match(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ls.json"
    assert export_run(run, "label-studio", out) == 8
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 8
    records = {json.loads(line)["row"]: json.loads(line) for line in (run / "records.jsonl").open()}
    for task in tasks:
        (prediction,) = task["predictions"]
        text = task["data"]["text"]
        record = records[task["data"]["row"]]
        spans = [r for r in prediction["result"] if r["type"] == "labels"]
        for r in spans:
            v = r["value"]
            assert text[v["start"] : v["end"]] == v["text"]
        if record["status"] == "failure":
            assert not spans and "score" not in prediction  # no confidence measured
        else:
            assert spans
            assert prediction["score"] == min(record["confidence"].values())
    config = label_config_path(out).read_text(encoding="utf-8")
    assert '<Choices name="onderzoek"' in config and '<Number name="nodus.grootte_mm"' in config


def test_doccano_lines(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    export_run(run, "doccano", out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 8 and lines[0][ID] == "r00000"
    labels = {label for line in lines for _, _, label in line["label"]}
    assert {"onderzoek", "regio", "bevindingen"} <= labels
    for line in lines:
        for start, end, _ in line["label"]:
            assert 0 <= start < end <= len(line["text"])


def test_tables(run: Path, tmp_path: Path) -> None:
    export_run(run, "csv", tmp_path / "p.csv")
    frame = pd.read_csv(tmp_path / "p.csv")
    assert len(frame) == 8 and {ID, INPUT, "onderzoek", "status"} <= set(frame.columns)
    export_run(run, "jsonl", tmp_path / "p.jsonl")
    first = json.loads((tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["nodus"] == {
        "aanwezig": first["nodus"]["aanwezig"],
        "grootte_mm": first["nodus"]["grootte_mm"],
    }
    pytest.importorskip("pyarrow")
    export_run(run, "parquet", tmp_path / "p.parquet")
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == 8
    with pytest.raises(ConfigError, match="unknown export format"):
        export_run(run, "xml", tmp_path / "p.xml")
