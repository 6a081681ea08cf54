"""Results page: counts, filters (status, needs review, field values, search), sorting by
confidence, a record's report with its evidence highlighted beside its values and their
confidences, failures, downloads."""

from __future__ import annotations

import json

import streamlit as st

from clinextract.errors import ConfigError
from clinextract.highlight import legend_html
from clinextract.studio import ui
from clinextract.studio.results import (
    ATTEMPTS,
    ID,
    LOWEST,
    NEEDS_REVIEW,
    RAW,
    ROW,
    SORTS,
    STATUSES,
    field_values,
    filter_frame,
    list_runs,
    load_run,
    record_html,
    record_values,
    sort_frame,
    to_csv_bytes,
    to_json_bytes,
    value_label,
)

settings = ui.settings()
ANY_FIELD = "(no field filter)"

st.title("Results")
runs = list_runs(settings.output_dir)
if not runs:
    st.info(f"No runs in {settings.output_dir} yet: start one on the Run page.")
    st.stop()
paths = [str(r.path) for r in runs]
labels = {str(r.path): r.label for r in runs}
run_path = st.selectbox(
    "Run", paths, format_func=labels.get, key=ui.keep("results.run", paths[0], paths)
)
ui.remember("results.run")
try:
    result = load_run(run_path)
except (ConfigError, OSError, ValueError) as exc:
    ui.show_error(f"cannot read {run_path}: {exc}")
    st.stop()
frame = result.frame
counts = result.counts()
timings = result.info.manifest.get("timings", {})
cols = st.columns(7)
cols[0].metric("Rows", counts["rows"])
cols[1].metric("Success", counts["success"])
cols[2].metric("Partial", counts["partial"])
cols[3].metric("Failures", counts["failure"])
cols[4].metric("Needs review", counts["needs_review"])
cols[5].metric("Docs/s", f"{timings.get('docs_per_s', 0):.2f}")
cols[6].metric("Status", result.info.status)
if not result.complete:
    st.warning(
        "This run did not finish: the table holds the rows it completed (from its "
        "checkpoint). Start it again on the Run page to finish it."
    )

# filters
cols = st.columns([1.2, 1.2, 1.6, 2])
statuses = cols[0].multiselect("Status", list(STATUSES), key=ui.keep("results.status", []))
field_options = [ANY_FIELD, *result.fields]
field = cols[1].selectbox(
    "Field", field_options, key=ui.keep("results.field", ANY_FIELD, field_options)
)
values: list[str] = []
if field != ANY_FIELD:
    choices = field_values(frame, field)
    values = cols[2].multiselect(
        f"Values of {field}", choices, key=ui.keep(f"results.values.{field}", [])
    )
query = cols[3].text_input(
    "Search", key=ui.keep("results.query", ""), placeholder="text in the report or any field"
)
cols = st.columns([1.2, 1.2, 3.6])
review = cols[0].checkbox("Needs review only", key=ui.keep("results.review", False))
order = cols[1].selectbox("Sort", list(SORTS), key=ui.keep("results.sort", SORTS[0], list(SORTS)))
ui.remember("results.status", "results.field", "results.query", "results.review", "results.sort")
shown = filter_frame(
    frame,
    statuses=statuses,
    field=None if field == ANY_FIELD else field,
    values=values,
    query=query,
    needs_review=review,
)
shown = sort_frame(shown, order)

st.caption(f"{len(shown)} of {len(frame)} rows")
table_columns = [ID, *result.fields, "status", NEEDS_REVIEW, LOWEST, "error"]
if result.input_field and result.input_field in shown:
    table_columns.insert(1, result.input_field)
visible = shown[[c for c in table_columns if c in shown]].rename(columns={ID: "id"})
confidence_bar = st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f")
st.dataframe(
    visible.map(lambda v: value_label(v) if isinstance(v, list | dict) else v),
    hide_index=True,
    column_config={
        LOWEST: st.column_config.ProgressColumn(
            "lowest confidence", min_value=0.0, max_value=1.0, format="%.2f"
        ),
        NEEDS_REVIEW: st.column_config.CheckboxColumn("needs review"),
    },
)
cols = st.columns(4)
stem = f"{result.info.path.parent.name}-{result.info.path.name}"
cols[0].download_button(
    "Download CSV",
    to_csv_bytes(shown.drop(columns=[RAW, ATTEMPTS])),
    file_name=f"{stem}.csv",
    mime="text/csv",
    icon=":material/download:",
)
cols[1].download_button(
    "Download JSON",
    to_json_bytes(shown.drop(columns=[RAW, ATTEMPTS])),
    file_name=f"{stem}.json",
    mime="application/json",
    icon=":material/download:",
)

# one record beside its report
st.subheader("Record")
if shown.empty:
    st.caption("No row matches the filters.")
else:
    row_ids = [int(r) for r in shown[ROW]]
    ids = dict(zip(shown[ROW].map(int), shown[ID].map(str), strict=True))
    row = st.selectbox(
        "Row",
        row_ids,
        format_func=lambda r: f"{ids[r]} (row {r + 1})",
        key=ui.keep("results.row", row_ids[0], row_ids),
    )
    record = shown[shown[ROW] == row].iloc[0]
    leaves = record_values(record, result.fields)
    left, right = st.columns(2)
    with left:
        st.markdown("**Report** · evidence of each value marked in its field's colour")
        text = record.get(result.input_field) if result.input_field else None
        if isinstance(text, str):
            st.html(legend_html(leaves["field"], result.colours))
        with st.container(height=360, border=True):
            if isinstance(text, str):
                marked = record_html(record, result.fields, text, result.colours)
                st.html(f'<div style="white-space:pre-wrap">{marked}</div>')
            else:
                st.text("(the report text is not kept)")
    with right:
        ok = record["status"] == "success"
        flag = " · :orange[needs review]" if record.get(NEEDS_REVIEW) is True else ""
        st.markdown(f"**Fields** · {':green' if ok else ':red'}[{record['status']}]{flag}")
        st.dataframe(
            leaves,
            hide_index=True,
            column_config={"confidence": confidence_bar},
        )
        if not ok:
            ui.show_error(record.get("error") or "some values are not valid")
            st.markdown("Raw model output")
            st.code(record.get(RAW) or "(none)", language=None, wrap_lines=True)

# failures
failures = frame[frame["status"] == "failure"]
with st.expander(f"Failures ({len(failures)})", expanded=False):
    if failures.empty:
        st.caption("No failures in this run.")
    for _, item in failures.head(200).iterrows():
        st.markdown(f"**{item[ID]}** (row {int(item[ROW]) + 1}): {item['error']}")
        raw = item.get(RAW)
        st.code(raw if raw else "(no output)", language=None, wrap_lines=True)
with st.expander("Manifest (how this run was made)"):
    st.code(json.dumps(result.info.manifest, indent=2, ensure_ascii=False), language="json")
