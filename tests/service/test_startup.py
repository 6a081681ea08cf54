"""`clinextract service` start-up: refusals are one line and exit 2, before any model."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.paths import ROOT
from tests.service.helpers import write_keys, write_tasks


def start(tmp_path, *args, env=None) -> subprocess.CompletedProcess:
    """The fake-engine service with `args` (its jobs under tmp_path unless they say)."""
    jobs = () if "--jobs-dir" in args else ("--jobs-dir", str(tmp_path / "jobs"))
    return subprocess.run(
        [sys.executable, "-m", "tests.service.fake_service", *args, *jobs],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "myhost.example"])
def test_listening_beyond_loopback_without_keys_is_refused(tmp_path, host):
    tasks = write_tasks(tmp_path)
    line = one_error_line(start(tmp_path, "--task-dir", str(tasks), "--host", host))
    assert f"--host {host}" in line and "--api-keys" in line


def test_bad_keys_file_task_folder_and_busy_port_are_one_line(tmp_path):
    tasks = write_tasks(tmp_path)
    keys, _ = write_keys(tmp_path)
    (tmp_path / "broken.json").write_text("{")
    assert "keys file not found" in one_error_line(
        start(tmp_path, "--task-dir", str(tasks), "--api-keys", str(tmp_path / "none.json"))
    )
    assert "not a keys file" in one_error_line(
        start(tmp_path, "--task-dir", str(tasks), "--api-keys", str(tmp_path / "broken.json"))
    )
    assert "task folder not found" in one_error_line(
        start(tmp_path, "--task-dir", str(tmp_path / "no"))
    )
    (tasks / "Task009_bad.json").write_text('{"Description": "x"}')
    assert "Task009_bad.json" in one_error_line(start(tmp_path, "--task-dir", str(tasks)))
    (tasks / "Task009_bad.json").unlink()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(
            start(tmp_path, "--task-dir", str(tasks), "--api-keys", str(keys), "--port", str(port))
        )
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_accepted_connections_get_tcp_nodelay():
    """Without it, each small response waited ~40 ms for a delayed ACK (asyncio sets
    TCP_NODELAY only on sockets that say they are TCP)."""
    import asyncio

    from clinextract.cli_common import bind_socket

    async def scenario() -> int:
        accepted = asyncio.get_running_loop().create_future()

        def on_client(reader, writer):
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        sock = bind_socket("127.0.0.1", 0)
        server = await asyncio.start_server(on_client, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        nodelay = await asyncio.wait_for(accepted, 10)
        writer.close()
        server.close()
        return nodelay

    assert asyncio.run(scenario()) != 0


def test_a_second_service_on_the_same_jobs_folder_is_refused(tmp_path):
    """Both would resume the same jobs and compute their rows twice."""
    from tests.service.helpers import ServiceProcess

    tasks = write_tasks(tmp_path)
    jobs = tmp_path / "jobs"
    with ServiceProcess(tmp_path, "--task-dir", str(tasks), "--jobs-dir", str(jobs)) as first:
        line = one_error_line(start(tmp_path, "--task-dir", str(tasks), "--jobs-dir", str(jobs)))
        assert f"{jobs} is in use by another service (pid {first.proc.pid})" in line
    with ServiceProcess(tmp_path, "--task-dir", str(tasks), "--jobs-dir", str(jobs)):
        pass  # free again once the first has stopped


def test_without_the_extra_the_command_says_which_to_install(monkeypatch):
    from click.testing import CliRunner

    from clinextract import cli

    for module in [m for m in sys.modules if m.startswith("clinextract.service")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    done = CliRunner().invoke(cli.cli, ["service", "--task-dir", "tasks"])
    assert done.exit_code == 2
    assert "needs the 'service' extra: pip install 'clinextract[service]'" in done.output
