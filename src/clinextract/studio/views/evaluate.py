"""Evaluate page: a run against a gold file (id + fields), per field, with confusion
matrices for choice and yes/no fields."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from clinextract.errors import ConfigError
from clinextract.studio import metrics, ui, workspace
from clinextract.studio.results import ID, list_runs, load_run

settings = ui.settings()
FOLDER, UPLOAD = "From the data folder", "Upload a file"
RUN_ID = "(the run's row id)"

st.title("Evaluate")
runs = [r for r in list_runs(settings.output_dir) if r.status == "complete"]
if not runs:
    st.info(f"No finished runs in {settings.output_dir} yet: start one on the Run page.")
    st.stop()
paths = [str(r.path) for r in runs]
labels = {str(r.path): r.label for r in runs}
left, right = st.columns(2)
run_path = left.selectbox(
    "Run", paths, format_func=labels.get, key=ui.keep("evaluate.run", paths[0], paths)
)
with right:
    mode = st.radio(
        "Gold file", [FOLDER, UPLOAD], horizontal=True, key=ui.keep("evaluate.mode", FOLDER)
    )
    gold_path = None
    if mode == UPLOAD:
        upload = st.file_uploader(
            "Gold file (id + one column per field)",
            type=["csv", "tsv", "json", "jsonl", "parquet"],
            key="evaluate.upload",
        )
        if upload is not None:
            try:
                name = workspace.save_upload(settings.data_dir, upload.name, upload.getvalue())
                gold_path = settings.data_dir / name
            except ConfigError as exc:
                ui.show_error(exc)
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
ui.remember("evaluate.run", "evaluate.mode", "evaluate.gold")
if gold_path is None:
    st.stop()

try:
    result = load_run(run_path)
    gold_rows = workspace.preview(gold_path, n=1_000_000)
except (ConfigError, OSError, ValueError) as exc:
    ui.show_error(exc)
    st.stop()
gold = pd.DataFrame(gold_rows.rows, columns=gold_rows.columns, dtype=object)
predictions = result.frame

if result.schema is not None:
    kinds = metrics.schema_kinds(result.schema)
else:
    st.caption("The task's schema changed since this run: field types are guessed.")
    kinds = {f: metrics.infer_kind(list(predictions.get(f, []))) for f in result.fields}
common = [f for f in result.fields if f in gold.columns]
if not common:
    ui.show_error(
        f"the gold file has none of the run's fields ({', '.join(result.fields)}); "
        f"its columns are {', '.join(gold.columns)}"
    )
    st.stop()

cols = st.columns(3)
id_guess = next(
    (c for c in (result.id_field, "uid", "id") if c and c in gold.columns), gold.columns[0]
)
gold_id = cols[0].selectbox(
    "Gold id column",
    list(gold.columns),
    key=ui.keep("evaluate.gold_id", id_guess, list(gold.columns)),
)
pred_options = [RUN_ID, *[c for c in predictions.columns if not str(c).startswith("_")]]
pred_id = cols[1].selectbox(
    "Run id column",
    pred_options,
    key=ui.keep("evaluate.pred_id", RUN_ID, pred_options),
    help="The run's own row id is the task's id column, else the row number starting at 0.",
)
chosen = cols[2].multiselect("Fields", common, key=ui.keep("evaluate.fields", common))
empty_null = st.checkbox(
    "An empty gold cell means no value (null)",
    key=ui.keep("evaluate.empty_null", True),
    help="On: null is the right answer there (an optional field left empty). Off: the row "
    "was not annotated and does not count for that field.",
)
ui.remember("evaluate.gold_id", "evaluate.pred_id", "evaluate.fields", "evaluate.empty_null")

try:
    evaluation = metrics.evaluate(
        predictions,
        gold,
        pred_id=ID if pred_id == RUN_ID else pred_id,
        gold_id=gold_id,
        kinds={f: kinds.get(f, "text") for f in chosen},
        empty_gold="null" if empty_null else "skip",
    )
except ConfigError as exc:
    ui.show_error(exc)
    st.stop()

st.caption(
    f"{evaluation.matched} rows matched by id · {len(evaluation.gold_only)} gold rows without "
    f"a prediction · {len(evaluation.pred_only)} predictions without gold"
)
if evaluation.matched == 0:
    ui.show_error("no id in the gold file matches an id in the run; check the id columns")
    st.stop()
table = evaluation.table()
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
    table.to_csv(index=False).encode("utf-8"),
    file_name="scores.csv",
    mime="text/csv",
    icon=":material/download:",
)

categorical = [s.field for s in evaluation.scores if s.kind in metrics.CATEGORICAL and s.n]
st.subheader("Confusion matrix")
if not categorical:
    st.caption("Confusion matrices are drawn for choice and yes/no fields; there are none.")
else:
    field = st.selectbox(
        "Field", categorical, key=ui.keep("evaluate.cm_field", categorical[0], categorical)
    )
    ui.remember("evaluate.cm_field")
    gold_values, pred_values = evaluation.pairs[field]
    spellings = metrics.choice_spellings(result.schema, field) if result.schema else {}
    cells = metrics.confusion(gold_values, pred_values, spellings)
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
