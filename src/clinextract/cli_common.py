"""What every command shares: the consoles, options generated from `Settings`, and the
one way errors become exit codes and messages (`errors.exit_status`).

Used by `clinextract run` (cli.py) and by the commands that live in their own modules
(serve, dragon, studio), which `cli.py` loads only when they are asked for.
"""

from __future__ import annotations

import logging
import sys
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.markup import escape

from .errors import ConfigError, exit_status
from .settings import Settings

err_console = Console(stderr=True)
out_console = Console(soft_wrap=True)  # paths and summaries stay on one line


# --- options generated from Settings ----------------------------------------------------


class NumberOrWord(click.ParamType):
    """A whole number or one of a few words, e.g. `--num-examples auto|N`."""

    def __init__(self, words: list[str]):
        self.words = words
        self.name = "|".join([*words, "N"])

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        word = str(value).strip().lower()
        if word in self.words:
            return word
        try:
            return int(word)
        except ValueError:
            self.fail(f"{value!r} is not a number or {' / '.join(self.words)}", param, ctx)


def _click_type(annotation: Any) -> tuple[Any, bool]:
    """(click type, multiple) for a Settings field annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _click_type(args[0])
    words = [str(w) for a in args if typing.get_origin(a) is typing.Literal for w in a.__args__]
    if origin in (typing.Union, types.UnionType) and int in args and words:
        return NumberOrWord(words), False
    if origin is list:
        return _click_type(args[0])[0], True
    if origin is typing.Literal:
        return click.Choice([str(a) for a in typing.get_args(annotation)]), False
    if annotation is Path:
        return click.Path(path_type=Path), False
    if annotation is SecretStr:
        return str, False
    return annotation, False


def settings_options(exclude: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: one click option per Settings field (help and spellings from the field)."""

    def decorate(func: Callable) -> Callable:
        for name, info in reversed(list(Settings.model_fields.items())):
            if name in exclude:
                continue
            flags = (info.json_schema_extra or {}).get("flags", [f"--{name}"])
            ctype, multiple = _click_type(info.annotation)
            default = info.get_default(call_default_factory=True)
            shown = "" if default in (None, [], "") else f" [default: {default}]"
            common = {"help": (info.description or "") + shown, "default": None}
            if ctype is bool:
                if "/" in flags[0]:
                    option = click.option(*flags, name, **common)
                else:
                    option = click.option(*flags, name, is_flag=True, flag_value=True, **common)
            else:
                option = click.option(
                    *flags,
                    name,
                    type=ctype,
                    multiple=multiple,
                    **{**common, "default": () if multiple else None},
                )
            func = option(func)
        return func

    return decorate


def settings_from(options: dict[str, Any], **extra: Any) -> Settings:
    given = {
        k: v for k, v in options.items() if k in Settings.model_fields and v is not None and v != ()
    }
    given.update(extra)
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # a check across fields, e.g. the model file
            raise ConfigError(message) from exc
        raise ConfigError(f"--{str(err['loc'][0]).replace('_', '-')}: {message}") from exc


# --- what the layers below say while a command runs ---------------------------------------


class _LineHandler(logging.Handler):
    def __init__(self, say: Callable[[str], None]):
        super().__init__(logging.INFO)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        self.say(record.getMessage())


@contextmanager
def log_lines(say: Callable[[str], None]) -> Iterator[None]:
    """While a command runs, what clinextract's own loggers report (the Ray pool: its
    workers, a worker that died and came back) is shown as one line each via `say`."""
    logger = logging.getLogger("clinextract")
    handler, level, propagate = _LineHandler(say), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


# --- error handling shared by every command ---------------------------------------------


def run_guarded(func: Callable[[], int | None]) -> None:
    """Run a command's body; a known error is one red line and its exit code."""
    try:
        code = func() or 0
    except (Exception, KeyboardInterrupt) as exc:
        known = exit_status(exc)
        if known is None:
            raise  # a bug: the traceback is what helps
        code, message = known
        kind, _, rest = message.partition(": ")
        err_console.print(
            f"[red]{escape(kind)}:[/red] {escape(rest)}" if rest else escape(message),
            highlight=False,
            soft_wrap=True,
        )
    sys.exit(code)
