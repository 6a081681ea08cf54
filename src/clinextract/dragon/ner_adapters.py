"""DRAGON adapters for named-entity labels: entity texts from the model → BIO tags."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .adapter_base import (
    MAX_ENTITIES,
    MAX_ENTITY_CHARS,
    RESERVED,
    Adapter,
    Case,
    Record,
    _ok,
    _sorted_values,
)
from .ner import (
    entities_from_multi_tags,
    entities_from_tags,
    first_only_labels,
    label_of,
    split_group,
    tag_multi,
    tag_single,
)


def _bound(seen: int, ceiling: int) -> int:
    """A grammar bound with room above what training shows, so a looping model stops
    early instead of writing until the token limit."""
    return max(1, min(ceiling, seen + seen // 2 + 2))


def _entity_list(description: str | None, items: int, chars: int) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "array",
        "items": {"type": "string", "maxLength": chars},
        "maxItems": items,
    }
    if description:
        node["description"] = description
    return node


class NER(Adapter):
    """Single-label NER: one list of entity texts per tag label."""

    label_type = "named_entity_recognition_target"
    guidance = (
        "For each entity type list the exact words of its entities as they appear in the "
        "report. List each distinct text once: every place it occurs is marked. Use an "
        "empty list when the report has none."
    )
    multi = False

    def setup(self) -> None:
        tags = [t for v in self.labels for t in (_flat(v) if self.multi else v)]
        self.entity_labels = _sorted_values({lab for t in tags if (lab := label_of(t))})
        if not self.entity_labels:
            raise ConfigError(f"{self.job.path}: the training tags contain no entities")
        # Every occurrence of an entity text is tagged, unless the job's own training tags
        # show that a label is tagged at its first occurrence only.
        self.first_only = first_only_labels(
            (case[self.job.input_name], case[self.job.label_name]) for case in self.job.development
        )
        golds = [set(self._gold(case)) for case in self.job.development]
        longest = max((len(text) for gold in golds for _, text in gold), default=1)
        self.max_chars = _bound(longest, MAX_ENTITY_CHARS)
        self.max_total = _bound(max(len(gold) for gold in golds), MAX_ENTITIES)
        self.field_of = {}
        for label in self.entity_labels:
            name = label if label not in RESERVED else f"entity_{label}"
            self.field_of[label] = name
            most = max(sum(1 for lab, _ in gold if lab == label) for gold in golds)
            self.properties[name] = _entity_list(
                self.instruction.entities.get(label), _bound(most, MAX_ENTITIES), self.max_chars
            )

    def _gold(self, case: Case) -> list[tuple[str, str]]:
        parts, tags = case[self.job.input_name], case[self.job.label_name]
        if self.multi:
            return entities_from_multi_tags(parts, tags)
        return entities_from_tags(parts, tags)

    def answer(self, case: Case) -> dict[str, Any]:
        out: dict[str, list[str]] = {f: [] for f in self.field_of.values()}
        for label, text in self._gold(case):
            texts = out.get(self.field_of.get(label, ""), None)
            if texts is not None and text not in texts:
                texts.append(text)
        return out

    def entities(self, fields: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            (label, text)
            for label, name in self.field_of.items()
            for text in fields.get(name) or []
            if isinstance(text, str) and text.strip()
        ]

    def _tag(self, parts: list[str], entities: list[tuple[str, str]], mode: str) -> Any:
        tag = tag_multi if self.multi else tag_single
        return tag(parts, entities, mode, self.first_only)

    def predict(self, record: Record, case: Case) -> Any:
        fields = _ok(record)
        return self._tag(case[self.job.input_name], self.entities(fields or {}), "all")

    def variants(self, record: Record, case: Case) -> dict[str, Any]:
        fields = _ok(record)
        parts = case[self.job.input_name]
        return {"first_match": self._tag(parts, self.entities(fields or {}), "naive")}


def _flat(tag_lists: list[Any]) -> list[str]:
    return [t for tags in tag_lists for t in (tags if isinstance(tags, list) else [tags])]


class MultiNER(NER):
    """Multi-label NER. Labels numbered per item (`1-lesion`) become entities with an item
    number `n` that the model gives, so the tag follows what the model says, not the
    position in its list; other labels work as in single-label NER, overlapping allowed."""

    label_type = "multi_label_named_entity_recognition_target"
    multi = True

    def setup(self) -> None:
        super().setup()
        parsed = [split_group(label) for label in self.entity_labels]
        self.grouped = all(g is not None for g, _ in parsed)
        if not self.grouped:
            return
        self.groups = sorted({g for g, _ in parsed})
        self.kinds = _sorted_values({k for _, k in parsed})
        item: dict[str, Any] = {"n": {"enum": self.groups}}
        if len(self.kinds) > 1:
            item["type"] = {"enum": self.kinds}
        item["text"] = {"type": "string", "maxLength": self.max_chars}
        self.properties.clear()
        self.properties["entities"] = {
            "type": "array",
            "maxItems": self.max_total,
            "items": {"type": "object", "properties": item, "required": list(item)},
        }
        self.guidance = (
            "List every entity as an object: n is the number of the item it belongs to "
            f"(items are numbered from {self.groups[0]}, in the order the report numbers "
            "them), "
            + ("type its type, " if len(self.kinds) > 1 else "")
            + "text its exact words in the report. A text that belongs to several items is "
            "listed once per item. Use an empty list when the report has none."
        )

    def answer(self, case: Case) -> dict[str, Any]:
        if not self.grouped:
            return super().answer(case)
        entities: list[dict[str, Any]] = []
        for label, text in self._gold(case):
            group, kind = split_group(label)
            entity = {"n": group, **({"type": kind} if len(self.kinds) > 1 else {}), "text": text}
            if entity not in entities:
                entities.append(entity)
        return {"entities": entities}

    def entities(self, fields: dict[str, Any]) -> list[tuple[str, str]]:
        if not self.grouped:
            return super().entities(fields)
        out = []
        for e in fields.get("entities") or []:
            kind = e.get("type", self.kinds[0])
            if isinstance(e.get("text"), str) and e["text"].strip():
                out.append((f"{e['n']}-{kind}", e["text"]))
        return out
