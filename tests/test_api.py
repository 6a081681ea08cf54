"""The Python API with a fake engine (units; the real model is in test_integration.py):
what `extract` accepts as data and schema, and what it returns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel, Field

from clinextract.api import as_schema, as_source, extract
from clinextract.errors import ConfigError
from clinextract.schema import OutputSchema
from tests.fakes import FakeEngine, ok, report_of


class Size(BaseModel):
    size_mm: int | None = Field(None, ge=0, le=300, description="size in mm")


def first_number(request) -> object:
    words = [w for w in report_of(request).split() if w.isdigit()]
    return ok(json.dumps({"size_mm": int(words[0]) if words else None}))


def test_a_str_is_one_report_text_and_a_path_is_a_file(tmp_path):
    source = as_source("CT thorax: nodus 6 mm", "text", None)
    assert [(r.index, r.id, r.text) for r in source] == [(0, "0", "CT thorax: nodus 6 mm")]
    with pytest.raises(ConfigError, match="data file not found"):
        as_source(tmp_path / "missing.csv", "text", None)
    csv = tmp_path / "reports.csv"
    csv.write_text("uid,text\n007,nodus 4 mm\n", encoding="utf-8")
    assert [(r.id, r.text) for r in as_source(csv, "text", None)] == [("007", "nodus 4 mm")]


def test_lists_of_texts_or_dicts_and_dataframes_keep_their_columns():
    texts = as_source(["a 1", "b 2"], "text", None)
    assert [r.columns for r in texts] == [{"text": "a 1"}, {"text": "b 2"}]
    dicts = as_source([{"id": 7, "verslag": "x"}], "verslag", None)
    assert [(r.id, r.columns) for r in dicts] == [("7", {"id": 7, "verslag": "x"})]
    frame = as_source(pd.DataFrame({"uid": ["001"], "text": ["y"]}), "text", None)
    assert [(r.id, r.text) for r in frame] == [("001", "y")]


def test_as_schema_takes_a_model_a_json_schema_or_an_output_schema():
    from_model = as_schema(Size)
    assert from_model.field_names == ("size_mm",)
    from_json = as_schema({"type": "object", "properties": {"side": {"enum": ["L", "R"]}}})
    assert from_json.field_names == ("side",)
    assert as_schema(from_json) is from_json
    with pytest.raises(ConfigError):
        as_schema({"type": "object", "properties": {}})
    assert isinstance(from_model, OutputSchema)


def test_extract_one_text_with_a_fake_engine_returns_a_frame():
    engine = FakeEngine(first_number)
    df = extract("CT thorax: nodus rechts 6 mm", Size, engine=engine)
    assert list(df["size_mm"]) == [6] and list(df["status"]) == ["success"]
    assert list(df["text"]) == ["CT thorax: nodus rechts 6 mm"]
    assert len(engine.requests) == 1


def test_extract_keeps_the_run_folder_only_when_asked(tmp_path):
    engine = FakeEngine(first_number)
    df = extract(["nodus 3 mm", "geen nodus"], Size, engine=engine, output_dir=tmp_path)
    assert list(df["size_mm"]) == [3, None]
    [run] = list((tmp_path / "run").iterdir())
    assert (run / "records.jsonl").exists() and (run / "manifest.json").exists()


def test_extract_from_a_file_path(tmp_path):
    data = tmp_path / "r.jsonl"
    data.write_text('{"id": "a", "text": "size 12"}\n{"id": "b", "text": "size 4"}\n')
    df = extract(Path(data), Size, engine=FakeEngine(first_number))
    assert list(df["id"]) == ["a", "b"] and list(df["size_mm"]) == [12, 4]


def test_an_empty_list_is_an_empty_frame_not_an_error():
    engine = FakeEngine(first_number)
    df = extract([], Size, engine=engine)
    assert len(df) == 0 and engine.requests == []
