"""JSON Schema → a Pydantic model, so schemas given as JSON validate like Pydantic ones.

Covers what extraction schemas use: objects (nested), arrays, enums and consts, strings
with length/pattern limits, bounded numbers, booleans, nullable types (`anyOf` with
null, or a list of types). Field names that are not Python identifiers keep their
spelling as aliases.
"""

from __future__ import annotations

import keyword
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

_SIMPLE = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
JSON_TYPES = (*_SIMPLE, "object", "array")
MAX_DEPTH = 100  # nesting levels; a deeper schema is refused, not left to Python's recursion
PATH_CHARACTERS = {".", "[", "]"}  # leaf paths (values.path_parts) are built with them
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_COUNT_KEYS = ("minLength", "maxLength", "minItems", "maxItems")


def finite(value: Any) -> bool:
    """No NaN or Infinity anywhere (JSON has no spelling for them)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


def check_json_schema(node: Any, where: str = "schema", depth: int = 0) -> None:
    """Refuse, with the place and the reason (ValueError), what this module and the grammar
    cannot honour: an unknown or misspelt type, an empty or non-list enum, a keyword of the
    wrong shape, nesting deeper than MAX_DEPTH. Unknown keywords are left alone."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict):
        raise ValueError(f"{where}: expected an object, got {type(node).__name__}")
    if depth == 0 and not finite(node):
        raise ValueError(f"{where}: NaN or Infinity is not a JSON number")
    types = node.get("type")
    for t in types if isinstance(types, list) else [types]:
        if t is not None and not (isinstance(t, str) and t in JSON_TYPES):
            raise ValueError(f"{where}: unknown type {t!r} (known: {', '.join(JSON_TYPES)})")
    if isinstance(types, list) and not types:
        raise ValueError(f"{where}: an empty list of types")
    if "enum" in node:
        enum = node["enum"]
        if not isinstance(enum, list) or not enum:
            raise ValueError(f"{where}: enum must be a non-empty list")
        if not all(v is None or isinstance(v, str | int | float | bool) for v in enum):
            raise ValueError(f"{where}: enum values must be text, numbers, true/false or null")
    for key in _NUMBER_KEYS:
        if key in node and (isinstance(node[key], bool) or not isinstance(node[key], int | float)):
            raise ValueError(f"{where}: {key} must be a number")
    for key in _COUNT_KEYS:
        if key in node and (type(node[key]) is not int or node[key] < 0):
            raise ValueError(f"{where}: {key} must be a whole number >= 0")
    if "pattern" in node and not isinstance(node["pattern"], str):
        raise ValueError(f"{where}: pattern must be text")
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError(f"{where}: required must be a list of field names")
    props = node.get("properties", {})
    if not isinstance(props, dict):
        raise ValueError(f"{where}: properties must be an object")
    for name, sub in props.items():
        if not name or set(name) & PATH_CHARACTERS:
            raise ValueError(
                f"{where}: field name {name!r} must not be empty nor contain . [ or ] "
                "(they separate the parts of a value's path, e.g. laesies[0].mm)"
            )
        check_json_schema(sub, f"{where}.{name}", depth + 1)
    if "items" in node:
        check_json_schema(node["items"], f"{where}[]", depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            variants = node[key]
            if not isinstance(variants, list) or not variants:
                raise ValueError(f"{where}: {key} must be a non-empty list")
            for n, sub in enumerate(variants):
                check_json_schema(sub, f"{where}.{key}[{n}]", depth + 1)


def _python_type(name: str, node: dict[str, Any]) -> Any:
    if "enum" in node:
        values = tuple(node["enum"])
        return Literal[values]  # type: ignore[valid-type]
    if "const" in node:
        return Literal[node["const"]]  # type: ignore[valid-type]
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        types = [_python_type(name, v) for v in variants]
        out = types[0]
        for t in types[1:]:
            out = out | t
        return out
    t = node.get("type")
    if isinstance(t, list):
        return _python_type(name, {"anyOf": [{**node, "type": x} for x in t]})
    if t == "object" or "properties" in node:
        if not node.get("properties"):
            return dict[str, Any]
        return model_from_json_schema(name, node)
    if t == "array":
        item = _python_type(name + "Item", node.get("items", {}))
        constraints = {k: node[k] for k in ("minItems", "maxItems") if k in node}
        if constraints:
            return Annotated[
                list[item],
                Field(
                    min_length=constraints.get("minItems"), max_length=constraints.get("maxItems")
                ),
            ]
        return list[item]
    if t == "string":
        kw = {
            "min_length": node.get("minLength"),
            "max_length": node.get("maxLength"),
            "pattern": node.get("pattern"),
        }
        if any(v is not None for v in kw.values()):
            return Annotated[str, StringConstraints(**kw)]
        return str
    if t in ("integer", "number"):
        base = int if t == "integer" else float
        kw = {
            "ge": node.get("minimum"),
            "le": node.get("maximum"),
            "gt": node.get("exclusiveMinimum"),
            "lt": node.get("exclusiveMaximum"),
        }
        kw = {k: v for k, v in kw.items() if v is not None}
        return Annotated[base, Field(**kw)] if kw else base
    if t in _SIMPLE:
        return _SIMPLE[t]
    return Any


def _identifier(name: str, taken: set[str]) -> str:
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit() or keyword.iskeyword(ident) or ident.startswith("_"):
        ident = "f_" + ident
    while ident in taken or ident in BaseModel.__dict__ or hasattr(BaseModel, ident):
        ident += "_"
    taken.add(ident)
    return ident


def model_from_json_schema(name: str, node: dict[str, Any]) -> type[BaseModel]:
    required = set(node.get("required", []))
    fields: dict[str, Any] = {}
    taken: set[str] = set()
    for prop, sub in node.get("properties", {}).items():
        ident = _identifier(prop, taken)
        ptype = _python_type(ident.title().replace("_", ""), sub)
        desc = sub.get("description")
        if prop in required:
            fields[ident] = (ptype, Field(..., alias=prop, description=desc))
        else:
            fields[ident] = (ptype | None, Field(None, alias=prop, description=desc))
    extra = "forbid" if node.get("additionalProperties") is False else "ignore"
    config = ConfigDict(populate_by_name=True, extra=extra)
    return create_model(re.sub(r"\W", "", name) or "Output", __config__=config, **fields)
