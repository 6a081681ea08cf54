"""A schema's columns: the values a person checks one at a time and a gold file holds.

A column is a top-level field, or a field inside a group (`nodus.aanwezig`: groups are
flattened into dotted paths, at any depth); a list is one column (`bevindingen`, the
whole list). That is the shape of a gold CSV (one column per path), of a review decision
(one per row and column) and of the scores (one per column).

Each column knows its kind (`text`, `number`, `integer`, `yes/no`, `choice`, `list`, or
`json` for a shape none of these describes), its allowed values and bounds, and whether
it may be null, so a review widget, a CSV cell and a score all read it the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SIMPLE_TYPES = {"text": "string", "number": "number", "integer": "integer", "yes/no": "boolean"}
KIND_OF_TYPE = {v: k for k, v in SIMPLE_TYPES.items()}
NUMERIC = ("number", "integer")
TRUE_WORDS = {"true", "yes", "y", "1", "ja", "j"}
FALSE_WORDS = {"false", "no", "n", "0", "nee"}
NULL_CELL = "null"  # how a CSV cell spells null when empty cells mean "not reviewed"


def kind_of(node: Mapping[str, Any]) -> str | None:
    """The kind of a (non-null) schema node ('group' for an object with fields), or None
    when it has none."""
    if "enum" in node:
        values = node["enum"]
        if values and all(isinstance(v, str) for v in values):
            return "choice"
        return None
    t = node.get("type")
    if t == "object" or (t is None and "properties" in node):
        return "group" if node.get("properties") else None
    if t == "array":
        return "list"
    return KIND_OF_TYPE.get(t) if isinstance(t, str) else None


def unwrap_null(node: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the value node, whether null is allowed) for `X`, `anyOf: [X, null]`, `[t, null]`
    and an enum holding null. Several non-null alternatives stay as they are."""
    node = dict(node)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) == 1:
            outer = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            inner, nullable = unwrap_null(rest[0])
            return {**outer, **inner}, nullable or len(rest) < len(variants)
        return node, len(rest) < len(variants)
    t = node.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        if len(rest) == 1:
            return {**node, "type": rest[0]}, len(rest) < len(t)
        return node, "null" in t
    if "enum" in node and None in node["enum"]:
        return {**node, "enum": [v for v in node["enum"] if v is not None]}, True
    return node, False


@dataclass(frozen=True)
class Column:
    path: str  # 'onderzoek', 'nodus.aanwezig', 'bevindingen'
    kind: str  # text | number | integer | yes/no | choice | list | json
    nullable: bool = False
    required: bool = True
    description: str = ""
    choices: tuple[str, ...] = ()  # choice, or a list of choices
    minimum: float | None = None
    maximum: float | None = None
    item_kind: str | None = None  # list only: the kind of an item ('group' for objects)
    max_items: int | None = None

    @property
    def group(self) -> str:
        """The group the column lies in ('nodus' for 'nodus.aanwezig'; '' at the top)."""
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


def schema_columns(schema: Mapping[str, Any], prefix: str = "") -> list[Column]:
    """The columns of a JSON Schema object, in the schema's field order."""
    required = set(schema.get("required", []))
    out: list[Column] = []
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        node, nullable = unwrap_null(sub)
        kind = kind_of(node)
        if kind == "group":
            out.extend(schema_columns(node, path))
            continue
        description = str(sub.get("description") or node.get("description") or "")
        common = {
            "nullable": nullable,
            "required": name in required,
            "description": description,
        }
        if kind == "list":
            items, _ = unwrap_null(node.get("items") or {})
            item_kind = kind_of(items) or "json"
            out.append(
                Column(
                    path,
                    "list",
                    item_kind=item_kind,
                    choices=tuple(items.get("enum", ())) if item_kind == "choice" else (),
                    max_items=node.get("maxItems"),
                    **common,
                )
            )
        elif kind == "choice":
            out.append(Column(path, "choice", choices=tuple(node["enum"]), **common))
        elif kind in NUMERIC:
            low = node.get("minimum", node.get("exclusiveMinimum"))
            high = node.get("maximum", node.get("exclusiveMaximum"))
            out.append(Column(path, kind, minimum=low, maximum=high, **common))
        else:
            out.append(Column(path, kind or "json", **common))
    return out


def column_kinds(schema: Mapping[str, Any]) -> dict[str, str]:
    """Column path → kind."""
    return {c.path: c.kind for c in schema_columns(schema)}


# --- a record's values by column ------------------------------------------------------------


def column_value(fields: Mapping[str, Any] | None, path: str) -> Any:
    """The value of a column in nested fields; None where the path (or a group on the way,
    null as a whole) is not there."""
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def flatten(fields: Mapping[str, Any] | None, columns: list[Column]) -> dict[str, Any]:
    """Nested fields → {column path: value} for every column."""
    return {c.path: column_value(fields, c.path) for c in columns}


def unflatten(values: Mapping[str, Any], columns: list[Column]) -> dict[str, Any]:
    """{column path: value} → nested fields in the schema's order (every group present)."""
    out: dict[str, Any] = {}
    for column in columns:
        target = out
        parts = column.path.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = values.get(column.path)
    return out


def within(path: str, leaf: str) -> bool:
    """Whether a leaf path lies in a column ('bevindingen[1]' in 'bevindingen')."""
    return leaf == path or leaf.startswith((path + ".", path + "["))


def column_confidence(confidence: Mapping[str, Any] | None, path: str) -> float | None:
    """A column's confidence: the lowest of its leaves' (a list's items), None if none."""
    found = [
        float(v)
        for leaf, v in (confidence or {}).items()
        if within(path, leaf)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    ]
    return min(found, default=None)


def nested_paths(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every non-object value of nested objects: how a gold JSON
    object (nested like the predictions file) names its columns."""
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from nested_paths(value, path)
        else:
            yield path, value


# --- comparing and checking values ------------------------------------------------------------


def canonical(value: Any) -> Any:
    """A value in one spelling, for 'is this the same value': 6.0 is 6, keys sorted."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    return json.dumps(canonical(a), ensure_ascii=False) == json.dumps(
        canonical(b), ensure_ascii=False
    )


def problem(value: Any, column: Column) -> str | None:
    """Why `value` cannot be this column's value, in a few words; None when it can."""
    if value is None:
        return None if column.nullable or not column.required else "a value is required"
    if column.kind == "list":
        if not isinstance(value, list):
            return "expected a list"
        if column.max_items is not None and len(value) > column.max_items:
            return f"at most {column.max_items} items"
        item = Column(f"{column.path}[]", column.item_kind or "json", choices=column.choices)
        for n, v in enumerate(value):
            why = "an item is null" if v is None else problem(v, item)
            if why:
                return f"item {n + 1}: {why}"
        return None
    return _scalar_problem(value, column)


def _scalar_problem(value: Any, column: Column) -> str | None:
    kind = column.kind
    if kind == "choice":
        return None if value in column.choices else f"not one of {', '.join(column.choices)}"
    if kind == "yes/no":
        return None if isinstance(value, bool) else "expected yes or no"
    if kind == "text":
        return None if isinstance(value, str) else "expected text"
    if kind in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number"
        if kind == "integer" and not float(value).is_integer():
            return "expected a whole number"
        if column.minimum is not None and value < column.minimum:
            return f"below the minimum {column.minimum:g}"
        if column.maximum is not None and value > column.maximum:
            return f"above the maximum {column.maximum:g}"
        return None
    if kind == "group":
        return None if isinstance(value, Mapping) else "expected an object"
    return None


# --- CSV cells ------------------------------------------------------------------------------


def parse_cell(text: Any, column: Column) -> Any:
    """A gold cell (CSV text, or a JSON value) as the column's value. ValueError when it
    cannot be read; an empty cell is None here (the caller decides what empty means)."""
    if not isinstance(text, str):
        return _typed(text, column)
    cell = text.strip()
    if not cell or cell == NULL_CELL:
        return None
    kind = column.kind
    if kind == "list":
        if cell.startswith("["):
            items = json.loads(cell)
        else:  # 'a; b' as written by hand
            items = [part.strip() for part in cell.split(";") if part.strip()]
        item = Column(f"{column.path}[]", column.item_kind or "json", choices=column.choices)
        return [parse_cell(v, item) if isinstance(v, str) else v for v in items]
    if kind == "yes/no":
        word = cell.casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"{text!r} is not yes or no")
    if kind in NUMERIC:
        number = float(cell.replace(",", "."))
        return int(number) if number.is_integer() else number
    if kind in ("json", "group"):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return cell
    return text if kind == "text" else cell


def _typed(value: Any, column: Column) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if column.kind in NUMERIC and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cell_text(value: Any, column: Column) -> str:
    """A value as a gold CSV cell: lists and objects as JSON, yes/no as true/false, null
    as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
