"""API keys: a JSON file of hashes, never of keys.

    {"version": 1, "keys": [{"name": "etl", "sha256": "<hex>", "tasks": ["Task001_x"],
                             "created": "2026-12-01T10:00:00+00:00"}]}

A key is 32 random bytes (`secrets.token_urlsafe`) with a `cx_` prefix, printed once by
`clinextract service add-key`; only its SHA-256 is stored. A plain hash is enough because
the key is random (nothing to guess from a dictionary); a slow password hash would only
slow every request. A presented key is hashed and compared with every stored hash by
`hmac.compare_digest`, so the time taken says nothing about which hash came close.
`tasks` (optional) lists the tasks a key may use; absent or null means all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..manifest import now
from ..store import write_json

KEY_PREFIX = "cx_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and the tasks it may use (None = every task)."""

    name: str
    tasks: frozenset[str] | None = None

    def may_use(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


ANONYMOUS = Principal("local")  # no keys file: loopback only, everyone is the same caller


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


# --- the file -------------------------------------------------------------------------------


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The keys file's entries, checked; ConfigError (one line) when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"keys file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a keys file ({exc})") from exc
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: not a keys file (expected {{'keys': [...]}})")
    for n, entry in enumerate(entries):
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("sha256"), str)
            and HEX64.match(entry["sha256"])
            and (
                entry.get("tasks") is None
                or (
                    isinstance(entry["tasks"], list)
                    and all(isinstance(t, str) for t in entry["tasks"])
                )
            )
        )
        if not ok:
            raise ConfigError(f"{path}: key entry {n} is malformed (name, sha256, tasks)")
    return entries


def write_entries(path: Path, entries: list[dict[str, Any]]) -> None:
    """Atomically, readable by the owner only (the hashes are not secrets, but the list of
    names and tasks is nobody else's business)."""
    write_json(path, {"version": 1, "keys": entries}, indent=2)
    os.chmod(path, 0o600)


def add_key(path: Path, name: str, tasks: list[str] | None = None) -> str:
    """Create a key called `name`, store its hash in `path` (created if missing) and return
    the key itself: the only time it exists outside the caller's hands."""
    if not NAME.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    path = Path(path)
    entries = read_entries(path) if path.exists() else []
    if any(e["name"] == name for e in entries):
        raise ConfigError(f"{path}: a key named {name!r} exists (remove it first)")
    key = new_key()
    entries.append({"name": name, "sha256": key_hash(key), "tasks": tasks, "created": now()})
    write_entries(path, entries)
    return key


def remove_key(path: Path, name: str) -> None:
    entries = read_entries(path)
    kept = [e for e in entries if e["name"] != name]
    if len(kept) == len(entries):
        raise ConfigError(f"{path}: no key named {name!r}")
    write_entries(path, kept)


# --- checking a request's key -------------------------------------------------------------


class KeyRing:
    """The keys a running service accepts. The file is read again when it changes, so
    `add-key` and `remove-key` take effect without a restart (a broken file keeps the
    keys read before, and says so once)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[tuple[str, bytes, frozenset[str] | None]] = []
        self.reload_error: str | None = None
        self._load()

    def _load(self) -> None:
        entries = read_entries(self.path)
        stat = self.path.stat()
        self._entries = [
            (
                e["name"],
                bytes.fromhex(e["sha256"]),
                None if e.get("tasks") is None else frozenset(e["tasks"]),
            )
            for e in entries
        ]
        self._stamp = (stat.st_mtime_ns, stat.st_size)

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except OSError:
            return
        if (stat.st_mtime_ns, stat.st_size) == self._stamp:
            return
        with self._lock:
            try:
                self._load()
                self.reload_error = None
            except (ConfigError, OSError) as exc:
                self.reload_error = str(exc)

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, key: str) -> Principal | None:
        """The principal whose hash matches `key`, or None. Every stored hash is compared
        (no early exit), each in constant time."""
        self._refresh()
        digest = hashlib.sha256(key.encode("utf-8", errors="surrogateescape")).digest()
        found: Principal | None = None
        for name, stored, tasks in self._entries:
            if hmac.compare_digest(digest, stored) and found is None:
                found = Principal(name, tasks)
        return found
