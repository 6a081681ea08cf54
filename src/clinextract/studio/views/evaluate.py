"""Evaluate page: one or more runs against gold (a file, or a run's reviews), per field,
with 95 % bootstrap intervals and confusion matrices for choice and yes/no fields.

The scores come from `clinextract.evaluation` (the code `clinextract evaluate` runs);
this page only picks the runs and the gold and draws the tables."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from clinextract.errors import ConfigError
from clinextract.evaluation import (
    CATEGORICAL,
    choice_spellings,
    confusion,
    evaluate_runs,
    side_by_side,
)
from clinextract.store import RunFolder
from clinextract.studio import ui, workspace
from clinextract.studio.results import list_runs

settings = ui.settings()
FOLDER, UPLOAD, REVIEWS = "From the data folder", "Upload a file", "A run's reviews"

st.title("Evaluate")
runs = [r for r in list_runs(settings.output_dir) if r.status == "complete"]
if not runs:
    st.info(f"No finished runs in {settings.output_dir} yet: start one on the Run page.")
    st.stop()
paths = [str(r.path) for r in runs]
labels = {str(r.path): r.label for r in runs}
left, right = st.columns(2)
RUNS = ui.keep("evaluate.runs", paths[:1])
st.session_state[RUNS] = [p for p in st.session_state[RUNS] if p in paths] or paths[:1]
chosen_runs = left.multiselect(
    "Runs (several: side by side on the rows they share)",
    paths,
    format_func=labels.get,
    key=RUNS,
)
reviewed = [p for p in paths if RunFolder(p).reviews_path.is_file()]
with right:
    modes = [FOLDER, UPLOAD, *([REVIEWS] if reviewed else [])]
    mode = st.radio("Gold", modes, horizontal=True, key=ui.keep("evaluate.mode", FOLDER, modes))
    gold_path = None
    if mode == UPLOAD:
        upload = st.file_uploader(
            "Gold file (id + one column per field, gold JSON, or a Label Studio export)",
            type=["csv", "tsv", "json", "jsonl"],
            key="evaluate.upload",
        )
        if upload is not None:
            try:
                name = workspace.save_upload(settings.data_dir, upload.name, upload.getvalue())
                gold_path = settings.data_dir / name
            except ConfigError as exc:
                ui.show_error(exc)
    elif mode == REVIEWS:
        gold_run = st.selectbox(
            "The reviewed run whose decisions are the gold",
            reviewed,
            format_func=labels.get,
            key=ui.keep("evaluate.gold_run", reviewed[0], reviewed),
        )
        gold_path = RunFolder(gold_run).path
    else:
        files = workspace.list_data_files(settings.data_dir)
        if files:
            gold_file = st.selectbox(
                "Gold file in the data folder",
                files,
                key=ui.keep("evaluate.gold", files[0], files),
                help="A file with an id column and one column per field.",
            )
            gold_path = settings.data_dir / gold_file
        else:
            st.info(f"No files in {settings.data_dir}: upload the gold file.")
ui.remember("evaluate.runs", "evaluate.mode", "evaluate.gold", "evaluate.gold_run")
if gold_path is None or not chosen_runs:
    st.stop()

cols = st.columns(2)
id_field = cols[0].text_input(
    "Gold id column",
    key=ui.keep("evaluate.gold_id", ""),
    placeholder="the run's id column, id or uid",
    disabled=mode == REVIEWS,
)
empty_null = cols[1].checkbox(
    "An empty gold cell means no value (null)",
    key=ui.keep("evaluate.empty_null", True),
    help="On: null is the right answer there (an optional field left empty). Off: the row "
    "was not annotated and does not count for that field.",
)
ui.remember("evaluate.gold_id", "evaluate.empty_null")

try:
    evaluation, columns = evaluate_runs(
        [RunFolder(p).path for p in chosen_runs],
        gold_path,
        id_field=id_field.strip() or None,
        empty="null" if empty_null else "skip",
    )
except (ConfigError, OSError, ValueError) as exc:
    ui.show_error(exc)
    st.stop()

pred_only = max((len(v) for v in evaluation.pred_only.values()), default=0)
st.caption(
    f"{evaluation.matched} rows matched by id · {len(evaluation.gold_only)} gold rows not in "
    f"every run · {pred_only} predictions without gold"
)
if evaluation.matched == 0:
    ui.show_error("no id in the gold matches an id in every run; check the id column")
    st.stop()

first = evaluation.runs[0]
table = evaluation.table(first)
for metric in ("accuracy", "f1", "mae"):
    table[f"{metric} 95%"] = [
        "" if ci is None else f"{ci[0]:.3f} – {ci[1]:.3f}" for ci in table.pop(f"{metric}_ci")
    ]
if len(evaluation.runs) > 1:
    st.subheader("Runs side by side")
    st.dataframe(side_by_side(evaluation), hide_index=True, key="evaluate.compare")
    st.subheader(f"Scores of {first}")
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
        "f1": st.column_config.NumberColumn("F1", format="%.3f"),
        "mae": st.column_config.NumberColumn("MAE", format="%.3f"),
        "n": st.column_config.NumberColumn("n", help="rows with a gold value"),
        "missing": st.column_config.NumberColumn("missing", help="rows without a prediction"),
    },
)
st.download_button(
    "Download scores (CSV)",
    evaluation.long_table().to_csv(index=False).encode("utf-8"),
    file_name="scores.csv",
    mime="text/csv",
    icon=":material/download:",
)

by_path = {c.path: c for c in columns}
scores = evaluation.scores[first]
categorical = [s.field for s in scores if s.kind in CATEGORICAL and s.n]
st.subheader("Confusion matrix")
if not categorical:
    st.caption("Confusion matrices are drawn for choice and yes/no fields; there are none.")
    st.stop()
field = st.selectbox(
    "Field", categorical, key=ui.keep("evaluate.cm_field", categorical[0], categorical)
)
ui.remember("evaluate.cm_field")
gold_values, pred_values = evaluation.pairs[first][field]
cells: pd.DataFrame = confusion(gold_values, pred_values, choice_spellings(by_path[field]))
order = list(dict.fromkeys(cells["gold"]))
base = alt.Chart(cells).encode(
    x=alt.X("predicted:N", sort=order, title="predicted"),
    y=alt.Y("gold:N", sort=order, title="gold"),
)
heat = base.mark_rect().encode(
    color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
    tooltip=["gold", "predicted", "count"],
)
text = base.mark_text(fontSize=14).encode(
    text="count:Q",
    color=alt.condition(
        alt.datum.count > cells["count"].max() / 2, alt.value("white"), alt.value("black")
    ),
)
size = 60 * len(order) + 80
st.altair_chart((heat + text).properties(width=size, height=size), width="content")
