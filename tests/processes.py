"""A server the tests start as a subprocess (`clinextract serve`, `clinextract service`):
started, read until it says where it listens, stopped or killed."""

from __future__ import annotations

import re
import subprocess
import time
from typing import IO, Any


class ServerProcess:
    def __init__(self, cmd: list[str], *, stderr: int | IO[Any] = subprocess.PIPE, **popen: Any):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, **popen)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str] | None:
        """The first stdout line matching `pattern` (None if the process ends or the time
        runs out first; the server is then stopped)."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if found := re.search(pattern, line):
                return found
        self.stop()
        return None

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: nothing of the server runs after it
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
