"""Hypothesis strategies for what a user may hand clinextract: task files, schemas and
data files, broken in every way the campaign knows of (and in random ways). Each
strategy draws a `Case`: the files of a task folder and a label for its kind."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from clinextract.schema_models import JSON_TYPES
from clinextract.task import KNOWN_KEYS

VALUE_FIELD = {"value": {"type": "int", "optional": True}}
REQUIRED = ("Description", "Input_Field", "Parser_Format")
KEYWORDS = (
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "additionalProperties",
    "patternProperties",
    "$ref",
    "$defs",
    "description",
    "default",
    "title",
    "examples",
)


@dataclass
class Case:
    category: str
    kind: str
    task: bytes  # the task file, as written
    files: dict[str, bytes] = field(default_factory=dict)  # other files: "data/x.csv", ...
    args: tuple[str, ...] = ()  # extra command-line options
    rows: int | None = None  # input rows, when the data is well-formed
    input_field: str = "text"


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def task_spec(**over: Any) -> dict[str, Any]:
    spec = {
        "Description": "Give the value mentioned in the report.",
        "Data_Path": "r.csv",
        "Input_Field": "text",
        "Parser_Format": VALUE_FIELD,
    }
    spec.update(over)
    return {k: v for k, v in spec.items() if v is not _DROP}


_DROP = object()
TASK_KINDS = (
    "missing key|unknown key|wrong type|huge description|not an object|not JSON|deep "
    "nesting|encoding|bad Task_Name|bad Data_Path|bad Parser_Format|python "
    "parser|examples|valid"
).split("|")
SCHEMA_KINDS = (
    "recursive $ref|missing $ref|10,000-value enum|deep nesting|unsupported keywords|empty "
    "objects|unknown type|type list|bounds|pattern|field names|random|not an object|valid"
).split("|")
DATA_KINDS = (
    "BOM|CRLF|NUL bytes|Latin-1|duplicate ids|empty file|header only|5 MB report|ragged "
    "rows|JSON not a list|JSONL broken line|numeric id column|NaN values|any text|missing "
    "text|column clash|wrong format|blank lines|many columns|valid"
).split("|")
REPORTS = [f"report with value {n} and some words" for n in (11, 22, 33)]


def csv_bytes(rows: list[list[Any]], header: list[str] | None = None, sep: str = ",") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header or ["id", "text"])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


GOOD_DATA = {"data/r.csv": csv_bytes([[n, r] for n, r in enumerate(REPORTS)])}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


# --- task files ---------------------------------------------------------------------------------


@st.composite
def task_files(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(TASK_KINDS))
    files, args = dict(GOOD_DATA), ()
    if kind == "missing key":
        task = _json(task_spec(**{draw(st.sampled_from(REQUIRED)): _DROP}))
    elif kind == "unknown key":
        key = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in KNOWN_KEYS))
        task = _json({**task_spec(), key: draw(json_values)})
    elif kind == "wrong type":
        key = draw(st.sampled_from(sorted(KNOWN_KEYS)))
        value = draw(json_values.filter(lambda v: not isinstance(v, str)))
        task = _json(task_spec(**{key: value}))
    elif kind == "huge description":
        size = draw(st.integers(10_000, 1_000_000))
        task = _json(task_spec(Description="beschrijving " * (size // 13)))
    elif kind == "not an object":
        task = _json(draw(json_values.filter(lambda v: not isinstance(v, dict))))
    elif kind == "not JSON":
        good = _json(task_spec())
        task = draw(st.binary(max_size=60) | st.just(good[: draw(st.integers(0, len(good) - 1))]))
    elif kind == "deep nesting":
        depth = draw(st.integers(50, 200_000))
        task = b'{"Description": ' + b"[" * depth + b"]" * depth + b"}"
    elif kind == "encoding":
        text = _json(task_spec(Description="Geef de waarde, één keer."))
        task = draw(
            st.sampled_from(
                [
                    b"\xef\xbb\xbf" + text,
                    text.decode().encode("latin-1"),
                    text.decode().encode("utf-16"),
                ]
            )
        )
    elif kind == "bad Task_Name":
        name = draw(
            st.sampled_from(["../escape", "", ".hidden", "a/b", "x" * 300, "a\\b"])
            | st.text(max_size=30)
        )
        task = _json(task_spec(Task_Name=name))
    elif kind == "bad Data_Path":
        path = draw(
            st.sampled_from(
                ["missing.csv", ".", "data", "/", "r.xlsx", "../r.csv", "r.csv/", "/dev/null"]
            )
            | st.text(max_size=20)
        )
        task = _json(task_spec(Data_Path=path))
    elif kind == "bad Parser_Format":
        spec = draw(
            st.sampled_from(
                ["nope.json", "x.txt", "", "../../etc/passwd.json", "parsers", "bad.json"]
            )
            | st.text(max_size=20)
        )
        files["tasks/parsers/bad.json"] = draw(st.binary(max_size=40))
        task = _json(task_spec(Parser_Format=spec))
    elif kind == "python parser":
        source = draw(
            st.sampled_from(
                [
                    "raise RuntimeError('boom')",
                    "def broken(:",
                    "class Other: pass",
                    "OutputParser = 5",
                    "import sys\nsys.exit(3)",
                    "from pydantic import BaseModel\n"
                    "class OutputParser(BaseModel):\n    value: int | None = None",
                ]
            )
        )
        files["tasks/parsers/p.py"] = source.encode()
        task, args = (
            _json(task_spec(Parser_Format="p.py")),
            draw(st.sampled_from([(), ("--no-code",)])),
        )
    elif kind == "examples":
        files["data/ex.json"] = draw(
            st.sampled_from(
                [
                    b"[",
                    b"{}",
                    b"[1, 2]",
                    _json([{"input": "x"}]),
                    _json([{"input": "value 5", "output": {"value": "five"}}]),
                    _json([{"input": "value 5", "output": {"value": 5}}]),
                ]
            )
        )
        task = _json(task_spec(Example_Path=draw(st.sampled_from(["ex.json", "none.json"]))))
        args = ("--num-examples", str(draw(st.integers(0, 3))), "--example-dir", "data")
    else:
        task = _json(task_spec())
    rows = 3 if kind == "valid" else None
    return Case("task file", kind, task, files, args, rows)


# --- schemas ------------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        node = {"type": "object", "properties": {"value": node}, "required": ["value"]}
    return node


random_schemas = st.recursive(
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(JSON_TYPES) | st.text(max_size=8)}),
    lambda inner: st.dictionaries(
        st.sampled_from(KEYWORDS),
        inner
        | json_values
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        | st.lists(inner, max_size=3),
        max_size=4,
    ),
    max_leaves=10,
)


@st.composite
def schemas(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(SCHEMA_KINDS))
    props: dict[str, Any] = {"value": {"type": ["integer", "null"]}}
    extra: dict[str, Any] = {}
    if kind == "recursive $ref":
        extra["$defs"] = {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}
        props["node"] = {"$ref": "#/$defs/n"}
    elif kind == "missing $ref":
        props["node"] = {"$ref": draw(st.sampled_from(["#/$defs/nope", "other.json", "#", ""]))}
    elif kind == "10,000-value enum":
        props["choice"] = {"enum": [f"waarde {n}" for n in range(draw(st.integers(1000, 10_000)))]}
    elif kind == "deep nesting":
        props = {"value": _nested(draw(st.integers(1, 150)))}
    elif kind == "unsupported keywords":
        field_spec = {"type": "integer"}
        for key in draw(
            st.lists(
                st.sampled_from(
                    [
                        "if",
                        "then",
                        "else",
                        "not",
                        "format",
                        "patternProperties",
                        "unevaluatedProperties",
                        "dependentSchemas",
                        "contentEncoding",
                        "$anchor",
                        "uniqueItems",
                    ]
                ),
                min_size=1,
                max_size=4,
            )
        ):
            field_spec[key] = draw(json_values)
        props["value"] = field_spec
    elif kind == "empty objects":
        props = draw(
            st.sampled_from(
                [
                    {},
                    {"value": {}},
                    {"value": {"type": "object"}},
                    {"value": {"type": "object", "properties": {}}},
                    {"value": []},
                ]
            )
        )
    elif kind == "unknown type":
        props["value"] = {"type": draw(st.text(max_size=12).filter(lambda t: t not in JSON_TYPES))}
    elif kind == "type list":
        props["value"] = {
            "type": draw(st.lists(st.sampled_from(JSON_TYPES) | st.text(max_size=5), max_size=4))
        }
    elif kind == "bounds":
        key = draw(
            st.sampled_from(
                [
                    "minimum",
                    "maximum",
                    "minLength",
                    "maxLength",
                    "minItems",
                    "maxItems",
                    "exclusiveMinimum",
                ]
            )
        )
        props["value"] = {
            "type": draw(st.sampled_from(["integer", "string", "array"])),
            key: draw(json_values),
            "maximum": draw(st.integers(-5, 5)),
        }
    elif kind == "pattern":
        props["value"] = {
            "type": "string",
            "pattern": draw(st.sampled_from(["[", "(a+)+$", "^\\d+$", "(?P<x>", "\\"])),
        }
    elif kind == "field names":
        name = draw(
            st.sampled_from(
                [
                    "",
                    " ",
                    "ü",
                    "a.b",
                    "__class__",
                    "model_config",
                    "123",
                    "x" * 1000,
                    "status",
                    "error",
                    "text",
                    "id",
                ]
            )
            | st.text(max_size=10)
        )
        props[name] = {"type": "string"}
    elif kind == "random":
        props = {"value": draw(random_schemas)}
    schema: Any = {"type": "object", "properties": props, **extra}
    if kind == "not an object":
        schema = draw(json_values.filter(lambda v: not isinstance(v, dict)))
    inline = draw(st.booleans())
    files = dict(GOOD_DATA)
    if inline and isinstance(schema, dict):
        task = _json(task_spec(Parser_Format=schema))
    else:
        files["tasks/parsers/s.json"] = _json(schema)
        task = _json(task_spec(Parser_Format="s.json"))
    return Case("schema", kind, task, files, (), 3 if kind == "valid" else None)


# --- data files ---------------------------------------------------------------------------------

report_texts = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=60
)  # any character, the report's own quotes, commas and newlines included


@st.composite
def data_files(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(DATA_KINDS))
    fmt = draw(st.sampled_from(["csv", "tsv", "json", "jsonl"]))
    texts = draw(st.lists(report_texts, min_size=1, max_size=5)) if kind == "any text" else REPORTS
    rows: list[dict[str, Any]] = [{"id": str(n), "text": t} for n, t in enumerate(texts)]
    known_rows: int | None = len(rows)
    if kind == "duplicate ids":
        for row in rows:
            row["id"] = "7"
    elif kind == "numeric id column":
        for n, row in enumerate(rows):
            row["id"] = draw(st.sampled_from([n, float(n) + 0.5, None, [n], {"n": n}, True]))
    elif kind == "5 MB report":
        rows[0]["text"] = "value 5 " + "lange tekst " * (draw(st.integers(100_000, 440_000)))
    elif kind == "NUL bytes":
        rows[1]["text"] = "value \x00 22 \x00"
    elif kind == "missing text":
        del rows[draw(st.integers(0, len(rows) - 1))]["text"]
    elif kind == "column clash":
        for row in rows:
            row[draw(st.sampled_from(["value", "status", "error"]))] = "x"
    elif kind == "many columns":
        for row in rows:
            row.update({f"c{n}": n for n in range(draw(st.integers(100, 5000)))})
    if kind == "NaN values":  # JSON files may spell them; JSON output cannot
        fmt = draw(st.sampled_from(["json", "jsonl"]))
        rows[0]["score"], rows[-1]["id"] = float("nan"), float("inf")
    data = _encode(rows, fmt)
    if kind == "BOM":
        data = b"\xef\xbb\xbf" + data
    elif kind == "CRLF":
        data = data.replace(b"\n", b"\r\n")
    elif kind == "Latin-1":
        data = data.decode().replace("value", "waardé").encode("latin-1")
    elif kind == "empty file":
        data, known_rows = b"", None
    elif kind == "header only":
        data, known_rows = data.split(b"\n", 1)[0] + b"\n", None
    elif kind == "ragged rows" and fmt in ("csv", "tsv"):
        sep = b"," if fmt == "csv" else b"\t"
        lines = data.split(b"\n")
        lines[draw(st.integers(1, len(lines) - 2))] += sep + b"extra" * draw(st.integers(0, 1))
        data, known_rows = b"\n".join(lines), None
    elif kind == "JSON not a list":
        fmt = "json"
        data, known_rows = _json(draw(json_values.filter(lambda v: not isinstance(v, list)))), None
    elif kind == "JSONL broken line":
        fmt, lines = "jsonl", _encode(rows, "jsonl").split(b"\n")
        cut = draw(st.integers(0, len(lines) - 2))
        lines[cut] = lines[cut][: draw(st.integers(0, max(0, len(lines[cut]) - 1)))]
        data, known_rows = b"\n".join(lines), None
    elif kind == "blank lines":
        data = data.replace(b"\n", b"\n\n") if fmt != "json" else data
    elif kind == "wrong format":
        fmt = draw(st.sampled_from(["txt", "xlsx", "parquet", ""]))
        data, known_rows = draw(st.binary(max_size=50)), None
    if kind in ("NUL bytes", "Latin-1", "missing text", "column clash", "ragged rows"):
        known_rows = None if kind != "missing text" else known_rows
    name = f"r.{fmt}" if fmt else "r"
    task = _json(task_spec(Data_Path=name, Id_Field="id" if kind != "missing text" else _DROP))
    return Case("data file", kind, task, {f"data/{name}": data}, (), known_rows)


def _encode(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "json":
        return _json(rows)
    if fmt == "jsonl":
        return b"".join(_json(r) + b"\n" for r in rows)
    header = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[r.get(k, "") for k in header] for r in rows]
    return csv_bytes(cells, header, "\t" if fmt == "tsv" else ",")


CATEGORIES = {"task file": task_files(), "schema": schemas(), "data file": data_files()}
