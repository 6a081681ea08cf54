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


def gold_rows() -> list[dict[str, str]]:
    with GOLD.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def agreement(predictions: dict[str, dict]) -> dict[str, float]:
    """Per field, the share of gold reports the predictions (by uid) got right."""
    gold = gold_rows()
    fields = [f for f in gold[0] if f != "uid"]
    shares = {}
    for field in fields:
        hits = 0
        for g in gold:
            want, got = gold_value(field, g[field]), (predictions.get(g["uid"]) or {}).get(field)
            if field == "bevindingen":  # any overlap of terms, case-insensitive
                hits += (
                    bool({w.lower() for w in want} & {x.lower() for x in got or []})
                    if want
                    else got == []
                )
            elif field == "grootste_nodus_mm" and want is not None and got is not None:
                hits += abs(want - got) < 0.51
            else:
                hits += want == got
        shares[field] = hits / len(gold)
    return shares


def main(path: str) -> None:
    predictions = {r["uid"]: r for r in json.loads(Path(path).read_text(encoding="utf-8"))}
    shares = agreement(predictions)
    print(f"agreement with the gold labels ({len(gold_rows())} reports):")
    for field, share in shares.items():
        print(f"  {field:24s} {share:6.1%}")


if __name__ == "__main__":
    main(sys.argv[1])
