"""What every route shares: who is calling (bearer keys), and errors as JSON.

Every error the service answers has one shape, never a traceback and never report text:

    {"error": {"status": 422, "code": "invalid_request", "message": "...", "details": [...]}}
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from ..errors import ConfigError, EngineError
from .keys import ANONYMOUS, KeyRing, Principal
from .limits import TooBusy, error_body

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "engine_unavailable",
}
PROTECTED = "/v1/"  # every route under it needs a key when the service has a keys file


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = error_body(status, CODES.get(status, "error"), message, **extra)
    return Response(body, status, headers=headers, media_type="application/json")


def invalid(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    """A 422 for a check pydantic could not make (a limit set when the service starts)."""
    return RequestValidationError([{"loc": ("body", *loc), "msg": message, "type": "value_error"}])


class BearerAuth:
    """ASGI middleware: every request under /v1/ carries `Authorization: Bearer KEY` for a
    key in the keys file, or gets 401 before anything else is read. The caller is put in
    `request.state.principal`. Without a keys file (loopback only) everyone is `local`."""

    def __init__(self, app: Callable, keys: KeyRing | None):
        self.app = app
        self.keys = keys

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        principal: Principal | None = ANONYMOUS
        if self.keys is not None and scope["path"].startswith(PROTECTED):
            principal = self._principal(scope)
            if principal is None:
                response = error_response(
                    401,
                    "a valid API key is needed: Authorization: Bearer KEY",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _principal(self, scope: dict[str, Any]) -> Principal | None:
        assert self.keys is not None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, key = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and key.strip():
                    return self.keys.check(key.strip())
                return None
        return None


class QuietErrors:
    """The outermost layer: Starlette answers an unexpected error with our 500 (see `bug`
    below) and then raises it again for the server to log, and uvicorn would log its text
    and traceback, which may quote a report. It has been answered and logged without its
    data by then; here it ends."""

    def __init__(self, app: Callable):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:  # noqa: BLE001 - answered (500) and logged by `bug`
            pass


def principal_of(request: Request) -> Principal:
    return request.state.principal


def install_error_handlers(app: FastAPI, log: Callable[[str], None]) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # `input` and `ctx` are left out: they may hold the report text that was sent
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        message = f"{where}: {first['msg']}" if where else first["msg"]
        return error_response(422, message, details=details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(TooBusy)
    async def too_busy(request: Request, exc: TooBusy) -> Response:
        return error_response(429, str(exc), headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ConfigError)
    async def cannot_run(request: Request, exc: ConfigError) -> Response:
        return error_response(422, str(exc))

    @app.exception_handler(EngineError)
    async def engine_gone(request: Request, exc: EngineError) -> Response:
        return error_response(503, f"engine error: {exc}", headers={"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        # frames only: an exception's own text may quote a report
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log(f"internal error {type(exc).__name__} on {request.url.path}\n{frames}")
        return error_response(500, "internal error (logged without its data); please report it")
