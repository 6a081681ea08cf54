"""Entity texts ↔ BIO tags over a job's pre-tokenised `text_parts`.

The model names entities by their words; the evaluator wants one tag per token. The
alignment tags *every* occurrence of an entity text (a report that repeats a finding
repeats its tag), tolerates case and tokenisation differences ("3.8mm" vs `3.8`, `mm`;
"medication" vs `medication.`), never tags part of a word, and gives the longest entity
first claim on a token. `first_match` is the naive baseline it is measured against: the
first exact, case-sensitive occurrence only.

Labels are the part after `B-`/`I-` exactly as in the training tags (`STRUCTURE`,
`2-lesion`). Multi-label NER allows several labels per token (one per label channel).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

OUT = "O"
_GROUP = re.compile(r"^(\d+)-(.+)$")
_EDGE_PUNCT = " \t\n.,;:!?"


def split_group(label: str) -> tuple[int | None, str]:
    """`2-lesion` → (2, "lesion"); `STRUCTURE` → (None, "STRUCTURE")."""
    match = _GROUP.match(label)
    return (int(match.group(1)), match.group(2)) if match else (None, label)


def label_of(tag: str) -> str | None:
    """`B-X`/`I-X` → `X`; `O` (or anything else) → None."""
    if len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[2:]
    return None


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(label, first, last) per entity in one BIO sequence. An `I-` after `O` or after
    another label opens an entity, as the evaluator reads it."""
    out: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None
    for i, tag in enumerate([*tags, OUT]):
        label = label_of(tag)
        starts = label is not None and (
            tag.startswith("B-") or current is None or current[0] != label
        )
        if current is not None and (label is None or starts):
            out.append((current[0], current[1], i - 1))
            current = None
        if starts:
            current = (label, i)
    return out


def entities_from_tags(parts: Sequence[str], tags: Sequence[str]) -> list[tuple[str, str]]:
    """Gold single-label tags → (label, text) in reading order."""
    return [(lab, " ".join(parts[a : b + 1])) for lab, a, b in spans(tags)]


def entities_from_multi_tags(
    parts: Sequence[str], tag_lists: Sequence[Sequence[str]]
) -> list[tuple[str, str]]:
    """Gold multi-label tags → (label, text), one channel per label, in reading order."""
    labels = sorted({lab for tags in tag_lists for t in tags if (lab := label_of(t))}, key=_order)
    found = []
    for lab in labels:
        channel = [_channel_tag(tags, lab) for tags in tag_lists]
        found += [(lab, " ".join(parts[a : b + 1]), a) for _, a, b in spans(channel)]
    found.sort(key=lambda f: (f[2], _order(f[0])))
    return [(lab, text) for lab, text, _ in found]


def _channel_tag(tags: Sequence[str], label: str) -> str:
    for t in tags:
        if label_of(t) == label:
            return t
    return OUT


def _order(label: str) -> tuple[int, str]:
    group, kind = split_group(label)
    return (-1 if group is None else group, kind)


# --- alignment --------------------------------------------------------------------------


@lru_cache(maxsize=64)  # one report is searched for many entity texts
def _stream(parts: tuple[str, ...], loose: bool) -> tuple[str, list[int], list[int]]:
    """Normalised characters of all parts, with each part's [start, end) in the stream."""
    chars, starts, ends = [], [], []
    pos = 0
    for part in parts:
        norm = _norm(part, loose)
        starts.append(pos)
        chars.append(norm)
        pos += len(norm)
        ends.append(pos)
    return "".join(chars), starts, ends


def _norm(text: str, loose: bool) -> str:
    text = text.lower()
    if loose:
        return "".join(c for c in text if c.isalnum())
    return "".join(c for c in text if not c.isspace())


def _token_at(offsets: list[int], pos: int, starts: list[int], ends: list[int]) -> int:
    """Index of the (non-empty) part that holds stream position `pos`."""
    import bisect

    i = bisect.bisect_right(offsets, pos) - 1
    while i < len(starts) and ends[i] <= pos:  # skip parts that normalise to nothing
        i += 1
    return i


def find_occurrences(parts: Sequence[str], text: str) -> list[tuple[int, int]]:
    """Every (first, last) part range whose words spell `text`, tolerant of case,
    spacing and punctuation at the edges of parts; loosened to letters and digits only
    when the exact characters are nowhere to be found."""
    text = text.strip(_EDGE_PUNCT)
    for loose in (False, True):
        target = _norm(text, loose)
        if not target:
            return []
        stream, starts, ends = _stream(tuple(parts), loose)
        found = []
        at = stream.find(target)
        while at != -1:
            end = at + len(target)
            first = _token_at(starts, at, starts, ends)
            last = _token_at(starts, end - 1, starts, ends)
            head = stream[starts[first] : at]
            tail = stream[end : ends[last]]
            if _is_punct(head) and _is_punct(tail):
                found.append((first, last))
            at = stream.find(target, at + 1)
        if found:
            return found
    return []


def _is_punct(chunk: str) -> bool:
    return all(not c.isalnum() for c in chunk)


def _pair_repeats(
    parts: Sequence[str], entities: list[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[int, int]]]:
    claims: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for label, text in set(entities):
        group, kind = split_group(label)
        if group is not None:
            claims.setdefault((kind, text), []).append((group, label))
    fixed = {}
    for (_, text), owners in claims.items():
        if len(owners) < 2:
            continue
        places = find_occurrences(parts, text)
        if len(places) == len(owners):
            for (_, label), place in zip(sorted(owners), places, strict=True):
                fixed[(label, text)] = [place]
    return fixed


def gold_spans(tags: Sequence[Any]) -> list[tuple[str, int, int]]:
    """(label, first, last) of every gold entity, single- or multi-label tags."""
    if not any(isinstance(t, list) for t in tags):
        return spans(tags)
    labels = {lab for token in tags for t in token if (lab := label_of(t))}
    out = []
    for label in labels:
        out += spans([_channel_tag(token, label) for token in tags])
    return out


def first_only_labels(cases: Iterable[tuple[Sequence[str], Sequence[Any]]]) -> set[str]:
    """Labels whose training tags mark only the first occurrence of a text.

    Per labelled case (parts, gold tags), each gold entity text is looked up again; a
    repeat of it that the gold leaves untagged counts against "every occurrence", a
    tagged repeat for it. A label with more untagged than tagged repeats is tagged at
    its first occurrence only (e.g. a report's opening phrase, tagged once)."""
    tagged: dict[str, int] = {}
    untagged: dict[str, int] = {}
    for parts, tags in cases:
        gold = set(gold_spans(tags))
        texts = {(lab, " ".join(parts[a : b + 1])) for lab, a, b in gold}
        for label, text in texts:
            for a, b in find_occurrences(parts, text)[1:]:
                bucket = tagged if (label, a, b) in gold else untagged
                bucket[label] = bucket.get(label, 0) + 1
    return {label for label, n in untagged.items() if n > tagged.get(label, 0)}


def first_match(parts: Sequence[str], text: str) -> list[tuple[int, int]]:
    """The naive baseline: the first exact (case-sensitive) run of whole parts."""
    words = text.split()
    n = len(words)
    for i in range(len(parts) - n + 1 if n else 0):
        if list(parts[i : i + n]) == words:
            return [(i, i + n - 1)]
    return []


def _places(parts: Sequence[str], text: str, mode: str) -> list[tuple[int, int]]:
    if mode == "naive":
        return first_match(parts, text)
    found = find_occurrences(parts, text)
    return found[:1] if mode == "first" else found


def _assign(
    parts: Sequence[str],
    entities: Iterable[tuple[str, str]],
    mode: str,
    channel_of,
    first_only: Collection[str] = (),
    fixed: dict[tuple[str, str], list[tuple[int, int]]] | None = None,
) -> dict[str, list[str]]:
    """label → its BIO sequence, filling longest entities first, never overwriting.

    mode "all": every occurrence, except for labels in `first_only` (the first one);
    "naive": the first exact occurrence (the baseline). `fixed` pins entities to places."""
    taken: dict[str, list[str]] = {}
    ordered = sorted(set(entities), key=lambda e: (-len(e[1]), _order(e[0]), e[1]))
    for label, text in ordered:
        label_mode = "first" if mode == "all" and label in first_only else mode
        places = (fixed or {}).get((label, text)) if mode == "all" else None
        for first, last in places or _places(parts, text, label_mode):
            channel = channel_of(label)
            seq = taken.setdefault(channel, [OUT] * len(parts))
            if any(seq[i] != OUT for i in range(first, last + 1)):
                continue
            seq[first] = f"B-{label}"
            for i in range(first + 1, last + 1):
                seq[i] = f"I-{label}"
    return taken


def tag_single(
    parts: Sequence[str],
    entities: Iterable[tuple[str, str]],
    mode: str = "all",
    first_only: Collection[str] = (),
) -> list[str]:
    """One tag per part; a part belongs to one entity at most."""
    taken = _assign(parts, entities, mode, lambda label: "", first_only)
    return taken.get("", [OUT] * len(parts))


def tag_multi(
    parts: Sequence[str],
    entities: Iterable[tuple[str, str]],
    mode: str = "all",
    first_only: Collection[str] = (),
) -> list[list[str]]:
    """A list of tags per part; every label is its own channel, so one part can be in
    `1-lesion` and `2-lesion` at once. Tags in a part are ordered by group number.

    Numbered items that repeat words: when k items (`1-size`, `3-size`) give the same
    text and it occurs exactly k times, the i-th occurrence goes to the i-th item by
    number (items are numbered in reading order); a text that occurs once keeps every
    item's tag (`I+II … 8.0 cm`)."""
    entities = list(entities)
    fixed = _pair_repeats(parts, entities) if mode == "all" else {}
    taken = _assign(parts, entities, mode, lambda label: label, first_only, fixed)
    out: list[list[str]] = []
    for i in range(len(parts)):
        tags = [seq[i] for _, seq in sorted(taken.items(), key=lambda kv: _order(kv[0]))]
        tags = [t for t in tags if t != OUT]
        out.append(tags or [OUT])
    return out
