"""The FastAPI app: routes over the catalog, the shared engine and the jobs.

Routes are thin: check who calls and what they may use, check the request against the
limits, then hand the work to a thread (the pipeline is synchronous) through `runs.py`
or `jobs.py`. OpenAPI is at /openapi.json and /docs; the docs page's scripts are served
by the service itself (fastapi-offline), so the browser fetches nothing from elsewhere.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ..data import as_text
from ..schema_models import finite
from ..settings import Settings
from ..store import dumps
from ..task import Task
from ..version import __version__
from .catalog import TaskCatalog
from .config import ServiceConfig
from .http import BearerAuth, install_error_handlers, invalid, principal_of
from .jobs import FINISHED, JOB_ID, Job, JobManager
from .keys import KeyRing, Principal
from .limits import BodyLimit, KeyGate, TooBusy
from .runs import TEXT, RunOptions, Scratch, columns_for, extract_rows
from .uploads import FORMATS, MULTIPART, UPLOAD_TYPES, receive

_json_list = TypeAdapter(list[Any])
JOB_RETRY_AFTER = 30  # seconds: a job takes minutes, not milliseconds


@dataclass
class Service:
    """Everything the routes use; one per process."""

    config: ServiceConfig
    settings: Settings
    catalog: TaskCatalog
    jobs: JobManager
    keys: KeyRing | None
    scratch: Scratch
    log: Callable[[str], None]

    def __post_init__(self) -> None:
        self.gate = KeyGate(self.config.key_concurrency, self.config.key_queue)
        # threads for sync requests; the per-key gates bound how many wait for one
        self.threads = anyio.CapacityLimiter(max(8, self.jobs.engine.capacity * 4))

    def task_for(self, principal: Principal, name: str) -> Task:
        task = self.catalog.get(name)
        if task is None:
            raise HTTPException(404, f"no task {name!r} (GET /v1/tasks lists them)")
        if not principal.may_use(name):
            raise HTTPException(403, f"this key may not use task {name!r}")
        return task


# --- request bodies -------------------------------------------------------------------------


class Rows(BaseModel):
    """Texts, or records that carry their text (and id) in a column."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(max_length=200, description="A task name from GET /v1/tasks.")
    texts: list[str] | None = Field(None, description="Report texts (ids are 0, 1, ...).")
    records: list[dict[str, Any]] | None = Field(
        None,
        description="Objects with the text in `text` (or the task's input field) and "
        "optionally an `id`; other keys are ignored.",
    )
    input_field: str | None = Field(None, max_length=200, description="The records' text key.")
    id_field: str | None = Field(None, max_length=200, description="The records' id key.")
    options: RunOptions = Field(default_factory=RunOptions)

    @field_validator("records")
    @classmethod
    def _finite(cls, records: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if records is not None and not finite(records):
            raise ValueError("NaN and Infinity are not JSON numbers")
        return records

    @model_validator(mode="after")
    def _one_kind(self) -> Rows:
        if (self.texts is None) == (self.records is None):
            raise ValueError("give either texts or records")
        if not (self.texts or self.records):
            raise ValueError("no texts")
        return self

    def rows(self, task: Task) -> tuple[list[dict[str, Any]], str, str | None]:
        """(rows, text column, id column)."""
        if self.texts is not None:
            return [{TEXT: t} for t in self.texts], TEXT, None
        assert self.records is not None
        input_field, id_field = columns_for(
            task, list(self.records[0]), self.input_field, self.id_field
        )
        return self.records, input_field, id_field


def check_rows(rows: list[dict[str, Any]], input_field: str, max_chars: int, kind: str) -> None:
    for n, row in enumerate(rows):
        if len(as_text(row.get(input_field))) > max_chars:
            raise invalid((kind, n), f"longer than {max_chars} characters")


# --- the app --------------------------------------------------------------------------------


def create_app(service: Service) -> FastAPI:
    config = service.config
    app = FastAPIOffline(
        title="clinextract service",
        version=__version__,
        description="Structured, validated data from clinical reports, on this machine.",
        redoc_url=None,
        swagger_ui_parameters={"validatorUrl": None},  # the validator badge calls out
    )
    install_error_handlers(app, service.log)

    def body_limit(path: str) -> int:
        return config.max_upload_bytes if path == "/v1/jobs" else config.max_body_bytes

    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.add_middleware(BearerAuth, keys=service.keys)  # outermost: 401 before anything

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/tasks", tags=["tasks"])
    async def tasks(request: Request) -> dict[str, Any]:
        principal = principal_of(request)
        names = [n for n in service.catalog.names() if principal.may_use(n)]
        return {"tasks": [_task_summary(service.catalog.get(n)) for n in names]}

    @app.get("/v1/tasks/{name}", tags=["tasks"])
    async def task(name: str, request: Request) -> dict[str, Any]:
        return TaskCatalog.describe(service.task_for(principal_of(request), name))

    @app.post("/v1/extract", tags=["extract"])
    async def extract(body: Rows, request: Request) -> dict[str, Any]:
        """Records for up to --max-sync texts, in their order, as `clinextract run` writes
        them (status, error, fields, confidence, evidence, ...)."""
        principal = principal_of(request)
        task = service.task_for(principal, body.task)
        rows, input_field, id_field = body.rows(task)
        if len(rows) > config.max_sync:
            kind = "texts" if body.texts is not None else "records"
            raise invalid((kind,), f"at most {config.max_sync} per request (use POST /v1/jobs)")
        check_rows(rows, input_field, config.max_chars, "texts" if body.texts else "records")
        settings = body.options.settings_for(service.settings, task)
        async with service.gate.admit(principal.name):
            records = await anyio.to_thread.run_sync(
                extract_rows,
                task,
                settings,
                service.jobs.engine,
                rows,
                input_field,
                id_field,
                service.scratch.path,
                limiter=service.threads,
            )
        return {"task": task.name, "records": records}

    @app.post(
        "/v1/jobs",
        tags=["jobs"],
        status_code=202,
        openapi_extra={"requestBody": _job_body_doc()},
    )
    async def create_job(
        request: Request,
        task: str | None = Query(None, max_length=200, description="Uploads: the task."),
        input_field: str | None = Query(None, max_length=200),
        id_field: str | None = Query(None, max_length=200),
        num_examples: int | None = Query(None),
        max_tokens: int | None = Query(None),
        temperature: float | None = Query(None),
        seed: int | None = Query(None),
    ) -> dict[str, Any]:
        """A job over an uploaded CSV/TSV/JSONL/JSON file (the body itself, or the `file`
        part of a multipart form; the task and options as query parameters or form fields)
        or a JSON body like /v1/extract's. Answers `job_id` at once."""
        principal = principal_of(request)
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";")[0].strip().lower()
        query = {"task": task, "input_field": input_field, "id_field": id_field,
                 "num_examples": num_examples, "max_tokens": max_tokens,
                 "temperature": temperature, "seed": seed}  # fmt: skip
        if kind == "application/json":
            body = _json_job(await request.body(), query)
            job_task = service.task_for(principal, body.task)
        elif kind in UPLOAD_TYPES and task is None:
            raise invalid(("query", "task"), "an upload needs ?task=NAME")
        elif kind not in UPLOAD_TYPES and kind != MULTIPART:
            raise HTTPException(415, f"Content-Type {kind or 'none'}: use application/json, "
                                f"{MULTIPART}, " + ", ".join(UPLOAD_TYPES))  # fmt: skip
        elif task is not None:  # refused before the upload is read
            service.task_for(principal, task)
        if service.jobs.unfinished(principal.name) >= config.key_jobs:
            raise TooBusy(f"this key has {config.key_jobs} unfinished jobs", JOB_RETRY_AFTER)
        job_id, folder = service.jobs.incoming()
        try:
            if kind == "application/json":
                rows, chosen_input, chosen_id = body.rows(job_task)
                name, options = "input" + FORMATS["jsonl"], body.options
                with open(folder / name, "w", encoding="utf-8") as fh:
                    fh.writelines(dumps(row) + "\n" for row in rows)
            else:
                upload = await receive(request.stream(), content_type, folder)
                given = {**{k: v for k, v in query.items() if v is not None}, **upload.fields}
                if not given.get("task"):
                    raise invalid(("task",), "an upload needs a task (?task= or a form field)")
                job_task = service.task_for(principal, given["task"])
                name, options = upload.input_name, _parse_options(given)
                chosen_input, chosen_id = given.get("input_field"), given.get("id_field")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = await anyio.to_thread.run_sync(
            service.jobs.accept,
            job_id,
            folder,
            name,
            principal.name,
            job_task,
            options,
            chosen_input,
            chosen_id,
        )
        return _job_links(service.jobs.status(job))

    @app.get("/v1/jobs", tags=["jobs"])
    async def list_jobs(request: Request) -> dict[str, Any]:
        jobs = service.jobs.jobs_of(principal_of(request).name)
        return {"jobs": [_job_links(service.jobs.status(j)) for j in jobs]}

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job_status(job_id: str, request: Request) -> dict[str, Any]:
        return _job_links(service.jobs.status(_job(service, job_id, request)))

    @app.get("/v1/jobs/{job_id}/records", tags=["jobs"])
    async def job_records(
        job_id: str,
        request: Request,
        offset: int = Query(0, ge=0, description="The first row to send (0-based)."),
        limit: int | None = Query(None, ge=1, description="At most this many records."),
    ) -> StreamingResponse:
        """NDJSON, one record per line, in input order from row `offset` up to the first
        row not finished yet. `X-Next-Offset` says where to continue."""
        job = _job(service, job_id, request)
        state = service.jobs.state(job)
        next_offset, records = await anyio.to_thread.run_sync(
            service.jobs.records, job, offset, limit
        )
        return StreamingResponse(
            _ndjson(records),
            media_type="application/x-ndjson",
            headers={"X-Next-Offset": str(next_offset), "X-Job-State": state},
        )

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    async def cancel_job(
        job_id: str,
        request: Request,
        purge: bool = Query(False, description="Also delete the upload and the records."),
    ) -> dict[str, Any]:
        job = _job(service, job_id, request)
        state = service.jobs.state(job)
        if state in FINISHED and state != "cancelled" and not purge:
            raise HTTPException(409, f"job {job_id} is {state}; add ?purge=true to delete it")
        service.jobs.cancel(job, purge=purge)
        if purge:
            return {"job_id": job_id, "state": "deleted"}
        return _job_links(service.jobs.status(job))

    return app


def _parse(model: type[BaseModel], raw: bytes, into: str | None = None, **fields: Any) -> Any:
    """`model` from a JSON body; with `into`, the body is that field's value and `fields`
    (those not None) the others. 422 with the reasons (never the values) when invalid."""
    try:
        if into is None:
            return model.model_validate_json(raw)
        given = {k: v for k, v in fields.items() if v is not None}
        return model.model_validate({**given, into: _json_list.validate_json(raw)})
    except ValidationError as exc:
        raise _as_invalid(exc, "body") from None


def _parse_options(given: dict[str, Any]) -> RunOptions:
    """Options from query parameters or form fields (other keys are not options)."""
    chosen = {k: v for k, v in given.items() if k in RunOptions.model_fields and v is not None}
    if "options" in given:  # a form may carry them as one JSON object
        chosen = {**_parse(RunOptions, str(given["options"]).encode()).model_dump(), **chosen}
    try:
        return RunOptions(**{k: v for k, v in chosen.items() if v is not None})
    except ValidationError as exc:
        raise _as_invalid(exc, "query") from None


def _json_job(raw: bytes, query: dict[str, Any]) -> Rows:
    """A JSON job body: an object like /v1/extract's, or a plain list of records with the
    task and options in the query."""
    if raw.lstrip()[:1] != b"[":
        return _parse(Rows, raw)
    listed = {k: query[k] for k in ("task", "input_field", "id_field")}
    body = _parse(Rows, raw, into="records", **listed)
    body.options = _parse_options(query)
    return body


def _as_invalid(exc: ValidationError, where: str) -> RequestValidationError:
    return RequestValidationError(
        [{**e, "loc": (where, *e.get("loc", ()))} for e in exc.errors(include_input=False)]
    )


def _job(service: Service, job_id: str, request: Request) -> Job:
    job = service.jobs.get(job_id, principal_of(request).name) if JOB_ID.match(job_id) else None
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


def _job_links(status: dict[str, Any]) -> dict[str, Any]:
    base = f"/v1/jobs/{status['job_id']}"
    return {**status, "status_url": base, "records_url": f"{base}/records"}


def _task_summary(task: Task | None) -> dict[str, Any]:
    assert task is not None
    return {"name": task.name, "description": task.description, "url": f"/v1/tasks/{task.name}"}


def _ndjson(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for record in records:
        yield (dumps(record) + "\n").encode("utf-8")


def _job_body_doc() -> dict[str, Any]:
    upload = {"schema": {"type": "string", "format": "binary"}}
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Rows"}},
            "text/csv": upload,
            "text/tab-separated-values": upload,
            "application/x-ndjson": upload,
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "task": {"type": "string"},
                        "options": {"type": "string", "description": "JSON, like /v1/extract's"},
                    },
                    "required": ["file"],
                }
            },
        },
    }
