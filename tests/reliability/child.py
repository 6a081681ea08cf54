"""TEST FIXTURE, not a product: the real `clinextract run` in a process of its own, with
what a reliability campaign needs injected before it starts.

    python -m tests.reliability.child [--fake] [--crash POINT:N] [--fail POINT:N:ERRNO]
                                      [--audit FILE] -- <clinextract run arguments>

--fake        a deterministic engine instead of the model (tests.fakes.FakeEngine): the
              answer is `{"value": N}`, N the report's first number; a report containing
              "needs-repair" is first answered with something that is not JSON, so its
              row takes a repair request. FAKE_DELAY (seconds per answer, default 0.01)
              makes runs last long enough to be killed in the middle; FAKE_LOG, when set,
              gets one line per request (its report), for counting what was recomputed.
--crash P:N   SIGKILL this process the N-th time it reaches point P (see CRASH_POINTS):
              nothing is flushed, nothing is cleaned up, as with `kill -9`.
--fail P:N:E  the N-th write at point P fails with OSError(E) (ENOSPC, EROFS, EIO), after
              writing part of its data where the point writes data.
--audit FILE  record every socket connect and name lookup of the whole run
              (sys.addaudithook) and write them to FILE as JSON when the process ends.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# the points where a run can be killed or a write can fail
CRASH_POINTS = ("request", "repair", "append", "final", "manifest", "recover", "lock")
FAIL_POINTS = ("append", "final", "manifest", "lock", "recover")
_calls: Counter[str] = Counter()
_calls_guard = threading.Lock()


def reached(point: str) -> int:
    """Count one more arrival at `point`; returns how many so far."""
    with _calls_guard:
        _calls[point] += 1
        return _calls[point]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# --- the deterministic engine -------------------------------------------------------------


def fake_answer(request: Any) -> Any:
    from tests.fakes import ok

    users = [m["content"] for m in request.messages if m["role"] == "user"]
    report = users[0].split("\n", 1)[-1]  # no few-shot examples in these tasks
    repair = len(users) > 1
    n = reached("request")
    if repair:
        reached("repair")
    if log := os.environ.get("FAKE_LOG"):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"report": report, "repair": repair}) + "\n")
    if _crash == ("request", n) or (repair and _crash == ("repair", _calls["repair"])):
        die()
    time.sleep(float(os.environ.get("FAKE_DELAY", "0.01")))
    if "needs-repair" in report and not repair:
        return ok("the value is probably in there somewhere")
    found = re.search(r"\d+", report)
    return ok(json.dumps({"value": int(found.group()) if found else None}))


def install_fake_engine() -> None:
    import clinextract.pipeline as pipeline
    from tests.fakes import FakeEngine

    pipeline.create_engine = lambda settings: FakeEngine(fake_answer, capacity=settings.parallel)


# --- crashes and write failures at the store's writes -----------------------------------


_crash: tuple[str, int] | None = None
_fail: tuple[str, int, int] | None = None


def _hits(point: str, which: tuple[Any, ...] | None) -> bool:
    return which is not None and which[0] == point and reached(f"at:{point}") == which[1]


def _oserror() -> OSError:
    assert _fail is not None
    return OSError(_fail[2], os.strerror(_fail[2]))


class _FailingFile:
    """The checkpoint file, whose next write takes half its data and the one after fails."""

    def __init__(self, fh: Any):
        self._fh, self._armed = fh, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def write(self, data: Any) -> int:
        if self._armed:
            raise _oserror()
        self._armed = True
        return self._fh.write(bytes(data[: max(1, len(data) // 2)]))


def install_faults() -> None:
    from clinextract import files, store

    original_append = store.RunStore.append

    def append(self: Any, record: dict[str, Any]) -> None:
        if _hits("append", _crash):
            line = (store.dumps({**record, "config": self.config_hash}) + "\n").encode()
            self._fh.write(line[: len(line) // 2])
            die()
        if _hits("append", _fail):
            real = self._fh
            self._fh = _FailingFile(real)
            try:
                return original_append(self, record)
            finally:
                self._fh = real
        return original_append(self, record)

    store.RunStore.append = append

    original_atomic = files.atomic_write

    def atomic_write(path: Path, chunks: Any) -> None:
        point = {store.PREDICTIONS: "final", store.MANIFEST: "manifest"}.get(Path(path).name)
        if point is None:
            return original_atomic(path, chunks)
        crash, fail = _hits(point, _crash), _hits(point, _fail)

        def cut(items: Any) -> Any:
            for n, chunk in enumerate(items):
                if n == 1:  # part of the file is written
                    if crash:
                        die()
                    if fail:
                        raise _oserror()
                yield chunk
            if crash:
                die()
            if fail:
                raise _oserror()

        return original_atomic(path, cut(chunks) if crash or fail else chunks)

    files.atomic_write = store.atomic_write = atomic_write

    original_acquire = store.RunLock.acquire

    def acquire(self: Any) -> None:
        if _hits("lock", _fail):
            with files.writing(self.path):
                raise _oserror()
        original_acquire(self)
        if _hits("lock", _crash):
            die()

    store.RunLock.acquire = acquire

    original_replace = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        if str(dst).endswith(store.RECORDS) and str(src).endswith(".tmp"):
            if _hits("recover", _crash):
                die()
            if _hits("recover", _fail):
                raise _oserror()
        return original_replace(src, dst, *args, **kw)

    store.os.replace = replace  # the same os module: the recovery's rewrite goes through it


# --- the network audit ----------------------------------------------------------------------


def install_audit(out: Path) -> None:
    events: list[dict[str, Any]] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in ("socket.connect", "socket.sendto"):
            address = args[-1]
            where = list(address) if isinstance(address, tuple) else str(address)
            events.append({"event": event, "address": where})
        elif event == "socket.getaddrinfo":
            events.append({"event": event, "host": str(args[0]), "port": str(args[1])})

    sys.addaudithook(hook)
    atexit.register(lambda: out.write_text(json.dumps(events)))


def main() -> None:
    global _crash, _fail
    parser = argparse.ArgumentParser(prog="tests.reliability.child")
    parser.add_argument("--fake", action="store_true")
    parser.add_argument("--crash")
    parser.add_argument("--fail")
    parser.add_argument("--audit", type=Path)
    split = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
    opts, cli = parser.parse_args(sys.argv[1:split]), sys.argv[split + 1 :]
    if opts.crash:
        point, n = opts.crash.split(":")
        assert point in CRASH_POINTS, point
        _crash = (point, int(n))
    if opts.fail:
        point, n, code = opts.fail.split(":")
        assert point in FAIL_POINTS, point
        _fail = (point, int(n), getattr(errno, code))
    if opts.audit:
        install_audit(opts.audit)
    if opts.fake:
        install_fake_engine()
    install_faults()
    from clinextract.cli import cli as clinextract_cli

    clinextract_cli(["run", *cli], prog_name="clinextract")


if __name__ == "__main__":
    main()
