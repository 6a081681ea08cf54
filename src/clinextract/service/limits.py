"""Limits that keep one caller from taking the service from the others.

* `BodyLimit`: an ASGI middleware that answers 413 when a body is larger than allowed,
  by its Content-Length or, for a chunked body, as soon as the bytes read pass the limit
  (nothing larger is ever held in memory).
* `KeyGate`: per key, at most `concurrency` sync requests at work and `queue` waiting;
  one more is 429 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.exceptions import HTTPException

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


class TooBusy(Exception):
    """A key has as much waiting as it may; the caller should retry after a while."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class BodyTooLarge(HTTPException):
    """Raised while a body is read: an HTTP error, so FastAPI's body parsing passes it
    on (as 413) instead of turning it into a 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit} bytes")


def error_body(status: int, code: str, message: str, **extra: Any) -> bytes:
    """The one shape of every error the service answers (see app.py)."""
    return json.dumps(
        {"error": {"status": status, "code": code, "message": message, **extra}},
        ensure_ascii=False,
    ).encode("utf-8")


class BodyLimit:
    """413 for bodies over `limit_for(path)` bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Callable, limit: int) -> None:
    body = error_body(413, "body_too_large", f"request body over {limit} bytes")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class KeyGate:
    """Per key: `concurrency` at work, `queue` waiting, 429 beyond. Lives on the event
    loop (no locks: its counters change only between awaits)."""

    def __init__(self, concurrency: int, queue: int, retry_after: int = 1):
        self.concurrency = concurrency
        self.queue = queue
        self.retry_after = retry_after
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._admitted: dict[str, int] = {}  # at work + waiting

    @asynccontextmanager
    async def admit(self, key: str) -> AsyncIterator[None]:
        admitted = self._admitted.get(key, 0)
        if admitted >= self.concurrency + self.queue:
            raise TooBusy(
                f"this key has {self.concurrency} requests at work and {self.queue} waiting",
                self.retry_after,
            )
        slots = self._slots.setdefault(key, asyncio.Semaphore(self.concurrency))
        self._admitted[key] = admitted + 1
        try:
            async with slots:
                yield
        finally:
            self._admitted[key] -= 1
            if not self._admitted[key]:
                del self._admitted[key]
                self._slots.pop(key, None)

    def load(self, key: str) -> int:
        return self._admitted.get(key, 0)
