"""What the Python API returns for a run: its records, a DataFrame, model instances, a
summary, and the run folder when it was kept."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from .pipeline import RunSummary
from .schema import OutputSchema
from .store import RunFolder
from .validation import SUCCESS


class Result:
    """One run's output, read from its run folder.

    records   one dict per input row, in input order: `row`, `id`, `status`
              ("success" | "partial" | "failure"), `error`, `fields`, and what the
              pipeline measured (`confidence`, `evidence`, `raw_output`, tokens, ...)
    df        the predictions file as a DataFrame: input columns + fields + status, error
    summary   counts, timings and docs/s, examples used (a dict)
    run_dir   the run folder, or None when it was temporary
    """

    def __init__(
        self,
        records: list[dict[str, Any]],
        df: pd.DataFrame,
        summary: dict[str, Any],
        schema: OutputSchema,
        run_dir: Path | None = None,
    ):
        self.records = records
        self.df = df
        self.summary = summary
        self.schema = schema
        self.run_dir = run_dir

    @classmethod
    def read(cls, summary: RunSummary, schema: OutputSchema, keep: bool) -> Result:
        """A finished run's Result (read before a temporary folder goes)."""
        folder = RunFolder(summary.run_dir)
        by_row = folder.records()
        records = [by_row[row] for row in range(summary.rows)]
        paths = ("run_dir", "predictions_path")
        counts = {k: v for k, v in asdict(summary).items() if k not in paths}
        df = read_predictions(folder.predictions_path)
        return cls(records, df, counts, schema, folder.path if keep else None)

    def models(self) -> list[BaseModel | None]:
        """One instance of the schema's model per row (your Pydantic class when you gave
        one); None where the row is not a full success (its record says why): a partial
        answer is not passed off as a whole one."""
        model = self.schema.model
        return [
            model.model_validate(r["fields"]) if r["status"] == SUCCESS else None
            for r in self.records
        ]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"Result({s['rows']} rows: {s['successes']} success, {s['partials']} partial, "
            f"{s['failures']} failure; "
            f"{s['docs_per_s']:.2f} docs/s; run folder: {self.run_dir})"
        )


def read_predictions(path: Path) -> pd.DataFrame:
    """A predictions file as a DataFrame, values as written (no type guessing)."""
    # object dtype: None stays None and "007" stays a str (no NaN, no dtype guessing)
    return pd.DataFrame(json.loads(Path(path).read_text(encoding="utf-8")), dtype=object)
