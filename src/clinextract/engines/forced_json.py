"""Which characters of a JSON answer the schema forces, and the grammar of what is left.

Everything between the values of a compact, closed answer — `{"key":`, `,"next":`,
quotes, closing brackets, the rest of an enum value once its first characters single it
out, `ull` after `n` — is forced. `Matcher` follows an answer character by character,
says which text is forced from here (`take_forced`) and writes, as a Lark grammar for
llguidance, everything the rest of the answer may still be (`remaining_grammar`), so that
one decoded token is constrained as the whole-answer grammar would constrain it.
"""

from __future__ import annotations

from . import json_numbers
from .json_numbers import NumberShape
from .json_shapes import (
    NUMBER_CHARS,
    STRING_CHAR,
    Arr,
    Either,
    Literals,
    Obj,
    Rules,
    Shape,
    Text,
    first_chars,
    items_rule,
    lark_regex,
    lark_string,
    more_items,
    object_items,
)

ESCAPABLE = frozenset('"\\bfnrtu')
HEX = frozenset("0123456789abcdefABCDEF")


# ---------------------------------------------------------------------------------------
# following an answer


class Rejected(ValueError):
    """A character the schema does not allow where it came."""


class Matcher:
    """An answer in progress: a stack of frames, innermost last."""

    def __init__(self, root: Shape):
        self.stack: list[Frame] = [_frame(root)]

    @property
    def done(self) -> bool:
        return not self.stack

    def feed(self, text: str) -> None:
        for char in text:
            self._feed_char(char)

    def _feed_char(self, char: str) -> None:
        while True:
            if not self.stack:
                raise Rejected(f"{char!r} after the end of the answer")
            top = self.stack[-1]
            step = top.step(char)
            if step is True:
                break
            if step is False:
                if top.can_end():  # the value ended; the character belongs to its parent
                    self.stack.pop()
                    continue
                raise Rejected(f"{char!r} is not allowed here")
            self.stack.append(_frame(_resolve(step, char)))
        while self.stack and self.stack[-1].finished():
            self.stack.pop()

    def next_chars(self) -> frozenset[str] | None:
        """Every character that may come next (None: too many to list)."""
        chars: set[str] = set()
        for frame in reversed(self.stack):
            own = frame.next_chars()
            if own is None:
                return None
            chars |= own
            if not frame.can_end():
                return frozenset(chars)
        return frozenset(chars)

    def in_free_string(self) -> bool:
        """Inside a string that the model writes on its own, any character allowed next:
        a run of decoded tokens can go on until the closing quote. (Not numbers: most
        are one to three digits, and a run that stops at once costs a request.)"""
        top = self.stack[-1] if self.stack else None
        # None only for an open string, past any escape, below its maxLength
        return isinstance(top, TextFrame) and top.next_chars() is None

    def take_forced(self) -> str:
        """Follow, and return, the text that is the only way to go on from here."""
        out = []
        while self.stack:
            chars = self.next_chars()
            if chars is None or len(chars) != 1:
                break
            (char,) = chars
            self._feed_char(char)
            out.append(char)
        return "".join(out)

    def remaining_grammar(self, written: str = "") -> str:
        """A Lark grammar for llguidance: every way the answer may go on from here,
        after `written` (text the matcher has followed but the prompt does not hold yet)."""
        rules = Rules()  # only the values still to come
        parts = [lark_string(written)] if written else []
        parts += [frame.rest(rules) for frame in reversed(self.stack)]
        start = " ".join(p for p in parts if p)
        return "%llguidance {}\nstart: " + start + "\n" + rules.text()


def _resolve(shape: Shape, char: str) -> Shape:
    while isinstance(shape, Either):
        shape = next(o for o in shape.options if char in first_chars(o))
    return shape


def _frame(shape: Shape) -> Frame:
    if isinstance(shape, Obj):
        return ObjFrame(shape)
    if isinstance(shape, Arr):
        return ArrFrame(shape)
    if isinstance(shape, Literals):
        return LiteralFrame(shape)
    if isinstance(shape, Text):
        return TextFrame(shape)
    if isinstance(shape, NumberShape):
        return NumberFrame(shape)
    raise TypeError(f"no frame for {shape!r}")  # Either is resolved before


class Frame:
    def step(self, char: str) -> bool | Shape:
        """True: consumed; False: not allowed; a shape: a value of it starts here."""
        raise NotImplementedError

    def next_chars(self) -> frozenset[str] | None:
        raise NotImplementedError

    def can_end(self) -> bool:
        return False

    def finished(self) -> bool:
        return self.can_end() and self.next_chars() == frozenset()

    def rest(self, rules: Rules) -> str:
        raise NotImplementedError


class ObjFrame(Frame):
    """`{"a":` A `,"b":` B `}`: literal text and values, in turn."""

    def __init__(self, shape: Obj):
        self.items = object_items(shape)
        self.index, self.offset = 0, 0

    def step(self, char: str) -> bool | Shape:
        if self.index >= len(self.items):
            return False
        item = self.items[self.index]
        if isinstance(item, str):
            if item[self.offset] != char:
                return False
            self.offset += 1
            if self.offset == len(item):
                self.index, self.offset = self.index + 1, 0
            return True
        if char not in first_chars(item):
            return False
        self.index += 1
        return item

    def next_chars(self) -> frozenset[str] | None:
        if self.index >= len(self.items):
            return frozenset()
        item = self.items[self.index]
        return frozenset(item[self.offset]) if isinstance(item, str) else first_chars(item)

    def can_end(self) -> bool:
        return self.index >= len(self.items)

    def rest(self, rules: Rules) -> str:
        parts = []
        for n in range(self.index, len(self.items)):
            item = self.items[n]
            if isinstance(item, str):
                text = item[self.offset :] if n == self.index else item
                parts.append(lark_string(text))
            else:
                parts.append(rules.name(item))
        return " ".join(parts)


class ArrFrame(Frame):
    OPEN, FIRST, AFTER_ITEM, ITEM, CLOSED = range(5)

    def __init__(self, shape: Arr):
        self.shape, self.count, self.phase = shape, 0, self.OPEN

    def step(self, char: str) -> bool | Shape:
        shape = self.shape
        if self.phase == self.OPEN:
            if char != "[":
                return False
            self.phase = self.FIRST
            return True
        if self.phase in (self.FIRST, self.AFTER_ITEM) and char == "]":
            if self.count < shape.min_items:
                return False
            self.phase = self.CLOSED
            return True
        if self.phase == self.AFTER_ITEM:
            if char != "," or self.count >= shape.max_items:
                return False
            self.phase = self.ITEM
            return True
        if self.phase in (self.FIRST, self.ITEM) and self.count < shape.max_items:
            if char in first_chars(shape.item):
                self.count += 1
                self.phase = self.AFTER_ITEM
                return shape.item
        return False

    def next_chars(self) -> frozenset[str] | None:
        shape, chars = self.shape, set()
        if self.phase == self.OPEN:
            return frozenset("[")
        if self.phase == self.CLOSED:
            return frozenset()
        if self.phase in (self.FIRST, self.AFTER_ITEM) and self.count >= shape.min_items:
            chars.add("]")
        if self.phase == self.AFTER_ITEM and self.count < shape.max_items:
            chars.add(",")
        if self.phase in (self.FIRST, self.ITEM) and self.count < shape.max_items:
            chars |= first_chars(shape.item)
        return frozenset(chars)

    def can_end(self) -> bool:
        return self.phase == self.CLOSED

    def rest(self, rules: Rules) -> str:
        shape = self.shape
        if self.phase == self.OPEN:
            return rules.name(shape)
        if self.phase == self.CLOSED:
            return ""
        item = rules.name(shape.item)
        if self.phase == self.AFTER_ITEM:
            return more_items(item, shape.min_items - self.count, shape.max_items - self.count)
        if self.phase == self.ITEM:  # after a comma: one item, then perhaps more
            more = more_items(
                item, shape.min_items - self.count - 1, shape.max_items - self.count - 1
            )
            return f"{item} {more}"
        return items_rule(item, shape.min_items, shape.max_items)  # FIRST


class LiteralFrame(Frame):
    def __init__(self, shape: Literals):
        self.texts, self.prefix = shape.texts, ""

    def _open(self) -> list[str]:
        return [t for t in self.texts if t.startswith(self.prefix) and len(t) > len(self.prefix)]

    def step(self, char: str) -> bool | Shape:
        grown = self.prefix + char
        if not any(t.startswith(grown) for t in self.texts):
            return False
        self.prefix = grown
        return True

    def next_chars(self) -> frozenset[str] | None:
        return frozenset(t[len(self.prefix)] for t in self._open())

    def can_end(self) -> bool:
        return self.prefix in self.texts

    def rest(self, rules: Rules) -> str:
        tails = " | ".join(lark_string(t[len(self.prefix) :]) for t in self._open())
        if not tails:
            return ""
        return f"({tails})?" if self.can_end() else f"({tails})"


class TextFrame(Frame):
    def __init__(self, shape: Text):
        self.shape = shape
        self.opened = self.closed = False
        self.count = 0  # characters so far (an escape counts once)
        self.escape = ""  # "" | "\\" | "\\u" plus the hex digits read

    def step(self, char: str) -> bool | Shape:
        if not self.opened:
            self.opened = char == '"'
            return self.opened
        if self.closed:
            return False
        if self.escape == "\\":
            if char not in ESCAPABLE:
                return False
            if char == "u":  # four hex digits follow
                self.escape = "\\u"
            else:
                self.escape, self.count = "", self.count + 1
            return True
        if self.escape:
            if char not in HEX:
                return False
            self.escape += char
            if len(self.escape) == 6:
                self.escape, self.count = "", self.count + 1
            return True
        if char == '"':
            self.closed = self.count >= self.shape.min_length
            return self.closed
        if self.count >= self.shape.max_length or ord(char) < 0x20 or ord(char) == 0x7F:
            return False
        if char == "\\":
            self.escape = "\\"
        else:
            self.count += 1
        return True

    def next_chars(self) -> frozenset[str] | None:
        if not self.opened:
            return frozenset('"')
        if self.closed:
            return frozenset()
        if self.escape == "\\":
            return ESCAPABLE
        if self.escape:
            return HEX
        if self.count >= self.shape.max_length:
            return frozenset('"')
        return None

    def can_end(self) -> bool:
        return self.closed

    def rest(self, rules: Rules) -> str:
        if not self.opened:
            return rules.name(self.shape)
        if self.closed:
            return ""
        lead = ""
        count = self.count
        if self.escape == "\\":
            lead, count = r'(?:["\\bfnrt]|u[0-9a-fA-F]{4})', count + 1
        elif self.escape:
            lead, count = f"[0-9a-fA-F]{{{6 - len(self.escape)}}}", count + 1
        low = max(0, self.shape.min_length - count)
        high = self.shape.max_length - count
        return lark_regex(f'{lead}{STRING_CHAR}{{{low},{high}}}"')


class NumberFrame(Frame):
    def __init__(self, shape: NumberShape):
        self.shape, self.text = shape, ""

    def step(self, char: str) -> bool | Shape:
        if char not in NUMBER_CHARS or not json_numbers.allows(self.shape, self.text + char):
            return False
        self.text += char
        return True

    def next_chars(self) -> frozenset[str] | None:
        grow = (c for c in NUMBER_CHARS if json_numbers.allows(self.shape, self.text + c))
        return frozenset(grow)

    def can_end(self) -> bool:
        return json_numbers.is_complete(self.shape, self.text)

    def rest(self, rules: Rules) -> str:
        if not self.text:
            return rules.name(self.shape)
        longer = [
            f"{c}{json_numbers.rest_regex(self.shape, self.text + c)}"
            for c in sorted(self.next_chars() or ())
        ]
        if not longer:
            return ""
        escaped = ("\\" + x if x[0] == "." else x for x in longer)  # the char itself
        body = lark_regex("(?:" + "|".join(escaped) + ")")
        return f"{body}?" if self.can_end() else body
