"""Rows in, as a stream, with every input column exactly as given.

CSV cells stay strings ("007" stays "007", dates stay as written), JSON values keep
their JSON types, column names are never renamed. Rows are read lazily so memory does
not grow with the number of rows (a JSON list file is the exception: it is one value).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, MissingExtra

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DEFAULT_ID_FIELDS = ("uid", "id")

csv.field_size_limit(1 << 30)  # clinical reports can be long


@dataclass(frozen=True)
class Row:
    index: int  # position in the input, 0-based
    id: str  # the row's identity as text (the column itself stays untouched)
    text: str  # "" when the input had no usable text
    columns: dict[str, Any]


def json_default(value: Any) -> Any:
    """JSON for values that Parquet and friends produce."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def as_text(value: Any) -> str:
    """Report text from a cell; missing, NaN and blank become ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else ""


class DataSource:
    """One input file. `columns` comes from the first row; rows stream on iteration."""

    def __init__(self, path: Path, input_field: str, id_field: str | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise ConfigError(f"data file not found: {self.path}")
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: not a file")
        self.format = FORMATS.get(self.path.suffix.lower())
        if self.format is None:
            raise ConfigError(
                f"{self.path}: unsupported data format (use one of {', '.join(sorted(FORMATS))})"
            )
        self.input_field = input_field
        with self._reading():
            if self.format in ("csv", "tsv", "json", "jsonl"):
                _check_utf8(self.path)
            self.columns = self._columns()
        if input_field not in self.columns:
            raise ConfigError(
                f"{self.path}: no column {input_field!r} (columns: "
                f"{', '.join(map(repr, self.columns)) or 'none'})"
            )
        if id_field is not None and id_field not in self.columns:
            raise ConfigError(
                f"{self.path}: id column {id_field!r} not found (columns: "
                f"{', '.join(map(repr, self.columns))})"
            )
        self.id_field = id_field or next((c for c in DEFAULT_ID_FIELDS if c in self.columns), None)
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self._records())
        return self._count

    def __iter__(self) -> Iterator[Row]:
        with self._reading():
            for index, record in enumerate(self._records()):
                if self.id_field is None:
                    row_id = str(index)
                else:
                    raw = record.get(self.id_field)
                    row_id = raw if isinstance(raw, str) else json.dumps(raw, default=json_default)
                yield Row(index, row_id, as_text(record.get(self.input_field)), record)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """What goes wrong while reading the file is one line about the file (exit 2)."""
        try:
            yield
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot be read ({exc.strerror or exc})") from exc
        except csv.Error as exc:
            raise ConfigError(f"{self.path}: not a readable {self.format.upper()} ({exc})") from exc
        except RecursionError:
            raise ConfigError(f"{self.path}: a value is nested too deeply") from None

    # --- formats -----------------------------------------------------------------------
    def _columns(self) -> list[str]:
        if self.format in ("csv", "tsv"):
            with self._open_text() as fh:
                header = next(csv.reader(fh, dialect=self._dialect()), None)
            return list(header or [])
        if self.format == "parquet":
            return list(_parquet_file(self.path).schema_arrow.names)
        first = next(self._records(), None)
        return list(first) if first else []

    def _dialect(self) -> type[csv.Dialect]:
        return csv.excel_tab if self.format == "tsv" else csv.excel

    def _open_text(self):
        # utf-8-sig: Excel writes a byte-order mark that would otherwise glue onto the
        # first column name.
        return self.path.open("r", encoding="utf-8-sig", newline="")

    def _records(self) -> Iterator[dict[str, Any]]:
        if self.format in ("csv", "tsv"):
            with self._open_text() as fh:
                reader = csv.reader(fh, dialect=self._dialect())
                header = next(reader, None) or []
                for line_no, cells in enumerate(reader, start=2):
                    if not cells:
                        continue  # csv yields [] for blank lines
                    if len(cells) > len(header):
                        raise ConfigError(
                            f"{self.path}: line {line_no} has {len(cells)} "
                            f"cells but the header has {len(header)}"
                        )
                    cells += [""] * (len(header) - len(cells))
                    yield dict(zip(header, cells, strict=True))
        elif self.format == "jsonl":
            with self.path.open("r", encoding="utf-8-sig") as fh:
                for line_no, line in enumerate(fh, start=1):
                    if line.strip():
                        yield self._object(_loads(line, self.path, line_no), line_no)
        elif self.format == "json":
            data = _loads(self.path.read_text(encoding="utf-8-sig"), self.path, None)
            if not isinstance(data, list):  # {"col": [..]} or {"0": {...}} are not rows
                raise ConfigError(f"{self.path}: expected a JSON list of objects")
            for n, item in enumerate(data, start=1):
                yield self._object(item, n)
        else:
            for batch in _parquet_file(self.path).iter_batches(batch_size=4096):
                yield from batch.to_pylist()

    def _object(self, item: Any, where: int) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise ConfigError(f"{self.path}: record {where} is not a JSON object")
        return item


def _parquet_file(path: Path) -> Any:
    """A pyarrow ParquetFile; Parquet support is the `parquet` extra (pyarrow is large)."""
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise MissingExtra(f"reading {path.name} (Parquet)", "parquet") from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's own errors: a file that is not Parquet
        raise ConfigError(f"{path}: not a readable Parquet file ({exc})") from exc


def read_json_object(path: Path, what: str = "file") -> dict[str, Any]:
    """A JSON file that must hold one object (task files, schemas); ConfigError else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} must be a JSON object")
    return data


def _loads(text: str, path: Path, line_no: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {line_no}" if line_no else f"line {exc.lineno}"
        raise ConfigError(f"{path}: invalid JSON at {where}: {exc.msg}") from exc


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}: not UTF-8 (byte {offset + exc.start}); save it as "
                    "UTF-8, e.g. `iconv -f latin1 -t utf-8`"
                ) from exc
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 (truncated character at the end)") from exc


class RecordsSource(DataSource):
    """Rows already in memory (the Python API's lists and DataFrames)."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        input_field: str,
        id_field: str | None = None,
        name: str = "<memory>",
    ):
        self._rows_in_memory = records
        self.path = Path(name)
        self.format = "memory"
        self.input_field = input_field
        self.columns = list(records[0]) if records else [input_field]
        if input_field not in self.columns:
            raise ConfigError(
                f"no column {input_field!r} (columns: {', '.join(map(repr, self.columns))})"
            )
        if id_field is not None and id_field not in self.columns:
            raise ConfigError(f"id column {id_field!r} not found")
        self.id_field = id_field or next((c for c in DEFAULT_ID_FIELDS if c in self.columns), None)
        self._count = len(records)

    def _records(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows_in_memory)
