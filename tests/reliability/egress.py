"""No egress: what the campaign uses to see where a run connects and what listens.

* `audited_run`: a whole `clinextract run` with every socket connect and name lookup
  recorded by an audit hook (tests/reliability/child.py --audit);
* `outside`: the recorded events that are not loopback;
* `listening`: the addresses a port listens on, from /proc/net/tcp{,6};
* `offline_run`: an embedded run inside a network namespace with no network at all.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.paths import ROOT
from tests.reliability.helpers import Tally, child_command, env

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def audited_run(root: Path, *args: str, fake: bool = False) -> tuple[int, list[dict[str, Any]]]:
    log = root / "audit.json"
    proc = subprocess.run(
        child_command(root, *args, fake=fake, audit=log),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc.returncode, json.loads(log.read_text()) if log.exists() else []


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def outside(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The connects and lookups that do not stay on this machine's loopback."""
    out = []
    for event in events:
        if event["event"] == "socket.getaddrinfo":
            host = event["host"]
        else:
            address = event["address"]
            if not isinstance(address, list):  # a Unix socket path: local by nature
                continue
            host = str(address[0])
        if not is_loopback(host):
            out.append(event)
    return out


def listening(port: int) -> set[str]:
    """The local addresses a TCP port listens on (IPv4 dotted, IPv6 as hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.add(str(ipaddress.IPv4Address(bytes.fromhex(address)[::-1])))
            else:
                words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)]
                found.add(str(ipaddress.IPv6Address(b"".join(words))))
    return found


def unshare_allowed() -> str | None:
    """None when `unshare -n` works here, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"the kernel refuses a network namespace ({probe.stderr.strip()[:120]})"
    return None


NO_ROUTE = (
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "try:\n"
    "    s.connect(('192.0.2.1', 9)); print('route')\n"
    "except OSError as exc:\n"
    "    print('no route', exc.errno)\n"
)


def offline_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`clinextract run` (embedded) in a network namespace of its own: no interface but a
    loopback that is down, so not even 127.0.0.1 is reachable. The script first proves
    there is no route out, then runs."""
    cmd = shlex.join(child_command(root, *args, fake=False))
    python = shlex.quote(str(Path(env()["PATH"].split(":")[0]) / "python"))
    script = f"{python} -c {shlex.quote(NO_ROUTE)} && {cmd}"
    return subprocess.run(
        ["unshare", "-n", "bash", "-c", script],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


# --- the campaign's part -------------------------------------------------------------------


def run(work: Path, model: bool = True) -> Tally:
    """Every egress check once, as figures: where whole runs connect, an offline run, what
    the Studio and `serve` listen on, and what the Studio's pages ask the browser for."""
    from tests.browser_egress import EgressBrowser, leaving
    from tests.engines.fixtures.fault_server import FaultServer
    from tests.engines.helpers import ServeProcess, free_port
    from tests.reliability.helpers import check_run, make_reports, write_task
    from tests.studio.browser import StudioServer, ensure_chromium

    tally = Tally("no egress")
    server = FaultServer().start()
    try:
        root = write_task(work / "audit-openai", make_reports(8))
        status, events = audited_run(root, "--engine", "openai", "--base-url", server.url)
    finally:
        server.stop()
    _audit(tally, "server engine", status, events)
    if model:
        root = write_task(work / "audit-embedded", make_reports(4))
        status, events = audited_run(root, "--parallel", "2", "--max-tokens", "48")
        _audit(tally, "embedded engine", status, events)
        why = unshare_allowed()
        if why:
            tally.figures["run without a network: skipped"] = why
        else:
            root = write_task(work / "offline", make_reports(4))
            proc = offline_run(root, "--parallel", "2", "--max-tokens", "48")
            ok = proc.returncode == 0 and "no route" in proc.stdout and check_run(root).ok
            tally.add("runs without any network (unshare -n) that completed", int(ok))
            if not ok:
                tally.problems.append(f"offline run: exit {proc.returncode}: {proc.stderr[-300:]}")
        port = free_port()
        with ServeProcess("--parallel", "1", port=port):
            _listens(tally, "clinextract serve", listening(port))
    studio_dir = work / "studio"
    studio_dir.mkdir()
    ensure_chromium()
    with StudioServer(studio_dir) as studio, EgressBrowser() as browser:
        _listens(tally, "clinextract studio", listening(studio.port))
        for page, text in (
            ("", "Save task"),
            ("run", "Run"),
            ("results", "No runs in"),
            ("evaluate", "No finished runs in"),
        ):
            browser.visit(f"{studio.url}/{page}", wait=lambda p, t=text: p.wait_text(t))
        tally.add("Studio pages opened in Chromium", 4)
        tally.add("browser requests recorded", len(browser.urls))
        away = leaving(browser.urls)
        tally.add("browser requests that leave 127.0.0.1", len(away))
        if away:
            tally.problems.append(f"the Studio's pages ask for {away[:5]}")
    return tally


def _audit(tally: Tally, label: str, status: int, events: list[dict[str, Any]]) -> None:
    away = outside(events)
    tally.add(f"{label} run: socket connects and name lookups recorded", len(events))
    tally.add(f"{label} run: not loopback", len(away))
    if status != 0 or away or not events:
        tally.problems.append(f"{label} run: exit {status}, outside: {away[:5]}")


def _listens(tally: Tally, label: str, addresses: set[str]) -> None:
    tally.figures[f"{label} listens on (default)"] = ", ".join(sorted(addresses)) or "nothing"
    if addresses != {"127.0.0.1"}:
        tally.problems.append(f"{label} listens on {addresses}")
