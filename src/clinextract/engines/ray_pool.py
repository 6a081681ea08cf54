"""`--executor ray`: the engine the pipeline sees is a pool of Ray workers.

Everything else stays on the driver, unchanged: prompting, validation (repairs, retries),
the checkpoint, the final file. The pool only moves requests: `submit` queues one, a
dispatcher sends queued requests in blocks to the workers (Ray actors, each holding one
real engine built once, engines/ray_worker.py), and each answer resolves its future on
the driver as soon as its worker streams it back.

Blocks: a worker with S slots is given up to 2·S requests; a new block goes out when it
is down to S (so its slots never idle while the queue has work, and one Ray call carries
about S requests). The pool's `capacity` is the sum of the slots, so the pipeline keeps
every worker busy.

A worker that dies (process killed, node lost): the requests it had not answered go back
to the front of the queue and the other workers run them; Ray restarts it (up to
MAX_RESTARTS times) and it rejoins once its engine is loaded again. Each request resolves
its future exactly once, so the driver never records a row twice. A request whose worker
died under it MAX_TRIES times fails on its own (transient: computed again on resume);
when every worker is gone the pool raises EngineError (exit 1, finished records saved).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from ..errors import RESUME_HINT, ConfigError, EngineError, InternalError
from ..messages import Message
from ..settings import Settings
from .base import Completion, Engine, Request
from .common import cancel_other_tasks
from .ray_cluster import SINGLE_MACHINE, connect, first_line, import_ray

READY_TIMEOUT = 600.0  # seconds for a worker to build its engine (load a model on a busy node)
PRIME_TIMEOUT = 120.0
MAX_RESTARTS = 3  # per worker, by Ray
MAX_TRIES = 3  # workers that may die under one request before it fails on its own
REVIVE_POLL = 1.0  # seconds between "are you back?" calls to a restarting worker
log = logging.getLogger("clinextract.ray")


@dataclass(eq=False)
class _Job:
    key: int
    request: Request
    future: Future[Completion]
    tries: int = 0  # workers that died while holding it


@dataclass(eq=False)
class _Worker:
    index: int
    handle: Any
    info: dict[str, Any] = field(default_factory=dict)
    state: str = "up"  # up | restarting | dead
    life: int = 0  # +1 each time it comes back after a restart
    load: int = 0  # requests sent to it and not answered yet

    @property
    def slots(self) -> int:
        return int(self.info.get("slots", 1))

    @property
    def where(self) -> str:
        return f"Ray worker {self.index} on {self.info.get('node', '?')}"


class RayPoolEngine(Engine):
    name = "ray"

    def __init__(self, settings: Settings, *, make_engine: Any = None):
        """`make_engine(settings) -> Engine` builds each worker's engine (default: the
        engine `settings` names, in the worker's process); it must be importable there."""
        self.settings = settings
        self._ray, self._single_machine = import_ray(settings)
        self._owns_ray = False
        self._closed = False
        self._gone: EngineError | None = None
        self._workers: list[_Worker] = []
        self._queue: deque[_Job] = deque()
        self._keys = itertools.count()
        self._prefix: list[Message] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="clinextract-ray", daemon=True
        )
        try:
            self._owns_ray = connect(self._ray, settings)
            self._start_workers(make_engine)
        except BaseException:
            self.close()
            raise
        self._thread.start()

    # --- start ------------------------------------------------------------------------
    def _start_workers(self, make_engine: Any) -> None:
        from .ray_worker import EngineWorker

        ray, s = self._ray, self.settings
        need, have = s.workers * s.worker_cpus, ray.cluster_resources().get("CPU", 0)
        if need > have:
            raise ConfigError(
                f"--workers {s.workers} × --worker-cpus {s.worker_cpus} needs {need} CPUs; "
                f"the Ray cluster has {have:g}"
            )
        remote = ray.remote(EngineWorker).options(
            num_cpus=s.worker_cpus,
            max_restarts=MAX_RESTARTS,
            max_task_retries=0,  # the pool resends a dead worker's requests itself
            scheduling_strategy="SPREAD",
        )
        self._workers = [_Worker(i, remote.remote(s, i, make_engine)) for i in range(s.workers)]
        refs = [w.handle.ready.remote() for w in self._workers]
        _, pending = ray.wait(refs, num_returns=len(refs), timeout=READY_TIMEOUT)
        if pending:
            raise EngineError(
                f"{len(pending)} of {s.workers} Ray workers did not start within "
                f"{READY_TIMEOUT:g} s"
            )
        for worker, ref in zip(self._workers, refs, strict=True):
            try:
                worker.info = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise EngineError(
                    f"Ray worker {worker.index} died while starting: {first_line(exc)}"
                ) from exc
            if worker.info["error"] is not None:
                error = worker.info["error"]
                raise type(error)(f"{worker.where}: {error}")
        models = {w.info["model_id"] for w in self._workers}
        if len(models) > 1:
            raise ConfigError(
                "the Ray workers hold different models ("
                + ", ".join(f"{w.where}: {w.info['model_id'][:16]}" for w in self._workers)
                + "); put the same model file on every node"
            )
        self.model = models.pop()
        self.capacity = sum(w.slots for w in self._workers)
        nodes = len({w.info["node_id"] for w in self._workers})
        log.info(
            "Ray: %d workers (%s engine, %d slots in all) on %d node%s",
            len(self._workers),
            self._workers[0].info["engine"].get("engine", s.engine),
            self.capacity,
            nodes,
            "" if nodes == 1 else "s",
        )

    # --- the Engine interface ----------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.model  # the inner engine's: records are interchangeable with a local run

    def describe(self) -> dict[str, Any]:
        workers = [
            {k: w.info.get(k) for k in ("worker", "node", "node_id", "pid", "slots")}
            for w in self._workers
        ]
        return {
            **self._workers[0].info["engine"],
            "executor": "ray",
            "ray": {
                "version": self._ray.__version__,
                "address": self._ray.get_runtime_context().gcs_address,
                "worker_cpus": self.settings.worker_cpus,
                "nodes": len({w["node_id"] for w in workers}),
                "workers": workers,
            },
        }

    def submit(self, request: Request) -> Future[Completion]:
        if self._closed:
            raise EngineError("the Ray worker pool is closed")
        future: Future[Completion] = Future()
        if self._gone is not None:
            future.set_exception(EngineError(str(self._gone)))
            return future
        job = _Job(next(self._keys), request, future)
        self._loop.call_soon_threadsafe(self._enqueue, job)
        return future

    def prime(self, prefix: list[Message]) -> None:
        """Each worker primes its own engine (the embedded engine evaluates the
        instruction once for all its slots, and at --parallel 1 starts every request
        from it); a worker that restarts is primed again before it gets work."""
        self._prefix = prefix
        refs = [w.handle.prime.remote(prefix) for w in self._workers if w.state == "up"]
        with contextlib.suppress(Exception):  # best effort, as the engines' own prime
            self._ray.wait(refs, num_returns=len(refs), timeout=PRIME_TIMEOUT)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop_tasks(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        for worker in self._workers:  # the process goes, and the model with it
            with contextlib.suppress(Exception):
                self._ray.kill(worker.handle, no_restart=True)
        if self._owns_ray:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
        if self._single_machine:  # the private Ray is gone; nothing else should inherit it
            os.environ.pop(SINGLE_MACHINE, None)

    # --- dispatch (all of it on the pool's event-loop thread) -------------------------
    def _enqueue(self, job: _Job) -> None:
        self._queue.append(job)
        self._pump()

    def _pump(self) -> None:
        """Send blocks to the workers that are down to their slots' worth of requests."""
        if self._gone is not None:
            while self._queue:
                self._deliver(self._queue.popleft(), None, EngineError(str(self._gone)))
            return
        up = sorted((w for w in self._workers if w.state == "up"), key=lambda w: w.load / w.slots)
        for worker in up:
            if not self._queue:
                return
            if worker.load > worker.slots:
                continue
            block: list[_Job] = []
            while self._queue and len(block) < 2 * worker.slots - worker.load:
                job = self._queue.popleft()
                if not job.future.done():  # the pipeline may have cancelled it
                    block.append(job)
            if block:
                worker.load += len(block)
                self._loop.create_task(self._run_block(worker, block))

    async def _run_block(self, worker: _Worker, block: list[_Job]) -> None:
        ray = self._ray
        life = worker.life
        left = {job.key: job for job in block}
        try:
            stream = worker.handle.run.remote([(job.key, job.request) for job in block])
            async for ref in stream:
                key, completion, error = await ref
                worker.load -= 1
                self._deliver(left.pop(key), completion, error)
                self._pump()
        except asyncio.CancelledError:
            raise
        except ray.exceptions.RayTaskError as exc:  # our worker code raised: a bug
            worker.load -= len(left)
            for job in left.values():
                self._deliver(job, None, InternalError(f"{worker.where}: {first_line(exc)}"))
        except ray.exceptions.RayError as exc:  # the worker (or its node) is gone
            worker.load -= len(left)
            self._lost(worker, life, exc)
            self._requeue(list(left.values()))
            self._pump()
        except Exception as exc:  # noqa: BLE001 - nothing may be left waiting forever
            worker.load -= len(left)
            for job in left.values():
                self._deliver(job, None, InternalError(f"Ray pool: {first_line(exc)}"))

    def _deliver(
        self, job: _Job, completion: Completion | None, error: BaseException | None
    ) -> None:
        with contextlib.suppress(InvalidStateError):  # cancelled by the pipeline meanwhile
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(completion)  # type: ignore[arg-type]

    def _requeue(self, jobs: list[_Job]) -> None:
        """Back to the front of the queue, in their order; or failed, after MAX_TRIES."""
        for job in reversed(jobs):
            job.tries += 1
            if job.tries >= MAX_TRIES:
                message = f"{job.tries} Ray workers died while working on this request"
                self._deliver(job, Completion.failed(message, transient=True), None)
            else:
                self._queue.appendleft(job)

    def _lost(self, worker: _Worker, life: int, exc: BaseException) -> None:
        if worker.life != life or worker.state != "up":
            return  # another block of the same worker already said so
        worker.state = "restarting"
        log.warning(
            "%s stopped (%s); its unfinished requests go to the other workers",
            worker.where,
            type(exc).__name__,
        )
        self._loop.create_task(self._revive(worker))

    async def _revive(self, worker: _Worker) -> None:
        """Wait for Ray to restart the worker and its engine to load; then it rejoins."""
        ray = self._ray
        deadline = self._loop.time() + READY_TIMEOUT
        info: dict[str, Any] | None = None
        while info is None and self._loop.time() < deadline:
            try:
                info = await worker.handle.ready.remote()
            except ray.exceptions.ActorDiedError:
                break  # no restarts left
            except ray.exceptions.RayError:
                await asyncio.sleep(REVIVE_POLL)  # still restarting
        if info is None or info["error"] is not None or info.get("model_id") != self.model:
            worker.state = "dead"
            log.warning("%s is gone for this run", worker.where)
            if all(w.state == "dead" for w in self._workers):
                died = f"all {len(self._workers)} Ray workers died"
                self._gone = EngineError(f"{died}; {RESUME_HINT}")
                self._pump()
            return
        if self._prefix is not None:
            with contextlib.suppress(ray.exceptions.RayError):
                await worker.handle.prime.remote(self._prefix)
        worker.info, worker.life, worker.state = info, worker.life + 1, "up"
        log.warning("%s is back", worker.where)
        self._pump()

    async def _stop_tasks(self) -> None:
        await cancel_other_tasks()
        while self._queue:
            self._deliver(self._queue.popleft(), None, EngineError("the Ray worker pool closed"))
