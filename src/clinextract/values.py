"""A record's values, field by field: leaf paths, validation that keeps what is valid, and
run-away detection.

Paths name a value inside the fields: `onderzoek`, `nodus.grootte_mm`, `bevindingen[1]`,
`laesies[0].orgaan`. A *leaf* is a value that is not an object or a non-empty list:
text, a number, a boolean, null, or an empty list.

`salvage` validates an answer the way a clinician would want: every field that is valid
on its own is kept, every one that is not becomes null with a short reason under its
path, so one run-away number does not throw away the rest of the record.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

LOOP_REPEATS = 3  # the same list item this many times in a row is a loop, not an answer


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def loc_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a path: ('nodus', 'mm') → 'nodus.mm'."""
    path = ""
    for part in loc:
        path = join(path, part)
    return path or "answer"


def top_field(path: str) -> str:
    """The top-level field a path lies in: 'nodus.mm' → 'nodus', 'b[2]' → 'b'."""
    for i, ch in enumerate(path):
        if ch in ".[":
            return path[:i]
    return path


# --- leaves -----------------------------------------------------------------------------


def variant(node: dict[str, Any], value: Any) -> dict[str, Any]:
    """The branch of a schema node that describes `value` (a nullable field's non-null
    branch for a value, the null branch for None)."""
    branches = node.get("anyOf") or node.get("oneOf")
    if not branches:
        return node
    kinds = {dict: "object", list: "array", bool: "boolean", str: "string", type(None): "null"}
    want = kinds.get(type(value), "number")
    for branch in branches:
        t = branch.get("type")
        types = t if isinstance(t, list) else [t]
        if want in types or (want == "number" and "integer" in types):
            return branch
        if "enum" in branch and value in branch["enum"]:
            return branch
        if want == "object" and "properties" in branch:
            return branch
    return next((b for b in branches if b.get("type") != "null"), node)


def leaves(node: dict[str, Any], value: Any, path: str = "") -> Iterator[tuple[str, Any, dict]]:
    """(path, value, schema node) for every leaf of `value`, in answer order. The node is
    the branch that describes the value, with the field's own description kept."""
    described = {"description": node["description"]} if "description" in node else {}
    node = {**described, **variant(node, value)}
    if isinstance(value, dict):
        props = node.get("properties", {})
        for key, sub in value.items():
            yield from leaves(props.get(key, {}), sub, join(path, key))
    elif isinstance(value, list) and value:
        items = {**described, **node.get("items", {})}  # an item speaks of its list's field
        for n, item in enumerate(value):
            yield from leaves(items, item, join(path, n))
    else:
        yield path, value, node


def path_parts(path: str) -> list[str | int]:
    """'laesies[0].mm' → ['laesies', 0, 'mm']."""
    parts: list[str | int] = []
    for chunk in path.replace("[", ".[").split("."):
        if chunk.startswith("["):
            parts.append(int(chunk[1:-1]))
        elif chunk:
            parts.append(chunk)
    return parts


def get_path(fields: Any, path: str) -> Any:
    """The value at `path`, or None where the path does not exist."""
    value = fields
    for part in path_parts(path):
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def set_path(fields: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at `path` (which must exist) in nested fields."""
    parts = path_parts(path)
    target: Any = fields
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value


# --- validation that keeps what is valid ------------------------------------------------


@cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation)


def _required(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items() if info.is_required()}


def _field_types(model: type[BaseModel]) -> dict[str, Any]:
    """JSON key → the annotation that validates that field alone (constraints included)."""
    return {
        info.alias or name: Annotated[(info.annotation, *info.metadata)]
        if info.metadata
        else info.annotation
        for name, info in model.model_fields.items()
    }


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The Pydantic model inside an annotation (itself, Optional[...] or a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _items_of(annotation: Any) -> Any:
    """The item annotation of a list annotation (inside Optional/Annotated), or None."""
    origin = typing.get_origin(annotation)
    if origin is list:
        return typing.get_args(annotation)[0]
    for arg in typing.get_args(annotation):
        found = _items_of(arg)
        if found is not None:
            return found
    return None


def reason(exc: ValidationError) -> str:
    """The first validation error of one value, in a few words."""
    err = exc.errors()[0]
    return err["msg"]


def _salvage(annotation: Any, value: Any, path: str, errors: dict[str, str]) -> Any:
    try:
        return _adapter(annotation).validate_python(value)
    except ValidationError as exc:
        model = _model_in(annotation)
        if isinstance(value, dict) and model is not None:
            out = {}
            required = _required(model)
            for key, sub in _field_types(model).items():
                if key in value:
                    out[key] = _salvage(sub, value[key], join(path, key), errors)
                else:
                    out[key] = None
                    if key in required:
                        errors[join(path, key)] = "missing"
            return out
        item = _items_of(annotation)
        if isinstance(value, list) and item is not None and _model_in(item) is not None:
            only_items = all(isinstance(e["loc"][0], int) for e in exc.errors() if e["loc"])
            if only_items:  # the list itself is fine (length), some items are not
                return [_salvage(item, v, join(path, n), errors) for n, v in enumerate(value)]
        errors[path] = reason(exc)
        return None


def salvage(model: type[BaseModel], answer: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    """(fields, field_errors): the answer validated field by field; a field (or a nested
    field, or an item of a list of objects) that is not valid on its own is null, with
    its reason under its path. Values are returned as plain JSON (the schema's keys)."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}
    required = _required(model)
    for key, annotation in _field_types(model).items():
        if key not in answer:
            fields[key] = None
            if key in required:
                errors[key] = "missing"
            continue
        value = _salvage(annotation, answer[key], key, errors)
        fields[key] = _to_json(value)
    return fields, errors


def _to_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return json.loads(json.dumps(value, default=str)) if not _plain(value) else value


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# --- run-away answers -------------------------------------------------------------------


def runaways(
    node: dict[str, Any], value: Any, limits: dict[str, Any], path: str = ""
) -> dict[str, str]:
    """Values that reached a limit the grammar added (not the user's schema): a model that
    looped or ran away, not an answer. `limits` holds the grammar's own bounds
    (max_string, max_items, max_digits). Returns {path: reason}."""
    where = path or "answer"
    found: dict[str, str] = {}
    node = variant(node, value)
    if isinstance(value, dict):
        for key, sub in node.get("properties", {}).items():
            if key in value:
                found.update(runaways(sub, value[key], limits, join(path, key)))
    elif isinstance(value, list):
        if "maxItems" not in node and len(value) >= limits["max_items"]:
            return {where: f"the list ran to {len(value)} items (the model looped)"}
        for n in range(len(value) - LOOP_REPEATS + 1):
            if all(v == value[n] for v in value[n + 1 : n + LOOP_REPEATS]):
                item = json.dumps(value[n], ensure_ascii=False)
                return {where: f"{item} repeated {LOOP_REPEATS} times in a row (the model looped)"}
        for n, item in enumerate(value):
            found.update(runaways(node.get("items", {}), item, limits, join(path, n)))
    elif isinstance(value, str):
        if "maxLength" not in node and len(value) >= limits["max_string"]:
            return {where: f"the text ran to {len(value)} characters (the model looped)"}
    elif isinstance(value, int | float) and not isinstance(value, bool):
        bounded = any(k in node for k in ("maximum", "exclusiveMaximum"))
        if not bounded and abs(value) >= 10 ** (limits["max_digits"] - 1):
            return {where: f"{value:g} is a run-away number (as long as the grammar allows)"}
    return found
