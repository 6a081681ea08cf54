"""What the server engines (Ollama, OpenAI-compatible) share: an HTTP client that keeps
`--concurrency` requests in flight, spreads them round-robin over every `--base-url`,
retries what is worth retrying, and knows when the server is gone.

Requests run as coroutines on one event loop in a background thread (httpx, async);
`submit` hands back a `concurrent.futures.Future`, as the Engine interface asks.

Faults (`--max-failures N`, `--timeout S`):
  * connection errors, timeouts, HTTP 408/409/425/429/5xx and answers that are not JSON
    are retried, up to N attempts per request, after 0.5 s, 1 s, 2 s, … (×0.5–1.5
    jitter, at most 30 s; a server's Retry-After is honoured up to 60 s);
  * when a request has used its N attempts, no other request got an answer meanwhile,
    and the server never answered a request or does not answer its model list now,
    the server is gone: this future and every later one raise `EngineError` (the run
    stops with exit 1, the finished records are on disk, the same command resumes);
  * otherwise only this row fails (`Completion(finish_reason="error")`); N such rows in
    a row, with no answer in between, also stop the run (a server that is up but
    fails every request);
  * HTTP 400/413/422 is a problem with this request: no retry, the row fails;
  * HTTP 401/403 (the key) and 404 (the route or the model vanished) stop the run.

Report text is never logged: error messages carry statuses and the server's own error
message, never a request body.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from abc import abstractmethod
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import ConfigError, EngineError
from ..settings import Settings
from .base import Completion, Engine, Request
from .common import cancel_other_tasks
from .faults import (
    REQUEST_STATUSES,
    RETRY_STATUSES,
    Retry,
    backoff,
    describe_error,
    error_text,
    parse_retry_after,
)

CONNECT_TIMEOUT = 10.0


@dataclass
class Server:
    """One --base-url and what start-up found out about it."""

    url: str  # as the user gave it, for messages
    client: httpx.AsyncClient | None = None
    kind: str = "generic"  # llamacpp | vllm | sglang | ollama | generic
    info: dict[str, Any] = field(default_factory=dict)


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


class ServerEngine(Engine):
    """Base of the server engines: subclasses say how to start, what to send and how to
    read the answer (`start`, `build`, `parse`)."""

    kind_label = "server"  # for messages: "the Ollama server", "the OpenAI-compatible server"

    def __init__(self, settings: Settings, default_url: str):
        self.settings = settings
        self.capacity = settings.concurrency
        urls = settings.base_url or [default_url]
        self.servers = [Server(self.normalize_url(u)) for u in urls]
        self.headers = {"Accept": "application/json"}
        key = self.api_key(settings)
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self._turn = itertools.count()
        self._answers = 0  # exchanges that got an answer, for telling "gone" from "this row"
        self._lost_rows = 0  # requests in a row that failed after all their retries
        self._gone: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"clinextract-{self.name}", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            with httpx.Client(headers=self.headers, timeout=self._timeout()) as probe:
                self.start(probe)
            self._call(self._open_clients())
        except BaseException:
            self.close()
            raise

    # --- for subclasses ------------------------------------------------------------
    @staticmethod
    def normalize_url(url: str) -> str:
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        return url

    def api_key(self, settings: Settings) -> str | None:
        """--api-key, else $CLINEXTRACT_API_KEY, else $OPENAI_API_KEY."""
        return settings.resolved_api_key()

    @abstractmethod
    def start(self, probe: httpx.Client) -> None:
        """Check every server once (reachable, model present, features) before any
        request; raise ConfigError or EngineError with one plain line."""

    @abstractmethod
    def build(self, request: Request, server: Server) -> tuple[str, dict[str, Any]]:
        """(URL, JSON body) for one attempt of `request` on `server`."""

    @abstractmethod
    def parse(
        self, request: Request, server: Server, body: dict[str, Any], seconds: float
    ) -> Completion:
        """A 200 answer's JSON → Completion. Raise Retry if it is not the expected shape."""

    @abstractmethod
    def health_url(self, server: Server) -> str:
        """A cheap GET that a live server answers with 200 (its model list)."""

    def rejected(self, request: Request, server: Server, response: httpx.Response) -> bool:
        """A 400-class answer: return True after adapting (the attempt is sent again)."""
        return False

    # --- start-up helpers --------------------------------------------------------------
    def get_json(
        self, probe: httpx.Client, server: Server, url: str, method: str = "GET", **kw: Any
    ) -> tuple[int, Any]:
        """One start-up call: (status, JSON or None). Unreachable → EngineError, a
        refused key → ConfigError."""
        try:
            response = probe.request(method, url, **kw)
        except httpx.TimeoutException as exc:
            raise EngineError(
                f"the {self.kind_label} at {server.url} did not answer within "
                f"{self.settings.timeout:g} s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise EngineError(
                f"cannot reach the {self.kind_label} at {server.url}: {describe_error(exc)}"
            ) from exc
        if response.status_code in (401, 403):
            raise ConfigError(
                f"the {self.kind_label} at {server.url} refused the API key "
                f"(HTTP {response.status_code}: {error_text(response)}); give it with "
                "--api-key or CLINEXTRACT_API_KEY"
            )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    # --- the Engine interface ----------------------------------------------------------
    def submit(self, request: Request) -> Future[Completion]:
        if self._closed:
            raise EngineError(f"the {self.name} engine is closed")
        future: Future[Completion] = Future()
        if self._gone is not None:
            future.set_exception(self._fresh_gone())
            return future

        def start() -> None:
            task = self._loop.create_task(self._deliver(request, future))
            future.add_done_callback(lambda f: f.cancelled() and self._cancel(task))

        self._loop.call_soon_threadsafe(start)
        return future

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop.is_running():
            try:
                self._call(self._shutdown(), timeout=10)
            except Exception:  # noqa: BLE001 - closing must not hide the real error
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    # --- internals -----------------------------------------------------------------
    def _timeout(self) -> httpx.Timeout:
        t = self.settings.timeout
        return httpx.Timeout(t, connect=min(t, CONNECT_TIMEOUT))

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _open_clients(self) -> None:
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._gone_event = asyncio.Event()
        limits = httpx.Limits(
            max_connections=self.settings.concurrency,
            max_keepalive_connections=self.settings.concurrency,
        )
        for server in self.servers:
            server.client = httpx.AsyncClient(
                headers=self.headers, timeout=self._timeout(), limits=limits
            )

    async def _shutdown(self) -> None:
        await cancel_other_tasks()
        for server in self.servers:
            if server.client is not None:
                await server.client.aclose()

    def _cancel(self, task: asyncio.Task) -> None:
        try:
            self._loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop is closed: nothing left to cancel
            pass

    async def _deliver(self, request: Request, future: Future[Completion]) -> None:
        """Run one request and hand its outcome to the caller's future (every exception
        is delivered there, none is left for asyncio to report)."""
        try:
            result = await self._complete(request)
        except asyncio.CancelledError:
            future.cancel()
            return
        except BaseException as exc:  # noqa: BLE001 - delivered to the caller
            with contextlib.suppress(InvalidStateError):
                future.set_exception(exc)
            return
        with contextlib.suppress(InvalidStateError):
            future.set_result(result)

    def _fresh_gone(self) -> BaseException:
        """The run-stopping error, as a new exception for each caller."""
        assert self._gone is not None
        return type(self._gone)(str(self._gone))

    async def _complete(self, request: Request) -> Completion:
        started = time.perf_counter()
        answers_before: int | None = None
        attempt = 0
        while True:
            if self._gone is not None:
                raise self._fresh_gone()
            server = self.servers[next(self._turn) % len(self.servers)]
            try:
                async with self._slots:
                    return await self._attempt(request, server)
            except Retry as fault:
                attempt += 1
                if answers_before is None:
                    answers_before = self._answers
                if attempt < self.settings.max_failures:
                    try:
                        await asyncio.wait_for(
                            self._gone_event.wait(), backoff(attempt, fault.retry_after)
                        )
                    except TimeoutError:
                        pass
                    continue
                message = f"{fault}, {attempt} attempt{'s' if attempt > 1 else ''}"
                if self._answers == answers_before and (
                    self._answers == 0 or not await self._alive()
                ):
                    self._declare_gone(message)
                    raise self._fresh_gone() from None
                self._lost_rows += 1
                if self._lost_rows >= self.settings.max_failures:
                    self._declare_gone(
                        f"{self._lost_rows} requests in a row failed after retries "
                        f"(last: {message})"
                    )
                    raise self._fresh_gone() from None
                return Completion.failed(message, started, transient=True)

    async def _alive(self) -> bool:
        """Whether any server still answers its cheapest route (the server is up, only
        this request fails)."""
        for server in self.servers:
            assert server.client is not None
            try:
                response = await server.client.get(
                    self.health_url(server), timeout=min(self.settings.timeout, CONNECT_TIMEOUT)
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                return True
        return False

    async def _attempt(self, request: Request, server: Server) -> Completion:
        assert server.client is not None
        where = f"{server.url}: " if len(self.servers) > 1 else ""
        while True:
            url, body = self.build(request, server)
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.timeout):
                    response = await server.client.post(url, json=body)
            except (TimeoutError, httpx.TimeoutException):
                raise Retry(
                    f"{where}no answer within --timeout {self.settings.timeout:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise Retry(f"{where}{describe_error(exc)}") from None
            status = response.status_code
            if status == 200:
                try:
                    payload = response.json()
                except ValueError:
                    raise Retry(
                        f"{where}the answer was not JSON ({error_text(response)})"
                    ) from None
                if not isinstance(payload, dict):
                    raise Retry(f"{where}the answer was a JSON {type(payload).__name__}")
                completion = self.parse(request, server, payload, time.perf_counter() - sent)
                self._answered()
                return completion
            if status in RETRY_STATUSES:
                raise Retry(
                    f"{where}HTTP {status} ({error_text(response)})",
                    parse_retry_after(response),
                )
            if status in REQUEST_STATUSES:
                if self.rejected(request, server, response):
                    continue  # adapted (e.g. another structured-output field): send again
                self._answered()
                return Completion.failed(f"HTTP {status}: {error_text(response)}", sent)
            if status in (401, 403):
                self._declare_gone(
                    f"the {self.kind_label} {where}refused the API key "
                    f"(HTTP {status}: {error_text(response)})",
                    ConfigError,
                )
            else:
                self._declare_gone(f"{where}HTTP {status} ({error_text(response)})")
            raise self._fresh_gone() from None

    def _answered(self) -> None:
        self._answers += 1
        self._lost_rows = 0

    def _declare_gone(self, message: str, kind: type[Exception] = EngineError) -> None:
        if self._gone is None:
            self._gone = kind(
                f"the {self.kind_label} failed: {message}; finished records are saved, "
                "run the same command again to resume"
                if kind is EngineError
                else message
            )
            self._gone_event.set()
