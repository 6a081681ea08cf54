"""What runs on each Ray worker: one actor holding one engine, built once.

The actor is asynchronous: `run(block)` hands a block of requests to its engine at once
(so all of the engine's slots fill) and streams each answer back as soon as it is done
(a Ray streaming generator), instead of one Ray call per request or one reply per block.

Imported only where Ray is installed (the 'ray' extra): by the driver's pool
(engines/ray_pool.py) and by `clinextract.ray`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import ray

from ..errors import ClinextractError, ConfigError, EngineError, InternalError
from ..settings import Settings
from .base import Completion, Engine, Request

NODE = "{node}"  # in a --base-url: the IP address of the node the worker runs on

# (request key, the completion or None, the engine's exception or None)
Answer = tuple[int, Completion | None, BaseException | None]


def worker_settings(settings: Settings, index: int, node_ip: str) -> Settings:
    """The settings of worker `index`'s own engine: run here (executor local) with the
    worker's CPUs as threads; `{node}` in a --base-url becomes this node's address, and of
    several URLs each worker takes one in turn (worker i: URL i mod n)."""
    urls = [url.replace(NODE, node_ip) for url in settings.base_url]
    if len(urls) > 1:
        urls = [urls[index % len(urls)]]
    return settings.model_copy(
        update={"executor": "local", "threads": settings.worker_cpus, "base_url": urls}
    )


def portable(exc: BaseException) -> BaseException:
    """An engine's exception as one that survives the trip to the driver, of the same kind
    (the kind decides the exit code); anything unknown becomes an EngineError naming it."""
    for kind in (ConfigError, EngineError, InternalError):
        if isinstance(exc, kind):
            return kind(str(exc))
    return EngineError(f"{type(exc).__name__}: {exc}")


def local_engine(settings: Settings) -> Engine:
    from . import create_engine

    return create_engine(settings)


class EngineWorker:
    """A Ray actor (`ray.remote(EngineWorker)`): one engine for the whole run.

    A configuration or engine error while building the engine is kept and reported by
    `ready()`, so the driver can say it in one line (an exception in an actor's
    constructor would only come back as "the actor died")."""

    def __init__(
        self,
        settings: Settings,
        index: int,
        make_engine: Callable[[Settings], Engine] | None = None,
    ):
        self.index = index
        self.node_ip = ray.util.get_node_ip_address()
        self.engine: Engine | None = None
        self.error: BaseException | None = None
        try:
            self.engine = (make_engine or local_engine)(
                worker_settings(settings, index, self.node_ip)
            )
        except ClinextractError as exc:
            self.error = portable(exc)

    async def ready(self) -> dict[str, Any]:
        """Who and where this worker is, and its engine (or why it has none)."""
        info: dict[str, Any] = {
            "worker": self.index,
            "node": self.node_ip,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "error": self.error,
        }
        if self.engine is not None:
            info.update(
                slots=self.engine.capacity,
                model_id=self.engine.model_id,
                engine=self.engine.describe(),
            )
        return info

    async def prime(self, prefix: list[dict[str, Any]]) -> None:
        if self.engine is not None:
            self.engine.prime(prefix)  # type: ignore[arg-type]

    async def run(self, block: list[tuple[int, Request]]) -> AsyncIterator[Answer]:
        """Submit every request of the block, then yield each answer as it finishes."""
        assert self.engine is not None, "run() on a worker without an engine"
        loop = asyncio.get_running_loop()
        done: asyncio.Queue[Answer] = asyncio.Queue()

        def deliver(key: int, future: Any) -> None:
            if future.cancelled():
                answer: Answer = (key, Completion.failed("cancelled on the worker"), None)
            elif future.exception() is not None:
                answer = (key, None, portable(future.exception()))
            else:
                answer = (key, future.result(), None)
            loop.call_soon_threadsafe(done.put_nowait, answer)

        for key, request in block:
            try:
                future = self.engine.submit(request)
            except Exception as exc:  # noqa: BLE001 - the driver decides what it means
                done.put_nowait((key, None, portable(exc)))
                continue
            future.add_done_callback(lambda f, key=key: deliver(key, f))
        for _ in block:
            yield await done.get()
