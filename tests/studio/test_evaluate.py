"""The Evaluate page (AppTest) on a run made by the real pipeline with the FakeEngine from
fakes.py (a fake, so every predicted value and so every score is known in advance)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from clinextract.review import RunReview
from tests.studio.helpers import APP, fake_run, make_workspace, use_workspace

# predictions (see studio_helpers.ANSWERS): r1 right 6 · r2 left 12 · r3 left null · r4 failed
GOLD = "id,side,size_mm\nr1,right,6\nr2,left,12\nr3,none,\nr4,right,30\n"


@pytest.fixture()
def page(monkeypatch, tmp_path: Path) -> AppTest:  # noqa: ANN001
    settings = make_workspace(tmp_path)
    fake_run(settings)
    (settings.data_dir / "gold.csv").write_text(GOLD, encoding="utf-8")
    use_workspace(monkeypatch, settings)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/evaluate.py").run()
    at.selectbox(key="evaluate.gold").select("gold.csv").run()
    assert not at.exception, at.exception
    return at


def test_scores_per_field_and_a_confusion_matrix(page: AppTest) -> None:
    assert not page.error, [e.value for e in page.error]
    table = page.dataframe[0].value.set_index("field")
    side, size = table.loc["side"], table.loc["size_mm"]
    # side: gold right,left,none,right vs right,left,left,(none)
    assert (side["kind"], side["n"], side["missing"]) == ("choice", 4, 1)
    assert side["accuracy"] == pytest.approx(0.5)
    # right 2/3, left 2/3, none 0 → macro 4/9
    assert side["f1"] == pytest.approx(4 / 9)
    # size: gold 6, 12, null, 30 vs 6, 12, null, (none): an empty gold cell means null
    assert (size["kind"], size["n"], size["missing"]) == ("number", 4, 1)
    assert size["accuracy"] == pytest.approx(3 / 4) and size["mae"] == pytest.approx(0.0)
    assert any("4 rows matched by id" in c.value for c in page.caption)
    charts = page.get("vega_lite_chart")
    assert len(charts) == 1
    proto = charts[0].proto
    assert json.loads(proto.spec)["layer"][0]["mark"]["type"] == "rect"
    cells = pd.concat(
        [convert_arrow_bytes_to_pandas_df(d.data.data) for d in proto.datasets]
        + ([convert_arrow_bytes_to_pandas_df(proto.data.data)] if proto.data.data else [])
    )
    counts = {(g, p): c for g, p, c in cells[["gold", "predicted", "count"]].itertuples(False)}
    # right→right 1, right→(none) 1, left→left 1, none→left 1
    assert counts[("right", "right")] == 1 and counts[("right", "(none)")] == 1
    assert counts[("left", "left")] == 1 and counts[("none", "left")] == 1
    assert sum(counts.values()) == 4
    assert page.selectbox(key="evaluate.cm_field").options == ["side"]


def test_empty_gold_cells_can_mean_not_annotated(page: AppTest) -> None:
    page.checkbox(key="evaluate.empty_null").uncheck().run()
    size = page.dataframe[0].value.set_index("field").loc["size_mm"]
    assert (size["n"], size["missing"]) == (3, 1)
    assert size["accuracy"] == pytest.approx(2 / 3)


def test_unmatched_ids_are_reported_not_scored(page: AppTest, tmp_path: Path) -> None:
    (tmp_path / "data" / "other.csv").write_text("id,side\nx9,left\n", encoding="utf-8")
    page.run()
    page.selectbox(key="evaluate.gold").select("other.csv").run()
    assert any("no id in the gold matches" in e.value for e in page.error)


def test_runs_side_by_side_and_a_runs_reviews_as_gold(
    monkeypatch,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    settings = make_workspace(tmp_path)
    first, second = fake_run(settings, "one"), fake_run(settings, "two")
    review = RunReview(second)
    review.record([review.decision(0, "side", "left", "anna")])  # r1: the model said right
    use_workspace(monkeypatch, settings)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/evaluate.py").run()
    at.multiselect(key="evaluate.runs").set_value([str(second), str(first)]).run()
    at.radio(key="evaluate.mode").set_value("A run's reviews").run()
    assert not at.exception, at.exception
    assert any("1 rows matched by id" in c.value for c in at.caption)
    compare = at.dataframe[0].value
    row = compare[(compare.field == "side") & (compare.metric == "accuracy")].iloc[0]
    # one row (r1) reviewed: both runs said right, the reviewer left
    assert row["two/Task001_lesions-run0"] == row["one/Task001_lesions-run0"]
    assert row["one/Task001_lesions-run0"].startswith("0.00")
