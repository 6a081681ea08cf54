"""Bounded JSON numbers, character by character: what may follow what has been written.

Fast-forward decodes a number one token at a time, so it needs, for the text written so
far, whether a character may come next, whether the number may end here, and a regular
expression for every way it can still be completed (the grammar of the next request).

The language follows the whole-answer grammar's bounded numbers (llguidance's integer
and float ranges): `0` or digits without a leading zero, `-` for negative values, for
`number` an optional fraction `.d+` (no exponent in a bounded range), and at an
inclusive bound only a zero fraction. Bounds must be integers (the grammar copy of the
schema bounds every number by ±1e9); other bounds are not handled here.

The regular expressions use only syntax shared by Python's `re` and Rust's `regex`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

FRACTION_ANY = r"(?:\.[0-9]+)?"
FRACTION_ZERO = r"(?:\.0+)?"
_PREFIX = re.compile(r"(-?)([0-9]*)(?:(\.)([0-9]*))?")


@dataclass(frozen=True)
class NumberShape:
    integer: bool
    minimum: int
    maximum: int

    def sides(self) -> list[tuple[str, int, int]]:
        """(sign, lowest, highest integer part) for the positive and the negative
        spellings. On the negative side the value's magnitude is bounded by -minimum."""
        out = []
        if self.maximum >= 0:
            out.append(("", max(self.minimum, 0), self.maximum))
        if self.minimum < 0:
            out.append(("-", max(0, -self.maximum), -self.minimum))
        return out


def fixed_width_range(low: int, high: int, width: int) -> str:
    """A regex for the `width`-digit strings (zero-padded) from `low` to `high`."""
    if width == 0:
        return ""
    lo, hi = str(low).zfill(width), str(high).zfill(width)
    return _range(lo, hi)


def _range(lo: str, hi: str) -> str:
    if lo == hi:
        return lo
    if len(lo) == 1:
        return f"[{lo}-{hi}]"
    rest = len(lo) - 1
    if lo[0] == hi[0]:
        return lo[0] + _range(lo[1:], hi[1:])
    parts = []
    first, last = int(lo[0]), int(hi[0])
    if lo[1:] != "0" * rest:  # a partial run below the next leading digit
        parts.append(lo[0] + _range(lo[1:], "9" * rest))
        first += 1
    if hi[1:] != "9" * rest:  # a partial run above the last full leading digit
        tail = hi[0] + _range("0" * rest, hi[1:])
        last -= 1
    else:
        tail = None
    if first <= last:
        digit = str(first) if first == last else f"[{first}-{last}]"
        parts.append(f"{digit}[0-9]{{{rest}}}")
    if tail is not None:
        parts.append(tail)
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


@lru_cache(maxsize=4096)
def completions(shape: NumberShape, prefix: str) -> tuple[str, ...]:
    """Regex alternatives for every way to complete `prefix` into a number of `shape`;
    empty when `prefix` cannot start one. An alternative may match the empty string."""
    parsed = _PREFIX.fullmatch(prefix)
    if parsed is None:
        return ()
    sign, digits, dot, fraction = parsed.groups()
    out: list[str] = []
    for side_sign, low, high in shape.sides():
        if prefix == "":
            lead = side_sign
        elif side_sign == sign:
            lead = ""
        else:
            continue
        if dot:
            out.extend(lead + r for r in _fraction_rest(shape, digits, fraction, low, high))
        else:
            out.extend(lead + r for r in _integer_rest(shape, digits, low, high))
    return tuple(out)


def _integer_rest(shape: NumberShape, digits: str, low: int, high: int) -> list[str]:
    """Completions of an integer part `digits` (maybe empty) within [low, high]."""
    out = []
    for width in range(max(len(digits), 1), len(str(high)) + 1):
        first = max(low, 10 ** (width - 1) if width > 1 else 0)
        last = min(high, 10**width - 1)
        free = width - len(digits)
        base = int(digits) * 10**free if digits else 0
        if digits:
            first, last = max(first, base), min(last, base + 10**free - 1)
        if first > last:
            continue
        if shape.integer:
            out.append(fixed_width_range(first - base, last - base, free))
            continue
        if first <= high - 1:  # below the upper bound: any fraction
            top = min(last, high - 1)
            out.append(fixed_width_range(first - base, top - base, free) + FRACTION_ANY)
        if last == high:  # the bound itself: only a zero fraction
            out.append(fixed_width_range(high - base, high - base, free) + FRACTION_ZERO)
    return out


def _fraction_rest(
    shape: NumberShape, digits: str, fraction: str, low: int, high: int
) -> list[str]:
    if shape.integer or not digits or (len(digits) > 1 and digits[0] == "0"):
        return []
    whole = int(digits)
    if not low <= whole <= high:
        return []
    if whole == high:
        if fraction.strip("0"):
            return []
        return ["0*" if fraction else "0+"]
    return ["[0-9]*" if fraction else "[0-9]+"]


def allows(shape: NumberShape, prefix: str) -> bool:
    """Can `prefix` still become a number of `shape`?"""
    return bool(completions(shape, prefix))


def is_complete(shape: NumberShape, prefix: str) -> bool:
    """Is `prefix` itself a number of `shape`?"""
    return prefix != "" and any(re.fullmatch(r, "") for r in completions(shape, prefix))


def rest_regex(shape: NumberShape, prefix: str) -> str:
    """One regex for every completion of `prefix` (it may match the empty string)."""
    alternatives = completions(shape, prefix)
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
