"""Results with evidence and confidences: a synthetic run folder (tests/synthetic_run.py,
records with evidence spans, confidences, needs_review, partial and failed rows) read
back by the Studio's helpers and shown on the Results page (AppTest)."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clinextract.settings import Settings
from clinextract.store import RunFolder
from clinextract.studio import results
from tests.studio.helpers import APP, make_workspace, use_workspace
from tests.synthetic_run import INPUT, make_run

N = 30


@pytest.fixture()
def workspace(tmp_path: Path) -> tuple[Settings, RunFolder]:
    settings = make_workspace(tmp_path)
    return settings, make_run(settings.output_dir, N)


def lowest(record: dict) -> float | None:
    return min(record["confidence"].values(), default=None)


def test_needs_review_filter_and_lowest_confidence_first(workspace) -> None:  # noqa: ANN001
    _, folder = workspace
    records = folder.records()
    result = results.load_run(folder.path)
    flagged = [rec["id"] for _, rec in sorted(records.items()) if rec["needs_review"]]
    assert result.counts()["needs_review"] == len(flagged)
    assert result.counts()["partial"] == sum(r["status"] == "partial" for r in records.values())
    picked = results.filter_frame(result.frame, needs_review=True)
    assert list(picked[results.ID]) == flagged

    ordered = results.sort_frame(result.frame, results.LOWEST_FIRST)
    measured = sorted((lowest(rec), row) for row, rec in records.items() if lowest(rec) is not None)
    unmeasured = sorted(row for row, rec in records.items() if lowest(rec) is None)
    assert list(ordered[results.ROW]) == [row for _, row in measured] + unmeasured
    assert list(results.sort_frame(ordered)[results.ROW]) == list(range(N))


def test_one_record_its_values_and_its_highlighted_text(workspace) -> None:  # noqa: ANN001
    _, folder = workspace
    records = folder.records()
    result = results.load_run(folder.path)
    row = next(r for r, rec in records.items() if rec["status"] == "partial")
    record = result.frame[result.frame[results.ROW] == row].iloc[0]
    values = results.record_values(record, result.fields).set_index("field")
    rec = records[row]
    for path, conf in rec["confidence"].items():
        assert math.isclose(values.loc[path, "confidence"], conf)
    assert values.loc["nodus.grootte_mm", "error"] == rec["field_errors"]["nodus.grootte_mm"]
    assert math.isnan(values.loc["nodus.grootte_mm", "confidence"])  # not measured, no number
    for path, entries in rec["evidence"].items():
        assert values.loc[path, "evidence"] == entries[0]["match"]

    text = record[INPUT]
    marked = results.record_html(record, result.fields, text, result.colours)
    assert html.unescape(re.sub(r"<[^>]+>", "", marked)) == text
    titles = [html.unescape(t) for t in re.findall(r'title="([^"]*)"', marked)]
    assert f"onderzoek = {rec['fields']['onderzoek']} · confidence " in titles[0]


def test_the_results_page_filters_sorts_and_highlights(monkeypatch, workspace) -> None:  # noqa: ANN001
    settings, folder = workspace
    records = folder.records()
    use_workspace(monkeypatch, settings)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/results.py").run()
    assert not at.exception, at.exception
    flagged = [rec["id"] for _, rec in sorted(records.items()) if rec["needs_review"]]
    assert next(m.value for m in at.metric if m.label == "Needs review") == str(len(flagged))

    at.checkbox(key="results.review").check().run()
    assert list(at.dataframe[0].value["id"]) == flagged
    at.checkbox(key="results.review").uncheck().run()

    at.selectbox(key="results.sort").select(results.LOWEST_FIRST).run()
    first = min((r for r in records.values() if r["confidence"]), key=lambda r: lowest(r))
    table = at.dataframe[0].value
    assert table["id"].iloc[0] == first["id"]
    assert math.isclose(table["_lowest_confidence"].iloc[0], lowest(first))
    # that record: its text with its evidence marked, its values with their confidences
    at.selectbox(key="results.row").select(first["row"]).run()
    marked = next(h.value for h in at.html if "pre-wrap" in h.value)
    assert (
        html.unescape(re.sub(r"<[^>]+>", "", marked)) == folder.predictions()[first["row"]][INPUT]
    )
    assert "confidence" in marked
    values = at.dataframe[1].value.set_index("field")
    for path, conf in first["confidence"].items():
        assert math.isclose(values.loc[path, "confidence"], conf)
