"""The Task page's draft: the field tree and the widget keys that hold its values.

A draft has a generation number; opening a task starts a new generation, so every widget
key is new and starts from the opened task's values (no stale widget state). Field ids
are `<generation>-<n>`; a field's values live under `f<id>.<what>` keys. Plain dicts
only, so the bookkeeping is testable without Streamlit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .schema_builder import FieldSpec, parse_choices

FIELD_DEFAULTS = {
    "name": "",
    "kind": "text",
    "req": True,
    "desc": "",
    "choices": "",
    "item": "text",
}


def new_draft(generation: int, source: Path | None = None) -> dict[str, Any]:
    return {"gen": generation, "count": 0, "tree": [], "source": source, "keep_parser": None}


def field_key(fid: str, what: str) -> str:
    return f"f{fid}.{what}"


def task_key(draft: dict[str, Any], what: str) -> str:
    return f"t{draft['gen']}.{what}"


def add_field(
    draft: dict[str, Any],
    siblings: list[dict[str, Any]],
    values: dict[str, Any],
    spec: FieldSpec | None = None,
) -> dict[str, Any]:
    """Append a field node to `siblings`; its starting values go into `values`
    (the widget-state defaults). With `spec`, the field and its children come from it."""
    draft["count"] += 1
    fid = f"{draft['gen']}-{draft['count']}"
    node: dict[str, Any] = {"id": fid, "children": [], "extra": {}, "item_extra": {}}
    siblings.append(node)
    if spec is None:
        start = dict(FIELD_DEFAULTS)
    else:
        start = {
            "name": spec.name,
            "kind": spec.kind,
            "req": spec.required,
            "desc": spec.description,
            "choices": ", ".join(spec.choices),
            "item": spec.item_kind,
        }
        node["extra"], node["item_extra"] = dict(spec.extra), dict(spec.item_extra)
        node["loaded"] = (spec.kind, spec.item_kind)  # kept constraints hold for these only
        for child in spec.children:
            add_field(draft, node["children"], values, child)
    for what, value in start.items():
        values[field_key(fid, what)] = value
    return node


def remove_field(tree: list[dict[str, Any]], fid: str) -> bool:
    for n, node in enumerate(tree):
        if node["id"] == fid:
            del tree[n]
            return True
        if remove_field(node["children"], fid):
            return True
    return False


def move_field(tree: list[dict[str, Any]], fid: str, step: int) -> bool:
    """Move a field up (-1) or down (+1) among its siblings."""
    for n, node in enumerate(tree):
        if node["id"] == fid:
            m = n + step
            if 0 <= m < len(tree):
                tree[n], tree[m] = tree[m], tree[n]
            return True
        if move_field(node["children"], fid, step):
            return True
    return False


def specs(tree: list[dict[str, Any]], value: Any) -> list[FieldSpec]:
    """The fields as the widgets hold them now; `value(key, default)` reads a widget."""
    out = []
    for node in tree:
        fid = node["id"]

        def get(what: str, fid: str = fid) -> Any:
            return value(field_key(fid, what), FIELD_DEFAULTS[what])

        out.append(
            FieldSpec(
                name=str(get("name")),
                kind=str(get("kind")),
                required=bool(get("req")),
                description=str(get("desc")),
                choices=parse_choices(str(get("choices"))),
                item_kind=str(get("item")),
                children=specs(node["children"], value),
                **_kept_constraints(node, str(get("kind")), str(get("item"))),
            )
        )
    return out


def _kept_constraints(node: dict[str, Any], kind: str, item: str) -> dict[str, Any]:
    """A loaded field's constraints, dropped once its type was changed in the builder."""
    loaded_kind, loaded_item = node.get("loaded", (None, None))
    if kind != loaded_kind:
        return {"extra": {}, "item_extra": {}}
    return {
        "extra": dict(node.get("extra", {})),
        "item_extra": dict(node.get("item_extra", {})) if item == loaded_item else {},
    }
