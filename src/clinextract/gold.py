"""Gold files in and out: labels a person made, by row id and column.

Gold, in memory: `{id: {column path: value}}`; a column that is not there for an id was
not labelled (absent is not null: null is the answer "not in the report"). Files:

* JSON (`.json`, `.jsonl`): a list of objects shaped like the predictions file: the id
  column and the field values, groups as nested objects (`{"nodus": {"aanwezig": true}}`);
  other keys (the report text, status, ...) are ignored; absent keys are not labelled.
* CSV (`.csv`, `.tsv`): the id column and one column per path (`nodus.aanwezig`); lists as
  JSON (`["a", "b"]`, or `a; b`), yes/no as true/false (also yes/no, ja/nee, 1/0). An
  empty cell is null, unless the file spells null as `null` somewhere: then an empty cell
  is "not labelled" (what `write_gold` writes when some rows are labelled only in part).
* A Label Studio annotation export (a JSON list of tasks with `annotations`): per task
  the latest submitted annotation; a `choices`, `number` or `textarea` result named after
  a column is its value; a column the project labels that an annotation leaves out is
  null. Evidence spans (`labels`) are not values and are left out.

The Studio's Evaluate page, `clinextract evaluate` and `clinextract review import` all
read gold through `read_gold`; `review export` writes it with `write_gold`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .columns import NULL_CELL, Column, cell_text, nested_paths, parse_cell, problem
from .data import DEFAULT_ID_FIELDS, DataSource
from .errors import ConfigError
from .store import atomic_write, dumps

Gold = dict[str, dict[str, Any]]
EMPTY_MEANS = ("auto", "null", "skip")
NOT_IN_REPORT = "(not in the report)"  # the Label Studio choice for null
YES, NO = "yes", "no"


def gold_format(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ConfigError(f"{path}: a gold file is .csv, .tsv, .json, .jsonl or .parquet")


# --- reading ------------------------------------------------------------------------------


def read_gold(
    path: Path,
    columns: list[Column],
    *,
    id_field: str | None = None,
    empty: str = "auto",
) -> Gold:
    """The labels of a gold file for these columns. `id_field`: the id column (default:
    the first of the run's id field, 'id', 'uid' that the file has). `empty` (CSV):
    what an empty cell means: "null", "skip" (not labelled), or "auto" (see above)."""
    if empty not in EMPTY_MEANS:
        raise ConfigError(f"empty must be one of {', '.join(EMPTY_MEANS)}, not {empty!r}")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"gold file not found: {path}")
    fmt = gold_format(path)
    if fmt == "json" and path.suffix.lower() == ".json":
        items = _json_list(path)
        if items and all(isinstance(i, dict) and "annotations" in i for i in items):
            return read_label_studio(items, columns, id_field=id_field, where=str(path))
    probe = DataSource(path, _first_column(path))
    id_column = pick_id_column(probe.columns, id_field, where=str(path))
    source = DataSource(path, id_column, id_column)
    known = {c.path: c for c in columns}
    if fmt == "csv":
        wanted = [c for c in source.columns if c in known]
        if not wanted:
            raise _no_columns(path, source.columns, columns)
        if empty == "auto":
            spelled = any(row.columns[c].strip() == NULL_CELL for row in source for c in wanted)
            empty = "skip" if spelled else "null"
        rows = (
            (
                row.id,
                {c: row.columns[c] for c in wanted if empty == "null" or row.columns[c].strip()},
            )
            for row in source
        )
    else:
        rows = ((row.id, _nested_values(row.columns, known)) for row in source)
    gold: Gold = {}
    for row_id, cells in rows:
        if row_id in gold:
            raise ConfigError(f"{path}: the id {row_id!r} appears more than once")
        gold[row_id] = {p: _value(v, known[p], path, row_id) for p, v in cells.items()}
    if fmt != "csv" and not any(gold.values()):
        raise _no_columns(path, probe.columns, columns)
    return gold


def _json_list(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON file ({exc})") from exc
    if not isinstance(data, list):
        raise ConfigError(f"{path}: a gold JSON file holds a list of objects")
    return data


def _first_column(path: Path) -> str:
    """Any column of the file, to open it before the id column is known."""
    if gold_format(path) == "csv":
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, dialect=dialect), None)
    elif gold_format(path) == "parquet":
        import pyarrow.parquet as pq

        header = pq.ParquetFile(path).schema_arrow.names
    else:
        first = next((i for i in _json_items(path)), None)
        header = list(first) if isinstance(first, dict) else None
    if not header:
        raise ConfigError(f"{path}: the gold file is empty")
    return header[0]


def _json_items(path: Path) -> Iterable[Any]:
    if path.suffix.lower() == ".json":
        return _json_list(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return (json.loads(line) for line in lines if line.strip())


def pick_id_column(names: Iterable[str], wanted: str | None, where: str) -> str:
    names = list(names)
    if wanted and wanted in names:
        return wanted
    found = next((c for c in DEFAULT_ID_FIELDS if c in names), None)
    if found is None:
        want = f"{wanted!r}, " if wanted else ""
        raise ConfigError(
            f"{where}: no id column ({want}'id' or 'uid'); its columns are {', '.join(names)}"
        )
    return found


def _nested_values(obj: Mapping[str, Any], known: dict[str, Column]) -> dict[str, Any]:
    """A gold object's values by column: nested groups flattened; a group given as null
    makes each of its columns null."""
    out: dict[str, Any] = {}
    for path, value in nested_paths(obj):
        if path in known:
            out[path] = value
        elif value is None:
            out.update({p: None for p in known if p.startswith(path + ".")})
    return out


def _value(raw: Any, column: Column, path: Path, row_id: str) -> Any:
    try:
        value = parse_cell(raw, column)
    except ValueError as exc:
        raise ConfigError(f"{path}: id {row_id!r}, {column.path}: {exc}") from None
    why = problem(value, column)
    if why:
        raise ConfigError(f"{path}: id {row_id!r}, {column.path}: {value!r}: {why}")
    return value


def _no_columns(path: Path, names: Iterable[str], columns: list[Column]) -> ConfigError:
    return ConfigError(
        f"{path}: none of its columns ({', '.join(map(str, names))}) is a field of the run "
        f"({', '.join(c.path for c in columns)})"
    )


# --- Label Studio -------------------------------------------------------------------------


def read_label_studio(
    tasks: list[dict[str, Any]], columns: list[Column], *, id_field: str | None, where: str
) -> Gold:
    """Values from a Label Studio export (see the module's docstring)."""
    known = {c.path: c for c in columns}
    annotations: list[tuple[str, list[dict[str, Any]]]] = []
    for task in tasks:
        data = task.get("data") or {}
        id_column = pick_id_column(data, id_field, f"{where}: task {task.get('id')}")
        done = [
            a
            for a in task.get("annotations") or []
            if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        if done:
            latest = max(done, key=lambda a: str(a.get("updated_at") or a.get("created_at")))
            annotations.append((_id_text(data[id_column]), latest.get("result") or []))
    labelled = {r.get("from_name") for _, res in annotations for r in res} & set(known)
    if not labelled:
        raise ConfigError(f"{where}: no annotation names a field of the run")
    gold: Gold = {}
    for row_id, results in annotations:
        values: dict[str, Any] = dict.fromkeys(labelled)
        for result in results:
            name = result.get("from_name")
            if name in labelled:
                values[name] = _ls_value(result, known[name])
        gold[row_id] = {
            p: _value(v, known[p], Path(where), row_id) for p, v in values.items() if p in known
        }
    return gold


def _id_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _ls_value(result: dict[str, Any], column: Column) -> Any:
    value = result.get("value") or {}
    if "choices" in value:
        picked = [c for c in value["choices"] if c != NOT_IN_REPORT]
        if column.kind == "list":
            return picked
        if not picked:
            return None
        if column.kind == "yes/no":
            return {YES: True, NO: False}.get(picked[0], picked[0])
        return picked[0]
    if "number" in value:
        return value["number"]
    if "text" in value:
        lines = value["text"] if isinstance(value["text"], list) else [value["text"]]
        lines = [line for line in lines if str(line).strip()]
        if column.kind == "list":
            return [parse_cell(line, _item_column(column)) for line in lines]
        return lines[0] if lines else None
    return None


def _item_column(column: Column) -> Column:
    return Column(f"{column.path}[]", column.item_kind or "text", choices=column.choices)


# --- writing ------------------------------------------------------------------------------


def write_gold(path: Path, gold: Gold, columns: list[Column], id_field: str = "id") -> int:
    """Write gold as JSON (nested like the predictions file, labelled columns only) or
    CSV (one column per labelled path). Returns the number of rows written."""
    path = Path(path)
    used = [c for c in columns if any(c.path in values for values in gold.values())]
    if gold_format(path) == "csv":
        complete = all(all(c.path in v for c in used) for v in gold.values())
        dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        atomic_write(path, _csv_lines(gold, used, id_field, complete, dialect))
    elif gold_format(path) == "json":
        items = [{id_field: row_id, **_nested(values, used)} for row_id, values in gold.items()]
        if path.suffix.lower() == ".json":
            atomic_write(path, [dumps(items, indent=1) + "\n"])
        else:
            atomic_write(path, (dumps(item) + "\n" for item in items))
    else:
        raise ConfigError(f"{path}: write gold as .json, .jsonl or .csv")
    return len(gold)


def _nested(values: Mapping[str, Any], columns: list[Column]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in columns:
        if column.path not in values:
            continue
        target = out
        parts = column.path.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = values[column.path]
    return out


def _csv_lines(
    gold: Gold, columns: list[Column], id_field: str, complete: bool, dialect: str
) -> Iterable[str]:
    """Rows of a gold CSV; when a row is labelled only in part, null is spelled `null`
    and an empty cell means not labelled."""

    class Line:
        text = ""

        def write(self, chunk: str) -> None:
            self.text += chunk

    def line(cells: list[str]) -> str:
        out = Line()
        csv.writer(out, dialect=dialect).writerow(cells)
        return out.text

    yield line([id_field, *(c.path for c in columns)])
    for row_id, values in gold.items():
        cells = [row_id]
        for column in columns:
            if column.path not in values:
                cells.append("")
            elif values[column.path] is None:
                cells.append("" if complete else NULL_CELL)
            else:
                cells.append(cell_text(values[column.path], column))
        yield line(cells)
