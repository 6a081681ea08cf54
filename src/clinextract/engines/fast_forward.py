"""Fast-forward: decode only the tokens the model chooses; append forced text as prompt.

A decoded token costs a forward pass plus the 262,144-way output layer, most of this
small model's compute, while a prompt token skips the output layer and is evaluated in a
batch. With a compact, closed grammar most of an answer is forced (`{"key":`, quotes,
commas, the rest of an enum value once chosen). So the embedded engine follows the answer
with a `Matcher` and, in one slot, repeats:

* append the forced text (tokenized on its own, the way llguidance forces text) to the
  prompt — the slot's cache holds everything before it, so only the new tokens are
  evaluated, as one batch — except, at a seam, its last tokens where the whole answer's
  tokens would run on into the next choice: those the model writes itself (`seam`);
* ask llama.cpp for one token under the grammar of everything the answer may still be.

The answer text is the one the whole-answer grammar would accept, byte for byte in form,
so validation does not change. With `top_logprobs` every forced run is one
`TokenLogprob(text, 0.0, {}, forced=True)`, and the tokens spell the answer.
`completion_tokens` counts decoded tokens only; `max_tokens` bounds them.

Schemas the matcher does not model, and answers it cannot follow (a token that breaks a
UTF-8 character, a rejected character), are decoded whole, as without fast-forward.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .base import Completion, Request, TokenLogprob
from .forced_json import Matcher, Rejected
from .json_shapes import compile_shape

Reply = dict[str, Any]
# tokens of forced texts, per model: few distinct texts per schema, shared by the engines of
# a process (a bench starts one per repetition)
_FORCED_TOKENS: dict[str, dict[str, list[int]]] = {}
# and where forced text is split at a seam (`FastForward.seam`), per model
_SEAMS: dict[str, dict[tuple[str, frozenset[str] | None], tuple[str, str]]] = {}
# where forced text may be followed by any character (a string value starts): the characters
# a seam is tested with; where they are listed, the first SEAM_CHARS of them
SEAM_SAMPLE = tuple("aeosCDMTX17 -")
SEAM_CHARS = 40


# answers of a schema fast-forwarded before judging whether that saves steps (`_judge`)
TRIAL_ANSWERS = 4
# the most tokens one request decodes inside a free string (a run ends sooner, before the
# token with the closing quote)
RUN_TOKENS = 32


class _DecodeWhole(Exception):
    """This answer cannot be fast-forwarded; decode it whole."""


class FastForward:
    """The decoding loop; llama.cpp is reached through the callables the engine gives.

    `send(body)` runs one /v1/completions request in-process; `tokenize(text, special)`
    gives the model's tokens for a text (with the start-of-text token when `special`);
    `failed(reply, seconds)` turns an error reply into a Completion; `slots` is the number
    of llama.cpp slots, one per worker thread; `model` identifies the tokenizer."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Reply],
        tokenize: Callable[[str, bool], list[int]],
        failed: Callable[[Reply, float], Completion],
        slots: int,
        model: str,
    ):
        self.send, self._tokenize, self.failed, self.slots = send, tokenize, failed, slots
        self._token_cache = _FORCED_TOKENS.setdefault(model, {})
        self._seams = _SEAMS.setdefault(model, {})
        self._thread = threading.local()
        self._next_slot = itertools.count()
        self.stats: Counter[str] = Counter()  # answers, whole-answer fallbacks and why
        # per schema: [answers, forced tokens, steps waited] over its first answers, and
        # the schemas found slower fast-forwarded (`_judge`)
        self._tally: dict[str, list[int]] = {}
        self._slower: set[str] = set()
        self._stats_lock = threading.Lock()

    def slot(self) -> int:
        """The slot of the calling worker thread: every request of an answer goes to the
        slot whose cache holds its prompt."""
        if not hasattr(self._thread, "slot"):
            self._thread.slot = next(self._next_slot) % self.slots
        return self._thread.slot

    def tokens(self, text: str) -> list[int]:
        ids = self._token_cache.get(text)
        if ids is None:
            ids = self._token_cache[text] = list(self._tokenize(text, False))
        return ids

    def seam(self, forced: str, after: frozenset[str] | None) -> tuple[str, list[int], str]:
        """Split forced text into what is appended as prompt tokens and what is held for
        the next decoded token to start with: (kept text, its tokens, held text).

        Tokenized on its own, forced text ends at the seam, where the whole answer's
        tokens may run on: `":[` then `"` where the model's examples showed `":["`; `CT`,
        a forced space, then `thorax` where they showed ` thorax`. A base model that
        imitates its examples goes astray after such a split, so where a character that
        may come next (`after`; a sample of them when any may) joins the forced text's
        last tokens, those tokens are held back and the model writes them itself."""
        key = (forced, after)
        split = self._seams.get(key)
        if split is None:
            split = self._seams[key] = self._split(forced, after)
        kept, held = split
        return kept, (self.tokens(kept) if kept else []), held

    def _split(self, forced: str, after: frozenset[str] | None) -> tuple[str, str]:
        ids = self.tokens(forced)
        keep = len(ids)
        for char in sorted(after)[:SEAM_CHARS] if after is not None else SEAM_SAMPLE:
            joined = self._tokenize(forced + char, False)
            pairs = enumerate(zip(ids, joined, strict=False))  # joined is the longer
            keep = min(keep, next((n for n, (a, b) in pairs if a != b), len(ids)))
        if keep == len(ids):
            return forced, ""
        for cut in range(len(forced) - 1, -1, -1):  # the text of the first `keep` tokens
            # asked directly: these prefixes are never appended, so they stay out of the cache
            if (self._tokenize(forced[:cut], False) if cut else []) == ids[:keep]:
                return forced[:cut], forced[cut:]
        return forced, ""  # no clean cut: append it all, as before

    def count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def complete(
        self,
        request: Request,
        prompt: str,
        whole: Callable[[dict[str, Any]], Completion],
    ) -> Completion:
        """Answer `request` (its prompt already rendered); `whole(extra_body)` decodes the
        whole answer the usual way when this cannot."""
        key = json.dumps(request.schema)  # the shape's cache key and the judge's
        shape = compile_shape(key) if request.schema else None
        if shape is None:
            self.count("whole answer: schema not handled")
            return whole({})
        if key in self._slower:
            self.count("whole answer: fast-forward measured slower for this schema")
            return whole({"id_slot": self.slot()})
        started = time.perf_counter()
        try:
            completion, waits = self._decode(request, prompt, Matcher(shape), started)
        except _DecodeWhole as reason:
            self.count(f"whole answer: {reason}")
            return whole({"id_slot": self.slot()})
        with self._stats_lock:
            self.stats["fast-forwarded"] += 1
            self.stats["decoded tokens"] += completion.completion_tokens
            self.stats["forced tokens"] += completion.forced_tokens
            if completion.finish_reason == "stop":
                self._judge(key, completion.forced_tokens, waits)
        return completion

    def _judge(self, key: str, forced: int, waits: int) -> None:
        """Keep fast-forwarding a schema only where it saves decoding steps.

        llama.cpp decodes one token per slot per step. Decoding a whole answer, a slot
        takes part in every step; fast-forwarding, each request's reply comes back after
        a step and the next request, a few milliseconds later, joins the step after the
        one already under way: each request (and each stop token decoded again after a
        run) costs a step, each forced token saves one. On the bench task an answer
        makes 5 requests and forces 31 tokens; a list of short entity strings makes
        more requests than it forces tokens (DRAGON's synthetic NER job: 858 steps
        waited for 255 forced tokens over 15 answers), and was 10-17 % slower
        fast-forwarded (docs/performance.md). So after its first TRIAL_ANSWERS
        answers, a schema whose answers waited more steps than they forced is decoded
        whole (counted in the stats) for the rest of this engine's life."""
        tally = self._tally.setdefault(key, [0, 0, 0])
        tally[0] += 1
        tally[1] += forced
        tally[2] += waits
        if tally[0] == TRIAL_ANSWERS and tally[2] >= tally[1]:
            self._slower.add(key)

    def _decode(
        self, request: Request, prompt: str, matcher: Matcher, started: float
    ) -> tuple[Completion, int]:
        """The answer, and the llama.cpp steps it waited for (`_judge`): one per request
        and one per stop token decoded again after a run."""
        # The prompt as ids, tokenized once: llama.cpp would tokenize a text prompt again
        # for every request, which costs more than a decoded token. Decoded tokens may
        # follow as text (llama.cpp takes text and ids mixed).
        pieces: list[str | int] = list(self._tokenize(prompt, True))
        prompt_tokens = len(pieces)  # as the pipeline counts them: without forced text
        text: list[str] = []
        logprobs: list[TokenLogprob] | None = [] if request.top_logprobs else None
        decoded = forced_tokens = cached_tokens = evaluated = seams = 0
        requests = runs = redone = 0
        after_run = False  # the last request was a run that stopped before a value's end
        held = ""  # forced text left for the next decoded token to start with (a seam)
        finish = "stop"
        while True:
            forced = matcher.take_forced()
            if forced:
                if matcher.done:  # the closing text is never evaluated: nothing follows
                    kept, ids, held = forced, self.tokens(forced), ""
                else:
                    kept, ids, held = self.seam(forced, matcher.next_chars())
                    seams += bool(held)
                if kept:
                    text.append(kept)
                    forced_tokens += len(ids)
                    if logprobs is not None:
                        logprobs.append(TokenLogprob(kept, 0.0, {}, forced=True))
                    pieces.extend(ids)
            if matcher.done:
                break
            if decoded >= request.max_tokens:
                finish = "length"
                if held:  # forced, so part of the answer so far
                    text.append(held)
                    if logprobs is not None:
                        logprobs.append(TokenLogprob(held, 0.0, {}, forced=True))
                break
            # inside a string the model writes on its own, decode a run of tokens in one
            # request, stopped (by llama.cpp) before the token with the closing quote:
            # that one may run on into forced text (`",`), so it is asked for alone
            free = not held and not after_run and matcher.in_free_string()
            run = min(RUN_TOKENS, request.max_tokens - decoded) if free else 1
            body = self._body(request, pieces, matcher, decoded, held)
            if run > 1:
                body.update(max_tokens=run, stop=['"'], n_probs=body.get("n_probs", 1))
            requests += 1
            try:
                reply = self.send(body)
            except Exception as exc:  # llama.cpp reports every failure the same way
                return Completion.failed(f"llama.cpp: {exc}", started), requests
            if "error" in reply:
                return self.failed(reply, time.perf_counter() - started), requests
            usage = reply.get("usage", {})
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
            if decoded == 0:  # what the slot's cache held of the prompt
                cached_tokens = cached
            else:  # what the slot evaluated anew: the last token and forced text, if cached
                evaluated += usage.get("prompt_tokens", 0) - cached
            if run > 1:
                tokens = self._run(reply)
                try:
                    matcher.feed("".join(t.token for _, t in tokens))
                except Rejected as exc:
                    raise _DecodeWhole("a token the matcher rejected") from exc
                # the answer's tokens count (one per log-probability); the stop token the
                # reply leaves out is decoded again by the next request and counted there
                decoded += len(tokens)
                redone += usage.get("completion_tokens", len(tokens)) > len(tokens)
                for token_id, chosen in tokens:
                    text.append(chosen.token)
                    pieces.append(token_id)
                    if logprobs is not None:
                        logprobs.append(chosen)
                stopped = reply["choices"][0].get("finish_reason") == "stop"
                after_run = stopped and not matcher.done
                runs += 1
                continue
            after_run = False
            token, token_id, chosen = self._chosen(reply, logprobs is not None)
            if token.startswith(held):  # the token wrote the held text and went on
                new, held = token[len(held) :], ""
            elif held.startswith(token):  # it wrote part of the held text only
                new, held = "", held[len(token) :]
            else:
                raise _DecodeWhole("a token the matcher rejected")
            try:
                matcher.feed(new)
            except Rejected as exc:
                raise _DecodeWhole("a token the matcher rejected") from exc
            decoded += 1
            text.append(token)
            pieces.append(token_id)
            if logprobs is not None and chosen is not None:
                logprobs.append(chosen)
        with self._stats_lock:
            self.stats["answer tokens evaluated after the first request"] += evaluated
            self.stats["seams left to the model"] += seams
            self.stats["runs of decoded tokens"] += runs
            self.stats["stop tokens decoded again after a run"] += redone
        answer = Completion(
            text="".join(text),
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=decoded,
            cached_tokens=cached_tokens,
            seconds=time.perf_counter() - started,
            logprobs=logprobs,
            forced_tokens=forced_tokens,
        )
        return answer, requests + redone

    def _body(
        self, request: Request, pieces: list[str | int], matcher: Matcher, step: int, held: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": pieces,
            "max_tokens": 1,
            "temperature": request.temperature,
            "cache_prompt": True,
            "id_slot": self.slot(),
            "grammar": matcher.remaining_grammar(held),
        }
        if request.seed is not None:  # a fresh draw per token, reproducible from the seed
            body["seed"] = (request.seed + step) % 2**32
        if request.top_logprobs:
            body["n_probs"] = request.top_logprobs
        return body

    @staticmethod
    def _run(reply: Reply) -> list[tuple[int, TokenLogprob]]:
        """The tokens of a run, as llama.cpp lists them (without the stop token)."""
        content = (reply["choices"][0].get("logprobs") or {}).get("content") or []
        if not all(entry.get("token") and "id" in entry for entry in content):
            raise _DecodeWhole("an empty token")  # part of a UTF-8 character
        tokens = [(entry["id"], _logprob(entry)) for entry in content]
        # the text may go on with the stop token's part before the quote (`.` of `."`):
        # that token is left out and asked for again, so its text is too
        spelled = "".join(t.token for _, t in tokens)
        if not reply["choices"][0].get("text", "").startswith(spelled):
            raise _DecodeWhole("a run whose tokens do not spell its text")
        return tokens

    @staticmethod
    def _chosen(reply: Reply, with_logprobs: bool) -> tuple[str, int | str, TokenLogprob | None]:
        """The decoded token: its text; its id for the next prompt, or else its text (which
        llama.cpp tokenizes back into that token, in-process); its log-probabilities."""
        choice = reply["choices"][0]
        token = choice.get("text", "")
        if not token:  # end of text, or a token that is part of a UTF-8 character
            raise _DecodeWhole("an empty token")
        content = (choice.get("logprobs") or {}).get("content") or []
        if not (with_logprobs and content and "id" in content[0]):
            return token, token, None
        return token, content[0]["id"], _logprob(content[0])


def _logprob(entry: dict[str, Any]) -> TokenLogprob:
    """One token of llama.cpp's `logprobs.content`, with its alternatives."""
    top = {a["token"]: a["logprob"] for a in entry.get("top_logprobs", [])}
    return TokenLogprob(entry["token"], entry["logprob"], top)
