"""Gold evidence spans for the bundled example (examples/data/radiology_evidence_gold.json).

For every report and every leaf of its gold value (examples/data/radiology_gold.csv) the file
holds the character spans of the report text (`verslag`) that a reviewer would point at to
justify that value. The spans were chosen by hand: a reader picked the phrases, written down in
examples/data/radiology_evidence_phrases.json, and `--build` only turns those phrases into
offsets (a phrase must be unique in its report, or say which occurrence or context it means).
Format and annotation rules: examples/data/README.md.

Usage:
  python examples/evidence_gold.py            validate the gold file, print counts
  python examples/evidence_gold.py --build    rebuild it from the phrases file, then validate
  python examples/evidence_gold.py --show 001 004   print each span's text, value by value

Exits non-zero on any problem. `load_gold_evidence()` gives the spans to a bench:
{uid: {leaf path: [(start, end), ...]}}.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
REPORTS = DATA / "radiology_reports.csv"
GOLD = DATA / "radiology_gold.csv"
PHRASES = DATA / "radiology_evidence_phrases.json"
EVIDENCE = DATA / "radiology_evidence_gold.json"

Span = tuple[int, int]


def load_reports(path: Path = REPORTS) -> dict[str, str]:
    """uid -> report text (`verslag`)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["uid"]: row["verslag"] for row in csv.DictReader(fh)}


def load_gold_values(path: Path = GOLD) -> dict[str, dict]:
    """uid -> gold value with typed fields (bool, float | None, list[str])."""
    out: dict[str, dict] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            size = row["grootste_nodus_mm"].strip()
            out[row["uid"]] = {
                "onderzoek": row["onderzoek"],
                "nodus_aanwezig": row["nodus_aanwezig"].strip().lower() == "true",
                "grootste_nodus_mm": float(size) if size else None,
                "follow_up_geadviseerd": row["follow_up_geadviseerd"].strip().lower() == "true",
                "bevindingen": json.loads(row["bevindingen"]),
            }
    return out


def leaf_paths(value: dict) -> list[str]:
    """Leaf paths of one gold value: scalar fields by name, list items as `field[i]`."""
    paths: list[str] = []
    for field, v in value.items():
        if isinstance(v, list):
            paths.extend(f"{field}[{i}]" for i in range(len(v)))
        else:
            paths.append(field)
    return paths


def leaf_value(value: dict, path: str):
    m = re.fullmatch(r"(\w+)\[(\d+)\]", path)
    return value[m[1]][int(m[2])] if m else value[path]


def load_gold_evidence(
    path: Path = EVIDENCE, check: bool = True
) -> dict[str, dict[str, list[Span]]]:
    """{uid: {leaf path: [(start, end), ...]}}; an empty list means no evidence in the text.

    With check=True (the default) the file is validated first and ValueError lists the problems.
    """
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    if check:
        problems = validate(entries)
        if problems:
            raise ValueError(f"{path}: " + "; ".join(problems))
    return {
        e["uid"]: {k: [(s["start"], s["end"]) for s in spans] for k, spans in e["evidence"].items()}
        for e in entries
    }


# --- building from the hand-chosen phrases ------------------------------------------------


def occurrences(text: str, phrase: str) -> list[int]:
    starts, i = [], text.find(phrase)
    while i != -1:
        starts.append(i)
        i = text.find(phrase, i + 1)
    return starts


def resolve(text: str, spec) -> Span:
    """One phrase spec -> (start, end). Specs: "phrase" (occurs once), [phrase, n] (n-th
    occurrence, 1-based), [phrase, context] (context occurs once and holds phrase once)."""
    if isinstance(spec, str):
        phrase, where = spec, None
    else:
        phrase, where = spec
    if where is None:
        hits = occurrences(text, phrase)
        if len(hits) != 1:
            raise ValueError(f"{phrase!r} occurs {len(hits)} times; say which one")
        start = hits[0]
    elif isinstance(where, int):
        hits = occurrences(text, phrase)
        if not 1 <= where <= len(hits):
            raise ValueError(f"{phrase!r}: no occurrence {where} (there are {len(hits)})")
        start = hits[where - 1]
    else:
        ctx = occurrences(text, where)
        inner = occurrences(where, phrase)
        if len(ctx) != 1 or len(inner) != 1:
            raise ValueError(
                f"context {where!r} occurs {len(ctx)} times and holds {phrase!r} "
                f"{len(inner)} times; both must be 1"
            )
        start = ctx[0] + inner[0]
    return start, start + len(phrase)


def build(phrases_path: Path = PHRASES) -> list[dict]:
    phrases = json.loads(phrases_path.read_text(encoding="utf-8"))
    reports = load_reports()
    entries = []
    for uid, fields in phrases.items():
        if uid.startswith("_"):
            continue
        text = reports[uid]
        evidence = {}
        for key, specs in fields.items():
            try:
                spans = sorted({resolve(text, spec) for spec in specs})
            except ValueError as exc:
                raise ValueError(f"{uid} {key}: {exc}") from exc
            evidence[key] = [{"start": s, "end": e, "text": text[s:e]} for s, e in spans]
        entries.append({"uid": uid, "evidence": evidence})
    return entries


def _json(x) -> str:
    return json.dumps(x, ensure_ascii=False)


def dumps(entries: list[dict]) -> str:
    """JSON with one line per span, so that a diff shows what changed."""
    d = _json
    lines = ["["]
    for i, entry in enumerate(entries):
        lines.append(f'  {{"uid": {d(entry["uid"])}, "evidence": {{')
        keys = list(entry["evidence"])
        for j, key in enumerate(keys):
            spans = entry["evidence"][key]
            comma = "," if j < len(keys) - 1 else ""
            if not spans:
                lines.append(f"    {d(key)}: []{comma}")
                continue
            lines.append(f"    {d(key)}: [")
            lines.extend(
                f"      {d(s)}" + ("," if n < len(spans) - 1 else "") for n, s in enumerate(spans)
            )
            lines.append(f"    ]{comma}")
        lines.append("  }}" + ("," if i < len(entries) - 1 else ""))
    lines.append("]")
    return "\n".join(lines) + "\n"


# --- validation ----------------------------------------------------------------------------

SIZE = re.compile(r"(\d+(?:,\d+)?) mm")


def check_value(path: str, gold, spans: list[Span], text: str) -> list[str]:
    """Problems with what the spans of one value say, given the gold value."""
    problems = []
    slices = [text[s:e] for s, e in spans]
    if path == "onderzoek":
        if not spans:
            problems.append("no span names the exam")
        problems += [f"{t!r} is not {gold!r}" for t in slices if t.casefold() != gold.casefold()]
    elif path == "grootste_nodus_mm" and gold is not None:
        if not spans:
            problems.append(f"no span for the size {gold}")
        for t in slices:
            m = SIZE.fullmatch(t)
            if not m or float(m[1].replace(",", ".")) != gold:
                problems.append(f"{t!r} is not '{gold:g} mm'")
    elif path in ("nodus_aanwezig", "follow_up_geadviseerd") and gold is True and not spans:
        problems.append("true but no span")
    elif path.startswith("bevindingen[") and not spans:
        problems.append(f"finding {gold!r} has no span")
    return problems


def validate(entries) -> list[str]:
    reports, gold = load_reports(), load_gold_values()
    problems: list[str] = []
    if not isinstance(entries, list):
        return ["the file must hold a JSON list"]
    seen = set()
    for entry in entries:
        uid = entry.get("uid") if isinstance(entry, dict) else None
        if uid not in reports or uid not in gold:
            problems.append(f"unknown uid {uid!r}")
            continue
        if uid in seen:
            problems.append(f"{uid}: listed twice")
        seen.add(uid)
        text, evidence = reports[uid], entry.get("evidence")
        if not isinstance(evidence, dict):
            problems.append(f"{uid}: 'evidence' must be an object")
            continue
        want = leaf_paths(gold[uid])
        if list(evidence) != want:
            problems.append(f"{uid}: keys {list(evidence)} are not the gold leaf paths {want}")
        for key, spans in evidence.items():
            where = f"{uid} {key}"
            if key not in want or not isinstance(spans, list):
                continue
            pairs: list[Span] = []
            for s in spans:
                if not (isinstance(s, dict) and set(s) == {"start", "end", "text"}):
                    problems.append(f"{where}: {s!r} is not {{start, end, text}}")
                    continue
                start, end = s["start"], s["end"]
                if not (isinstance(start, int) and isinstance(end, int)):
                    problems.append(f"{where}: offsets must be integers: {s!r}")
                elif not 0 <= start < end <= len(text):
                    problems.append(f"{where}: [{start}, {end}) is outside 0..{len(text)}")
                elif text[start:end] != s["text"]:
                    problems.append(f"{where}: text {s['text']!r} != slice {text[start:end]!r}")
                else:
                    pairs.append((start, end))
            if pairs != sorted(set(pairs)):
                problems.append(f"{where}: spans must be sorted and distinct")
            value = leaf_value(gold[uid], key)
            problems += [f"{where}: {p}" for p in check_value(key, value, pairs, text)]
    problems += [f"{uid}: missing" for uid in sorted(set(gold) - seen)]
    return problems


def counts(entries: list[dict]) -> dict[str, int]:
    values = [spans for e in entries for spans in e["evidence"].values()]
    return {
        "reports": len(entries),
        "values": len(values),
        "spans": sum(len(v) for v in values),
        "empty values": sum(not v for v in values),
    }


def show(entries: list[dict], uids: list[str]) -> None:
    gold = load_gold_values()
    for entry in entries:
        if entry["uid"] not in uids:
            continue
        print(f"== {entry['uid']}")
        for key, spans in entry["evidence"].items():
            texts = " | ".join(f"[{s['start']}:{s['end']}] {s['text']!r}" for s in spans)
            print(f"  {key} = {leaf_value(gold[entry['uid']], key)!r}: {texts or '-'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="store_true", help="rebuild the file from the phrases")
    ap.add_argument("--show", nargs="+", metavar="UID", help="print the spans of these reports")
    args = ap.parse_args(argv)
    if args.build:
        try:
            EVIDENCE.write_text(dumps(build()), encoding="utf-8")
        except ValueError as exc:
            print(f"build failed: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {EVIDENCE}")
    try:
        entries = json.loads(EVIDENCE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {EVIDENCE}: {exc}", file=sys.stderr)
        return 1
    problems = validate(entries)
    if not problems and PHRASES.exists():
        try:
            if build() != entries:
                problems.append(f"{EVIDENCE.name} differs from {PHRASES.name}; run --build")
        except ValueError as exc:
            problems.append(f"{PHRASES.name}: {exc}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    if problems:
        return 1
    if args.show:
        show(entries, args.show)
    print(", ".join(f"{n} {what}" for what, n in counts(entries).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
