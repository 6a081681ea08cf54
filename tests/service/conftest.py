"""Fixtures for the service tests: one fake-engine service with a keys file per module."""

from __future__ import annotations

import pytest

from tests.service.helpers import ServiceProcess, write_keys, write_tasks


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """(service, keys): the fake-engine service on 127.0.0.1 with keys `all` and `one`."""
    root = tmp_path_factory.mktemp("service")
    tasks = write_tasks(root)
    keys_file, keys = write_keys(root)
    with ServiceProcess(
        root, "--task-dir", str(tasks), "--jobs-dir", str(root / "jobs"),
        "--api-keys", str(keys_file), "--max-body-mb", "0.05", "--max-sync", "8",
        "--max-chars", "2000", "--key-jobs", "3",
    ) as service:  # fmt: skip
        yield service, keys
