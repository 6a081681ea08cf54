"""Rows in without damage: every column exactly as given, in order, streamed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from clinextract.data import DataSource, RecordsSource
from clinextract.errors import ConfigError


def write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_strings_names_and_dates(tmp_path):
    path = write_csv(
        tmp_path / "d.csv",
        "uid,Onderzoek datum,patient-nr,verslag\n"
        '007,03-02-2024,0012,"CT, thorax"\n'
        "010,2024-02-30,12.50,\n",
    )
    src = DataSource(path, "verslag")
    rows = list(src)
    assert src.columns == ["uid", "Onderzoek datum", "patient-nr", "verslag"]
    assert src.id_field == "uid"
    assert [r.id for r in rows] == ["007", "010"]
    assert rows[0].columns == {
        "uid": "007",
        "Onderzoek datum": "03-02-2024",
        "patient-nr": "0012",
        "verslag": "CT, thorax",
    }
    assert rows[1].columns["patient-nr"] == "12.50"
    assert rows[1].text == ""  # empty cell → no text (a per-row failure later)
    assert len(src) == 2


def test_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,text\n1,a\n".encode())
    assert DataSource(path, "text").columns == ["id", "text"]


def test_json_jsonl_and_parquet_keep_values(tmp_path):
    records = [
        {"id": "007", "text": "a", "n": 1.5, "flag": True},
        {"id": "008", "text": None, "n": None, "flag": False},
    ]
    (tmp_path / "d.json").write_text(json.dumps(records))
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    for name in ("d.json", "d.jsonl"):
        rows = list(DataSource(tmp_path / name, "text"))
        assert [r.columns for r in rows] == records
        assert [r.text for r in rows] == ["a", ""]
    pd.DataFrame(
        {
            "id": ["007", "008"],
            "text": ["a", "b"],
            "datum": pd.to_datetime(["2024-01-02", "2024-03-04"]).date,
        }
    ).to_parquet(tmp_path / "d.parquet")
    rows = list(DataSource(tmp_path / "d.parquet", "text"))
    assert [r.id for r in rows] == ["007", "008"]
    assert str(rows[0].columns["datum"]) == "2024-01-02"


def test_nan_text_from_a_dataframe_is_empty():
    rows = list(RecordsSource([{"text": float("nan")}, {"text": "  "}, {"text": 5}], "text"))
    assert [r.text for r in rows] == ["", "", "5"]
    assert [r.id for r in rows] == ["0", "1", "2"]  # row number when no id column


def test_id_field_choice(tmp_path):
    path = write_csv(tmp_path / "d.csv", "id,uid,key,text\n1,u1,k1,a\n")
    assert DataSource(path, "text").id_field == "uid"
    assert next(iter(DataSource(path, "text", "key"))).id == "k1"
    with pytest.raises(ConfigError, match="'nope' not found"):
        DataSource(path, "text", "nope")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "not found"),
        ("d.xlsx", b"x", "unsupported data format"),
        ("d.csv", b"id,body\n1,a\n", "no column 'text'"),
        ("d.csv", "id,text\n1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("d.json", b'{"text": "a"}', "JSON list"),
        ("d.json", b'[{"text": "a"},', "invalid JSON"),
        ("d.jsonl", b'{"text": "a"}\nnot json\n', "line 2"),
        ("d.csv", b"id,text\n1,a,extra\n", "line 2 has 3 cells"),
    ],
)
def test_bad_inputs_are_one_line_config_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        DataSource(path, "text")
        list(DataSource(path, "text"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("r.json", "5", "expected a JSON list of objects"),
        ("r.json", '"text"', "expected a JSON list of objects"),
        ("r.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("r.csv", "text\n" + '"a' + "\n", None),  # an unclosed quote: one long cell
    ],
)
def test_data_that_is_not_rows_is_one_config_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    if message is None:
        assert [r.text for r in DataSource(path, "text")] == ["a\n"]
        return
    with pytest.raises(ConfigError, match=message):
        list(DataSource(path, "text"))


def test_a_byte_order_mark_is_accepted_in_json_files_too(tmp_path):
    (tmp_path / "r.json").write_bytes(b"\xef\xbb\xbf" + b'[{"text": "a"}]')
    (tmp_path / "r.jsonl").write_bytes(b"\xef\xbb\xbf" + b'{"text": "b"}\n')
    assert [r.text for r in DataSource(tmp_path / "r.json", "text")] == ["a"]
    assert [r.text for r in DataSource(tmp_path / "r.jsonl", "text")] == ["b"]


def test_a_folder_is_not_a_data_file(tmp_path):
    (tmp_path / "r.csv").mkdir()
    with pytest.raises(ConfigError, match="not a file"):
        DataSource(tmp_path / "r.csv", "text")
