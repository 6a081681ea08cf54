"""One adapter per DRAGON label type: the answer schema built from the job's own labelled
cases, gold label → answer (few-shot examples), answer → prediction value.

Nothing is hard-coded per task: allowed classes come from the labels seen in training and
validation, the number of sub-labels from their lengths, entity tags from their tags.
Every adapter returns a valid prediction even for a failed row (the training prior,
majority class, median, or no entities), because the evaluator needs one per uid.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from ..errors import ConfigError
from ..schema import OutputSchema
from .instructions import Instruction
from .jobs import Job
from .logprobs import bool_probabilities
from .ner import (
    entities_from_multi_tags,
    entities_from_tags,
    first_only_labels,
    label_of,
    split_group,
    tag_multi,
    tag_single,
)

TOP_LOGPROBS = 10
MAX_ENTITIES = 40
MAX_ENTITY_CHARS = 200
RESERVED = {"uid", "report", "status", "error"}  # input columns and pipeline meta columns
Record = dict[str, Any] | None  # a pipeline record (status, fields, raw_output, logprobs)
Case = dict[str, Any]  # one case of the job (uid, input, and a label in labelled sets)


def _sorted_values(values: set[Any]) -> list[Any]:
    """Labels in a stable order: numerically when they are all numbers (as text or not)."""
    try:
        return sorted(values, key=lambda v: (float(v), str(v)))
    except (TypeError, ValueError):
        return sorted(values, key=str)


def _field_names(wanted: tuple[str, ...], n: int) -> list[str]:
    return list(wanted) if len(wanted) == n else [f"label_{i + 1}" for i in range(n)]


def _ok(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record and record.get("status") == "success" and record.get("fields"):
        return record["fields"]
    return None


class Adapter:
    label_type = ""
    top_logprobs = 0
    guidance = ""

    def __init__(self, job: Job, instruction: Instruction):
        self.job = job
        self.instruction = instruction
        self.labels = [case[job.label_name] for case in job.development]
        if not self.labels:
            raise ConfigError(f"{job.path}: no labelled training cases to build the schema from")
        self.properties: dict[str, Any] = {}
        self.setup()
        self.schema = OutputSchema.from_json_schema(
            {"type": "object", "properties": self.properties, "required": list(self.properties)},
            f"{job.name} ({job.label_name})",
        )

    def setup(self) -> None:
        raise NotImplementedError

    def answer(self, case: dict[str, Any]) -> dict[str, Any]:
        """The gold label of a labelled case as the model should answer."""
        raise NotImplementedError

    def predict(self, record: dict[str, Any] | None, case: dict[str, Any]) -> Any:
        """The prediction value for the evaluator (never missing)."""
        raise NotImplementedError

    def variants(self, record: dict[str, Any] | None, case: dict[str, Any]) -> dict[str, Any]:
        """Alternative predictions, kept to measure what a design choice is worth."""
        return {}


# --- classification ---------------------------------------------------------------------
class SingleBinary(Adapter):
    label_type = "single_label_binary_classification_target"
    top_logprobs = TOP_LOGPROBS
    guidance = "Answer true or false."

    def setup(self) -> None:
        self.field = self.instruction.answer
        self.properties[self.field] = {"type": "boolean"}
        self.prior = sum(bool(v) for v in self.labels) / len(self.labels)

    def answer(self, case: dict[str, Any]) -> dict[str, Any]:
        return {self.field: bool(case[self.job.label_name])}

    def predict(self, record: Record, case: Case) -> Any:
        fields = _ok(record)
        if fields is None:
            return self.prior
        probs = bool_probabilities(record.get("raw_output") or "", record.get("logprobs"))
        return probs.get(self.field, float(fields[self.field]))

    def variants(self, record: Record, case: Case) -> dict[str, Any]:
        fields = _ok(record)
        return {"hard": self.prior if fields is None else float(fields[self.field])}


class MultiBinary(Adapter):
    label_type = "multi_label_binary_classification_target"
    top_logprobs = TOP_LOGPROBS
    guidance = "Answer true or false for each label."

    def setup(self) -> None:
        n = Counter(len(v) for v in self.labels).most_common(1)[0][0]
        self.fields = _field_names(self.instruction.sub_labels, n)
        for f in self.fields:
            self.properties[f] = {"type": "boolean"}
        self.priors = [
            sum(bool(v[i]) for v in self.labels if len(v) > i) / len(self.labels)
            for i in range(n)
        ]

    def answer(self, case: Case) -> dict[str, Any]:
        return {f: bool(v) for f, v in zip(self.fields, case[self.job.label_name], strict=False)}

    def model_probabilities(self, record: Record) -> list[float] | None:
        fields = _ok(record)
        if fields is None:
            return None
        probs = bool_probabilities(record.get("raw_output") or "", record.get("logprobs"))
        return [probs.get(f, float(fields[f])) for f in self.fields]

    def predict(self, record: Record, case: Case) -> Any:
        """The model's P(true) per label, combined with that label's training rate.

        The official score pools all labels into one AUC, so a ranking across labels
        counts as much as one within a label; labels with very different rates (lesion 1
        usually present, lesion 5 rarely) are ranked by their training rate, cases within
        a label by the model: logit(p) = logit(rate) + logit(P_model)."""
        model = self.model_probabilities(record)
        if model is None:
            return list(self.priors)
        return [_combine(prior, p) for prior, p in zip(self.priors, model, strict=True)]

    def variants(self, record: Record, case: Case) -> dict[str, Any]:
        fields = _ok(record)
        hard = list(self.priors) if fields is None else [float(fields[f]) for f in self.fields]
        return {"hard": hard, "model_only": self.model_probabilities(record) or self.priors}


def _combine(prior: float, p: float, clip: float = 0.01) -> float:
    def logit(x: float) -> float:
        x = min(1 - clip, max(clip, x))
        return math.log(x / (1 - x))

    return 1 / (1 + math.exp(-(logit(prior) + logit(p))))


class SingleMultiClass(Adapter):
    label_type = "single_label_multi_class_classification_target"
    guidance = "Choose exactly one of the allowed labels."

    def setup(self) -> None:
        self.field = self.instruction.answer
        self.classes = _sorted_values(set(self.labels))
        self.properties[self.field] = {"enum": self.classes}
        self.majority = Counter(self.labels).most_common(1)[0][0]

    def answer(self, case: Case) -> dict[str, Any]:
        return {self.field: case[self.job.label_name]}

    def predict(self, record: Record, case: Case) -> Any:
        fields = _ok(record)
        return self.majority if fields is None else fields[self.field]


class MultiMultiClass(Adapter):
    label_type = "multi_label_multi_class_classification_target"
    guidance = "For each label choose exactly one of its allowed values."

    def setup(self) -> None:
        n = Counter(len(v) for v in self.labels).most_common(1)[0][0]
        self.fields = _field_names(self.instruction.sub_labels, n)
        self.majority = []
        for i, f in enumerate(self.fields):
            seen = [v[i] for v in self.labels if len(v) > i]
            self.properties[f] = {"enum": _sorted_values(set(seen))}
            self.majority.append(Counter(seen).most_common(1)[0][0])

    def answer(self, case: Case) -> dict[str, Any]:
        return dict(zip(self.fields, case[self.job.label_name], strict=False))

    def predict(self, record: Record, case: Case) -> Any:
        fields = _ok(record)
        return list(self.majority) if fields is None else [fields[f] for f in self.fields]


# --- regression -------------------------------------------------------------------------
class Digits:
    """Numbers as short digit strings. A JSON number leaves the model free to write
    `15.000000…` until the token limit (seen on every fifth Task106 case); a pattern
    with as many digits as the training values need (plus one) cannot run away."""

    def __init__(self, values: list[float]):
        top = max((abs(v) for v in values), default=1.0)
        self.decimals = min(4, max(1, max((_decimals(v) for v in values), default=0) + 1))
        ints = len(str(int(top))) + 1
        sign = "-?" if any(v < 0 for v in values) else ""
        self.node = {
            "type": "string",
            "pattern": rf"^{sign}[0-9]{{1,{ints}}}(\.[0-9]{{1,{self.decimals}}})?$",
            "description": "a number written as digits, without unit",
        }

    def text(self, value: Any) -> str | None:
        if value is None:
            return None
        out = f"{float(value):.{self.decimals}f}".rstrip("0").rstrip(".")
        return "0" if out in ("", "-0") else out


def _decimals(value: float) -> int:
    text = repr(float(value))
    return 0 if "e" in text else len(text.split(".")[1].rstrip("0"))


def _number(value: Any, fallback: float) -> float:
    try:
        return float(value) if value is not None else fallback
    except (TypeError, ValueError):
        return fallback


class SingleRegression(Adapter):
    label_type = "single_label_regression_target"
    guidance = "Answer with the number only, without its unit."

    def setup(self) -> None:
        self.field = self.instruction.answer
        values = [float(v) for v in self.labels if v is not None]
        self.digits = Digits(values)
        self.properties[self.field] = self.digits.node
        self.median = float(statistics.median(values))

    def answer(self, case: Case) -> dict[str, Any]:
        return {self.field: self.digits.text(case[self.job.label_name])}

    def predict(self, record: Record, case: Case) -> Any:
        fields = _ok(record)
        return _number(None if fields is None else fields.get(self.field), self.median)


class MultiRegression(Adapter):
    label_type = "multi_label_regression_target"
    guidance = "Answer each with the number only, without its unit; null where there is none."

    def setup(self) -> None:
        n = Counter(len(v) for v in self.labels).most_common(1)[0][0]
        self.fields = _field_names(self.instruction.sub_labels, n)
        everything = [float(x) for v in self.labels for x in v if x is not None] or [0.0]
        self.digits = Digits(everything)
        self.medians = []
        for i, f in enumerate(self.fields):
            self.properties[f] = {"anyOf": [self.digits.node, {"type": "null"}]}
            seen = [float(v[i]) for v in self.labels if len(v) > i and v[i] is not None]
            self.medians.append(statistics.median(seen or everything))

    def answer(self, case: Case) -> dict[str, Any]:
        values = case[self.job.label_name]
        return {f: self.digits.text(v) for f, v in zip(self.fields, values, strict=False)}

    def predict(self, record: Record, case: Case) -> Any:
        """A number everywhere: the evaluator skips positions whose truth is null, and a
        null prediction where the truth has a value would make the score NaN; such
        positions get the training median."""
        fields = _ok(record) or {}
        out = []
        for f, median in zip(self.fields, self.medians, strict=True):
            out.append(_number(fields.get(f), float(median)))
        return out


# --- named entities ---------------------------------------------------------------------
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
            (case[self.job.input_name], case[self.job.label_name])
            for case in self.job.development
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


ADAPTERS = {
    cls.label_type: cls
    for cls in (
        SingleBinary,
        MultiBinary,
        SingleMultiClass,
        MultiMultiClass,
        SingleRegression,
        MultiRegression,
        NER,
        MultiNER,
    )
}


def make_adapter(job: Job, instruction: Instruction) -> Adapter:
    return ADAPTERS[job.label_name](job, instruction)
