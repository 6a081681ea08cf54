"""What counts as a fault between clinextract and a server, and how long to wait.

A `Retry` is a failed attempt worth another try; `backoff` spaces the tries; the other
helpers turn an HTTP answer or a transport error into a few plain words (the server's
own message, never a request body).
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx

BACKOFF_BASE, BACKOFF_MAX, RETRY_AFTER_MAX = 0.5, 30.0, 60.0
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
REQUEST_STATUSES = {400, 413, 422}  # this request is at fault: no retry


class Retry(Exception):
    """A failed attempt worth another try."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def error_text(response: httpx.Response, limit: int = 200) -> str:
    """The server's own error message (JSON `error`/`message`/`detail`), one line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message: Any = None
    if isinstance(body, dict):
        message = body.get("error") or body.get("message") or body.get("detail")
        if isinstance(message, dict):
            message = message.get("message") or json.dumps(message)
        elif isinstance(message, list):  # FastAPI's validation errors: no `input` echoed
            message = "; ".join(
                f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}"
                for e in message
                if isinstance(e, dict)
            )
    if not message:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        message = f"{kind}, {len(response.content)} bytes"
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(RETRY_AFTER_MAX, max(0.0, float(value))) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempt + 1` (attempt counts from 1)."""
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
    return max(delay, retry_after) if retry_after is not None else delay


def describe_error(exc: BaseException) -> str:
    """A transport error in a few words ("connection refused", "connection reset")."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    for needle, words in (
        ("refused", "connection refused"),
        ("reset", "connection reset"),
        ("name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("disconnected without sending a response", "the server closed the connection"),
    ):
        if needle in lowered:
            return words
    return " ".join(text.split())[:200]
