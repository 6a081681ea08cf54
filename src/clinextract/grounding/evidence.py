"""Evidence: the words of the report each value rests on, as character offsets into the
original report text (exact, then fuzzy, like langextract's resolver; no model call).

Per leaf value:
  * text (an enum choice, a finding): the value itself, case-insensitive at word
    boundaries (`exact`); else the shortest stretch of one sentence whose words match
    the value's words, allowing Dutch/English compounds and inflections (`fuzzy`);
  * a number: its written forms (`6`, `5,5`, `5.5`, a size in mm written in cm), with
    the unit after it; of several occurrences the one whose neighbourhood names the field
    (`exact`, or `fuzzy` for a converted unit);
  * a boolean, or a text not found as such: the sentence that names the field (cue words
    from the field's name and description, and the value's own words); for `false` a
    negated mention ("geen noduli") — `fuzzy`;
  * null, an empty list, or a `false` the report never negates: nothing to point at
    (`none`), which is what an absent finding looks like.

For `exact` and `fuzzy` entries `text == source[start:end]` always holds.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

Entry = dict[str, Any]
MAX_ENTRIES = 3  # a finding mentioned in the findings and again in the conclusion
NONE: Entry = {"text": None, "start": None, "end": None, "match": "none"}

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_SENTENCE_END = re.compile(r"[.;:!?\n]+(?=\s|$)")
_UNIT = re.compile(r"\s?(?:mm|cm|ml|cc|jaar|jr|years?|kg|%|mg|mmol/l|ng/ml)\b", re.IGNORECASE)
NEGATIONS = {"geen", "niet", "zonder", "no", "not", "without", "none", "negatief", "negative"}
# Words that say nothing about which part of the report a field is about.
STOPWORDS = {
    *"de het een en of in op van voor met bij naar als dat die dit er is zijn wordt worden".split(),
    *"the a an and or of in on for with to is are be was were there this that".split(),
    *"beschreven genoemd vermeld gegeven aanwezig wel ja nee null leeg indien welke waar".split(),
    *"described mentioned stated present given whether which where if".split(),
    *"verslag rapport report patient patiënt".split(),
}


class Word(NamedTuple):  # a tuple: a report's words are made for every record
    text: str  # lower case
    start: int
    end: int


class Source:
    """A report prepared once for all its values: lower-cased text (same length),
    words with offsets, sentences as word ranges."""

    def __init__(self, text: str):
        self.text = text
        low = text.lower()  # offsets must stay the same: a few letters grow when lowered
        self.low = low if len(low) == len(text) else "".join(_lower_char(c) for c in text)

    @cached_property
    def words(self) -> list[Word]:
        return [Word(m.group(0), m.start(), m.end()) for m in _WORD.finditer(self.low)]

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        """(first word index, end word index) per sentence."""
        ends = [m.end() for m in _SENTENCE_END.finditer(self.text)] + [len(self.text) + 1]
        out, first, e = [], 0, 0
        for n, word in enumerate(self.words):
            while word.start >= ends[e]:
                if n > first:
                    out.append((first, n))
                first = n
                e += 1
        if len(self.words) > first:
            out.append((first, len(self.words)))
        return out

    def entry(self, start: int, end: int, match: str) -> Entry:
        return {"text": self.text[start:end], "start": start, "end": end, "match": match}


def evidence(source: Source, path: str, value: Any, node: dict[str, Any]) -> list[Entry]:
    """The evidence entries for one leaf value (at least one; `none` when there is none)."""
    if value is None or value == [] or value == "":
        return [dict(NONE)]
    cues = cue_words(path, node)
    if isinstance(value, bool):
        found = _mention(source, cues, negated=not value)
        return [found] if found else [dict(NONE)]
    if isinstance(value, int | float):
        return _number(source, value, cues, node) or [dict(NONE)]
    text = str(value)
    found = _exact(source, text) or _fuzzy(source, text)
    if not found and "enum" in node:  # a choice may be named by the field's own words
        hint = _mention(source, [*_content(text), *cues], negated=False)
        found = [hint] if hint else []
    return found or [dict(NONE)]


# --- text -------------------------------------------------------------------------------


def _exact(source: Source, text: str) -> list[Entry]:
    needle = text.strip().lower()
    if not needle:
        return []
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    hits = [source.entry(m.start(), m.end(), "exact") for m in pattern.finditer(source.low)]
    return hits[:MAX_ENTRIES]


def _fuzzy(source: Source, text: str) -> list[Entry]:
    """The best stretch of one sentence matching most of the value's content words."""
    wanted = _content(text)
    if not wanted:
        return []
    best: tuple[float, int, int] | None = None
    wanted_words = tuple(wanted)
    for first, end in source.sentences:
        matched = []
        for n in range(first, end):
            score = best_similar(source.words[n].text, wanted_words)
            if score:
                matched.append((n, score))
        if not matched:
            continue
        # the shortest window holding the best-matching word for each wanted word
        covered = sum(
            max((similar(source.words[n].text, w) for n, _ in matched), default=0) for w in wanted
        )
        share = covered / len(wanted)
        if share < 0.5:
            continue
        ns = [n for n, s in matched]
        span = (ns[0], ns[-1])
        if span[1] - span[0] > len(wanted) + 3:  # too spread out: keep the best single word
            n = max(matched, key=lambda m: m[1])[0]
            span = (n, n)
        key = (share, -(span[1] - span[0]), -span[0])
        if best is None or key > (best[0], -(best[2] - best[1]), -best[1]):
            best = (share, span[0], span[1])
    if best is None:
        return []
    start, end = source.words[best[1]].start, source.words[best[2]].end
    return [source.entry(start, end, "fuzzy")]


def _lower_char(char: str) -> str:
    low = char.lower()
    return low if len(low) == 1 else char


@lru_cache(maxsize=65536)
def best_similar(word: str, wanted: tuple[str, ...]) -> float:
    """The best `similar` of `word` to any of `wanted` (asked for every word of a report,
    for every value: one cache look-up instead of one per wanted word)."""
    return max((similar(word, w) for w in wanted), default=0.0)


@lru_cache(maxsize=65536)
def similar(word: str, wanted: str) -> float:
    """1.0 for the same word; 0.75 for an inflection (`noduli` ~ `nodus`, `nodulaire`) or
    a compound's head (`longnodulus` ~ `nodulus`, `colontumor` ~ `tumor`): the two share
    a start of at least 70 % of the shorter word, here or after the longer word's first
    part. Else 0: `contrast` is not `controle`, `longbasis` not `longnodulus`."""
    if word == wanted:
        return 1.0
    short, long_ = sorted((word, wanted), key=len)
    if len(short) < 4:
        return 0.0
    for cut in range(0, len(long_) - 4):
        if cut and cut < 3:
            continue  # a compound's first part has at least three letters
        common = _common_start(short, long_[cut:])
        if common < max(4, 0.7 * min(len(short), len(long_) - cut)):
            continue
        rest = len(long_) - common
        if cut == 0 and (rest > 5 or (common == len(short) and rest >= 4 and long_[common] != "-")):
            continue  # `long` is the first part of `longnodus`, not its meaning
        return 0.75
    return 0.0


def _common_start(a: str, b: str) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def _content(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    return [w for w in dict.fromkeys(words) if w not in STOPWORDS and (len(w) >= 3 or w.isdigit())]


def cue_words(path: str, node: dict[str, Any]) -> list[str]:
    """Words that name a field: its name's parts and its description's content words."""
    return list(_cue_words(re.sub(r"\[\d+\]", "", path), str(node.get("description", ""))))


@lru_cache(maxsize=4096)  # the same few fields in every record
def _cue_words(name: str, description: str) -> tuple[str, ...]:
    words = _content(name.replace(".", " ").replace("_", " ")) + _content(description)
    return tuple(w for w in dict.fromkeys(words) if not w.isdigit())


# --- booleans and hints -----------------------------------------------------------------


def _mention(source: Source, cues: list[str], negated: bool) -> Entry | None:
    """The sentence part that names the most cue words (for `negated`, one where a
    negation comes just before a cue), as one span from its first to last cue word."""
    if not cues:
        return None
    best: tuple[tuple[float, int], int, int] | None = None
    named = tuple(cues)
    scores = [best_similar(word.text, named) for word in source.words]
    for first, end in source.sentences:
        hits = [n for n in range(first, end) if scores[n]]
        if not hits:
            continue
        # a negation just before a cue ("geen noduli") or just after it ("follow-up is
        # niet nodig")
        negation = next(
            (
                m
                for n in hits
                for m in (*range(max(first, n - 3), n), *range(n + 1, min(end, n + 4)))
                if source.words[m].text in NEGATIONS
            ),
            None,
        )
        if negated != (negation is not None):
            continue
        lo, hi = hits[0], hits[-1] if hits[-1] - hits[0] <= 6 else hits[0]
        if negation is not None:
            lo, hi = min(lo, negation), max(hi if hi - negation <= 6 else lo, negation)
        strength = {source.words[n].text: scores[n] for n in hits}
        # ties go to the later sentence: conclusions and advice come after the question
        score = (sum(strength.values()) - 0.01 * (hi - lo), first)
        if best is None or score > best[0]:
            best = (score, lo, hi)
    if best is None:
        return None
    return source.entry(source.words[best[1]].start, source.words[best[2]].end, "fuzzy")


# --- numbers ----------------------------------------------------------------------------


def _number_forms(value: int | float) -> list[str]:
    if isinstance(value, int) or float(value).is_integer():
        whole = str(int(value))
        return [whole, f"{whole},0", f"{whole}.0"]
    text = f"{value:g}"
    return [text.replace(".", ","), text]


def _number(
    source: Source, value: int | float, cues: list[str], node: dict[str, Any]
) -> list[Entry]:
    hits: list[tuple[float, Entry]] = []
    for forms, match in ((_number_forms(value), "exact"), (_in_cm(value, node), "fuzzy")):
        for form in forms:
            pattern = re.compile(r"(?<![\d,.])" + re.escape(form) + r"(?![\d]|[,.]\d)")
            for m in pattern.finditer(source.low):
                unit = _UNIT.match(source.text, m.end())
                if match == "fuzzy" and not (unit and "cm" in unit.group(0).lower()):
                    continue
                end = unit.end() if unit else m.end()
                hits.append((_near(source, m.start(), cues), source.entry(m.start(), end, match)))
    if not hits:
        return []
    hits.sort(key=lambda h: (-h[0], h[1]["start"]))
    return [hits[0][1]]


def _in_cm(value: int | float, node: dict[str, Any]) -> list[str]:
    """A size in mm as radiologists also write it: 14 mm → '1,4' (cm)."""
    if "mm" not in str(node.get("description", "")).lower() or value <= 0:
        return []
    cm = f"{value / 10:g}"
    return [cm.replace(".", ","), cm]


def _near(source: Source, at: int, cues: list[str], reach: int = 60) -> float:
    """How much the words around an offset name the field."""
    window = source.low[max(0, at - reach) : at + reach]
    words = [w.lower() for w in _WORD.findall(window)]
    return sum(max((similar(w, c) for c in cues), default=0) for w in words)
