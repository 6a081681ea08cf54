"""Results: a run folder read back (helpers) and the Results page (AppTest).

The run folders are made by the real pipeline with the FakeEngine from fakes.py (a fake,
so which rows fail, and with what raw output, is known exactly)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from clinextract.settings import Settings
from clinextract.store import RunFolder
from clinextract.studio import results
from tests.studio.helpers import APP, fake_run, make_workspace, use_workspace


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return fake_run(make_workspace(tmp_path))


def test_load_run_joins_predictions_with_the_checkpoint(run_dir: Path) -> None:
    result = results.load_run(run_dir)
    assert result.complete and result.info.status == "complete"
    assert result.fields == ["side", "size_mm"]
    assert result.schema is not None and result.input_field == "text"
    flagged = sum(r.get("needs_review") is True for r in RunFolder(run_dir).records().values())
    assert result.counts() == {
        "rows": 4,
        "success": 3,
        "partial": 0,
        "failure": 1,
        "needs_review": flagged,
    }
    frame = result.frame
    assert list(frame[results.ID]) == ["r1", "r2", "r3", "r4"]
    failed = frame[frame["status"] == "failure"].iloc[0]
    assert failed[results.RAW] == "still not JSON"
    assert failed["error"].startswith("invalid answer after repair")
    assert frame.loc[0, "size_mm"] == 6.0 and frame.loc[2, "size_mm"] is None
    assert [r.path for r in results.list_runs(run_dir.parents[1])] == [run_dir]


def test_an_unfinished_run_is_read_from_its_checkpoint(tmp_path: Path, settings: Settings) -> None:
    # asked before the run, then after each row: stop after the second row
    answers = iter([False, False, True])
    with pytest.raises(Exception, match="cancelled after 2 of 4"):
        fake_run(settings, should_stop=lambda: next(answers))
    run_dir = settings.output_dir / "fake" / "Task001_lesions-run0"
    result = results.load_run(run_dir)
    assert not result.complete and result.info.status == "interrupted"
    assert len(result.frame) == 2
    # the report text comes back from the data file, by row
    first = result.frame.sort_values(results.ROW).iloc[0]
    assert first["text"].startswith("CT thorax") and first[results.ID] == "r1"


def test_filters_search_and_downloads(run_dir: Path) -> None:
    frame = results.load_run(run_dir).frame
    assert list(results.filter_frame(frame, statuses=["failure"])[results.ID]) == ["r4"]
    assert results.field_values(frame, "side") == ["(empty)", "left", "right"]
    left = results.filter_frame(frame, field="side", values=["left"])
    assert list(left[results.ID]) == ["r2", "r3"]
    assert list(results.filter_frame(frame, query="KIDNEY")[results.ID]) == ["r3"]
    assert list(results.filter_frame(frame, query="right", statuses=["success"])[results.ID]) == [
        "r1"
    ]
    assert len(results.filter_frame(frame)) == 4

    csv = pd.read_csv(io.BytesIO(results.to_csv_bytes(frame)), dtype=str)
    assert "_row" not in csv.columns and list(csv["_id"]) == ["r1", "r2", "r3", "r4"]
    items = json.loads(results.to_json_bytes(frame))
    assert items[2]["size_mm"] is None and items[0]["size_mm"] == 6.0
    assert items[3]["raw_output"] == "still not JSON"


# --- the page ------------------------------------------------------------------------------


def open_results(monkeypatch, tmp_path: Path) -> AppTest:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    fake_run(settings)
    use_workspace(monkeypatch, settings)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/results.py").run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_results_page_counts_filters_record_and_failures(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    at = open_results(monkeypatch, tmp_path)
    assert (metric(at, "Rows"), metric(at, "Success"), metric(at, "Failures")) == ("4", "3", "1")
    assert metric(at, "Status") == "complete"
    table = at.dataframe[0].value
    assert list(table["id"]) == ["r1", "r2", "r3", "r4"]
    assert [b.label for b in at.download_button] == ["Download CSV", "Download JSON"]

    at.multiselect(key="results.status").select("failure").run()
    assert list(at.dataframe[0].value["id"]) == ["r4"]
    # the record view shows the failed row beside its report, with error and raw output
    assert any("Right breast: mass of 30 mm." in h.value for h in at.html)
    assert any("invalid answer after repair" in e.value for e in at.error)
    assert any(c.value == "still not JSON" for c in at.code)

    at.multiselect(key="results.status").unselect("failure").run()
    at.selectbox(key="results.field").select("side").run()
    at.multiselect(key="results.values.side").select("left").run()
    assert list(at.dataframe[0].value["id"]) == ["r2", "r3"]
    at.text_input(key="results.query").input("spiculated").run()
    assert list(at.dataframe[0].value["id"]) == ["r2"]
    assert any("1 of 4 rows" in c.value for c in at.caption)
    assert any(e.label.startswith("Failures (1)") for e in at.expander)


def test_results_page_without_runs_says_so(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    use_workspace(monkeypatch, make_workspace(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/results.py").run()
    assert not at.exception
    assert "No runs in" in at.info[0].value
