"""A report text with each value's evidence marked: the one implementation of
"text + evidence → highlighted segments", used by the run report (report.py), the
Studio's Results page and its review page.

Evidence is what a record keeps per leaf path (`nodus.grootte_mm`, `bevindingen[1]`): a
list of `{"text", "start", "end", "match"}` with character offsets into the original
report text. Spans from different values may overlap or nest ("nodus van 6 mm" for
`nodus.aanwezig` around "6 mm" for `nodus.grootte_mm`); `segments` cuts the text at
every span boundary, so each piece knows every value that covers it and nothing is lost
or drawn twice. A span whose offsets do not point at its own text (another text, a
changed file) is left out: a mark in the wrong place is worse than none.

Colours are per field (the leaf path without list positions: every `bevindingen[n]`
shares `bevindingen`'s colour), so the same field looks the same in every record.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .values import leaves

MATCHED = ("exact", "fuzzy")  # evidence that has offsets; "none" means not found in the text

# Light backgrounds that keep black text readable and stay apart from each other.
PALETTE = (
    "#ffd966",
    "#9fd8f5",
    "#b6e3a8",
    "#f7b4c6",
    "#d3c0f2",
    "#ffc38a",
    "#8fe0d0",
    "#e6e08a",
    "#f2a8a0",
    "#b9c9f0",
    "#e8c39e",
    "#f0c8f0",
)
GREY = "#d9d9d9"  # a path without a field colour (a group that is null as a whole)
_INDEX = re.compile(r"\[\d+\]")


def field_key(path: str) -> str:
    """The field a leaf path belongs to, list positions dropped: 'b[2].x' → 'b[].x'."""
    return _INDEX.sub("[]", path)


def field_keys(paths: Iterable[str]) -> list[str]:
    """The field keys of leaf paths, in the order they first appear."""
    return list(dict.fromkeys(map(field_key, paths)))


def group_keys(keys: Iterable[str]) -> set[str]:
    """Keys that other keys lie inside ('nodus' for 'nodus.mm', 'b' for 'b[]'): a group
    that is null or [] as a whole (a failed record), not a field with values of its own."""
    keys = list(keys)
    return {k for k in keys if any(o.startswith((k + ".", k + "[")) for o in keys)}


def field_colours(keys: Iterable[str]) -> dict[str, str]:
    """A colour per field key, in the order given (the palette repeats after 12); groups
    are grey and take no colour from the fields."""
    keys = list(dict.fromkeys(keys))
    groups = group_keys(keys)
    fields = [k for k in keys if k not in groups]
    return {k: GREY if k in groups else PALETTE[fields.index(k) % len(PALETTE)] for k in keys}


def record_leaves(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(path, value) for a record's leaves, plus the paths that only its confidence or
    evidence names (so nothing measured is left out of a view)."""
    found = {path: value for path, value, _ in leaves({}, record.get("fields") or {})}
    for extra in (record.get("confidence") or {}, record.get("evidence") or {}):
        for path in extra:
            found.setdefault(path, None)
    return list(found.items())


def flagged(record: Mapping[str, Any]) -> bool:
    """Whether a record needs review. A record without the flag (made with `--evidence
    off`, or before there were flags) needs it unless it is a success; the predictions
    file says the same (records.prediction_item)."""
    return bool(record.get("needs_review", record.get("status") != "success"))


def best_match(entries: Any) -> str | None:
    """The best evidence a value has: 'exact', 'fuzzy', 'none', or None (no entry)."""
    ranks = {"exact": 3, "fuzzy": 2, "none": 1}
    found = [e.get("match") for e in entries or [] if isinstance(e, dict)]
    return max((m for m in found if m in ranks), key=ranks.__getitem__, default=None)


def confidence_of(confidence: Any, path: str) -> float | None:
    """A value's confidence when the record has a usable one (a finite number)."""
    value = confidence.get(path) if isinstance(confidence, Mapping) else None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def lowest_confidence(confidence: Any) -> float | None:
    """The lowest confidence of a record's values (None when none was measured)."""
    if not isinstance(confidence, Mapping):
        return None
    known = [c for c in (confidence_of(confidence, p) for p in confidence) if c is not None]
    return min(known, default=None)


def value_text(value: Any) -> str:
    """A value as one short line: text as is, null as '—', everything else as JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


class Segment(NamedTuple):
    """text[start:end], covered by the evidence of `paths` (none: plain text)."""

    start: int
    end: int
    paths: tuple[str, ...]


def spans(text: str, evidence: Mapping[str, Any] | None) -> list[tuple[int, int, str]]:
    """(start, end, path) of every evidence entry that points at its own text."""
    out = []
    for path, entries in (evidence or {}).items():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or entry.get("match") not in MATCHED:
                continue
            start, end = entry.get("start"), entry.get("end")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
                continue
            quoted = entry.get("text")
            if end > len(text) or (isinstance(quoted, str) and text[start:end] != quoted):
                continue
            out.append((start, end, path))
    return out


def segments(text: str, evidence: Mapping[str, Any] | None) -> list[Segment]:
    """The whole text as consecutive segments; each knows the values whose evidence
    covers it (in the order the values come in `evidence`)."""
    found = spans(text, evidence)
    cuts = sorted({0, len(text), *(s for s, _, _ in found), *(e for _, e, _ in found)})
    at = {cut: n for n, cut in enumerate(cuts)}
    covering: list[dict[str, None]] = [{} for _ in cuts[1:]]  # ordered sets of paths
    for start, end, path in found:
        for n in range(at[start], at[end]):
            covering[n][path] = None
    order = {path: n for n, path in enumerate(evidence or {})}
    return [
        Segment(start, end, tuple(sorted(paths, key=order.__getitem__)))
        for start, end, paths in zip(cuts, cuts[1:], covering, strict=False)
    ]


def background(colours: list[str]) -> str:
    """CSS for a mark covered by one or more fields: one colour, or stripes of each."""
    if len(colours) == 1:
        return f"background:{colours[0]}"
    step = 100 / len(colours)
    stops = ",".join(f"{c} {n * step:.0f}% {(n + 1) * step:.0f}%" for n, c in enumerate(colours))
    return f"background:linear-gradient(180deg,{stops})"


def highlight_html(
    text: str,
    evidence: Mapping[str, Any] | None,
    colours: Mapping[str, str],
    titles: Mapping[str, str] | None = None,
) -> str:
    """The text as HTML (escaped, line breaks kept by the caller's `white-space:
    pre-wrap`), every evidence span a `<mark>` in its field's colour; its `title` (the
    hover text) is `titles[path]` for each covering value, else the path."""
    titles = titles or {}
    parts = []
    for seg in segments(text, evidence):
        piece = html.escape(text[seg.start : seg.end])
        if not seg.paths:
            parts.append(piece)
            continue
        fill = [colours.get(field_key(p), GREY) for p in seg.paths]
        title = html.escape("\n".join(titles.get(p, p) for p in seg.paths))
        data = html.escape(" ".join(seg.paths))
        parts.append(
            f'<mark data-paths="{data}" title="{title}" style="{background(fill)}">{piece}</mark>'
        )
    return "".join(parts)


def legend_html(paths: Iterable[str], colours: Mapping[str, str]) -> str:
    """One swatch with its name per field of `paths`, in the highlight colours."""
    keys = dict.fromkeys(field_key(p) for p in paths)
    return " ".join(
        f'<mark style="background:{colours.get(k, GREY)}">{html.escape(k)}</mark>' for k in keys
    )
