"""The shapes of answers that fast-forward follows, from the grammar copy of a schema.

The grammar copy (`OutputSchema.grammar_schema`: compact separators, closed objects with
every key in schema order, bounded numbers, strings and lists) leaves the model few real
choices: the values. A `Shape` keeps exactly what decides the answer's text: fixed
literals (enums, booleans, null), bounded strings and numbers, closed objects, bounded
lists, and alternatives that begin with different characters.

`compile_shape` returns None for schema features this does not model (patterns, formats,
exclusive or fractional bounds, overlapping alternatives, open objects ...); the engine
then decodes the whole answer as before. `Rules` writes whole values as Lark rules for
llguidance, the grammar engine behind llama.cpp's JSON schemas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import json_numbers
from .json_numbers import NumberShape

# one JSON string character: the raw ones the whole-answer grammar allows, or an escape
STRING_CHAR = r'(?:[^"\\\x00-\x1F\x7F]|\\["\\bfnrt]|\\u[0-9a-fA-F]{4})'
NUMBER_CHARS = "-0123456789."
COMPACT = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
_IGNORED_KEYS = {"description", "title", "default", "examples", "$schema", "$id", "x-guidance"}


@dataclass(frozen=True)
class Literals:  # enum, const, boolean, null: one of a few fixed JSON texts
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Text:  # a JSON string (no pattern or format)
    min_length: int
    max_length: int


@dataclass(frozen=True)
class Obj:  # a closed object, every key present, in schema order
    fields: tuple[tuple[str, Shape], ...]


@dataclass(frozen=True)
class Arr:
    item: Shape
    min_items: int
    max_items: int


@dataclass(frozen=True)
class Either:  # anyOf whose options begin with different characters
    options: tuple[Shape, ...]


Shape = Literals | Text | NumberShape | Obj | Arr | Either


# ---------------------------------------------------------------------------------------
# schema → shape


class Unsupported(Exception):
    pass


@lru_cache(maxsize=64)
def compile_shape(schema_json: str) -> Shape | None:
    """The shape of a grammar schema (JSON text), or None when it is not handled."""
    schema = json.loads(schema_json)
    guidance = schema.get("x-guidance")
    if guidance is not None and guidance != COMPACT:
        return None
    try:
        shape = _shape(schema)
    except Unsupported:
        return None
    return shape if isinstance(shape, Obj) else None


def _shape(node: Any) -> Shape:
    if not isinstance(node, dict):
        raise Unsupported("not an object schema")
    keys = set(node) - _IGNORED_KEYS
    if "anyOf" in node:
        if keys != {"anyOf"}:
            raise Unsupported("anyOf beside other keywords")
        return _either([_shape(s) for s in node["anyOf"]])
    if "enum" in node or "const" in node:
        values = node["enum"] if "enum" in node else [node["const"]]
        if keys - {"enum", "const", "type"}:
            raise Unsupported("enum with other constraints")
        return Literals(tuple(_literal(v) for v in values))
    types = node.get("type")
    if isinstance(types, list):  # ["string", "null"]: each type with its own keywords
        known = set().union(*(_KEYS_BY_TYPE.get(t, set()) for t in types))
        if any(t not in _KEYS_BY_TYPE for t in types) or keys - known - {"type"}:
            raise Unsupported(f"type {types!r} with {sorted(keys)}")
        return _either(
            [
                _shape({k: v for k, v in node.items() if k in _KEYS_BY_TYPE[t]} | {"type": t})
                for t in types
            ]
        )
    allowed = _KEYS_BY_TYPE.get(types)
    if allowed is None or keys - allowed - {"type"}:
        raise Unsupported(f"type {types!r} with {sorted(keys)}")
    if types == "null":
        return Literals(("null",))
    if types == "boolean":
        return Literals(("true", "false"))
    if types == "string":
        if "maxLength" not in node:
            raise Unsupported("unbounded string")
        return Text(int(node.get("minLength", 0)), int(node["maxLength"]))
    if types in ("integer", "number"):
        low, high = node.get("minimum"), node.get("maximum")
        if not all(isinstance(b, int | float) and float(b).is_integer() for b in (low, high)):
            raise Unsupported("number bounds that are missing or not integers")
        return NumberShape(types == "integer", int(low), int(high))
    if types == "array":
        if "items" not in node or "maxItems" not in node:
            raise Unsupported("array without items or maxItems")
        return Arr(_shape(node["items"]), int(node.get("minItems", 0)), int(node["maxItems"]))
    props = node.get("properties") or {}
    if not props or node.get("additionalProperties") is not False:
        raise Unsupported("open or empty object")
    if list(node.get("required", [])) != list(props):
        raise Unsupported("object whose keys are not all required in order")
    return Obj(tuple((json.dumps(k, ensure_ascii=False), _shape(v)) for k, v in props.items()))


_KEYS_BY_TYPE = {
    "null": set(),
    "boolean": set(),
    "string": {"minLength", "maxLength"},
    "integer": {"minimum", "maximum"},
    "number": {"minimum", "maximum"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
}


def _literal(value: Any) -> str:
    if isinstance(value, float) or isinstance(value, dict | list):
        raise Unsupported("enum of numbers with fractions, objects or lists")
    return json.dumps(value, ensure_ascii=False)


def _either(options: list[Shape]) -> Shape:
    literals = [t for o in options if isinstance(o, Literals) for t in o.texts]
    others = [o for o in options if not isinstance(o, Literals)]
    merged = ([Literals(tuple(dict.fromkeys(literals)))] if literals else []) + others
    seen: set[str] = set()
    for option in merged:
        firsts = first_chars(option)
        if firsts & seen:
            raise Unsupported("anyOf options that begin alike")
        seen |= firsts
    return merged[0] if len(merged) == 1 else Either(tuple(merged))


def first_chars(shape: Shape) -> frozenset[str]:
    if isinstance(shape, Literals):
        return frozenset(t[0] for t in shape.texts)
    if isinstance(shape, Text):
        return frozenset('"')
    if isinstance(shape, NumberShape):
        return frozenset(c for c in NUMBER_CHARS if json_numbers.allows(shape, c))
    if isinstance(shape, Obj):
        return frozenset("{")
    if isinstance(shape, Arr):
        return frozenset("[")
    return frozenset().union(*(first_chars(o) for o in shape.options))


# ---------------------------------------------------------------------------------------
# Lark text


@lru_cache(maxsize=256)
def object_items(shape: Obj) -> tuple[str | Shape, ...]:
    items: list[str | Shape] = []
    for n, (key, value) in enumerate(shape.fields):
        items += [("{" if n == 0 else ",") + key + ":", value]
    items.append("}")
    return tuple(items)


def more_items(item: str, at_least: int, at_most: int) -> str:
    """`,item` repeated within bounds, then `]`."""
    at_least = max(0, at_least)
    if at_most <= 0:
        return '"]"'
    return f'("," {item}){{{at_least},{at_most}}} "]"'


def items_rule(item: str, min_items: int, max_items: int) -> str:
    """Items right after `[`, then `]`."""
    if max_items <= 0:
        return '"]"'
    body = f"{item} {more_items(item, min_items - 1, max_items - 1)}"
    return body if min_items >= 1 else f'({body} | "]")'


def lark_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def lark_regex(regex: str) -> str:
    return "/" + regex.replace("/", "\\/") + "/"


class Rules:
    """Named Lark rules for whole values, each written once per grammar."""

    def __init__(self) -> None:
        self.bodies: dict[Shape, tuple[str, str]] = {}  # shape -> (name, body)

    def name(self, shape: Shape) -> str:
        if shape not in self.bodies:
            name = f"v{len(self.bodies)}"
            self.bodies[shape] = (name, "")  # reserve the name first (shapes nest)
            self.bodies[shape] = (name, self._body(shape))
        return self.bodies[shape][0]

    def _body(self, shape: Shape) -> str:
        if isinstance(shape, Literals):
            return " | ".join(lark_string(t) for t in shape.texts)
        if isinstance(shape, Text):
            low, high = shape.min_length, shape.max_length
            return lark_regex(f'"{STRING_CHAR}{{{low},{high}}}"')
        if isinstance(shape, NumberShape):
            return lark_regex(json_numbers.rest_regex(shape, ""))
        if isinstance(shape, Obj):
            return " ".join(
                lark_string(i) if isinstance(i, str) else self.name(i) for i in object_items(shape)
            )
        if isinstance(shape, Arr):
            return '"[" ' + items_rule(self.name(shape.item), shape.min_items, shape.max_items)
        return " | ".join(self.name(o) for o in shape.options)

    def text(self) -> str:
        return "".join(f"{name}: {body}\n" for name, body in self.bodies.values())
