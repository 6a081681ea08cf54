"""Run page: engine, model and decoding settings; start, live progress, cancel.

The run goes through `clinextract.pipeline.run_task` in a background thread of this
process (`studio.runner`), with the one `Settings` object built from the form.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from pydantic import ValidationError

from clinextract.errors import ConfigError
from clinextract.examples import few_shot
from clinextract.settings import Settings
from clinextract.studio import runner, ui, workspace
from clinextract.task import Task, load_task

# drawn in the main form; the folders come from `clinextract studio`; logging is the CLI's
MAIN = (
    "engine",
    "model",
    "parallel",
    "base_url",
    "api_key",
    "concurrency",
    "temperature",
    "num_examples",
    "max_tokens",
    "run_name",
    "overwrite",
)
NOT_HERE = (*workspace.PATH_FIELDS, "verbose", "log_text")
# every other Settings field, so a new setting shows up here without a change
ADVANCED = tuple(n for n in Settings.model_fields if n not in MAIN + NOT_HERE)
SERVER_HELP = {
    "ollama": "e.g. http://127.0.0.1:11434",
    "openai": "e.g. http://127.0.0.1:8000/v1",
}
settings = ui.settings()


def examples_note(task: Task | None, requested: Any) -> None:
    """How many examples each report will get, resolved as the run resolves them."""
    if task is None:
        return
    try:
        note = few_shot(task, Settings(num_examples=requested).num_examples).describe()
    except ValidationError as exc:
        note = exc.errors()[0]["msg"].removeprefix("Value error, ")
    except ConfigError as exc:
        note = f"error: {exc}"
    st.caption(f"Few-shot examples: {note}")


def form_settings(task: Task | None) -> tuple[dict[str, Any], int]:
    """Draw the settings form; returns (Settings fields as chosen, first-N-rows limit)."""
    values: dict[str, Any] = {}
    left, right = st.columns(2)
    with left:
        engine = values["engine"] = ui.setting_input("engine", "run.engine")
        if engine == "embedded":
            values["model"] = ui.setting_input(
                "model",
                "run.model.embedded",
                label="Model file (.gguf)",
                placeholder="empty: the bundled Gemma 3 270M",
            )
            values["parallel"] = ui.setting_input(
                "parallel", "run.parallel", label="Parallel slots"
            )
        else:
            values["model"] = ui.setting_input("model", f"run.model.{engine}", label="Model name")
            values["base_url"] = ui.setting_input(
                "base_url",
                f"run.base_url.{engine}",
                label="Server URL",
                placeholder=SERVER_HELP.get(engine, ""),
            )
            values["api_key"] = ui.setting_input(
                "api_key", f"run.api_key.{engine}", label="API key (optional)"
            )
            values["concurrency"] = ui.setting_input(
                "concurrency", "run.concurrency", label="Parallel requests"
            )
    with right:
        values["temperature"] = ui.setting_input("temperature", "run.temperature")
        values["num_examples"] = ui.setting_input(
            "num_examples", "run.num_examples", label="Few-shot examples"
        )
        examples_note(task, values["num_examples"])
        values["max_tokens"] = ui.setting_input(
            "max_tokens", "run.max_tokens", label="Output tokens per answer"
        )
        values["run_name"] = ui.setting_input("run_name", "run.run_name", label="Run name")
    with st.expander("More settings"):
        cols = st.columns(3)
        for n, name in enumerate(ADVANCED):
            with cols[n % 3]:
                values[name] = ui.setting_input(name, f"run.{name}")
    cols = st.columns(2)
    first = cols[0].number_input(
        "Only the first N rows (0 = all)",
        min_value=0,
        step=1,
        key=ui.keep("run.first_rows", 0),
        help="Try the task on a few rows before running the whole file.",
    )
    values["overwrite"] = cols[1].checkbox(
        "Start over",
        key=ui.keep("run.overwrite", False),
        help=f"{Settings.model_fields['overwrite'].description} Otherwise the finished rows "
        "of a run with the same name and settings are reused.",
    )
    ui.remember(*[k for k in st.session_state if isinstance(k, str) and k.startswith("run.")])
    return values, int(first)


def start(task_path: str, values: dict[str, Any], first_rows: int) -> None:
    try:
        run_settings = Settings(**{**settings.model_dump(), **values})
    except ValidationError as exc:
        for line in ui.validation_messages(exc):
            ui.show_error(line)
        return
    try:
        task = load_task(task_path, run_settings)
        runner.start_job(task, run_settings, first_rows=first_rows)
    except ConfigError as exc:
        ui.show_error(f"error: {exc}")
    else:
        st.session_state["_run_seen"] = "running"
        st.rerun()  # draw the page again with Start disabled


def live() -> None:
    """Progress of the current run (redrawn every second while it runs, see below)."""
    job = runner.current_job()
    if job is None:
        return
    snap = job.snapshot()
    st.subheader(f"{snap.task}: {snap.state}")
    label = f"{snap.done} / {snap.total or '?'} rows"
    st.progress(snap.fraction, text=label)
    cols = st.columns(5)
    cols[0].metric("Done", snap.done)
    cols[1].metric("Docs/s", f"{snap.docs_per_s:.2f}")
    cols[2].metric("Success", snap.successes)
    cols[3].metric("Failures", snap.failures)
    cols[4].metric("Elapsed", f"{snap.elapsed:.0f} s")
    for message in snap.messages:
        st.caption(message)
    if not snap.finished:
        st.button(
            "Cancel", icon=":material/stop:", on_click=job.cancel, disabled=job.cancel_requested
        )
        st.session_state["_run_seen"] = "running"
        return
    if snap.state == runner.DONE:
        reused = f", {snap.reused} reused" if snap.reused else ""
        st.success(
            f"Finished: {snap.successes} success, {snap.failures} failure{reused}. "
            f"Saved in {', '.join(str(s.run_dir) for s in snap.summaries)}"
        )
        if st.button("Open the results", icon=":material/table_view:"):
            st.switch_page("views/results.py")
    elif snap.state == runner.CANCELLED:
        st.warning(snap.error or "cancelled")
    else:
        ui.show_error(snap.error or "the run failed", snap.detail)
    if st.session_state.get("_run_seen") == "running":
        st.session_state["_run_seen"] = snap.state
        if snap.state != runner.FAILED and snap.run_dirs:  # the Results page shows this run
            ui.set_kept("results.run", str(snap.run_dirs[-1]))
            ui.set_kept("evaluate.run", str(snap.run_dirs[-1]))
        st.rerun()  # the whole page: the Start button is free again


st.title("Run")
tasks = workspace.list_tasks(settings.task_dir)
if not tasks:
    st.info(f"No task files in {settings.task_dir} yet: build one on the Task page.")
    st.stop()
paths = [str(t.path) for t in tasks]
names = {str(t.path): t.label for t in tasks}
task_path = st.selectbox(
    "Task", paths, format_func=names.get, key=ui.keep("run.task", paths[-1], paths)
)
preview_task = None
try:
    preview_task = load_task(task_path, settings)
    rows_from = preview_task.data_path or "(no Data_Path)"
    st.caption(
        f"Data: {rows_from} · text column: {preview_task.input_field} · fields: "
        + ", ".join(preview_task.schema.field_names)
    )
except ConfigError as exc:
    ui.show_error(f"error: {exc}")

values, first_rows = form_settings(preview_task)
job = runner.current_job()
busy = job is not None and not job.snapshot().finished
if st.button("Start", type="primary", icon=":material/play_arrow:", disabled=busy):
    start(task_path, values, first_rows)
st.fragment(live, run_every=1.0 if busy else None)()
