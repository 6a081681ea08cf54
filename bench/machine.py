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
