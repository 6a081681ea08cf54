"""The visual schema builder's model: a list of fields ↔ a JSON Schema.

A field is text, number, integer, yes/no, choice (allowed values), list (of any of
these) or group (nested fields); required or optional; with a description. The JSON
Schema written from it is plain (no code to import) and is what `clinextract run` reads
from `parsers/`. An existing schema (JSON, a `.py` OutputParser or the legacy inline
form, all read by `clinextract.schema`) opens in the builder when its shape fits;
otherwise `UnsupportedSchema` says why.

No Streamlit here: the pages only draw these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..columns import SIMPLE_TYPES, kind_of
from ..errors import ConfigError
from ..pipeline import META_COLUMNS
from ..schema import OutputSchema

KINDS = ("text", "number", "integer", "yes/no", "choice", "list", "group")
ITEM_KINDS = tuple(k for k in KINDS if k != "list")
# constraints the builder does not edit but keeps when it opens and re-saves a schema
KEPT_KEYWORDS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
)
# annotations that carry no meaning for validation (pydantic writes them)
_IGNORED_KEYWORDS = ("title", "default", "examples", "$schema", "$id", "$comment")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class UnsupportedSchema(ValueError):
    """The schema uses something the builder cannot show; the message says what."""


@dataclass
class FieldSpec:
    name: str
    kind: str = "text"
    required: bool = True
    description: str = ""
    choices: list[str] = field(default_factory=list)  # choice, or list of choice
    item_kind: str = "text"  # list only: the kind of each item
    children: list[FieldSpec] = field(default_factory=list)  # group, or list of group
    extra: dict[str, Any] = field(default_factory=dict)  # kept constraints (value node)
    item_extra: dict[str, Any] = field(default_factory=dict)  # kept constraints (items)

    @property
    def value_kind(self) -> str:
        """The kind that decides choices/children: the item kind for a list."""
        return self.item_kind if self.kind == "list" else self.kind


# --- fields → JSON Schema -----------------------------------------------------------------


def fields_to_schema(fields: list[FieldSpec], title: str = "Output") -> dict[str, Any]:
    """The JSON Schema for a list of fields. Raises ConfigError when a field is incomplete."""
    problems = check_fields(fields)
    if problems:
        raise ConfigError("; ".join(problems))
    schema: dict[str, Any] = {"$schema": JSON_SCHEMA_DIALECT, "title": title or "Output"}
    schema.update(_object_node(fields))
    return schema


def _object_node(fields: list[FieldSpec]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {f.name: _field_node(f) for f in fields},
        "required": [f.name for f in fields if f.required],
    }


def _field_node(f: FieldSpec) -> dict[str, Any]:
    if f.kind == "list":
        node = {"type": "array", "items": _value_node(f.item_kind, f, f.item_extra), **f.extra}
    else:
        node = _value_node(f.kind, f, f.extra)
    description = f.description.strip()
    if not f.required:
        node = {"anyOf": [node, {"type": "null"}]}
    if description:
        node = {"description": description, **node}
    return node


def _value_node(kind: str, f: FieldSpec, extra: dict[str, Any]) -> dict[str, Any]:
    if kind in SIMPLE_TYPES:
        return {"type": SIMPLE_TYPES[kind], **extra}
    if kind == "choice":
        return {"type": "string", "enum": list(f.choices), **extra}
    if kind == "group":
        return _object_node(f.children)
    raise ConfigError(f"field {f.name!r}: unknown type {kind!r}")


def check_fields(
    fields: list[FieldSpec], columns: list[str] | tuple[str, ...] = (), where: str = ""
) -> list[str]:
    """Everything that keeps these fields from being a schema, as plain sentences.

    `columns` are the dataset's columns: a top-level field with the same name would
    overwrite that column in the predictions, which the pipeline refuses."""
    problems: list[str] = []
    if not fields:
        problems.append(f"{where or 'the schema'} has no fields; add at least one")
    seen: set[str] = set()
    for n, f in enumerate(fields, start=1):
        label = f"{where}field {n}" if not f.name.strip() else f"{where}field {f.name!r}"
        name = f.name.strip()
        if not name:
            problems.append(f"{label} has no name")
        elif name != f.name:
            problems.append(f"{label}: the name starts or ends with a space")
        elif name in seen:
            problems.append(f"{label} appears twice")
        seen.add(name)
        if not where and name in META_COLUMNS:
            problems.append(f"{label}: {name!r} is reserved for the run's own column")
        if not where and name in columns:
            problems.append(f"{label}: the dataset already has a column {name!r}")
        if f.kind not in KINDS:
            problems.append(f"{label}: unknown type {f.kind!r}")
        if f.kind == "list" and f.item_kind not in ITEM_KINDS:
            problems.append(f"{label}: a list cannot hold {f.item_kind!r}")
        if f.value_kind == "choice":
            values = [c.strip() for c in f.choices]
            if not values or any(not v for v in values):
                problems.append(f"{label}: a choice needs allowed values (no empty ones)")
            elif len(set(values)) != len(values):
                problems.append(f"{label}: an allowed value is listed twice")
        if f.value_kind == "group":
            inner = f"{where}{name or f'field {n}'}."
            problems.extend(check_fields(f.children, (), inner))
    return problems


def parse_choices(text: str) -> list[str]:
    """'left, right, both' → ['left', 'right', 'both'] (commas or new lines)."""
    parts = text.replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


# --- JSON Schema → fields -----------------------------------------------------------------


def schema_to_fields(schema: dict[str, Any] | OutputSchema) -> list[FieldSpec]:
    """The builder's fields for a schema, or UnsupportedSchema with the reason."""
    node = schema.json_schema if isinstance(schema, OutputSchema) else schema
    if node.get("type", "object") != "object" or not node.get("properties"):
        raise UnsupportedSchema("the schema is not an object with fields")
    return _fields_of(node, "")


def _fields_of(node: dict[str, Any], path: str) -> list[FieldSpec]:
    _only(node, ("type", "properties", "required", "additionalProperties", "description"), path)
    required = set(node.get("required", []))
    out = []
    for name, sub in node.get("properties", {}).items():
        where = f"{path}{name}"
        inner, nullable = _unwrap_null(sub, where)
        spec = FieldSpec(name=name, required=name in required and not nullable)
        spec.description = str(sub.get("description") or inner.get("description") or "")
        kind = kind_of(inner)
        if kind is None:
            raise UnsupportedSchema(f"{where}: cannot show {_brief(inner)} in the builder")
        spec.kind = kind
        if kind == "list":
            items = inner.get("items", {})
            spec.item_kind = kind_of(items) or ""
            if spec.item_kind not in ITEM_KINDS:
                raise UnsupportedSchema(f"{where}: cannot show a list of {_brief(items)}")
            spec.extra = _kept(inner, ("type", "items", "description"), where)
            spec.item_extra = _fill_value(spec, spec.item_kind, items, f"{where}[]")
        else:
            spec.extra = _fill_value(spec, kind, inner, where)
        out.append(spec)
    return out


def _fill_value(spec: FieldSpec, kind: str, node: dict[str, Any], where: str) -> dict[str, Any]:
    """Set choices/children from a value node; returns the constraints to keep."""
    if kind == "choice":
        spec.choices = [str(v) for v in node["enum"]]
        return _kept(node, ("type", "enum", "description"), where)
    if kind == "group":
        spec.children = _fields_of(node, f"{where}.")
        return {}
    return _kept(node, ("type", "description"), where)


def _unwrap_null(node: dict[str, Any], where: str) -> tuple[dict[str, Any], bool]:
    """(the value node, whether null is allowed) for `X`, `anyOf: [X, null]`, `[t, null]`."""
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        rest = [v for v in variants if v.get("type") != "null"]
        if len(rest) != 1:
            raise UnsupportedSchema(f"{where}: a field with several alternative types")
        outer = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        _only(outer, ("description",), where)
        return rest[0], len(rest) < len(variants)
    t = node.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        if len(rest) != 1:
            raise UnsupportedSchema(f"{where}: a field with several types {t}")
        return {**node, "type": rest[0]}, len(rest) < len(t)
    if "enum" in node and None in node["enum"]:
        return {**node, "enum": [v for v in node["enum"] if v is not None]}, True
    return node, False


def _kept(node: dict[str, Any], known: tuple[str, ...], where: str) -> dict[str, Any]:
    _only(node, (*known, *KEPT_KEYWORDS), where)
    return {k: node[k] for k in KEPT_KEYWORDS if k in node}


def _only(node: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [k for k in node if k not in allowed and k not in _IGNORED_KEYWORDS]
    if unknown:
        raise UnsupportedSchema(
            f"{where or 'the schema'}: the builder cannot edit {', '.join(sorted(unknown))}"
        )


def _brief(node: dict[str, Any]) -> str:
    text = str({k: v for k, v in node.items() if k not in _IGNORED_KEYWORDS})
    return text if len(text) <= 60 else text[:57] + "..."
