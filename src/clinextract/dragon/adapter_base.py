"""What every DRAGON label-type adapter shares: the base class and small helpers.

An adapter builds the answer schema from the job's own labelled cases, turns a gold label
into an answer (few-shot examples) and an answer into a prediction value.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..schema import OutputSchema
from .instructions import Instruction
from .jobs import Job

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
    """The fields of a record that has values. A partial record's failed fields are null:
    the adapters treat each of them as they treat a failed row (the prior, the majority,
    the median), and use the fields that are valid."""
    if record and record.get("status") in ("success", "partial") and record.get("fields"):
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
