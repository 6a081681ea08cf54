"""JSON Schema → GBNF the way Ollama gets its grammar (llama.cpp's json-schema-to-grammar).

Ollama turns a request's `format` schema into a GBNF grammar with llama.cpp's C++
converter. xllamacpp's `json_schema_to_grammar` instead emits an llguidance grammar whose
whitespace is unbounded (this model then writes whitespace until the token limit), so B
builds its grammar here, following the rules of llama.cpp's converter for the parts of
JSON Schema the benchmark uses:

* `space ::= | " " | "\\n"{1,2} [ \\t]{0,20}` between tokens (whitespace allowed, but
  bounded at each position);
* objects: required keys in their declared order, optional keys after them; extra keys
  only when `additionalProperties` says so;
* integers at most 16 digits, strings of JSON characters, enums as literals.
"""

from __future__ import annotations

import json
from typing import Any

SPACE = '| " " | "\\n"{1,2} [ \\t]{0,20}'
PRIMITIVES = {
    "boolean": '("true" | "false") space',
    "null": '"null" space',
    "integral-part": "[0] | [1-9] [0-9]{0,15}",
    "decimal-part": "[0-9]{1,16}",
    "integer": '("-"? integral-part) space',
    "number": '("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space',
    "char": '[^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})',
    "string": '"\\"" char* "\\"" space',
}
DEPENDS = {
    "integer": ["integral-part"],
    "number": ["integral-part", "decimal-part"],
    "string": ["char"],
}


def literal(value: Any) -> str:
    """A GBNF literal for a JSON value's text."""
    text = json.dumps(value, ensure_ascii=False)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Converter:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {"space": SPACE}

    def primitive(self, name: str) -> str:
        self.rules[name] = PRIMITIVES[name]
        for dep in DEPENDS.get(name, []):
            self.primitive(dep)
        return name

    def add(self, name: str, body: str) -> str:
        key = name.replace("_", "-") or "root"
        self.rules[key] = body
        return key

    def visit(self, node: dict[str, Any], name: str) -> str:
        if "anyOf" in node or "oneOf" in node:
            alts = node.get("anyOf") or node.get("oneOf") or []
            subs = [self.visit(alt, f"{name}-{n}") for n, alt in enumerate(alts)]
            return self.add(name, " | ".join(subs))
        if "const" in node:
            return self.add(name, f"{literal(node['const'])} space")
        if "enum" in node:
            return self.add(name, "(" + " | ".join(literal(v) for v in node["enum"]) + ") space")
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            return self.add(name, self.object_rule(node, name))
        if kind == "array":
            item = self.visit(node.get("items", {}), f"{name}-item")
            return self.add(name, f'"[" space ({item} ("," space {item})*)? "]" space')
        if isinstance(kind, str) and kind in PRIMITIVES:
            ref = self.primitive(kind)
            return self.add(name, ref) if name not in ("", ref) else ref
        raise ValueError(f"unsupported schema node for the baseline grammar: {node}")

    def object_rule(self, node: dict[str, Any], name: str) -> str:
        required = set(node.get("required", []))
        kvs: list[tuple[str, bool]] = []
        for prop, sub in node.get("properties", {}).items():
            sub_name = f"{name}-{prop}" if name else prop
            value = self.visit(sub, sub_name)
            kv = self.add(f"{sub_name}-kv", f'{literal(prop)} space ":" space {value}')
            kvs.append((kv, prop in required))
        extra = node.get("additionalProperties")
        if extra is True or isinstance(extra, dict):
            raise ValueError("additionalProperties is not needed by the benchmark schema")
        req = [kv for kv, is_req in kvs if is_req]
        opt = [kv for kv, is_req in kvs if not is_req]
        body = '"{" space ' + ' "," space '.join(req)
        for n, kv in enumerate(opt):
            sep = '"," space ' if req or n else ""
            body += f" ({sep}{kv})?"
        return body + ' "}" space'


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    conv = _Converter()
    conv.visit(schema, "")
    return "".join(f"{name} ::= {body}\n" for name, body in sorted(conv.rules.items()))
