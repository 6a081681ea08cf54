"""The Review page (AppTest) on the synthetic run folder (tests/synthetic_run.py: no
model; nested groups, a list, choices, yes/no and a bounded integer), and its logic
module studio/reviewing.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from clinextract.review import RunReview
from clinextract.studio import reviewing
from tests.studio.helpers import APP, make_workspace, use_workspace
from tests.synthetic_run import make_run


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "output", 12).path


@pytest.fixture()
def page(monkeypatch, tmp_path: Path, run: Path) -> AppTest:  # noqa: ANN001
    use_workspace(monkeypatch, make_workspace(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    return at


def test_the_queue_puts_needs_review_then_lowest_confidence_first(run: Path) -> None:
    items = reviewing.queue(RunReview(run))
    flags = [i.needs_review for i in items]
    assert flags == sorted(flags, reverse=True)
    flagged = [i for i in items if i.needs_review and i.lowest is not None]
    assert [i.lowest for i in flagged] == sorted(i.lowest for i in flagged)
    assert items[0].lowest is None  # a failure: nothing measured, first in the queue


def test_widgets_read_back_typed_values(run: Path) -> None:
    by_path = RunReview(run).by_path
    bevindingen, mm = by_path["bevindingen"], by_path["nodus.grootte_mm"]
    assert reviewing.from_widget(bevindingen, "a\n\n b \n") == ["a", "b"]
    assert reviewing.from_widget(by_path["controle"], "no") is False
    assert reviewing.from_widget(mm, 6.0) == 6 and isinstance(reviewing.from_widget(mm, 6.0), int)
    html = reviewing.report_html(
        RunReview(run), 0, reviewing.report_text(RunReview(run), 0), "regio"
    )
    assert html.count('id="focus"') == 1


def test_correct_one_value_accept_another_and_progress(page: AppTest, run: Path) -> None:
    page.text_input(key="review.reviewer").input("anna").run()
    assert "0 / 12 records reviewed by anna" in page.get("progress")[0].proto.text
    items = reviewing.queue(RunReview(run))
    pos = next(n for n, i in enumerate(items) if i.lowest is not None)  # not a failure
    page.selectbox(key="review.pos").select(pos).run()
    row = items[pos].row
    # typed widgets: a choice list, yes/no, a bounded whole number, a list editor
    assert page.selectbox(key=f"review.value.{row}.onderzoek").options == [
        "CT",
        "MRI",
        "echografie",
    ]
    assert page.radio(key=f"review.value.{row}.controle").options == ["yes", "no"]
    mm = page.number_input(key=f"review.value.{row}.nodus.grootte_mm")
    assert (mm.min, mm.max, mm.step) == (0, 300, 1)
    assert page.text_area(key=f"review.value.{row}.bevindingen") is not None
    page.selectbox(key=f"review.value.{row}.onderzoek").select("MRI").run()
    page.button(key=f"review.correct.{row}.onderzoek").click().run()
    page.button(key=f"review.null.{row}.regio").click().run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    reviewed = RunReview(run).reviewed("anna")
    assert reviewed == {row: {"onderzoek": "MRI", "regio": None}}
    page.button(key="review.accept_rest").click().run()
    assert len(RunReview(run).fully_reviewed("anna")) == 1
    assert "1 / 12 records reviewed by anna" in page.get("progress")[0].proto.text
    page.button(key="review.next").click().run()
    assert page.selectbox(key="review.pos").value == pos + 1
    # a failed record: its nulls cannot be accepted for required fields
    page.selectbox(key="review.pos").select(0).run()
    page.button(key="review.accept_rest").click().run()
    assert any("not accepted" in e.value for e in page.error)


def test_without_a_name_nothing_is_recorded(page: AppTest, run: Path) -> None:
    row = reviewing.queue(RunReview(run))[0].row
    assert page.button(key=f"review.accept.{row}.onderzoek").disabled
    assert any("Enter your name" in i.value for i in page.info)
