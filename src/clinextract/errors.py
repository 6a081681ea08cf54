"""Errors the faces turn into exit codes, and the one mapping from an error to what the
user is told: ConfigError → 2, EngineError → 1, WriteError → 1, InternalError → 1, an
interrupt → 130.
"""

from __future__ import annotations

import re

EXIT_OK, EXIT_ENGINE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
RESUME_HINT = "finished records are saved; run the same command again to resume"


class ClinextractError(Exception):
    """Base class; the message is one plain line meant for the user."""


class ConfigError(ClinextractError):
    """The user's task, schema, data or options are wrong (exit code 2)."""


class EngineError(ClinextractError):
    """The engine could not be started or stopped answering (exit code 1)."""


class WriteError(ClinextractError):
    """The run folder could not be written (disk full, read-only, I/O error): exit code 1.
    Everything written before is intact; the same command resumes once writing works."""


class InternalError(ClinextractError):
    """clinextract broke one of its own promises (a bug; exit code 1)."""


class MissingExtra(ConfigError):
    """An optional part is not installed: the message names the extra to install."""

    def __init__(self, what: str, extra: str):
        super().__init__(
            f"{what} needs the '{extra}' extra: pip install 'clinextract[{extra}]' "
            "(or `make install` in a checkout)"
        )
        self.extra = extra


def exit_status(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one line for the user) for the errors clinextract knows; None for any
    other exception (a bug, shown with its traceback)."""
    known = _exit_status(exc)
    return None if known is None else (known[0], one_line(known[1]))


def one_line(text: str) -> str:
    """A message as one line: control characters (a newline in a user's key, a field
    name, a file name) are shown escaped."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _exit_status(exc: BaseException) -> tuple[int, str] | None:
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, f"error: {exc}"
    if isinstance(exc, EngineError):
        return EXIT_ENGINE, f"engine error: {exc}"
    if isinstance(exc, WriteError):
        return EXIT_ENGINE, f"write error: {exc}; {RESUME_HINT} once writing works again"
    if isinstance(exc, InternalError):
        return EXIT_ENGINE, f"internal error (please report it): {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, f"interrupted: {RESUME_HINT}"
    if isinstance(exc, ClinextractError):
        return EXIT_ENGINE, str(exc)
    return None
