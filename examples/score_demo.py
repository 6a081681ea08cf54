"""Score the demo's predictions against the gold labels (examples/data/radiology_gold.csv).

Usage: python examples/score_demo.py PREDICTIONS.json
Prints per-field agreement; failed rows count as wrong (nothing is filled in for them).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

GOLD = Path(__file__).parent / "data" / "radiology_gold.csv"


def gold_value(field: str, cell: str):
    if field in ("nodus_aanwezig", "follow_up_geadviseerd"):
        return cell.strip().lower() == "true"
    if field == "grootste_nodus_mm":
        return float(cell) if cell.strip() else None
    if field == "bevindingen":
        return json.loads(cell)
    return cell


def gold() -> dict[str, dict]:
    """uid → the gold value of each field."""
    with GOLD.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {r["uid"]: {f: gold_value(f, c) for f, c in r.items() if f != "uid"} for r in rows}


def matches(field: str, want, got) -> bool:
    if field == "bevindingen":  # any overlap of terms, case-insensitive
        if not want:
            return got == []
        return bool({w.lower() for w in want} & {x.lower() for x in got or []})
    if field == "grootste_nodus_mm" and want is not None and got is not None:
        return abs(want - got) < 0.51
    return want == got


def agreement(predictions: dict[str, dict]) -> dict[str, float]:
    """Per field, the share of gold reports the predictions (by uid) got right."""
    truth = gold()
    fields = list(next(iter(truth.values())))
    return {
        f: sum(matches(f, t[f], (predictions.get(uid) or {}).get(f)) for uid, t in truth.items())
        / len(truth)
        for f in fields
    }


def main(path: str) -> None:
    predictions = {r["uid"]: r for r in json.loads(Path(path).read_text(encoding="utf-8"))}
    shares = agreement(predictions)
    print(f"agreement with the gold labels ({len(gold())} reports):")
    for field, share in shares.items():
        print(f"  {field:24s} {share:6.1%}")


if __name__ == "__main__":
    main(sys.argv[1])
