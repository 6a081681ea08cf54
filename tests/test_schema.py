"""Schemas from the three sources, the grammar copy, the prompt rendering, validation."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import BaseModel, Field, ValidationError

from clinextract.errors import ConfigError
from clinextract.schema import (
    GRAMMAR_MAX_ITEMS,
    GRAMMAR_NUMBER_BOUND,
    OutputSchema,
    load_schema,
)

LEGACY = {
    "onderzoek": {"type": "str", "literals": ["CT", "MRI"], "description": "soort onderzoek"},
    "grootte_mm": {"type": "float", "optional": True, "description": "grootte in mm"},
    "nodus": {"type": "bool"},
    "bevindingen": {"type": "list", "items": {"type": "str"}},
    "laesie": {
        "type": "dict",
        "optional": True,
        "properties": {"plaats": {"type": "str"}, "mm": {"type": "int"}},
    },
}


def test_legacy_form_validates_like_the_fields_say():
    schema = OutputSchema.from_legacy(LEGACY)
    assert schema.field_names == ("onderzoek", "grootte_mm", "nodus", "bevindingen", "laesie")
    good = schema.validate_json(
        '{"onderzoek":"CT","grootte_mm":null,"nodus":true,"bevindingen":["a"],'
        '"laesie":{"plaats":"rechts","mm":4}}'
    )
    assert good["laesie"] == {"plaats": "rechts", "mm": 4}
    with pytest.raises(ValidationError):
        schema.validate_json('{"onderzoek":"PET","nodus":true,"bevindingen":[]}')
    with pytest.raises(ValidationError):  # required field missing
        schema.validate_json('{"onderzoek":"CT","bevindingen":[]}')


def test_grammar_schema_is_closed_bounded_and_requires_every_key():
    g = OutputSchema.from_legacy(LEGACY).grammar_schema
    assert g["additionalProperties"] is False
    assert g["required"] == list(LEGACY)
    size = g["properties"]["grootte_mm"]
    assert {"type": "null"} in size["anyOf"]
    number = next(v for v in size["anyOf"] if v.get("type") == "number")
    assert number["maximum"] == GRAMMAR_NUMBER_BOUND
    assert g["properties"]["bevindingen"]["maxItems"] == GRAMMAR_MAX_ITEMS
    nested = next(v for v in g["properties"]["laesie"]["anyOf"] if v.get("type") == "object")
    assert nested["additionalProperties"] is False
    assert g["x-guidance"]["whitespace_flexible"] is False


def test_user_schema_is_not_changed_by_the_grammar_copy():
    schema = OutputSchema.from_legacy(LEGACY)
    before = json.dumps(schema.json_schema, sort_keys=True)
    _ = schema.grammar_schema
    assert json.dumps(schema.json_schema, sort_keys=True) == before
    # the user's schema accepts what the grammar would bound
    schema.validate_json(
        '{"onderzoek":"CT","nodus":false,"bevindingen":[],"grootte_mm":12345678901}'
    )


def test_model_sees_names_types_choices_and_descriptions():
    text = OutputSchema.from_legacy(LEGACY).describe()
    assert '- onderzoek (one of "CT", "MRI"): soort onderzoek' in text
    assert "- grootte_mm (number or null): grootte in mm" in text
    assert "- nodus (true/false)" in text
    assert "- bevindingen (list of text)" in text
    assert "  - plaats (text)" in text  # nested fields shown, indented


class Lesion(BaseModel):
    location: str = Field(description="where")
    size_mm: float | None = None


class Report(BaseModel):
    lesions: list[Lesion] = Field(description="every lesion")
    exam: str


def test_pydantic_model_with_nested_refs():
    schema = OutputSchema.from_model(Report)
    assert "$defs" not in json.dumps(schema.json_schema)
    assert "  - location (text): where" in schema.describe()
    out = schema.validate_json('{"lesions":[{"location":"lever","size_mm":3}],"exam":"CT"}')
    assert out == {"lesions": [{"location": "lever", "size_mm": 3.0}], "exam": "CT"}


def test_json_schema_with_awkward_names():
    schema = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {
                "grootte-mm": {"type": "number"},
                "class": {"enum": ["a", "b"]},
                "2nd opinion": {"type": ["string", "null"]},
            },
            "required": ["grootte-mm", "class"],
        }
    )
    out = schema.validate_json('{"grootte-mm":4.5,"class":"a","2nd opinion":null}')
    assert out == {"grootte-mm": 4.5, "class": "a", "2nd opinion": None}


def test_parser_file_and_json_file(tmp_path):
    parsers = tmp_path / "parsers"
    parsers.mkdir()
    (parsers / "p.py").write_text(
        "from pydantic import BaseModel\nclass OutputParser(BaseModel):\n    x: int\n"
    )
    (parsers / "s.json").write_text(
        json.dumps({"type": "object", "properties": {"y": {"type": "boolean"}}, "required": ["y"]})
    )
    assert load_schema("p.py", parsers, "t").field_names == ("x",)
    assert load_schema("s.json", parsers, "t").field_names == ("y",)


@pytest.mark.parametrize(
    "content, message",
    [
        ("x = (", "import failed"),
        ("from pydantic import BaseModel\nclass Other(BaseModel):\n    x: int\n", "OutputParser"),
    ],
)
def test_broken_parser_file_is_a_config_error(tmp_path, content, message):
    (tmp_path / "bad.py").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_schema("bad.py", tmp_path, "task")


@pytest.mark.parametrize(
    "spec",
    [
        {"a": {"type": "complex"}},
        {"a": "str"},
        {"a": {"type": "dict"}},
        12,
        "missing.json",
    ],
)
def test_broken_schema_specs_are_config_errors(tmp_path, spec):
    with pytest.raises(ConfigError):
        load_schema(spec, tmp_path, "task")


def test_runaway_values_at_grammar_bounds_are_flagged():
    schema = OutputSchema.from_legacy(LEGACY)
    base = {"onderzoek": "CT", "nodus": True, "grootte_mm": None, "laesie": None}
    assert schema.runaway({**base, "bevindingen": ["a"]}) is None
    assert "looped" in schema.runaway({**base, "bevindingen": ["x"] * GRAMMAR_MAX_ITEMS})
    assert "run-away" in schema.runaway(
        {**base, "bevindingen": [], "grootte_mm": float(GRAMMAR_NUMBER_BOUND)}
    )
    assert "repeated 3 times" in schema.runaway({**base, "bevindingen": ["a", ",", ",", ","]})
    assert schema.runaway({**base, "bevindingen": ["cyste", "cyste", "steen"]}) is None
    # a bound the user set is the user's business
    own = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {"l": {"type": "array", "items": {"type": "integer"}, "maxItems": 50}},
        }
    )
    assert own.runaway({"l": list(range(GRAMMAR_MAX_ITEMS))}) is None


def test_field_order_is_kept_for_the_grammar_and_the_hash():
    a = OutputSchema.from_legacy({"z": {"type": "str"}, "a": {"type": "str"}})
    b = OutputSchema.from_legacy({"a": {"type": "str"}, "z": {"type": "str"}})
    assert list(a.grammar_schema["properties"]) == ["z", "a"]
    assert a.hash != b.hash


@pytest.mark.parametrize(
    "field, reason",
    [
        ({"type": "frobnicate"}, "unknown type 'frobnicate'"),
        ({"type": ["string", 5]}, "unknown type 5"),
        ({"enum": []}, "enum must be a non-empty list"),
        ({"enum": "abc"}, "enum must be a non-empty list"),
        ({"type": "string", "pattern": "["}, "unsupported JSON Schema"),
        ({"type": "string", "maxLength": -1}, "maxLength must be a whole number"),
        ({"type": "number", "maximum": float("inf")}, "NaN or Infinity"),
        ({"type": "object", "properties": []}, "properties must be an object"),
        ({"anyOf": []}, "anyOf must be a non-empty list"),
        (5, "expected an object"),
    ],
)
def test_a_schema_clinextract_cannot_honour_is_a_config_error(field, reason):
    schema = {"type": "object", "properties": {"a": field}}
    with pytest.raises(ConfigError, match=re.escape(reason)):
        OutputSchema.from_json_schema(schema, "s.json")


def test_a_schema_nested_too_deeply_is_a_config_error():
    node: dict = {"type": "integer"}
    for _ in range(150):
        node = {"type": "object", "properties": {"a": node}}
    with pytest.raises(ConfigError, match="nested deeper than"):
        OutputSchema.from_json_schema({"type": "object", "properties": {"a": node}})


def test_nan_and_infinity_in_an_answer_are_not_values():
    schema = OutputSchema.from_json_schema(
        {"type": "object", "properties": {"x": {"type": "number"}}}
    )
    assert "not a number" in schema.runaway(schema.validate_json('{"x": NaN}'))
    assert schema.runaway(schema.validate_json('{"x": 1.5}')) is None
