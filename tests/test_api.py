"""The Python API with a fake engine (units; the real model is in test_api_model.py):
what `extract` and `Extractor` accept (data, schema, examples), reuse, threads, streaming,
and what they return."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel, Field

from clinextract import api
from clinextract.api import Extractor, as_schema, as_source, extract
from clinextract.errors import ConfigError, EngineError
from clinextract.schema import OutputSchema
from clinextract.store import RunFolder
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


# --- examples in memory ---------------------------------------------------------------

EXAMPLES = [
    ("CT thorax: nodus 9 mm rechts", {"size_mm": 9}),
    ("MRI knie: meniscusscheur, geen nodus", {"size_mm": None}),
    ("echo lever: cyste van 14 mm", {"size_mm": 14}),
    ("X-thorax: geen afwijkingen", {"size_mm": None}),
]
REPORTS = ["CT thorax: nodus 6 mm links", "echo lever: cyste 30 mm", "X-thorax: normaal"]


def shown_examples(request) -> list[tuple[str, str]]:
    """The (report, answer) pairs a request showed the model before the report."""
    turns = request.messages[1:-1]
    return [
        (user["content"].split("\n", 1)[1], answer["content"])
        for user, answer in zip(turns[::2], turns[1::2], strict=True)
    ]


def prompts_for(examples, **settings) -> list[list[tuple[str, str]]]:
    engine = FakeEngine(first_number, threaded=False)
    with Extractor(Size, "Meet.", examples=examples, engine=engine, **settings) as ex:
        ex.extract(REPORTS)
    by_report = {report_of(r): shown_examples(r) for r in engine.requests}
    return [by_report[text] for text in REPORTS]


def test_every_form_of_examples_gives_the_prompts_of_the_same_file(tmp_path):
    path = tmp_path / "examples.json"
    path.write_text(json.dumps([{"input": t, "output": o} for t, o in EXAMPLES]))
    from_file = prompts_for(path)
    assert from_file == prompts_for(str(path))  # a str is a path here: examples are files
    assert from_file == prompts_for([{"input": t, "output": o} for t, o in EXAMPLES])
    assert from_file == prompts_for([(t, Size(**o)) for t, o in EXAMPLES])
    assert from_file == prompts_for([{"input": t, "output": Size(**o)} for t, o in EXAMPLES])
    assert from_file == prompts_for([(t, json.dumps(o)) for t, o in EXAMPLES])
    frame = pd.DataFrame({"input": [t for t, _ in EXAMPLES], "output": [o for _, o in EXAMPLES]})
    assert from_file == prompts_for(frame)
    # "auto": three per report, the most similar last (next to the report)
    assert [len(shown) for shown in from_file] == [3, 3, 3]
    assert from_file[0][-1] == ("CT thorax: nodus 9 mm rechts", '{"size_mm":9}')
    assert from_file[1][-1][0] == "echo lever: cyste van 14 mm"


def test_num_examples_picks_that_many_by_bm25_and_zero_turns_them_off():
    one = prompts_for([(t, Size(**o)) for t, o in EXAMPLES], num_examples=1)
    assert one == [
        [("CT thorax: nodus 9 mm rechts", '{"size_mm":9}')],
        [("echo lever: cyste van 14 mm", '{"size_mm":14}')],
        [("X-thorax: geen afwijkingen", '{"size_mm":null}')],
    ]
    assert prompts_for(EXAMPLES, num_examples=0) == [[], [], []]
    assert prompts_for(None) == [[], [], []]  # auto without examples: none


@pytest.mark.parametrize(
    "examples, message",
    [
        ([("CT: 4 mm", {"size_mm": 4}), ("MRI", {"size_mm": "groot"})], "example 2 output"),
        ([("CT: 4 mm", {"size_mm": 400})], "size_mm: Input should be less than or equal"),
        ([("CT: 4 mm", {"size_mm": 4, "side": "L"})], "side: Extra inputs"),
        ([{"input": "CT: 4 mm"}], "example 1: expected"),
        ([("", {"size_mm": 4})], "example 1 input must be a non-empty text"),
        ([], "examples: no examples"),
        ({"input": "CT", "output": {}}, "a list of examples"),
    ],
)
def test_examples_that_do_not_fit_the_schema_are_one_line_errors(examples, message):
    class Closed(Size):
        model_config = {"extra": "forbid"}

    with pytest.raises(ConfigError, match=re.escape(message)):
        Extractor(Closed, examples=examples, engine=FakeEngine(first_number))


def test_asking_for_examples_when_there_are_none_is_an_error():
    with pytest.raises(ConfigError, match="--num-examples 2 needs an Example_Path"):
        Extractor(Size, num_examples=2, engine=FakeEngine(first_number))


# --- Extractor ------------------------------------------------------------------------


def test_an_extractor_loads_the_engine_once_and_frees_it(monkeypatch):
    made: list[FakeEngine] = []

    def create(settings):
        made.append(FakeEngine(first_number))
        return made[-1]

    closed = []
    monkeypatch.setattr(api, "create_engine", create)
    monkeypatch.setattr(FakeEngine, "close", lambda self: closed.append(self))
    with Extractor(Size, "Meet.") as ex:
        first = ex.extract(["nodus 3 mm", "nodus 4 mm"])
        second = ex.extract(["cyste 12 mm"])
        one = ex.extract_one("laesie 7 mm")
    assert len(made) == 1 and closed == made and len(made[0].requests) == 4
    assert [m.size_mm for m in first.models()] == [3, 4]
    assert [m.size_mm for m in second.models()] == [12]
    assert one["fields"] == {"size_mm": 7} and one["status"] == "success"
    with pytest.raises(ConfigError, match="closed"):
        ex.extract(["nodus 5 mm"])


def test_an_engine_passed_in_is_shared_and_not_closed():
    engine = FakeEngine(first_number)
    engine.close = lambda: pytest.fail("the caller's engine was closed")
    with Extractor(Size, engine=engine) as a, Extractor(Size, "Anders.", engine=engine) as b:
        assert a.extract_one("nodus 3 mm")["fields"] == {"size_mm": 3}
        assert b.extract_one("nodus 4 mm")["fields"] == {"size_mm": 4}
    assert len(engine.requests) == 2


def test_threads_share_one_extractor_and_its_engine():
    engine = FakeEngine(slow_first_number, capacity=4)
    batches = [[f"nodus {t * 25 + i} mm" for i in range(25)] for t in range(4)]
    with Extractor(Size, engine=engine) as ex, ThreadPoolExecutor(4) as threads:
        results = list(threads.map(ex.extract, batches))
    for batch, result in zip(batches, results, strict=True):
        assert [m.size_mm for m in result.models()] == [int(t.split()[1]) for t in batch]
        assert list(result.df["text"]) == batch
    assert len(engine.requests) == 100


# --- stream ---------------------------------------------------------------------------


def slow_first_number(request):
    time.sleep(0.2 if "traag" in report_of(request) else random.random() / 500)
    return first_number(request)


def test_stream_yields_every_row_once_as_they_finish(tmp_path):
    texts = [f"nodus {i} mm" for i in range(300)]
    texts[0] = "traag: nodus 0 mm"  # answered last of its batch
    engine = FakeEngine(slow_first_number, capacity=4)
    seen = []
    with Extractor(Size, engine=engine, output_dir=tmp_path) as ex:
        for record in ex.stream(texts):
            on_disk = RunFolder(tmp_path / "run" / "extract-run0").records()
            assert on_disk[record["row"]]["fields"] == record["fields"]  # saved first
            seen.append(record)
    assert sorted(r["row"] for r in seen) == list(range(300))  # each row exactly once
    assert [r["row"] for r in seen].index(0) > 0  # in the order they finished
    assert all(r["fields"] == {"size_mm": r["row"]} for r in seen)
    assert all(r["status"] == "success" and r["id"] == str(r["row"]) for r in seen)


def test_stream_of_a_resumed_run_gives_whole_records(tmp_path):
    texts = [f"nodus {i} mm" for i in range(6)]
    with Extractor(Size, engine=FakeEngine(first_number), output_dir=tmp_path) as ex:
        ex.extract(texts[:4])
        again = sorted(ex.stream(texts), key=lambda r: r["row"])
    assert [r["fields"]["size_mm"] for r in again] == list(range(6))
    assert all("raw_output" in r for r in again)


def test_stopping_a_stream_early_stops_the_run():
    def steady(request):
        time.sleep(0.005)
        return first_number(request)

    engine = FakeEngine(steady, capacity=2)
    texts = [f"nodus {i} mm" for i in range(500)]
    with Extractor(Size, engine=engine) as ex:
        for n, _ in enumerate(ex.stream(texts)):
            if n == 4:
                break
        assert len(engine.requests) < 100  # the run stopped, it did not go on to 500
        assert ex.extract_one("nodus 8 mm")["fields"] == {"size_mm": 8}  # still usable


def test_a_stream_that_cannot_run_says_so_when_asked_for():
    with Extractor(Size, engine=FakeEngine(first_number), n_runs=2) as ex:
        with pytest.raises(ConfigError, match="n_runs must be 1"):
            ex.stream(["nodus 1 mm"])  # not only at the first record


def test_a_stream_raises_what_stopped_the_run():
    def broken(request):
        if "kapot" in report_of(request):
            raise EngineError("the server went away")
        return first_number(request)

    with Extractor(Size, engine=FakeEngine(broken, capacity=1)) as ex:
        with pytest.raises(EngineError, match="went away"):
            list(ex.stream(["nodus 1 mm", "kapot", "nodus 3 mm"]))


def test_a_kept_run_folder_serves_one_call_at_a_time(tmp_path):
    with Extractor(Size, engine=FakeEngine(first_number), output_dir=tmp_path) as ex:
        running = ex.stream(["nodus 1 mm", "nodus 2 mm"])
        next(running)
        with pytest.raises(ConfigError, match="in use by another call"):
            ex.extract(["nodus 3 mm"])
        assert ex.extract(["nodus 3 mm"], output_dir=tmp_path / "other").records
        running.close()
        assert ex.extract(["nodus 4 mm"]).run_dir == tmp_path / "run" / "extract-run0"


# --- Result -----------------------------------------------------------------------------


def test_result_records_models_and_summary():
    def some_fail(request):  # the repair request too: the report is in the conversation
        if any("onleesbaar" in m["content"] for m in request.messages):
            return ok("geen json")
        return first_number(request)

    texts = ["nodus 5 mm", "onleesbaar", "geen nodus"]
    with Extractor(Size, engine=FakeEngine(some_fail)) as ex:
        result = ex.extract(texts)
    assert [r["row"] for r in result.records] == [0, 1, 2]
    assert [r["status"] for r in result.records] == ["success", "failure", "success"]
    assert result.records[1]["error"] and result.records[1]["fields"] == {"size_mm": None}
    models = result.models()
    assert isinstance(models[0], Size) and models[0].size_mm == 5
    assert models[1] is None and models[2] == Size(size_mm=None)
    assert result.summary["rows"] == 3 and result.summary["failures"] == 1
    assert result.summary["docs_per_s"] > 0 and result.summary["num_examples"] == 0
    assert list(result.df["status"]) == ["success", "failure", "success"]
    assert result.run_dir is None and len(result) == 3 and "3 rows" in repr(result)


def test_models_of_a_json_schema_are_instances_of_its_model():
    schema = {"type": "object", "properties": {"size_mm": {"type": ["integer", "null"]}}}
    with Extractor(schema, engine=FakeEngine(first_number)) as ex:
        [model] = ex.extract("nodus 4 mm").models()
    assert isinstance(model, BaseModel) and model.size_mm == 4


# --- plain habits -------------------------------------------------------------------------


def test_a_progress_bar_in_terminals_and_none_when_off(monkeypatch, capsys):
    from rich.console import Console

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    extract(["nodus 1 mm", "nodus 2 mm"], Size, engine=FakeEngine(first_number))
    assert "extracting" in capsys.readouterr().err
    extract(["nodus 1 mm"], Size, engine=FakeEngine(first_number), progress=False)
    assert capsys.readouterr().err == ""


def test_no_bar_and_no_warning_in_a_notebook_without_widgets(monkeypatch, capsys, recwarn):
    import rich.console

    from clinextract import progress

    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    monkeypatch.setattr(progress, "_has_widgets", lambda: False)
    extract(["nodus 1 mm"], Size, engine=FakeEngine(first_number))
    assert capsys.readouterr().err == "" and not recwarn.list


def test_the_public_names_are_documented_and_typed():
    import clinextract

    assert set(clinextract.__all__) == {"Extractor", "Result", "__version__", "extract", "run_task"}
    for name in clinextract.__all__:
        obj = getattr(clinextract, name)
        assert name == "__version__" or (obj.__doc__ or "").strip(), name
    assert (Path(clinextract.__file__).parent / "py.typed").exists()


def test_python_dash_m_is_the_command(cli_env):
    proc = subprocess.run(
        [sys.executable, "-m", "clinextract", "run", "--help"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "--num-examples" in proc.stdout
    assert proc.stdout.startswith("Usage: clinextract run")
