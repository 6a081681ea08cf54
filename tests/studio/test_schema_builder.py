"""The schema builder's model: fields ↔ JSON Schema, checked through the core's own
schema loader (what `clinextract run` uses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from clinextract.errors import ConfigError
from clinextract.schema import OutputSchema, load_schema
from clinextract.studio.schema_builder import (
    FieldSpec,
    UnsupportedSchema,
    check_fields,
    fields_to_schema,
    parse_choices,
    schema_to_fields,
)


def every_kind() -> list[FieldSpec]:
    return [
        FieldSpec("finding", "text", description="The main finding"),
        FieldSpec("size_mm", "number", required=False),
        FieldSpec("count", "integer"),
        FieldSpec("malignant", "yes/no"),
        FieldSpec("side", "choice", choices=["left", "right"]),
        FieldSpec("codes", "list", item_kind="text"),
        FieldSpec("sides", "list", item_kind="choice", choices=["L", "R"], required=False),
        FieldSpec(
            "lesion",
            "group",
            children=[
                FieldSpec("site", "text"),
                FieldSpec("grade", "integer", required=False),
            ],
        ),
        FieldSpec("lesions", "list", item_kind="group", children=[FieldSpec("mm", "number")]),
    ]


def test_each_kind_becomes_the_expected_json_schema() -> None:
    props = fields_to_schema(every_kind(), title="t")["properties"]
    assert props["finding"] == {"description": "The main finding", "type": "string"}
    assert props["size_mm"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}
    assert props["count"] == {"type": "integer"}
    assert props["malignant"] == {"type": "boolean"}
    assert props["side"] == {"type": "string", "enum": ["left", "right"]}
    assert props["codes"] == {"type": "array", "items": {"type": "string"}}
    assert props["sides"]["anyOf"][0]["items"]["enum"] == ["L", "R"]
    assert props["lesion"]["properties"]["grade"]["anyOf"][1] == {"type": "null"}
    assert props["lesion"]["required"] == ["site"]
    assert props["lesions"]["items"]["properties"]["mm"] == {"type": "number"}


def test_required_list_names_only_required_fields() -> None:
    schema = fields_to_schema(every_kind())
    assert "size_mm" not in schema["required"] and "sides" not in schema["required"]
    assert {"finding", "count", "side", "lesion"} <= set(schema["required"])


def test_built_schema_validates_like_the_pipeline_does() -> None:
    schema = OutputSchema.from_json_schema(fields_to_schema(every_kind()))
    good = {
        "finding": "nodule",
        "size_mm": None,
        "count": 2,
        "malignant": False,
        "side": "left",
        "codes": ["a"],
        "sides": ["L"],
        "lesion": {"site": "lung"},
        "lesions": [{"mm": 4.5}],
    }
    assert schema.validate_json(json.dumps(good))["side"] == "left"
    with pytest.raises(ValidationError):
        schema.validate_json(json.dumps({**good, "side": "middle"}))
    with pytest.raises(ValidationError):
        schema.validate_json(json.dumps({**good, "count": "two"}))
    described = schema.describe()
    assert 'side (one of "left", "right")' in described
    assert "The main finding" in described


def test_round_trip_fields_schema_fields() -> None:
    fields = every_kind()
    assert schema_to_fields(fields_to_schema(fields)) == fields


def test_constraints_the_builder_does_not_edit_are_kept() -> None:
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 0, "maximum": 120, "title": "Age"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
        },
        "required": ["age", "tags"],
    }
    again = fields_to_schema(schema_to_fields(schema))["properties"]
    assert again["age"] == {"type": "integer", "minimum": 0, "maximum": 120}
    assert again["tags"] == {
        "type": "array",
        "items": {"type": "string", "maxLength": 10},
        "maxItems": 3,
    }


def test_opens_a_pydantic_parser_and_a_legacy_inline_schema(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text(
        "from typing import Literal, Optional\n"
        "from pydantic import BaseModel, Field\n"
        "class Lesion(BaseModel):\n"
        "    site: str\n"
        "class OutputParser(BaseModel):\n"
        "    side: Optional[Literal['left', 'right']] = Field(None, description='Side')\n"
        "    lesions: list[Lesion]\n"
        "    smoker: bool\n",
        encoding="utf-8",
    )
    fields = schema_to_fields(load_schema("p.py", tmp_path, "test"))
    by_name = {f.name: f for f in fields}
    assert by_name["side"] == FieldSpec(
        "side", "choice", required=False, description="Side", choices=["left", "right"]
    )
    assert by_name["lesions"].kind == "list" and by_name["lesions"].item_kind == "group"
    assert by_name["lesions"].children == [FieldSpec("site", "text")]
    assert by_name["smoker"].kind == "yes/no"

    legacy = {"size": {"type": "float", "optional": True}, "side": {"literals": ["L", "R"]}}
    fields = schema_to_fields(load_schema(legacy, tmp_path, "inline"))
    assert fields == [
        FieldSpec("size", "number", required=False),
        FieldSpec("side", "choice", choices=["L", "R"]),
    ]


@pytest.mark.parametrize(
    "prop",
    [
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        {"type": "string", "not": {"const": "x"}},
        {"enum": [1, 2, 3]},
    ],
)
def test_what_the_builder_cannot_show_is_refused_with_a_reason(prop: dict) -> None:
    with pytest.raises(UnsupportedSchema, match="x"):
        schema_to_fields({"type": "object", "properties": {"x": prop}})


def test_problems_are_plain_sentences() -> None:
    fields = [
        FieldSpec("", "text"),
        FieldSpec("side", "choice", choices=[]),
        FieldSpec("side", "text"),
        FieldSpec("status", "text"),
        FieldSpec("age", "integer"),
        FieldSpec("group", "group", children=[]),
    ]
    problems = check_fields(fields, columns=["id", "text", "age"])
    text = " | ".join(problems)
    assert "field 1 has no name" in text
    assert "'side': a choice needs allowed values" in text
    assert "'side' appears twice" in text
    assert "'status' is reserved" in text
    assert "dataset already has a column 'age'" in text
    assert "group. has no fields" in text
    assert check_fields([FieldSpec("ok", "text")]) == []
    with pytest.raises(ConfigError, match="has no name"):
        fields_to_schema([FieldSpec(" ")])
    assert check_fields([]) == ["the schema has no fields; add at least one"]


def test_parse_choices() -> None:
    assert parse_choices(" left, right ,,\nboth ") == ["left", "right", "both"]
    assert parse_choices("") == []
