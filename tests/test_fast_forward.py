"""Fast-forward, without a model: bounded numbers, schema shapes, the matcher, the
grammar of what is left, and the decoding loop against a scripted fake llama.cpp."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clinextract.engines.base import Completion, Request
from clinextract.engines.fast_forward import FastForward
from clinextract.engines.forced_json import Matcher, Rejected
from clinextract.engines.json_numbers import (
    NumberShape,
    allows,
    fixed_width_range,
    is_complete,
    rest_regex,
)
from clinextract.engines.json_shapes import Arr, Either, Literals, Obj, Text, compile_shape
from clinextract.schema import OutputSchema, load_schema
from tests.paths import EXAMPLES

BENCH = OutputSchema.from_json_schema(
    {
        "type": "object",
        "properties": {
            "onderzoek": {"type": "string", "enum": ["CT", "MRI", "echografie", "röntgen"]},
            "afwijking": {"type": "boolean"},
            "grootte_mm": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "controle": {"type": "boolean"},
        },
        "required": ["onderzoek", "afwijking", "grootte_mm", "controle"],
    }
)
NESTED = OutputSchema.from_json_schema(
    {
        "type": "object",
        "properties": {
            "laesies": {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "properties": {
                        "orgaan": {"type": "string", "maxLength": 12},
                        "mm": {"type": ["number", "null"], "minimum": 0, "maximum": 500},
                    },
                    "required": ["orgaan", "mm"],
                },
            },
            "conclusie": {"enum": ["benigne", "maligne", "onzeker"]},
        },
        "required": ["laesies", "conclusie"],
    }
)
EXAMPLE = load_schema("radiology.py", EXAMPLES / "tasks" / "parsers", "example")


def shape_of(schema: OutputSchema):
    return compile_shape(json.dumps(schema.grammar_schema))


# --- bounded numbers --------------------------------------------------------------------


def test_fixed_width_ranges_match_exactly_the_numbers_between_their_bounds() -> None:
    for width in (1, 2, 3):
        for low, high in [(0, 10**width - 1), (3, 7), (19, 81), (100, 109), (5, 5), (0, 0)]:
            if high >= 10**width:
                continue
            pattern = re.compile(fixed_width_range(low, high, width))
            for n in range(10**width):
                assert bool(pattern.fullmatch(str(n).zfill(width))) == (low <= n <= high)


def _is_number(shape: NumberShape, text: str) -> bool:
    """The language by definition: JSON numbers (no exponent) within integer bounds."""
    if not re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?", text):
        return False
    if shape.integer and "." in text:
        return False
    value = float(text)
    if text.startswith("-") and value == 0:  # "-0": only where the range crosses zero
        return shape.minimum < 0 <= shape.maximum
    return shape.minimum <= value <= shape.maximum


@pytest.mark.parametrize(
    "shape",
    [
        NumberShape(True, 0, 300),
        NumberShape(True, -12, 7),
        NumberShape(False, 0, 30),
        NumberShape(False, -5, 12),
        NumberShape(True, 5, 120),
        NumberShape(False, -20, -3),
    ],
)
def test_number_prefixes_completions_and_ends_agree_with_the_definition(shape) -> None:
    texts = [""]
    for _ in range(4):
        texts = [t + c for t in texts for c in "-0123456789."]
        for text in texts:
            valid = _is_number(shape, text)
            assert is_complete(shape, text) == valid, text
            for cut in range(len(text) + 1):
                head, tail = text[:cut], text[cut:]
                if not allows(shape, head):
                    assert not valid, f"{head!r} refused but {text!r} is valid"
                    break
                assert bool(re.fullmatch(rest_regex(shape, head), tail)) == valid, (head, tail)


def test_a_number_at_its_bound_cannot_grow() -> None:
    shape = NumberShape(True, 0, 300)
    assert is_complete(shape, "300") and not allows(shape, "3000") and not allows(shape, "301")
    assert allows(NumberShape(False, 0, 300), "300.") and not allows(
        NumberShape(False, 0, 300), "300.5"
    )


# --- shapes -----------------------------------------------------------------------------


def test_the_bench_schema_becomes_literals_an_either_and_bounded_numbers() -> None:
    shape = shape_of(BENCH)
    assert isinstance(shape, Obj)
    fields = dict(shape.fields)
    assert fields['"onderzoek"'] == Literals(('"CT"', '"MRI"', '"echografie"', '"röntgen"'))
    assert fields['"afwijking"'] == Literals(("true", "false"))
    size = fields['"grootte_mm"']
    assert isinstance(size, Either)
    assert size.options[0] == Literals(("null",))
    assert size.options[1] == NumberShape(True, -999_999, 999_999)  # the grammar copy's digits


def test_lists_strings_and_nullable_numbers_of_the_example_schema() -> None:
    fields = dict(shape_of(EXAMPLE).fields)
    assert fields['"bevindingen"'] == Arr(Text(0, 300), 0, 8)
    assert fields['"grootste_nodus_mm"'] == Either(
        (Literals(("null",)), NumberShape(False, 0, 300))
    )


@pytest.mark.parametrize(
    "field",
    [
        {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 5},
        {"type": "string", "format": "date"},
        {"type": "number", "minimum": 0.5, "maximum": 3},
        {"type": "integer", "exclusiveMinimum": 0},
        {"anyOf": [{"type": "string", "maxLength": 5}, {"enum": ["a", "b"]}]},
        {"type": "object", "properties": {"x": {"type": "boolean"}}},
        {"enum": [1.5, 2.5]},
    ],
)
def test_schemas_it_does_not_model_are_left_to_whole_answer_decoding(field) -> None:
    schema = {
        "type": "object",
        "properties": {"v": field},
        "required": ["v"],
        "additionalProperties": False,
        "x-guidance": {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"},
    }
    assert compile_shape(json.dumps(schema)) is None


def test_whitespace_or_other_separators_are_not_modelled() -> None:
    schema = dict(BENCH.grammar_schema, **{"x-guidance": {"whitespace_flexible": True}})
    assert compile_shape(json.dumps(schema)) is None


# --- the matcher ------------------------------------------------------------------------


def walk(shape, answer: str, step: int = 1) -> tuple[list[str], list[str]]:
    """Follow `answer`: forced runs taken by the matcher, the rest fed `step` characters
    at a time (as tokens would be). Returns (forced runs, fed pieces)."""
    matcher, forced, fed, pos = Matcher(shape), [], [], 0
    while True:
        run = matcher.take_forced()
        assert answer[pos : pos + len(run)] == run, (run, answer[pos:])
        pos += len(run)
        if run:
            forced.append(run)
        if matcher.done:
            break
        piece = answer[pos : pos + step]
        matcher.feed(piece)
        fed.append(piece)
        pos += len(piece)
    assert pos == len(answer)
    return forced, fed


def test_keys_separators_closing_braces_and_chosen_enum_tails_are_forced() -> None:
    answer = '{"onderzoek":"echografie","afwijking":true,"grootte_mm":12,"controle":false}'
    forced, fed = walk(shape_of(BENCH), answer)
    assert forced == [
        '{"onderzoek":"',
        'chografie","afwijking":',  # "e" singles out "echografie"
        'rue,"grootte_mm":',  # "t" is true
        '"controle":',  # after the model ended the number with ","
        "alse}",
    ]
    assert fed == ["e", "t", "1", "2", ",", "f"]


def test_null_after_n_and_a_string_closing_at_its_length() -> None:
    shape = shape_of(NESTED)
    answer = (
        '{"laesies":[{"orgaan":"lever","mm":null},{"orgaan":"abcdefghijkl","mm":3.5}],'
        '"conclusie":"benigne"}'
    )
    forced, fed = walk(shape, answer)
    assert forced == [
        '{"laesies":[',
        '"orgaan":"',  # after "{": the model chose an item over "]"
        ',"mm":',
        "ull}",  # "n" is null; the object closes
        '{"orgaan":"',  # after "," (another item)
        '","mm":',  # 12 characters: the string is at its maxLength and closes
        ',"conclusie":"',
        'enigne"}',
    ]
    assert fed[:2] == ["{", "l"] and fed[-4:] == ["5", "}", "]", "b"]


def test_a_literal_that_is_the_prefix_of_another_is_a_choice_and_a_const_is_forced() -> None:
    schema = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {
                "n": {"enum": [1, 10, 2]},
                "versie": {"const": "v1"},
                "ok": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            },
            "required": ["n", "versie", "ok"],
        }
    )
    forced, fed = walk(shape_of(schema), '{"n":10,"versie":"v1","ok":null}')
    assert forced == ['{"n":', ',"versie":"v1","ok":', "ull}"]
    assert fed == ["1", "0", "n"]  # after "1": "0" or the end of the value, a choice
    forced, fed = walk(shape_of(schema), '{"n":1,"versie":"v1","ok":true}')
    assert forced == ['{"n":', '"versie":"v1","ok":', "rue}"]
    assert fed == ["1", ",", "t"]


def test_every_valid_answer_is_followed_token_by_token_whatever_the_split() -> None:
    answers = [
        '{"laesies":[],"conclusie":"onzeker"}',
        '{"laesies":[{"orgaan":"n\\"ier\\u00e9","mm":0}],"conclusie":"maligne"}',
        '{"laesies":[{"orgaan":"a","mm":500},{"orgaan":"b","mm":null},{"orgaan":"","mm":1.25}],'
        '"conclusie":"benigne"}',
    ]
    for answer in answers:
        NESTED.validate_json(answer)
        for step in (1, 2, 3, 5, 8):
            walk(shape_of(NESTED), answer, step)  # asserts it ends exactly at the end


@pytest.mark.parametrize(
    "prefix, bad",
    [
        ('{"laesies":[', "x"),  # neither an item nor "]"
        ('{"laesies":[{"orgaan":"a","mm":', "6"),  # 600 > 500 needs three digits: 6 is fine
        ('{"laesies":[{"orgaan":"a","mm":50', "1"),  # 501 is above the maximum
        ('{"laesies":[{"orgaan":"abcdefghijkl', "m"),  # a 13th character
        ('{"laesies":[],"conclusie":"b', "x"),
    ],
)
def test_what_the_schema_does_not_allow_is_rejected(prefix, bad) -> None:
    matcher = Matcher(shape_of(NESTED))
    matcher.feed(prefix)
    if (prefix, bad) == ('{"laesies":[{"orgaan":"a","mm":', "6"):
        matcher.feed(bad)  # a control case: allowed
        return
    with pytest.raises(Rejected):
        matcher.feed(bad)


def test_a_list_at_its_maximum_forces_the_closing_bracket() -> None:
    matcher = Matcher(shape_of(NESTED))
    matcher.feed('{"laesies":[{"orgaan":"a","mm":1},{"orgaan":"b","mm":2},{"orgaan":"c","mm":3')
    assert matcher.take_forced() == ""  # the number may go on: 3, 30, 3.5 ...
    matcher.feed("}")
    assert matcher.take_forced() == '],"conclusie":"'


# --- the grammar of what is left --------------------------------------------------------


def lark_to_regex(grammar: str) -> re.Pattern[str]:
    """The (regular) Lark grammars written here, as one Python regex: rules inlined."""
    lines = grammar.splitlines()
    assert lines[0] == "%llguidance {}"
    rules = dict(line.split(": ", 1) for line in lines[1:] if line)
    token = re.compile(r'\s*("(?:[^"\\]|\\.)*"|/(?:[^/\\]|\\.)*/|[a-z0-9]+|[()|?]|\{\d+,\d+\})')

    def convert(body: str) -> str:
        out, pos = [], 0
        while pos < len(body.rstrip()):
            match = token.match(body, pos)
            assert match, body[pos:]
            pos, item = match.end(), match.group(1)
            if item.startswith('"'):
                out.append(re.escape(json.loads(item)))
            elif item.startswith("/"):
                out.append("(?:" + item[1:-1].replace("\\/", "/") + ")")
            elif item[0].isalpha():
                out.append("(?:" + convert(rules[item]) + ")")
            elif item == "(":
                out.append("(?:")
            else:
                out.append(item)
        return "".join(out)

    return re.compile(convert(rules["start"]), re.DOTALL)


def test_the_remaining_grammar_accepts_exactly_the_valid_rest_of_the_answer() -> None:
    answer = (
        '{"laesies":[{"orgaan":"lever","mm":12.5},{"orgaan":"milt","mm":null}],'
        '"conclusie":"maligne"}'
    )
    matcher, pos = Matcher(shape_of(NESTED)), 0
    while not matcher.done:
        pos += len(matcher.take_forced())
        if matcher.done:
            break
        grammar = lark_to_regex(matcher.remaining_grammar())
        rest = answer[pos:]
        assert grammar.fullmatch(rest), (answer[:pos], rest)
        for wrong in (rest + "}", rest[:-1], rest.replace("maligne", "malig")):
            assert not grammar.fullmatch(wrong)
        # one item too many is refused wherever the list is still open
        if '"laesies":[' in answer[:pos] and "}]" in rest:
            extra = rest.replace("}]", '},{"orgaan":"x","mm":1},{"orgaan":"y","mm":1}]', 1)
            assert not grammar.fullmatch(extra)
        matcher.feed(answer[pos])
        pos += 1


def test_written_values_are_not_in_the_remaining_grammar() -> None:
    matcher = Matcher(shape_of(BENCH))
    matcher.feed('{"onderzoek":"MRI","afwijking":true,')
    grammar = matcher.remaining_grammar()
    assert "onderzoek" not in grammar and "afwijking" not in grammar
    assert "grootte_mm" in grammar and "controle" in grammar


# --- the decoding loop, against a scripted llama.cpp --------------------------------------


class ScriptedLlama:
    """Answers each one-token request with the next piece of a target answer, after
    checking the request: the grammar accepts the target's rest, the prompt extends the
    previous one (the slot's cache), the slot is the same."""

    def __init__(self, answer: str, split: int = 2, merges: tuple[str, ...] = ()):
        self.answer, self.split = answer, split
        self.merges = sorted(merges, key=len, reverse=True)  # multi-character tokens
        self.bodies: list[dict] = []

    def written(self, body: dict) -> str:
        return "".join(p if isinstance(p, str) else self.texts[p] for p in body["prompt"][1:])

    texts: dict[int, str] = {}

    def token_id(self, piece: str) -> int:
        ids = {t: i for i, t in self.texts.items()}
        if piece not in ids:
            ids[piece] = len(self.texts) + 1000
            self.texts[ids[piece]] = piece
        return ids[piece]

    def tokenize(self, text: str, special: bool) -> list[int]:
        """A deterministic tokenizer: the longest of `merges` that starts here, else one
        character (a fake, for units; the real one is llama.cpp's)."""
        if special:  # the prompt: one id
            self.texts[1] = ""
            return [1]
        ids, at = [], 0
        while at < len(text):
            piece = next((m for m in self.merges if text.startswith(m, at)), text[at])
            ids.append(self.token_id(piece))
            at += len(piece)
        return ids

    def send(self, body: dict) -> dict:
        if self.bodies:
            previous = self.bodies[-1]["prompt"]
            assert body["prompt"][: len(previous)] == previous
            assert body["id_slot"] == self.bodies[-1]["id_slot"]
        self.bodies.append(body)
        done = self.written(body)
        assert self.answer.startswith(done)
        assert lark_to_regex(body["grammar"]).fullmatch(self.answer[len(done) :])
        rest = self.answer[len(done) :]
        # up to max_tokens tokens, as llama.cpp decodes them: a run ends at the end of the
        # answer, or before the token holding a stop string (decoded, but not returned)
        tokens: list[str] = []
        finish = "length"
        decoded = 0
        while len(tokens) < body["max_tokens"] and rest:
            # the model writes a multi-character token where the rest starts with one
            token = next((m for m in self.merges if rest.startswith(m)), rest[: self.split])
            decoded += 1
            if any(stop in token for stop in body.get("stop", ())):
                finish = "stop"
                break
            tokens.append(token)
            rest = rest[len(token) :]
        if not rest:
            finish = "stop"
        reply: dict = {
            "choices": [{"text": "".join(tokens), "finish_reason": finish}],
            "usage": {"prompt_tokens": 100 + len(body["prompt"]), "completion_tokens": decoded},
        }
        if body.get("n_probs"):
            content = []
            for token in tokens:
                token_id = 5000 + len(self.texts)
                self.texts[token_id] = token
                content.append(
                    {"id": token_id, "token": token, "logprob": -0.5, "top_logprobs": []}
                )
            reply["choices"][0]["logprobs"] = {"content": content}
        return reply


def fast_forward(llama: ScriptedLlama, model: str = "test") -> FastForward:
    return FastForward(
        llama.send, llama.tokenize, lambda reply, s: Completion.failed("err"), 2, model
    )


def request(schema: OutputSchema, **kw) -> Request:
    return Request([{"role": "user", "content": "r"}], schema.grammar_schema, 64, 0.0, 42, **kw)


ANSWER = '{"onderzoek":"MRI","afwijking":false,"grootte_mm":7,"controle":true}'


def test_only_the_chosen_tokens_are_decoded_and_the_answer_is_whole() -> None:
    llama = ScriptedLlama(ANSWER, split=1)
    done = fast_forward(llama).complete(request(BENCH), "PROMPT", lambda extra: None)
    assert done.text == ANSWER and done.finish_reason == "stop"
    assert done.completion_tokens == len(llama.bodies) == 5  # M, f, 7, ",", t
    assert done.forced_tokens > 0
    assert done.prompt_tokens == 1  # the prompt's tokens, without the forced text
    assert all(b["max_tokens"] == 1 and b["cache_prompt"] for b in llama.bodies)
    assert len({b["seed"] for b in llama.bodies}) == 5  # a fresh draw per token
    BENCH.validate_json(done.text)


def test_logprobs_spell_the_answer_with_forced_runs_marked() -> None:
    llama = ScriptedLlama(ANSWER, split=2)
    done = fast_forward(llama).complete(
        request(BENCH, top_logprobs=3), "PROMPT", lambda extra: None
    )
    assert done.logprobs is not None
    assert "".join(t.token for t in done.logprobs) == done.text == ANSWER
    forced = [t for t in done.logprobs if t.forced]
    assert forced and all(t.logprob == 0.0 and t.top == {} for t in forced)
    assert sum(not t.forced for t in done.logprobs) == done.completion_tokens


def test_forced_text_is_not_split_where_the_whole_answer_has_one_token() -> None:
    """`":["` and ` thorax` are single tokens of the whole answer (as in Gemma's
    vocabulary); forced text tokenized on its own would end at `":[` and ` `, and the model
    would be asked to go on from tokens it never saw its examples go on from."""
    schema = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {
                "onderzoek": {"enum": ["CT thorax", "CT abdomen", "MRI"]},
                "bevindingen": {
                    "type": "array",
                    "maxItems": 3,
                    "items": {"type": "string", "maxLength": 20},
                },
            },
            "required": ["onderzoek", "bevindingen"],
        }
    )
    answer = '{"onderzoek":"CT thorax","bevindingen":["cyste"]}'
    merges = ('":["', '":"', " thorax", " t", " a", "CT", "cyste", '"]}')
    llama = ScriptedLlama(answer, split=1, merges=merges)
    ff = fast_forward(llama, model="test-merges")
    done = ff.complete(request(schema, top_logprobs=2), "PROMPT", lambda extra: None)
    assert done.text == answer and done.finish_reason == "stop"
    assert "".join(t.token for t in done.logprobs or []) == answer
    texts = lambda ids: [llama.texts[i] for i in ids]  # noqa: E731
    written = llama.written(llama.bodies[-1])
    # the prompt holds the answer so far in the tokens the whole answer has
    assert texts(llama.bodies[-1]["prompt"][1:]) == texts(llama.tokenize(written, False))
    chosen = [t.token for t in done.logprobs or [] if not t.forced]
    assert " thorax" in chosen and '":["' in chosen  # written by the model, seam and all
    assert llama.bodies[-1]["grammar"].count('":["') == 0
    held = [b["grammar"].split("start: ", 1)[1] for b in llama.bodies]
    assert any(g.startswith(json.dumps('":[')) for g in held)  # held back, then required


def test_a_free_string_is_decoded_as_one_run_stopped_before_its_closing_quote() -> None:
    """Inside a string any token may come: one request decodes them all, llama.cpp stops
    before the token holding the closing quote (decoded but not returned), and that token
    is asked for alone, since it may run on into forced text (`",`)."""
    schema = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {
                "bevinding": {"type": "string", "maxLength": 60},
                "zeker": {"type": "boolean"},
            },
            "required": ["bevinding", "zeker"],
        }
    )
    answer = '{"bevinding":"longembolie rechts","zeker":true}'
    merges = ("long", "embol", "ie", " rechts", '",')
    llama = ScriptedLlama(answer, split=1, merges=merges)
    done = fast_forward(llama, model="test-runs").complete(
        request(schema, top_logprobs=2), "PROMPT", lambda extra: None
    )
    assert done.text == answer and done.finish_reason == "stop"
    runs = [b for b in llama.bodies if b["max_tokens"] > 1]
    assert len(runs) == 1 and runs[0]["stop"] == ['"'] and runs[0]["n_probs"] == 2
    chosen = [t.token for t in done.logprobs or [] if not t.forced]
    assert chosen == ["long", "embol", "ie", " rechts", '",', "t"]
    assert [b["max_tokens"] for b in llama.bodies] == [32, 1, 1]  # the run, `",`, `t`
    # decoded: the run's tokens, `",` (the stop token the run left out, asked again), `t`
    assert done.completion_tokens == len(chosen)
    assert "".join(t.token for t in done.logprobs or []) == answer
    schema.validate_json(done.text)


def test_a_run_asks_for_token_ids_even_without_logprobs() -> None:
    schema = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {"bevinding": {"type": "string", "maxLength": 60}},
            "required": ["bevinding"],
        }
    )
    answer = '{"bevinding":"cyste links"}'
    llama = ScriptedLlama(answer, split=2)
    done = fast_forward(llama, model="test-runs-ids").complete(
        request(schema), "PROMPT", lambda extra: None
    )
    assert done.text == answer and done.logprobs is None
    runs = [b for b in llama.bodies if b["max_tokens"] > 1]
    assert runs and all(b["n_probs"] == 1 for b in runs)
    assert all(b.get("n_probs") is None for b in llama.bodies if b["max_tokens"] == 1)


def test_a_schema_whose_answers_wait_more_steps_than_they_force_is_decoded_whole() -> None:
    """Each request costs a llama.cpp step, each forced token saves one: a list of short
    strings (a choice at nearly every token) is judged slower after the trial answers
    and decoded whole from then on, while the bench schema stays fast-forwarded."""
    from clinextract.engines.fast_forward import TRIAL_ANSWERS

    entities = OutputSchema.from_json_schema(
        {
            "type": "object",
            "properties": {"namen": {"type": "array", "maxItems": 9, "items": {"type": "string"}}},
            "required": ["namen"],
        }
    )
    wholes: list[dict] = []

    def whole(extra: dict) -> Completion:
        wholes.append(extra)
        return Completion.failed("decoded whole")

    list_llama = ScriptedLlama('{"namen":["a","b","c","d","e","f"]}', split=1)
    ff = fast_forward(list_llama, model="test-judge")
    for _ in range(TRIAL_ANSWERS):
        list_llama.bodies.clear()
        assert ff.complete(request(entities), "PROMPT", whole).finish_reason == "stop"
    assert not wholes
    ff.complete(request(entities), "PROMPT", whole)
    assert wholes == [{"id_slot": ff.slot()}]
    assert ff.stats["whole answer: fast-forward measured slower for this schema"] == 1

    bench_llama = ScriptedLlama(ANSWER, split=1)
    ff = fast_forward(bench_llama, model="test-judge")
    for _ in range(TRIAL_ANSWERS + 1):
        bench_llama.bodies.clear()
        assert ff.complete(request(BENCH), "PROMPT", whole).text == ANSWER
    assert len(wholes) == 1


def test_the_decoded_budget_is_honest() -> None:
    llama = ScriptedLlama(ANSWER, split=1)
    done = fast_forward(llama).complete(
        Request([], BENCH.grammar_schema, 3, 0.0, None), "PROMPT", lambda extra: None
    )
    assert done.finish_reason == "length" and done.completion_tokens == 3
    assert ANSWER.startswith(done.text) and done.text != ANSWER


def test_a_token_the_schema_refuses_falls_back_to_the_whole_answer_in_the_same_slot() -> None:
    llama = ScriptedLlama(ANSWER.replace("MRI", "MRX"), split=1)
    llama.answer = ANSWER.replace('"MRI"', '"MRX"')
    calls: list[dict] = []

    def whole(extra: dict) -> Completion:
        calls.append(extra)
        return Completion("whole", "stop")

    ff = fast_forward(llama)
    llama_send = llama.send

    def lenient(body: dict) -> dict:  # the fake does not check the grammar here
        try:
            return llama_send(body)
        except AssertionError:
            return {"choices": [{"text": "X"}], "usage": {}}

    ff.send = lenient
    done = ff.complete(request(BENCH), "PROMPT", whole)
    assert done.text == "whole" and calls == [{"id_slot": llama.bodies[0]["id_slot"]}]
    assert ff.stats["whole answer: a token the matcher rejected"] == 1


def test_schemas_it_does_not_model_are_decoded_whole() -> None:
    schema = OutputSchema.from_json_schema(
        {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    )
    llama = ScriptedLlama("{}")
    done = fast_forward(llama).complete(request(schema), "P", lambda extra: Completion("w", "stop"))
    assert done.text == "w" and llama.bodies == []


def test_an_engine_error_is_reported_not_hidden() -> None:
    ff = FastForward(
        lambda body: {"error": {"message": "boom"}},
        lambda text, special: [1],
        lambda reply, s: Completion.failed(reply["error"]["message"]),
        1,
        "test",
    )
    done = ff.complete(request(BENCH), "P", lambda extra: Completion("w", "stop"))
    assert done.finish_reason == "error" and done.error == "boom"


def test_each_worker_thread_keeps_its_own_slot() -> None:
    import threading

    ff = fast_forward(ScriptedLlama(ANSWER))
    seen: list[int] = []
    threads = [threading.Thread(target=lambda: seen.extend([ff.slot(), ff.slot()])) for _ in "ab"]
    for t in threads:
        t.start()
        t.join()
    assert seen[0] == seen[1] and seen[2] == seen[3] and seen[0] != seen[2]


def test_cli_flag_and_resume_hash(tmp_path: Path) -> None:
    from clinextract.settings import Settings

    on, off = Settings(), Settings(fast_forward=False)
    assert on.fast_forward  # on by default
    assert on.fast_forward and on.output_config() != off.output_config()
    server = Settings(engine="openai", base_url=["http://x"])
    assert "fast_forward" not in server.output_config()  # other engines ignore it
