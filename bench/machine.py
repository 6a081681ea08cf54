"""What the benchmark ran on: cores, memory, CPU model and flags, load, versions."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
)


def cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or "unknown", []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model in ("unknown", "", platform.processor()):
            model = value.strip()
        elif key.strip() == "flags":
            flags = value.split()
            break
    return model, flags


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def describe() -> dict[str, Any]:
    import xllamacpp

    from clinextract import __version__

    model, flags = cpuinfo()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count() or 1,
        "memory_gib": round(memory_gib(), 1),
        "cpu": model,
        "cpu_flags": [f for f in INTERESTING_FLAGS if f in flags],
        "load_before": [round(x, 2) for x in load_average()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "clinextract": __version__,
        "xllamacpp": xllamacpp.__version__,
    }


def _busy_ticks() -> tuple[int, int]:
    """(all CPUs' busy ticks, this process's ticks) from /proc."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    mine = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return user + nice + system + irq + softirq + steal, int(mine[11]) + int(mine[12])


class OtherLoad:
    """How many cores other processes kept busy while the block ran (0 = only us)."""

    def __init__(self) -> None:
        self.cores = 0.0

    def __enter__(self) -> OtherLoad:
        import time

        self._t = time.monotonic()
        try:
            self._start = _busy_ticks()
        except (OSError, ValueError, IndexError):
            self._start = None
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        if self._start is None:
            return
        elapsed = time.monotonic() - self._t
        total, mine = _busy_ticks()
        others = (total - self._start[0]) - (mine - self._start[1])
        self.cores = max(0.0, others / os.sysconf("SC_CLK_TCK") / max(elapsed, 1e-9))
