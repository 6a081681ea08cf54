"""Joining a Ray cluster, or starting a private Ray on this machine, for `--executor ray`.

Kept apart from the pool (engines/ray_pool.py) because it is about Ray's own settings:
which address, which mode, what happens when the address does not answer.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

from ..errors import EngineError, MissingExtra
from ..settings import Settings

CONNECT_TIMEOUT = 10.0  # seconds for the cluster's address to accept a connection
# Ray's single-machine mode (what it uses on macOS and Windows): the node's address is
# 127.0.0.1 and every Ray service listens on the loopback only. Read when ray is imported.
SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def import_ray(settings: Settings) -> tuple[Any, bool]:
    """(the ray module, whether single-machine mode was set here), or MissingExtra. When
    this run is to start a private Ray (no address given, none in $RAY_ADDRESS), Ray is
    put in single-machine mode first."""
    single = "ray" not in sys.modules and not cluster_address(settings)
    single = single and SINGLE_MACHINE not in os.environ
    if single:
        os.environ[SINGLE_MACHINE] = "0"
    try:
        import ray
    except ImportError:
        if single:
            del os.environ[SINGLE_MACHINE]
        raise MissingExtra("--executor ray", "ray") from None
    return ray, single


def cluster_address(settings: Settings) -> str | None:
    return settings.ray_address or os.environ.get("RAY_ADDRESS") or None


def connect(ray: Any, settings: Settings) -> bool:
    """Join the cluster at --ray-address / $RAY_ADDRESS, or start a private Ray on this
    machine (loopback only, no dashboard, no usage statistics; Ray ≥ 2.59 turns its token
    authentication on for it). True when this call connected (close() disconnects);
    False when the caller had already connected this process to Ray."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {
        "log_to_driver": settings.verbose,
        "logging_level": logging.INFO if settings.verbose else logging.ERROR,
    }
    address = cluster_address(settings)
    why = unreachable(address) if address else None
    if why:  # Ray itself would retry for minutes
        raise EngineError(f"cannot reach the Ray cluster at {address}: {why}")
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            cpus = max(os.cpu_count() or 1, settings.workers * settings.worker_cpus)
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
    except ConnectionError as exc:
        raise EngineError(
            f"cannot reach the Ray cluster at {address}: {first_line(exc)} (a cluster with "
            "token authentication also needs RAY_AUTH_MODE=token and its token in "
            "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH)"
        ) from exc
    except (RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise EngineError(f"cannot start or join {where}: {first_line(exc)}") from exc
    return True


def unreachable(address: str) -> str | None:
    """Why a HOST:PORT address does not accept a connection, or None when it does (or is
    another kind of address, such as `auto`, which Ray resolves by its own rules)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
