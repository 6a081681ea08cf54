"""A job's upload, streamed into the job's folder as it arrives.

Two ways to send a file: the body itself (`Content-Type: text/csv`, TSV, JSONL; the task
and options in the query string), or `multipart/form-data` (`curl -F file=@reports.csv
-F task=...`, a browser form, `requests.post(files=...)`). A multipart body is parsed
here, part by part (python-multipart's streaming parser), so the file goes straight to
the job's folder: never whole into memory and never into a temporary file elsewhere
(Starlette's own form parsing spools files to the system's temporary folder).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import ConfigError

UPLOAD_TYPES = {  # Content-Type of a file → its format
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
}
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
FORMATS = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "json": ".json"}
MULTIPART = "multipart/form-data"
MAX_FIELDS, MAX_FIELD_BYTES = 16, 4096  # the form's other parts: a task name, options


@dataclass
class Upload:
    input_name: str  # the file's name in the job folder
    fields: dict[str, str] = field(default_factory=dict)  # a multipart form's other parts


async def receive(stream: AsyncIterator[bytes], content_type: str, folder: Path) -> Upload:
    """Write the upload in `stream` into `folder`; ConfigError when it is not one."""
    kind, params = parse_options_header(content_type)
    kind_name = kind.decode("latin-1").lower()
    if kind_name in UPLOAD_TYPES:
        name = "input" + FORMATS[UPLOAD_TYPES[kind_name]]
        with open(folder / name, "wb") as fh:
            async for chunk in stream:
                fh.write(chunk)
        return Upload(name)
    if kind_name != MULTIPART or b"boundary" not in params:
        raise ConfigError(f"Content-Type {kind_name or 'none'} is not an upload")
    return await _multipart(stream, params[b"boundary"], folder)


async def _multipart(stream: AsyncIterator[bytes], boundary: bytes, folder: Path) -> Upload:
    form = _Form(folder)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": form.part_begin,
            "on_header_field": form.header_field,
            "on_header_value": form.header_value,
            "on_header_end": form.header_end,
            "on_headers_finished": form.headers_finished,
            "on_part_data": form.part_data,
            "on_part_end": form.part_end,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except ConfigError:
        raise
    except Exception as exc:  # python-multipart's parse errors: the body is not multipart
        raise ConfigError(f"malformed multipart body ({type(exc).__name__})") from None
    finally:
        form.close()
    if form.input_name is None:
        raise ConfigError("the form has no file part (e.g. -F file=@reports.csv)")
    return Upload(form.input_name, form.fields)


class _Form:
    """python-multipart's callbacks: the file part into the folder, the rest as fields."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.fields: dict[str, str] = {}
        self.input_name: str | None = None
        self._file: IO[bytes] | None = None
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header = [b"", b""]
        self._name = ""

    def part_begin(self) -> None:
        self._headers, self._value, self._name = {}, bytearray(), ""

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header[0].lower()] = self._header[1]
        self._header = [b"", b""]

    def headers_finished(self) -> None:
        _, disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if filename is None:
            if len(self.fields) >= MAX_FIELDS:
                raise ConfigError(f"at most {MAX_FIELDS} form fields")
            return
        if self.input_name is not None:
            raise ConfigError("one file per job")
        kind = parse_options_header(self._headers.get(b"content-type", b""))[0].decode()
        suffix = Path(filename.decode("utf-8", "replace")).suffix.lower()
        fmt = SUFFIXES.get(suffix) or UPLOAD_TYPES.get(kind.lower())
        if fmt is None:
            raise ConfigError(
                f"file {suffix or 'without a suffix'}: send a .csv, .tsv, .jsonl or .json file"
            )
        self.input_name = "input" + FORMATS[fmt]
        self._file = open(self.folder / self.input_name, "wb")  # noqa: SIM115 - closed in part_end

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise ConfigError(f"form field {self._name!r} over {MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
