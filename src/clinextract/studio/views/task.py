"""Task page: dataset and text column, the schema builder, description, examples, save."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from clinextract.data import FORMATS
from clinextract.errors import ConfigError
from clinextract.schema import OutputSchema
from clinextract.studio import draft as drafts
from clinextract.studio import ui, workspace
from clinextract.studio.schema_builder import (
    ITEM_KINDS,
    KINDS,
    UnsupportedSchema,
    check_fields,
    fields_to_schema,
    schema_to_fields,
)

NEW, AUTO, NONE = "(new task)", "(automatic)", "(none)"
UPLOAD_TYPES = sorted({suffix.lstrip(".") for suffix in FORMATS})
settings = ui.settings()


# --- the draft ------------------------------------------------------------------------------


def start_draft(entry: workspace.TaskEntry | None) -> None:
    """A blank draft, or one filled from a task file (in a callback, before drawing)."""
    old = st.session_state.get("draft")
    draft = drafts.new_draft(old["gen"] + 1 if old else 1, entry.path if entry else None)
    values: dict[str, Any] = {}
    note = None
    if entry is None:
        drafts.add_field(draft, draft["tree"], values)
        values[drafts.task_key(draft, "number")] = workspace.next_task_number(settings.task_dir)
    else:
        spec = workspace.read_task_spec(entry.path)
        values[drafts.task_key(draft, "number")] = entry.number
        values[drafts.task_key(draft, "name")] = entry.name
        values[drafts.task_key(draft, "description")] = spec.get("Description", "")
        values[drafts.task_key(draft, "data_file")] = spec.get("Data_Path", "")
        values[drafts.task_key(draft, "text_column")] = spec.get("Input_Field")
        values[drafts.task_key(draft, "id_column")] = spec.get("Id_Field") or AUTO
        values[drafts.task_key(draft, "examples")] = spec.get("Example_Path") or NONE
        try:
            for field in schema_to_fields(workspace.task_schema(spec, entry.path)):
                drafts.add_field(draft, draft["tree"], values, field)
        except (UnsupportedSchema, ConfigError) as exc:  # a .py parser is refused here too
            draft["keep_parser"] = spec.get("Parser_Format")
            note = f"{exc}. The schema is kept as it is; the builder is off for this task."
    draft["note"] = note
    st.session_state.setdefault("_kept", {}).update(values)
    st.session_state["draft"] = draft


def on_open() -> None:
    label = st.session_state["open_task"]
    entries = {t.label: t for t in workspace.list_tasks(settings.task_dir)}
    try:
        start_draft(entries.get(label))
    except ConfigError as exc:
        st.session_state["open_error"] = str(exc)


def add_to(siblings: list[dict[str, Any]]) -> None:
    values: dict[str, Any] = {}
    drafts.add_field(st.session_state["draft"], siblings, values)
    st.session_state.setdefault("_kept", {}).update(values)


def drop_builder() -> None:
    draft = st.session_state["draft"]
    draft["keep_parser"], draft["note"] = None, None
    if not draft["tree"]:
        add_to(draft["tree"])


if "draft" not in st.session_state:
    start_draft(None)
draft = st.session_state["draft"]


def tkey(what: str, default: Any, options: list[Any] | None = None) -> str:
    return ui.keep(drafts.task_key(draft, what), default, options)


# --- page -----------------------------------------------------------------------------------

st.title("Task")
tasks = workspace.list_tasks(settings.task_dir)
labels = [NEW, *[t.label for t in tasks]]
current = draft["source"].name if draft["source"] else NEW
st.session_state["open_task"] = current if current in labels else NEW
st.selectbox(
    "Open a task",
    labels,
    key="open_task",
    on_change=on_open,
    help=f"Task files in {settings.task_dir}; choose one to edit it, or start a new one.",
)
if "open_error" in st.session_state:
    ui.show_error(st.session_state.pop("open_error"))
if draft.get("note"):
    st.info(draft["note"])

# 1 · data
st.subheader("1 · Data")
left, right = st.columns([2, 3])
with left:
    mode = st.radio(
        "Dataset",
        ["From the data folder", "Upload a file"],
        horizontal=True,
        key=tkey("data_mode", "From the data folder"),
    )
    files = workspace.list_data_files(settings.data_dir)
    loaded = ui.kept_value(drafts.task_key(draft, "data_file"), "")
    if loaded and loaded not in files:
        files = [loaded, *files]
    if mode == "Upload a file":
        upload = st.file_uploader(
            "Dataset file", type=UPLOAD_TYPES, key=drafts.task_key(draft, "upload")
        )
        if upload is not None:
            try:
                saved = workspace.save_upload(settings.data_dir, upload.name, upload.getvalue())
                ui.set_kept(drafts.task_key(draft, "data_file"), saved)
                st.success(f"Saved as {settings.data_dir / saved}")
            except ConfigError as exc:
                ui.show_error(exc)
        data_file = ui.kept_value(drafts.task_key(draft, "data_file"), "")
    elif files:
        data_file = st.selectbox(
            "Data file",
            files,
            key=tkey("data_file", files[0], files),
            help=f"Files in {settings.data_dir} (CSV, TSV, JSON, JSONL, Parquet).",
        )
        ui.remember(drafts.task_key(draft, "data_file"))
    else:
        st.info(f"No data files in {settings.data_dir} yet: upload one.")
        data_file = ""
    columns: list[str] = []
    guess = None
    preview = None
    if data_file:
        try:
            preview = workspace.preview(settings.data_dir / data_file)
            columns, guess = preview.columns, preview.text_column
        except ConfigError as exc:
            ui.show_error(exc)
    text_column = st.selectbox(
        "Text column",
        columns,
        key=tkey("text_column", guess, columns),
        help="The column that holds the report text.",
    )
    id_column = st.selectbox(
        "Id column",
        [AUTO, *columns],
        key=tkey("id_column", AUTO, [AUTO, *columns]),
        help="The column that identifies a row (automatic: 'uid' or 'id', else the row number).",
    )
with right:
    if preview is not None:
        st.caption(f"First rows of {data_file} · {len(columns)} columns")
        st.dataframe(pd.DataFrame(preview.rows, columns=columns), hide_index=True)

# 2 · fields
st.subheader("2 · Fields")


def draw_fields(nodes: list[dict[str, Any]], depth: int) -> None:
    for node in list(nodes):
        fid = node["id"]

        def key(what: str, options: list[Any] | None = None, fid: str = fid) -> str:
            return ui.keep(drafts.field_key(fid, what), drafts.FIELD_DEFAULTS[what], options)

        with st.container(border=True):
            cols = st.columns([3, 2, 1.4, 0.5, 0.5, 0.5], vertical_alignment="bottom")
            cols[0].text_input("Field name", key=key("name"), placeholder="e.g. lesion_size_mm")
            kind = cols[1].selectbox("Type", KINDS, key=key("kind", list(KINDS)))
            cols[2].checkbox(
                "Required", key=key("req"), help="Off: the model may answer null for this field."
            )
            cols[3].button(
                ":material/arrow_upward:",
                key=f"up{fid}",
                help="Move up",
                on_click=drafts.move_field,
                args=(draft["tree"], fid, -1),
            )
            cols[4].button(
                ":material/arrow_downward:",
                key=f"down{fid}",
                help="Move down",
                on_click=drafts.move_field,
                args=(draft["tree"], fid, 1),
            )
            cols[5].button(
                ":material/delete:",
                key=f"del{fid}",
                help="Remove this field",
                on_click=drafts.remove_field,
                args=(draft["tree"], fid),
            )
            st.text_input(
                "Description", key=key("desc"), placeholder="What this field means, for the model"
            )
            value_kind = kind
            if kind == "list":
                value_kind = st.selectbox(
                    "Each item is", ITEM_KINDS, key=key("item", list(ITEM_KINDS))
                )
            if value_kind == "choice":
                st.text_input(
                    "Allowed values",
                    key=key("choices"),
                    placeholder="e.g. left, right, both",
                    help="Separate the values with commas.",
                )
            if value_kind == "group":
                st.caption("Fields in this group")
                draw_fields(node["children"], depth + 1)
                st.button(
                    "Add a field to the group",
                    key=f"add{fid}",
                    on_click=add_to,
                    args=(node["children"],),
                    icon=":material/add:",
                )


fields = drafts.specs(draft["tree"], ui.kept_value)
if draft["keep_parser"] is not None:
    try:
        kept_schema = workspace.task_schema(
            {"Parser_Format": draft["keep_parser"]}, draft["source"]
        )
        st.json(kept_schema.json_schema, expanded=False)
    except ConfigError as exc:
        ui.show_error(exc)
    st.button("Replace it with a new schema built here", on_click=drop_builder)
else:
    draw_fields(draft["tree"], 0)
    st.button("Add field", on_click=add_to, args=(draft["tree"],), icon=":material/add:")
    fields = drafts.specs(draft["tree"], ui.kept_value)
    problems = check_fields(fields, columns)
    with st.expander("Schema preview"):
        if problems:
            st.caption("Not a schema yet: " + "; ".join(problems))
        else:
            schema = fields_to_schema(fields)
            tab_schema, tab_model = st.tabs(["JSON Schema", "What the model reads"])
            tab_schema.json(schema)
            tab_model.code(OutputSchema.from_json_schema(schema).describe(), language=None)

# 3 · instructions
st.subheader("3 · Instructions")
description = st.text_area(
    "Description",
    key=tkey("description", ""),
    height=100,
    placeholder="e.g. Extract the size and location of the largest lung nodule.",
    help="Tells the model what to extract; it is sent with every report.",
)
example_files = [NONE, *workspace.list_data_files(settings.example_dir)]
examples = st.selectbox(
    "Examples file (optional)",
    example_files,
    key=tkey("examples", NONE, example_files),
    help=f"Files in {settings.example_dir} with 'input' and 'output' columns; a run uses "
    "the most similar ones when Few-shot examples is above 0.",
)
with st.expander("Upload an examples file"):
    ex_upload = st.file_uploader(
        "Examples file", type=UPLOAD_TYPES, key=drafts.task_key(draft, "ex_upload")
    )
    if ex_upload is not None:
        try:
            saved = workspace.save_upload(
                settings.example_dir, ex_upload.name, ex_upload.getvalue()
            )
            st.success(f"Saved as {settings.example_dir / saved}; choose it above.")
        except ConfigError as exc:
            ui.show_error(exc)

# 4 · save
st.subheader("4 · Save")
cols = st.columns([3, 1], vertical_alignment="bottom")
name = cols[0].text_input("Task name", key=tkey("name", ""), placeholder="e.g. lung_nodules")
number = cols[1].number_input(
    "Task number", min_value=1, max_value=999, step=1, key=tkey("number", 1)
)
if st.button("Save task", type="primary", icon=":material/save:"):
    try:
        schema = None
        if draft["keep_parser"] is None:
            problems = check_fields(fields, columns)
            if problems:
                raise ConfigError("; ".join(problems))
            schema = fields_to_schema(fields, title=workspace.slug(name) or "Output")
        example_path = None if examples == NONE else examples
        task = workspace.save_task(
            settings,
            number=int(number),
            name=name,
            description=description,
            data_path=data_file,
            input_field=text_column or "",
            schema=schema,
            example_path=example_path,
            id_field=None if id_column == AUTO else id_column,
            replaces=draft["source"],
            keep_parser=draft["keep_parser"],
        )
    except ConfigError as exc:
        ui.show_error(exc)
    else:
        draft["source"] = task.source
        ui.set_kept("run.task", str(task.source))  # the Run page offers this task first
        st.success(f"Saved {task.source} (schema in {settings.task_dir / 'parsers'}).")
        st.caption("Run it here on the Run page, or on the command line:")
        st.code(workspace.run_command(settings, int(number)), language="bash")
