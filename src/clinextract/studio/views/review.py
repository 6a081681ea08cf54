"""Review page: a clinician accepts or corrects a run's values, least sure first.

The queue puts records that need review first, then the lowest confidence. Each value
can be accepted, corrected (a widget typed by the schema) or marked "not in the report"
(null); every decision is appended to the run's reviews.jsonl (clinextract.review), the
model's records are never changed. Keys: A accepts the record's remaining values, N
goes to the next record (a small script in the page, nothing loaded from the internet).
The logic lives in clinextract.studio.reviewing; this file only draws it."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from clinextract.columns import Column
from clinextract.errors import ConfigError
from clinextract.highlight import value_text
from clinextract.review import RunReview
from clinextract.studio import reviewing, ui
from clinextract.studio.results import list_runs

settings = ui.settings()
ACCEPT_REST, NEXT = "Accept the rest (A)", "Next record (N)"
# The key handler lives in the page itself (not in this component's frame, which
# Streamlit may replace on a rerun): it is added once, as a script element of the page.
KEYS = """<script>
const doc = window.parent.document;
if (!doc.getElementById("clinextract-review-keys")) {
  const script = doc.createElement("script");
  script.id = "clinextract-review-keys";
  script.textContent = `document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const want = {a: "Accept the rest", n: "Next record"}[e.key.toLowerCase()];
    if (!want) return;
    const button = [...document.querySelectorAll("button")]
      .find((b) => b.innerText.trim().startsWith(want) && !b.disabled);
    if (button) { e.preventDefault(); button.click(); }
  });`;
  doc.head.appendChild(script);
}
const focus = doc.getElementById("focus");
if (focus) focus.scrollIntoView({block: "center"});
/* FOCUS */
</script>"""

st.title("Review")
runs = [r for r in list_runs(settings.output_dir) if r.status == "complete"]
paths = reviewing.run_choices(runs)
if not paths:
    st.info(f"No finished runs in {settings.output_dir} yet: start one on the Run page.")
    st.stop()
labels = {str(r.path): r.label for r in runs}
left, right = st.columns([3, 1])
run_path = left.selectbox(
    "Run", paths, format_func=labels.get, key=ui.keep("review.run", paths[0], paths)
)
reviewer = right.text_input(
    "Reviewer", key=ui.keep("review.reviewer", ""), placeholder="your name"
).strip()
ui.remember("review.run", "review.reviewer")

try:
    review = RunReview(run_path)
except ConfigError as exc:
    ui.show_error(exc)
    st.stop()
items = reviewing.queue(review)
if not items:
    st.info("This run has no records.")
    st.stop()
done = reviewing.progress(review, reviewer or None)
st.progress(done.reviewed / done.total, text=done.text + (f" by {reviewer}" if reviewer else ""))
if not reviewer:
    st.info("Enter your name to record decisions (each decision says who made it).")

positions = list(range(len(items)))
POS = "review.pos"
if st.session_state.get(POS) not in positions:
    st.session_state[POS] = 0


def go_next() -> None:
    st.session_state[POS] = reviewing.next_unreviewed(
        items, review, reviewer, st.session_state[POS]
    )
    st.session_state.pop("review.focus", None)


def record(decisions: list[Any]) -> None:
    try:
        review.record(decisions)
    except ConfigError as exc:
        st.session_state["review.error"] = str(exc)


def decide(row: int, path: str, value: Any) -> None:
    try:
        record([review.decision(row, path, value, reviewer)])
    except ConfigError as exc:
        st.session_state["review.error"] = str(exc)


def correct(row: int, column: Column, key: str) -> None:
    """Save what the column's editor holds now (read at the click, not at drawing)."""
    try:
        value = reviewing.from_widget(column, st.session_state.get(key))
    except ValueError as exc:
        st.session_state["review.error"] = f"{column.path}: {exc}"
        return
    decide(row, column.path, value)


def accept_rest(row: int, views: list[reviewing.FieldView]) -> None:
    """Accept every value not yet decided that can be accepted; say which cannot."""
    decisions, refused = [], []
    for v in views:
        if v.decided:
            continue
        try:
            decisions.append(review.decision(row, v.column.path, v.model_value, reviewer))
        except ConfigError:
            refused.append(v.column.path)
    record(decisions)
    if refused:
        st.session_state["review.error"] = (
            f"not accepted (the model's value is not a valid answer): {', '.join(refused)}; "
            "correct them or mark them not in the report"
        )


nav = st.columns([4, 1, 1])
pos = nav[0].selectbox(
    "Record (needs review first, then lowest confidence)",
    positions,
    format_func=lambda p: f"{p + 1}. {items[p].label}",
    key=POS,
)
item = items[pos]
views = reviewing.field_views(review, item.row, reviewer)
nav[1].button(
    ACCEPT_REST,
    key="review.accept_rest",
    disabled=not reviewer or all(v.decided for v in views),
    on_click=accept_rest,
    args=(item.row, views),
    width="stretch",
)
nav[2].button(NEXT, key="review.next", on_click=go_next, type="primary", width="stretch")
if "review.error" in st.session_state:
    ui.show_error(st.session_state.pop("review.error"))

focus = st.session_state.get("review.focus")
report, fields = st.columns([1, 1])
with report:
    st.markdown("**Report** · each value's evidence marked in its field's colour")
    text = reviewing.report_text(review, item.row)
    with st.container(height=520, border=True):
        if text is None:
            st.text("(the report text is not kept)")
        else:
            st.html(reviewing.report_html(review, item.row, text, focus))
components.html(KEYS.replace("FOCUS", f"{focus} {item.row}"), height=0)


def widget(column: Column, current: Any, key: str) -> Any:
    """The column's editor, showing `current` (reviewing.from_widget reads it back)."""
    label = column.name
    if column.kind == "choice":
        options = list(column.choices)
        index = options.index(current) if current in options else None
        return st.selectbox(label, options, index=index, key=key, placeholder="(none)")
    if column.kind == "yes/no":
        index = None if current is None else (0 if current else 1)
        return st.radio(label, ["yes", "no"], index=index, key=key, horizontal=True)
    if column.kind in ("number", "integer"):
        whole = column.kind == "integer"
        cast = int if whole else float
        bounds = {
            k: cast(v)
            for k, v in (("min_value", column.minimum), ("max_value", column.maximum))
            if v is not None
        }
        value = None if current is None else cast(current)
        return st.number_input(
            label, value=value, step=1 if whole else None, key=key, **bounds, placeholder="—"
        )
    if column.kind == "list" and column.item_kind == "choice":
        chosen = [v for v in current or [] if v in column.choices]
        return st.multiselect(label, list(column.choices), default=chosen, key=key)
    if column.kind == "list":
        shown = reviewing.list_text(current, column)
        return st.text_area(label, shown, key=key, help="One item per line.")
    if column.kind == "json":
        return st.text_area(label, json.dumps(current, ensure_ascii=False), key=key)
    return st.text_input(label, "" if current is None else str(current), key=key)


with fields:
    st.markdown(f"**Values** · `{item.id}`")
    by_path = {v.column.path: v for v in views}
    for group, columns in reviewing.groups(review.columns):
        box = st.container(border=True) if group else st.container()
        with box:
            if group:
                st.markdown(f"**{group}**")
            for column in columns:
                view = by_path[column.path]
                key = f"{item.row}.{column.path}"
                sure = "not measured" if view.confidence is None else f"{view.confidence:.0%}"
                state = f" · :green[reviewed: {value_text(view.decision)}]" if view.decided else ""
                st.markdown(
                    f"`{column.path}` · model: **{value_text(view.model_value)}** · "
                    f"confidence {sure}{state}"
                )
                if view.error:
                    st.caption(f":red[{view.error}]")
                current = view.decision if view.decided else view.model_value
                widget(column, current, f"review.value.{key}")
                buttons = st.columns([1, 1, 1.5, 1])
                off = not reviewer
                buttons[0].button(
                    "Accept",
                    key=f"review.accept.{key}",
                    help="The model's value is right.",
                    disabled=off,
                    on_click=decide,
                    args=(item.row, column.path, view.model_value),
                )
                buttons[1].button(
                    "Correct",
                    key=f"review.correct.{key}",
                    help="Save the value in the editor above.",
                    disabled=off,
                    on_click=correct,
                    args=(item.row, column, f"review.value.{key}"),
                )
                buttons[2].button(
                    "Not in report",
                    key=f"review.null.{key}",
                    disabled=off,
                    on_click=decide,
                    args=(item.row, column.path, None),
                    help="The report does not say this: the value is null.",
                )
                buttons[3].button(
                    "Evidence",
                    key=f"review.focus.{key}",
                    disabled=not reviewing.has_evidence(review, item.row, column.path),
                    on_click=st.session_state.__setitem__,
                    args=("review.focus", column.path),
                    help="Scroll the report to this value's evidence.",
                )
