"""The keys file: hashes only, constant-time checks, task lists, changes picked up live."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import pytest

from clinextract.errors import ConfigError
from clinextract.service.keys import KeyRing, add_key, key_hash, read_entries, remove_key


def test_the_file_holds_hashes_never_keys(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "etl", ["Task001_a"])
    text = path.read_text()
    assert key.startswith("cx_") and len(key) > 40
    assert key not in text and key_hash(key) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    [entry] = read_entries(path)
    assert entry["name"] == "etl" and entry["tasks"] == ["Task001_a"]
    assert add_key(path, "other") != key


def test_check_finds_the_key_and_its_tasks(tmp_path):
    path = tmp_path / "keys.json"
    etl, research = add_key(path, "etl"), add_key(path, "research", ["Task002_b"])
    ring = KeyRing(path)
    assert ring.check(etl).name == "etl" and ring.check(etl).may_use("anything")
    found = ring.check(research)
    assert found.name == "research" and found.may_use("Task002_b")
    assert not found.may_use("Task001_a")
    for wrong in ("", etl[:-1], etl + "x", key_hash(etl), "\udcff"):
        assert ring.check(wrong) is None


def test_a_running_service_sees_added_and_removed_keys(tmp_path):
    path = tmp_path / "keys.json"
    first = add_key(path, "first")
    ring = KeyRing(path)
    time.sleep(0.01)  # a new modification time
    second = add_key(path, "second")
    assert ring.check(second).name == "second"
    remove_key(path, "first")
    assert ring.check(first) is None
    path.write_text("{broken")  # a broken file keeps the keys read before
    assert ring.check(second).name == "second" and ring.reload_error


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"keys": {}}', '{"keys": [{"name": "a", "sha256": "zz"}]}',
     '{"keys": [{"name": "a", "sha256": "' + "0" * 64 + '", "tasks": "all"}]}'],
)  # fmt: skip
def test_a_malformed_keys_file_is_one_config_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="keys"):
        KeyRing(path)


def test_names_are_checked_and_unique(tmp_path):
    path = tmp_path / "keys.json"
    add_key(path, "etl")
    with pytest.raises(ConfigError, match="exists"):
        add_key(path, "etl")
    with pytest.raises(ConfigError, match="--name"):
        add_key(path, "../etl")
    with pytest.raises(ConfigError, match="no key named"):
        remove_key(path, "nobody")


def test_add_key_prints_the_key_once_and_list_keys_never(tmp_path, cli_env):
    path = tmp_path / "keys.json"

    def cli(*args):
        return subprocess.run(["clinextract", "service", *args], env=cli_env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    added = cli("add-key", str(path), "--name", "etl", "--tasks", "Task001_a, Task002_b")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert KeyRing(path).check(key).tasks == {"Task001_a", "Task002_b"}
    assert "not shown again" in added.stderr
    listed = cli("list-keys", str(path))
    assert listed.returncode == 0 and "etl" in listed.stdout and key not in listed.stdout
    again = cli("add-key", str(path), "--name", "etl")
    assert again.returncode == 2 and again.stdout == ""
    assert cli("remove-key", str(path), "--name", "etl").returncode == 0
    assert json.loads(path.read_text())["keys"] == []
