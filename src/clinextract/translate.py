"""Translation pre-pass (`--translate`): every report to English before extraction.

Parity with llm_extractinator's `--translate`; its paper found that translating first
lowers scores, so this is off by default. The same engine and model translate and then
extract. A translation is asked for as JSON (`{"translation": "..."}`), so every engine
can constrain it, and is cut off at a budget from the report's length (retried once
with twice the budget when cut).

Translations are cached in the run folder, one line per report:

    <output-dir>/<run-name>/<task>-translations.jsonl

keyed by the report's text and what makes a translation (model, prompt, decoding), and
reused on every later run: a crashed or re-run command translates nothing twice. A
report whose translation fails is extracted from its original text; the cache line says
why. A translation that failed for a passing reason (a timeout, a busy server) is asked
for again on the next run, as the checkpoint does with such rows. The predictions keep
the input columns exactly as given (the original text).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from .data import DataSource, Row
from .engines import Completion, Engine, Request
from .errors import EngineError
from .files import writing
from .prompting import PromptBuilder
from .settings import Settings, stable_hash
from .store import translations_path

SYSTEM = (
    "Translate the clinical report into English. Translate all of it; keep every number, "
    "unit, date, measurement and name exactly as written; add and explain nothing. If the "
    "report is already in English, copy it unchanged. Answer with one JSON object whose "
    'only key is "translation".'
)
# One worked example: a small base model copies placeholders, but follows an example.
EXAMPLE = (
    "Echo abdomen: lever normaal van grootte, galblaas met een steen van 12 mm. Geen vrij vocht.",
    '{"translation":"Abdominal ultrasound: liver of normal size, gallbladder with a '
    '12 mm stone. No free fluid."}',
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"translation": {"type": "string", "minLength": 1}},
    "required": ["translation"],
    "additionalProperties": False,
}
PROMPT_HASH = stable_hash([SYSTEM, EXAMPLE, SCHEMA, PromptBuilder.user("{text}")])


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def budget(text: str) -> int:
    """Output tokens for a translation: about the report's own length, plus the JSON."""
    return max(128, math.ceil(len(text.encode("utf-8")) / 2) + 32)


class TranslatedSource:
    """The same rows, with each report's text replaced by its cached translation."""

    def __init__(self, source: DataSource, translations: dict[str, str]):
        self._source = source
        self.translations = translations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def __len__(self) -> int:
        return len(self._source)

    def __iter__(self) -> Iterator[Row]:
        for row in self._source:
            english = self.translations.get(sha(row.text)) if row.text else None
            yield replace(row, text=english) if english else row


class TranslationCache:
    """The cache file: lines of {key, status, translation | error, transient}. Lines that
    are not entries, and failures for a passing reason, are not reused."""

    def __init__(self, path: Path, config: str, overwrite: bool = False):
        self.path, self.config = path, config
        self.entries: dict[str, dict[str, Any]] = {}
        with writing(path):
            if overwrite:
                path.unlink(missing_ok=True)
            if path.exists():
                with path.open("rb") as fh:
                    for line in fh:
                        if not line.endswith(b"\n"):
                            break  # half-written by a killed process
                        entry = _entry(line)
                        if entry is not None and entry.get("config") == config:
                            if entry.get("transient"):
                                self.entries.pop(entry["text_sha"], None)  # ask again
                            else:
                                self.entries[entry["text_sha"]] = entry
                self._trim()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8")

    def _trim(self) -> None:
        """Cut a half-written last line, so the next append starts a fresh line."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def add(self, text_sha: str, completion: Completion | None, error: str | None) -> None:
        entry: dict[str, Any] = {"text_sha": text_sha, "config": self.config}
        if error is None and completion is not None:
            entry.update(status="success", translation=_translation(completion.text))
        else:
            entry.update(status="failure", error=error)
            if completion is not None and completion.transient:
                entry["transient"] = True
        self.entries[text_sha] = entry
        with writing(self.path):
            self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._fh.flush()

    def translations(self) -> dict[str, str]:
        return {k: e["translation"] for k, e in self.entries.items() if e["status"] == "success"}

    def close(self) -> None:
        self._fh.close()


def _entry(line: bytes) -> dict[str, Any] | None:
    """A cache line as an entry, or None when it is not one (garbage, another shape)."""
    try:
        entry = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    ok = isinstance(entry, dict) and isinstance(entry.get("text_sha"), str)
    if ok and entry.get("status") == "success":
        ok = isinstance(entry.get("translation"), str)
    return entry if ok else None


def _translation(text: str) -> str:
    value = json.loads(text[text.find("{") : text.rfind("}") + 1])["translation"]
    if not isinstance(value, str) or not value.strip():
        raise ValueError("empty translation")
    return value.strip()


def _check(completion: Completion) -> str | None:
    """None when the completion holds a translation, else why not."""
    if completion.finish_reason == "error":
        return completion.error or "engine error"
    if completion.finish_reason == "length":
        return "translation cut at the token limit"
    try:
        _translation(completion.text)
    except (ValueError, KeyError, TypeError) as exc:
        return f"not a translation ({type(exc).__name__})"
    return None


def translated_source(
    task_name: str,
    source: DataSource,
    settings: Settings,
    engine: Engine,
    say: Callable[[str], None] = lambda message: None,
) -> TranslatedSource:
    """Translate every report not yet in the cache; return the source that reads them."""
    config = stable_hash(
        {
            "model": engine.model_id,
            "prompt": PROMPT_HASH,
            "temperature": settings.temperature,
            "seed": settings.seed,
        }
    )
    cache = TranslationCache(translations_path(settings, task_name), config, settings.overwrite)
    try:
        todo: dict[str, str] = {}
        for row in source:
            key = sha(row.text)
            if row.text and key not in cache.entries:
                todo.setdefault(key, row.text)
        if todo:
            cached = f" ({len(cache.entries)} from the cache)" if cache.entries else ""
            say(f"translating {len(todo)} reports to English{cached}")
        elif cache.entries:
            say(f"translations: all {len(cache.entries)} from {cache.path}")
        _translate_all(todo, settings, engine, cache)
        failed = sum(1 for e in cache.entries.values() if e["status"] != "success")
        if failed:
            say(
                f"{failed} translation{'s' if failed > 1 else ''} failed; those reports "
                "are read in their own language"
            )
        return TranslatedSource(source, cache.translations())
    finally:
        cache.close()


def _translate_all(
    todo: dict[str, str], settings: Settings, engine: Engine, cache: TranslationCache
) -> None:
    pending = iter(todo.items())
    window = max(1, engine.capacity * 2)
    in_flight: dict[Future[Completion], tuple[str, Request, bool]] = {}

    def request(text: str) -> Request:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PromptBuilder.user(EXAMPLE[0])},
            {"role": "assistant", "content": EXAMPLE[1]},
            {"role": "user", "content": PromptBuilder.user(text)},
        ]
        return Request(messages, SCHEMA, budget(text), settings.temperature, settings.seed)

    try:
        while True:
            while len(in_flight) < window and (item := next(pending, None)):
                req = request(item[1])
                in_flight[engine.submit(req)] = (item[0], req, False)
            if not in_flight:
                return
            finished, _ = wait(in_flight, settings.wait_timeout, return_when=FIRST_COMPLETED)
            if not finished:
                raise EngineError(
                    f"no translation from the {engine.name} engine in "
                    f"{settings.wait_timeout:g} s (--wait-timeout)"
                )
            for future in finished:
                key, req, retried = in_flight.pop(future)
                completion = future.result()  # EngineError stops the run; the cache stays
                problem = _check(completion)
                if completion.finish_reason == "length" and not retried:
                    bigger = replace(req, max_tokens=req.max_tokens * 2)
                    in_flight[engine.submit(bigger)] = (key, bigger, True)
                    continue
                cache.add(key, completion, problem)
    finally:
        for future in in_flight:
            future.cancel()
