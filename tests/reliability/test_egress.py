"""No egress: a whole run connects only to loopback, an embedded run works without any
network, the Studio and `serve` listen on 127.0.0.1 by default, and the browser-side
checker (tests/browser_egress.py) sees a page that reaches out. The Studio's own browser
check is in tests/studio/test_e2e.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clinextract.pipeline import run_task
from clinextract.settings import Settings
from clinextract.store import RunFolder, run_dir
from clinextract.task import load_task
from tests.engines.fixtures.fault_server import FaultServer
from tests.engines.helpers import ServeProcess, free_port
from tests.fakes import FakeEngine, ok
from tests.paths import ROOT
from tests.reliability.egress import (
    audited_run,
    listening,
    offline_run,
    outside,
    unshare_allowed,
)
from tests.reliability.helpers import TASK_NAME, check_run, env, make_reports, write_task
from tests.studio.browser import StudioServer


def test_a_whole_server_engine_run_connects_only_to_loopback(tmp_path):
    root = write_task(tmp_path, make_reports(5))
    server = FaultServer().start()
    try:
        status, events = audited_run(root, "--engine", "openai", "--base-url", server.url)
    finally:
        server.stop()
    assert status == 0
    assert any(e["event"] == "socket.connect" for e in events)  # the hook does record
    assert outside(events) == []


@pytest.mark.model
def test_a_whole_embedded_run_connects_only_to_loopback(tmp_path):
    root = write_task(tmp_path, make_reports(3))
    status, events = audited_run(root, "--parallel", "2", "--max-tokens", "32")
    assert status == 0 and check_run(root).ok
    assert outside(events) == []


def test_the_audit_would_see_a_connection_that_leaves(tmp_path):
    """The recorder itself: a UDP connect (no packet is sent) to a TEST-NET address."""
    log = tmp_path / "audit.json"
    code = (
        "import socket, sys\n"
        "from pathlib import Path\n"
        "from tests.reliability.child import install_audit\n"
        f"install_audit(Path({str(log)!r}))\n"
        "socket.getaddrinfo('localhost', 80)\n"
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('192.0.2.1', 9))\n"
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(('127.0.0.1', 9))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env(), check=True, timeout=60)
    events = json.loads(log.read_text())
    assert any(e["event"] == "socket.getaddrinfo" for e in events)
    assert [e["address"][0] for e in outside(events)] == ["192.0.2.1"]


@pytest.mark.model
def test_an_embedded_run_completes_without_any_network(tmp_path):
    why = unshare_allowed()
    if why:
        pytest.skip(why)
    root = write_task(tmp_path, make_reports(2))
    proc = offline_run(root, "--parallel", "2", "--max-tokens", "32")
    assert "no route" in proc.stdout, proc.stdout  # the namespace has no network at all
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert check_run(root).ok


def test_studio_listens_on_loopback_only_by_default(tmp_path):
    with StudioServer(tmp_path) as studio:
        assert listening(studio.port) == {"127.0.0.1"}


@pytest.mark.model
def test_serve_listens_on_loopback_only_by_default():
    port = free_port()
    with ServeProcess("--parallel", "1", port=port):
        assert listening(port) == {"127.0.0.1"}


def test_the_browser_checker_sees_requests_that_leave(tmp_path):
    from tests.browser_egress import EgressBrowser, leaving
    from tests.studio.browser import ensure_chromium

    ensure_chromium()
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><link rel="icon" href="https://fonts.gstatic.com/x/24px.svg">'
        '<script src="http://192.0.2.1/telemetry.js"></script></head>'
        '<body><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body></html>'
    )
    with EgressBrowser() as browser:
        urls = browser.visit(page.as_uri())
    assert page.as_uri() in urls
    assert sorted(leaving(urls)) == [
        "http://192.0.2.1/telemetry.js",
        "https://fonts.gstatic.com/x/24px.svg",
    ]


def test_report_html_makes_no_request_that_leaves(tmp_path):
    """Enabled once runs write `report.html` (the self-contained run report)."""
    root = write_task(tmp_path, make_reports(3))
    settings = Settings(task_dir=root / "tasks", data_dir=root / "data", output_dir=root / "out")
    task = load_task(1, settings)
    engine = FakeEngine(lambda request: ok('{"value": 1}'))
    run_task(task, settings, engine=engine)
    folder = RunFolder(run_dir(settings, TASK_NAME))
    report = folder.path / "report.html"
    if not report.exists():
        pytest.skip("runs do not write report.html yet")
    from tests.browser_egress import EgressBrowser, leaving
    from tests.studio.browser import ensure_chromium

    ensure_chromium()
    with EgressBrowser() as browser:
        urls = browser.visit(report.as_uri())
    assert report.as_uri() in urls
    assert leaving(urls) == []
