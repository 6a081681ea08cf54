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


def main(path: str) -> None:
    predictions = {r["uid"]: r for r in json.loads(Path(path).read_text(encoding="utf-8"))}
    with GOLD.open(encoding="utf-8") as fh:
        gold = list(csv.DictReader(fh))
    fields = [f for f in gold[0] if f != "uid"]
    print(f"agreement with the gold labels ({len(gold)} reports):")
    for field in fields:
        hits = 0
        for g in gold:
            want, got = gold_value(field, g[field]), predictions[g["uid"]].get(field)
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
        print(f"  {field:24s} {hits / len(gold):6.1%}")


if __name__ == "__main__":
    main(sys.argv[1])
