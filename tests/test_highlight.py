"""highlight.py: text + evidence → segments and marked-up HTML (shared by the run report
and the Studio)."""

from __future__ import annotations

import html
import re

from clinextract.highlight import (
    GREY,
    PALETTE,
    field_colours,
    field_key,
    flagged,
    highlight_html,
    lowest_confidence,
    record_leaves,
    segments,
)

TEXT = "CT thorax: nodus van 6 mm rechts."


def span(text: str, quote: str, match: str = "exact") -> dict:
    start = text.index(quote)
    return {"text": quote, "start": start, "end": start + len(quote), "match": match}


def test_nested_spans_are_split_so_each_piece_knows_every_value_over_it() -> None:
    evidence = {
        "nodus.aanwezig": [span(TEXT, "nodus van 6 mm")],
        "nodus.grootte_mm": [span(TEXT, "6 mm", "fuzzy")],
        "onderzoek": [span(TEXT, "CT")],
    }
    pieces = [(TEXT[s.start : s.end], s.paths) for s in segments(TEXT, evidence)]
    assert "".join(p for p, _ in pieces) == TEXT  # nothing lost, nothing twice
    assert pieces == [
        ("CT", ("onderzoek",)),
        (" thorax: ", ()),
        ("nodus van ", ("nodus.aanwezig",)),
        ("6 mm", ("nodus.aanwezig", "nodus.grootte_mm")),
        (" rechts.", ()),
    ]


def test_partly_overlapping_spans_and_repeated_evidence() -> None:
    text = "abcdefgh"
    evidence = {
        "a": [{"text": "abcde", "start": 0, "end": 5, "match": "exact"}],
        "b": [
            {"text": "defg", "start": 3, "end": 7, "match": "fuzzy"},
            {"text": "a", "start": 0, "end": 1, "match": "exact"},
        ],
    }
    got = [(text[s.start : s.end], s.paths) for s in segments(text, evidence)]
    assert got == [("a", ("a", "b")), ("bc", ("a",)), ("de", ("a", "b")), ("fg", ("b",)), ("h", ())]


def test_evidence_that_does_not_point_at_its_text_is_not_marked() -> None:
    evidence = {
        "wrong_text": [{"text": "thorax", "start": 0, "end": 2, "match": "exact"}],
        "past_the_end": [{"text": None, "start": 30, "end": 99, "match": "fuzzy"}],
        "not_found": [{"text": None, "start": None, "end": None, "match": "none"}],
        "empty": [{"text": "", "start": 3, "end": 3, "match": "exact"}],
        "garbage": ["x", None, {"start": "1", "end": 2, "match": "exact"}],
    }
    assert [s.paths for s in segments(TEXT, evidence)] == [()]


def test_html_is_escaped_and_marks_carry_colour_and_hover_text() -> None:
    text = 'a <b>&"x"</script> 6 mm'
    evidence = {"mm": [span(text, "6 mm")], "tag": [span(text, "<b>")]}
    colours = field_colours(["mm", "tag"])
    out = highlight_html(text, evidence, colours, {"mm": 'mm = 6 · confidence 80% <"'})
    assert "<b>" not in out and "</script>" not in out
    assert html.unescape(re.sub(r"<[^>]+>", "", out)) == text
    marks = re.findall(r'<mark data-paths="([^"]*)" title="([^"]*)" style="([^"]*)">', out)
    assert marks == [
        ("tag", "tag", f"background:{colours['tag']}"),
        ("mm", html.escape('mm = 6 · confidence 80% <"'), f"background:{colours['mm']}"),
    ]


def test_a_piece_under_two_fields_shows_both_colours() -> None:
    evidence = {"x": [span(TEXT, "nodus van 6 mm")], "y": [span(TEXT, "6 mm")]}
    colours = {"x": "#111111", "y": "#222222"}
    out = highlight_html(TEXT, evidence, colours)
    both = re.search(r'data-paths="x y"[^>]*style="([^"]*)">6 mm<', out)
    assert both and "#111111" in both.group(1) and "#222222" in both.group(1)


def test_leaves_field_keys_and_colours() -> None:
    fields = {"a": 1, "n": {"m": None, "k": True}, "b": ["x", "y"], "e": []}
    assert record_leaves({"fields": fields}) == [
        ("a", 1),
        ("n.m", None),
        ("n.k", True),
        ("b[0]", "x"),
        ("b[1]", "y"),
        ("e", []),
    ]
    assert field_key("b[1]") == "b[]" and field_key("l[0].x[2]") == "l[].x[]"
    rec = {"fields": fields, "confidence": {"only_here": 0.5}, "evidence": {"a": []}}
    assert [p for p, _ in record_leaves(rec)][-1] == "only_here"
    # a group (null as a whole in a failed record) is grey and takes no field colour
    colours = field_colours(["a", "n", "n.m", "b[]"])
    assert colours == {"a": PALETTE[0], "n": GREY, "n.m": PALETTE[1], "b[]": PALETTE[2]}


def test_lowest_confidence_ignores_what_is_not_a_measurement() -> None:
    assert lowest_confidence({"a": 0.9, "b": 0.4, "c": None, "d": True, "e": "0.1"}) == 0.4
    assert lowest_confidence({}) is None and lowest_confidence(float("nan")) is None


def test_a_record_without_a_review_flag_needs_review_unless_it_succeeded() -> None:
    assert flagged({"status": "failure"}) and flagged({"status": "partial"})
    assert not flagged({"status": "success"})
    assert not flagged({"status": "failure", "needs_review": False})  # the record's own flag
    assert flagged({"status": "success", "needs_review": True})
