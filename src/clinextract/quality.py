"""Quality alarms: signs, read from a finished run's records, that the answers are not to
be trusted as they are, each with what to do. They go into the manifest (`warnings`) and
the run's summary.

  * a field that failed (invalid, run-away) in more than a fifth of the rows: its most
    common reason;
  * a field with the same value in every one of ten or more records: the model is not
    reading the reports;
  * a field that is null in every record;
  * most values that claim something (not null, empty or false) without evidence.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .values import get_path, top_field

MIN_ROWS = 10  # fewer rows say too little about a whole run
FAILED_SHARE = 0.2
NO_EVIDENCE_SHARE = 0.5


class QualityCheck:
    """Fed every record of a run (`add`), then says what looks wrong (`warnings`)."""

    def __init__(self, field_names: Iterable[str]):
        self.fields = list(field_names)
        self.failed: dict[str, Counter] = {f: Counter() for f in self.fields}
        self.values: dict[str, Counter] = {f: Counter() for f in self.fields}
        self.nulls: Counter = Counter()
        self.rows = self.claims = self.unsupported = 0

    def add(self, rec: dict[str, Any]) -> None:
        self.rows += 1
        errors = rec.get("field_errors") or {}
        if rec["status"] == "failure":
            for f in self.fields:
                self.failed[f][_short(rec.get("error") or "no answer")] += 1
            return
        for path, why in errors.items():
            if top_field(path) in self.failed:
                self.failed[top_field(path)][_short(why)] += 1
        for f in self.fields:
            if any(top_field(p) == f for p in errors):
                continue
            value = rec["fields"].get(f)
            self.values[f][json.dumps(value, sort_keys=True, ensure_ascii=False)] += 1
            self.nulls[f] += value is None
        for path, entries in (rec.get("evidence") or {}).items():
            if get_path(rec["fields"], path) in (None, False, [], ""):
                continue
            self.claims += 1
            self.unsupported += all(e.get("match") == "none" for e in entries)

    def warnings(self) -> list[str]:
        out = []
        for f in self.fields:
            n_failed = sum(self.failed[f].values())
            if self.rows and n_failed > FAILED_SHARE * self.rows:
                reason, _ = self.failed[f].most_common(1)[0]
                out.append(
                    f"field {f!r} failed in {n_failed} of {self.rows} rows (most often: "
                    f"{reason}); give it bounds or allowed values in the schema, add "
                    "examples, or use a larger model"
                )
            seen = sum(self.values[f].values())
            if seen >= MIN_ROWS and len(self.values[f]) == 1 and self.nulls[f] < seen:
                only = next(iter(self.values[f]))
                out.append(
                    f"field {f!r} is {only} in all {seen} records: the model is probably "
                    "not reading the reports; add worked examples (--num-examples) or use "
                    "a larger model"
                )
            elif seen >= MIN_ROWS and self.nulls[f] == seen:
                out.append(
                    f"field {f!r} is null in all {seen} records; check its description, "
                    "add examples, or use a larger model"
                )
        if self.claims >= MIN_ROWS and self.unsupported > NO_EVIDENCE_SHARE * self.claims:
            out.append(
                f"{self.unsupported} of {self.claims} values have no evidence in their "
                "report: the answers may not come from the reports; add examples or use "
                "a larger model"
            )
        return out


def _short(reason: str, limit: int = 80) -> str:
    text = " ".join(reason.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
