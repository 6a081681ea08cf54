"""Output schemas: where they come from, how they validate, how the model sees them.

Three sources give one `OutputSchema`:
  * a Pydantic model (a `.py` file defining `OutputParser`, or a class passed to the API),
  * a JSON Schema (a `.json` file or a dict),
  * llm_extractinator's legacy inline form (per field: type, description, optional,
    literals, items, properties).

The schema sent to the grammar is a stricter copy (`grammar_schema`): every object
closed, every key present (optional ones nullable), numbers, strings and lists bounded,
compact separators. A small base model otherwise invents keys or loops until the token
limit (see ENGINE_NOTES.md). Validation uses the user's own schema, unchanged.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .data import read_json_object
from .errors import ConfigError
from .schema_models import model_from_json_schema
from .settings import stable_hash
from .values import leaves, runaways, salvage, set_path

# Grammar-only bounds for fields the user left unbounded. A number the user did not bound
# gets at most GRAMMAR_MAX_DIGITS digits before the decimal point: a small model that
# loops on digits ("1000000…") stops after a few tokens, and a value that uses every
# digit the grammar allows is a run-away, not data (values.runaways). Give the field a
# `maximum` (`le=`) for larger values.
GRAMMAR_MAX_STRING = 300
GRAMMAR_MAX_ITEMS = 20
GRAMMAR_MAX_DIGITS = 6
GRAMMAR_NUMBER_BOUND = 10**GRAMMAR_MAX_DIGITS - 1
GRAMMAR_LIMITS = {
    "max_string": GRAMMAR_MAX_STRING,
    "max_items": GRAMMAR_MAX_ITEMS,
    "max_digits": GRAMMAR_MAX_DIGITS,
}
COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}

_LEGACY_TYPES = {
    "str": "string",
    "string": "string",
    "text": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "dict": "object",
    "object": "object",
}


@dataclass(frozen=True)
class OutputSchema:
    """A validated output shape: the Pydantic model plus its JSON Schema."""

    model: type[BaseModel]
    json_schema: dict[str, Any]
    source: str = "<schema>"
    field_names: tuple[str, ...] = field(default=())

    @classmethod
    def from_model(cls, model: type[BaseModel], source: str = "<model>") -> OutputSchema:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(f"{source}: expected a Pydantic BaseModel class")
        schema = inline_refs(model.model_json_schema(by_alias=True))
        if schema.get("type") != "object" or not schema.get("properties"):
            raise ConfigError(f"{source}: the schema must be an object with at least one field")
        return cls(model, schema, source, tuple(schema["properties"]))

    @classmethod
    def from_json_schema(cls, schema: dict[str, Any], source: str = "<schema>") -> OutputSchema:
        schema = inline_refs(schema)
        if schema.get("type", "object") != "object" or not schema.get("properties"):
            raise ConfigError(
                f"{source}: a JSON Schema must be an object with 'properties' (got "
                f"{json.dumps(schema)[:80]})"
            )
        try:
            model = model_from_json_schema(schema.get("title") or "Output", schema)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{source}: unsupported JSON Schema ({exc})") from exc
        return cls(model, schema, source, tuple(schema["properties"]))

    @classmethod
    def from_legacy(cls, spec: dict[str, Any], source: str = "<inline>") -> OutputSchema:
        props, required = {}, []
        for name, fspec in spec.items():
            props[name] = _legacy_field(name, fspec, source)
            if not (isinstance(fspec, dict) and fspec.get("optional")):
                required.append(name)
        schema = {"type": "object", "properties": props, "required": required}
        return cls.from_json_schema(schema, source)

    # --- what the model sees -----------------------------------------------------------
    @cached_property
    def grammar_schema(self) -> dict[str, Any]:
        constrained = _constrain(copy.deepcopy(self.json_schema))
        constrained["x-guidance"] = dict(COMPACT_JSON)
        return constrained

    def grammar_subset(self, names: Sequence[str]) -> dict[str, Any]:
        """The grammar schema for an answer with only these top-level fields (a targeted
        repair asks for the failed fields alone)."""
        subset = copy.deepcopy(self.grammar_schema)
        subset["properties"] = {n: subset["properties"][n] for n in names}
        subset["required"] = list(names)
        return subset

    def describe(self) -> str:
        """The schema as the model reads it: names, types, allowed values, descriptions."""
        return "\n".join(_describe_object(self.json_schema, indent=0))

    @cached_property
    def hash(self) -> str:
        # not key-sorted: the order of the fields is the order of the answer
        return stable_hash(json.dumps(self.json_schema, ensure_ascii=False))

    # --- validation --------------------------------------------------------------------
    def validate_json(self, text: str) -> dict[str, Any]:
        """Parse and validate; returns the fields as plain JSON values.

        Raises pydantic.ValidationError (which is a ValueError) with the reason."""
        obj = self.model.model_validate_json(text)
        return obj.model_dump(mode="json", by_alias=True)

    def runaways(self, fields: dict[str, Any]) -> dict[str, str]:
        """Values that reached a bound the grammar added (not the user's schema): a model
        that looped or ran away, not an answer. {path: reason}."""
        return runaways(self.json_schema, fields, GRAMMAR_LIMITS)

    def runaway(self, fields: dict[str, Any]) -> str | None:
        """The first run-away as "path: reason", or None."""
        found = self.runaways(fields)
        return next((f"{p}: {r}" for p, r in found.items()), None)

    def salvage(self, answer: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """(fields, field_errors): every field valid on its own is kept; invalid and
        run-away values are null, with their reason by path (values.salvage)."""
        fields, errors = salvage(self.model, answer)
        for path, why in self.runaways(fields).items():
            set_path(fields, path, None)
            errors[path] = why
        return fields, errors

    def leaves(self, fields: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
        """(path, value, schema node) for every leaf value of a record's fields."""
        return list(leaves(self.json_schema, fields))

    def null_fields(self) -> dict[str, None]:
        return dict.fromkeys(self.field_names)


# ---------------------------------------------------------------------------------------
# loading


def load_schema(spec: Any, parsers_dir: Path, source: str) -> OutputSchema:
    """Parser_Format → OutputSchema. `spec` is a file name or an inline legacy dict."""
    if isinstance(spec, dict):
        if spec.get("type") == "object" or "properties" in spec or "$schema" in spec:
            return OutputSchema.from_json_schema(spec, source)
        return OutputSchema.from_legacy(spec, source)
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{source}: Parser_Format must be a .py or .json file name or an object")
    path = Path(spec)
    if not path.is_absolute():
        path = parsers_dir / spec
    if not path.exists():
        raise ConfigError(f"{source}: Parser_Format file not found: {path}")
    if path.suffix == ".json":
        return load_schema(read_json_object(path, "JSON Schema"), parsers_dir, str(path))
    if path.suffix == ".py":
        return OutputSchema.from_model(_import_parser(path), str(path))
    raise ConfigError(f"{source}: Parser_Format must end in .py or .json, got {spec!r}")


def _import_parser(path: Path) -> type[BaseModel]:
    name = f"clinextract_parser_{stable_hash(str(path.resolve()), 8)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves forward references through sys.modules
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error is a config error
        raise ConfigError(f"{path}: import failed: {type(exc).__name__}: {exc}") from exc
    parser = getattr(module, "OutputParser", None)
    if parser is None:
        raise ConfigError(f"{path}: defines no class named OutputParser")
    return parser


def _legacy_field(name: str, spec: Any, source: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: field {name!r} must be an object with a 'type'")
    ltype = str(spec.get("type", "str")).lower()
    literals = spec.get("literals")
    if ltype not in _LEGACY_TYPES and not literals:
        raise ConfigError(f"{source}: field {name!r} has unknown type {spec.get('type')!r}")
    out: dict[str, Any] = {"type": _LEGACY_TYPES.get(ltype, "string")}
    if spec.get("description"):
        out["description"] = str(spec["description"])
    if literals:
        out = {
            "enum": list(literals),
            **({"description": out["description"]} if "description" in out else {}),
        }
    elif out["type"] == "array":
        items = spec.get("items") or {"type": "str"}
        out["items"] = _legacy_field(f"{name}[]", items, source)
    elif out["type"] == "object":
        sub = spec.get("properties") or {}
        if not sub:
            raise ConfigError(f"{source}: field {name!r} of type dict needs 'properties'")
        out["properties"] = {k: _legacy_field(k, v, source) for k, v in sub.items()}
        out["required"] = [
            k for k, v in sub.items() if not (isinstance(v, dict) and v.get("optional"))
        ]
    if spec.get("optional"):
        out = {
            "anyOf": [out, {"type": "null"}],
            **({"description": out["description"]} if "description" in out else {}),
        }
    return out


# ---------------------------------------------------------------------------------------
# JSON Schema helpers


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local `$ref`s by their definitions (no recursive schemas)."""
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                ref = node["$ref"]
                key = ref.split("/")[-1]
                if key not in defs:
                    raise ConfigError(f"unresolvable $ref {ref!r} in schema")
                if ref in seen:
                    raise ConfigError(f"recursive schema at {ref!r} is not supported")
                merged = {**defs[key], **{k: v for k, v in node.items() if k != "$ref"}}
                return resolve(merged, (*seen, ref))
            return {
                k: resolve(v, seen) for k, v in node.items() if k not in ("$defs", "definitions")
            }
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    return resolve(schema, ())


def _nullable(node: dict[str, Any]) -> bool:
    t = node.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    if None in node.get("enum", [object()]):
        return True
    return any(_nullable(s) for s in node.get("anyOf", []) + node.get("oneOf", []))


def _constrain(node: dict[str, Any]) -> dict[str, Any]:
    """Grammar copy: close objects, require every key, bound numbers/strings/lists."""
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            node[key] = [_constrain(s) for s in node[key]]
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "object" in types or "properties" in node:
        props = node.get("properties", {})
        required = set(node.get("required", []))
        for name, sub in props.items():
            sub = _constrain(sub)
            if name not in required and not _nullable(sub):
                sub = {"anyOf": [sub, {"type": "null"}]}
            props[name] = sub
        node["properties"] = props
        node["required"] = list(props)
        node["additionalProperties"] = False
    if "array" in types:
        node.setdefault("maxItems", GRAMMAR_MAX_ITEMS)
        if "items" in node:
            node["items"] = _constrain(node["items"])
    if "string" in types and not ({"enum", "const", "pattern", "format"} & node.keys()):
        node.setdefault("maxLength", GRAMMAR_MAX_STRING)
    if "integer" in types or "number" in types:
        if "minimum" not in node and "exclusiveMinimum" not in node:
            node["minimum"] = -GRAMMAR_NUMBER_BOUND
        if "maximum" not in node and "exclusiveMaximum" not in node:
            node["maximum"] = GRAMMAR_NUMBER_BOUND
    node.pop("default", None)
    return node


def _type_words(node: dict[str, Any]) -> str:
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in node["enum"])
    if "const" in node:
        return "always " + json.dumps(node["const"], ensure_ascii=False)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        words = [_type_words(v) for v in variants if v.get("type") != "null"]
        nullable = any(v.get("type") == "null" for v in variants)
        return " or ".join(words) + (" or null" if nullable else "")
    t = node.get("type", "any")
    if isinstance(t, list):
        return " or ".join(_type_words({**node, "type": x}) for x in t)
    if t == "array":
        return "list of " + _type_words(node.get("items", {}))
    names = {
        "string": "text",
        "integer": "integer",
        "number": "number",
        "boolean": "true/false",
        "null": "null",
        "object": "object",
    }
    word = names.get(t, str(t))
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is not None or hi is not None:
        word += f" ({'' if lo is None else lo}..{'' if hi is None else hi})"
    return word


def _describe_object(node: dict[str, Any], indent: int) -> list[str]:
    lines = []
    pad = "  " * indent
    for name, sub in node.get("properties", {}).items():
        desc = sub.get("description") or ""
        inner = _object_of(sub)
        if inner is not None:
            kind = "list of objects" if _is_array(sub) else "object"
            lines.append(f"{pad}- {name} ({kind}){': ' + desc if desc else ''}")
            lines.extend(_describe_object(inner, indent + 1))
        else:
            lines.append(f"{pad}- {name} ({_type_words(sub)}){': ' + desc if desc else ''}")
    return lines


def _is_array(node: dict[str, Any]) -> bool:
    return node.get("type") == "array" or any(
        v.get("type") == "array" for v in node.get("anyOf", [])
    )


def _object_of(node: dict[str, Any]) -> dict[str, Any] | None:
    """The object inside a field (itself, its list items, or a nullable variant)."""
    for candidate in [node, node.get("items", {}), *node.get("anyOf", [])]:
        if isinstance(candidate, dict) and candidate.get("properties"):
            return candidate
        if isinstance(candidate, dict) and candidate.get("items", {}).get("properties"):
            return candidate["items"]
    return None
