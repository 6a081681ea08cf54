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

from .adapter_base import (
    TOP_LOGPROBS,
    Adapter,
    Case,
    Record,
    _field_names,
    _ok,
    _sorted_values,
)
from .instructions import Instruction
from .jobs import Job
from .logprobs import bool_probabilities
from .ner_adapters import NER, MultiNER

__all__ = ["ADAPTERS", "Adapter", "make_adapter"]


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
            sum(bool(v[i]) for v in self.labels if len(v) > i) / len(self.labels) for i in range(n)
        ]

    def answer(self, case: Case) -> dict[str, Any]:
        return {f: bool(v) for f, v in zip(self.fields, case[self.job.label_name], strict=False)}

    def model_probabilities(self, record: Record) -> list[float] | None:
        fields = _ok(record)
        if fields is None:
            return None
        probs = bool_probabilities(record.get("raw_output") or "", record.get("logprobs"))
        return [
            probs.get(f, prior if fields[f] is None else float(fields[f]))
            for f, prior in zip(self.fields, self.priors, strict=True)
        ]

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
        fields = _ok(record) or {}
        hard = [
            prior if fields.get(f) is None else float(fields[f])
            for f, prior in zip(self.fields, self.priors, strict=True)
        ]
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
        fields = _ok(record) or {}
        return [
            majority if fields.get(f) is None else fields[f]
            for f, majority in zip(self.fields, self.majority, strict=True)
        ]


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
