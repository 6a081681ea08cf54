"""Write failures: the disk full and the run folder read-only.

Injected at the store's writes (the checkpoint's append, the final file, a manifest, the
lock, the recovery's rewrite; ENOSPC, EROFS, EIO; the append writes part of its line
first), and for real: a tmpfs that fills up during the run and a read-only bind mount of
the output folder, each in a mount namespace of the test's own (`unshare -m`; skipped
with the reason where the kernel forbids it). Every time: exit 1 with one line, every
line of the checkpoint a whole record, and the same command completes once writing
works again, with the predictions of a run that never failed.
"""

from __future__ import annotations

import json
import random
import shlex
import shutil
import subprocess
from pathlib import Path

from clinextract.store import is_record
from tests.paths import ROOT
from tests.reliability.helpers import (
    Tally,
    check_run,
    child_command,
    env,
    expected_values,
    make_reports,
    one_line_error,
    run_child,
    run_folder,
    sha,
    write_task,
)

POINTS = ("append", "final", "manifest", "lock", "recover")
ERRNOS = ("ENOSPC", "EROFS", "EIO")


def checkpoint_bytes(root: Path) -> bytes:
    path = run_folder(root) / "records.jsonl"
    return path.read_bytes() if path.exists() else b""


def checkpoint_intact(root: Path, before: bytes = b"") -> str | None:
    """None when the checkpoint is as it was before the failing run (`before`) or every
    line of it is a whole record; else what is wrong."""
    data = checkpoint_bytes(root)
    if data == before:
        return None
    if data and not data.endswith(b"\n"):
        return "a partial line at the end"
    for n, line in enumerate(data.splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if not is_record(rec if isinstance(rec, dict) else None):
            return f"line {n + 1} is not a record"
    return None


def _finish(tally: Tally, root: Path, where: str, expected: dict, wanted: str) -> None:
    """The same command once writing works again: complete, and as if nothing failed."""
    again = run_child(root, "--parallel", "4")
    if again.returncode != 0:
        tally.problems.append(f"{where}: the run after the failure: exit {again.returncode}")
        return
    check = check_run(root, expected)
    tally.record(check, where)
    if not check.ok:
        return
    if sha(run_folder(root) / "nlp-predictions-dataset.json") == wanted:
        tally.add("completed once writing worked again")
    else:
        tally.problems.append(f"{where}: predictions differ from a run without failures")


def injected(work: Path, cases: int, seed: int = 11, rows: int = 20) -> Tally:
    rng = random.Random(seed)
    reports = make_reports(rows, seed)
    expected = expected_values(reports)
    tally = Tally("write failures, injected")
    reference = write_task(work / "reference", reports)
    run_child(reference, "--parallel", "4")
    wanted = sha(run_folder(reference) / "nlp-predictions-dataset.json")
    points = tally.counter("points")
    for case in range(cases):
        point, code = POINTS[case % len(POINTS)], rng.choice(ERRNOS)
        n = {"append": rng.randint(1, rows), "manifest": rng.randint(1, 2)}.get(point, 1)
        root = write_task(work / f"write{case:03d}", reports)
        if point == "recover":  # a rewrite only happens after damage: a killed run first
            run_child(root, "--parallel", "4", crash=f"append:{rng.randint(2, rows)}")
        before = checkpoint_bytes(root)
        proc = run_child(root, "--parallel", "4", fail=f"{point}:{n}:{code}")
        points[f"{point} ({code})"] += 1
        tally.add("cases")
        where = f"case {case} ({point}:{n} {code})"
        line = one_line_error(proc)
        if proc.returncode != 1 or line is None or "write error" not in line:
            tally.problems.append(f"{where}: exit {proc.returncode}, stderr {proc.stderr[-300:]}")
        else:
            tally.add("exit 1 with one line")
        if problem := checkpoint_intact(root, before):
            tally.problems.append(f"{where}: checkpoint not intact: {problem}")
        _finish(tally, root, where, expected, wanted)
    return tally


# --- for real, in a mount namespace of our own -------------------------------------------------


def namespaces_allowed() -> str | None:
    """None when `unshare -m` may mount here, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tmpfs -o size=4k tmpfs /mnt 2>&1 || mount -t tmpfs -o size=4k tmpfs /tmp",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"the kernel refuses a private mount namespace ({probe.stderr.strip()[:120]})"
    return None


def _in_namespace(script: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c", script],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def real(work: Path, rounds: int = 1, seed: int = 17, rows: int = 60) -> Tally:
    """A tmpfs that fills up during the run, then grows; a read-only bind mount of the
    output folder during a resume, then writable again."""
    tally = Tally("write failures, real")
    why = namespaces_allowed()
    if why:
        tally.figures["skipped"] = why
        return tally
    rng = random.Random(seed)
    reports = make_reports(rows, seed)
    expected = expected_values(reports)
    reference = write_task(work / "reference", reports)
    run_child(reference, "--parallel", "4")
    wanted = sha(run_folder(reference) / "nlp-predictions-dataset.json")
    for n in range(rounds):
        # the disk fills up: the output folder is a 1 MiB tmpfs with `room` KiB left
        root = write_task(work / f"full{n}", reports)
        room = rng.randint(8, 32)  # the run stops at the manifest, an append or the end
        mnt, out = root / "mnt", root / "out"
        mnt.mkdir()
        cmd = shlex.join(child_command(root, "--parallel", "4", "--output-dir", str(mnt)))
        script = f"""
            mount -t tmpfs -o size=1m tmpfs {mnt}
            dd if=/dev/zero of={mnt}/filler bs=1k count={1024 - room} status=none
            {cmd} > {root}/full.out 2> {root}/full.err; echo $? > {root}/full.rc
            mkdir -p {out}; cp -a {mnt}/run {out}/
        """
        done = _in_namespace(script)
        proc = _result(root, "full")
        where = f"disk full ({room} KiB left)"
        tally.add("disk full: runs")
        if done.returncode != 0 or proc.returncode != 1 or one_line_error(proc) is None:
            tally.problems.append(f"{where}: exit {proc.returncode}: {proc.stderr[-300:]}")
        else:
            tally.add("disk full: exit 1 with one line")
            tally.add("disk full: rows saved before the disk was full", _rows_in(root))
            tally.counter("disk full: the write that failed")[_failed_file(proc)] += 1
        if problem := checkpoint_intact(root):
            tally.problems.append(f"{where}: checkpoint not intact: {problem}")
        _finish(tally, root, where, expected, wanted)  # on the host's disk: room again

        # read-only: a killed run, then a resume on a read-only bind mount, then writable
        root = write_task(work / f"readonly{n}", reports)
        run_child(root, "--parallel", "4", crash=f"append:{rng.randint(3, rows // 2)}")
        before = (run_folder(root) / "records.jsonl").read_bytes()
        out = root / "out"
        cmd = shlex.join(child_command(root, "--parallel", "4"))
        script = f"""
            mount --bind {out} {out} && mount -o remount,ro,bind {out}
            {cmd} > {root}/ro.out 2> {root}/ro.err; echo $? > {root}/ro.rc
        """
        done = _in_namespace(script)
        proc = _result(root, "ro")
        where = "read-only output folder"
        tally.add("read-only: runs")
        if done.returncode != 0 or proc.returncode != 1 or one_line_error(proc) is None:
            tally.problems.append(f"{where}: exit {proc.returncode}: {proc.stderr[-300:]}")
        else:
            tally.add("read-only: exit 1 with one line")
        if (run_folder(root) / "records.jsonl").read_bytes() != before:
            tally.problems.append(f"{where}: the checkpoint changed")
        _finish(tally, root, where, expected, wanted)
    return tally


def _result(root: Path, name: str) -> subprocess.CompletedProcess:
    rc = (root / f"{name}.rc").read_text().strip() if (root / f"{name}.rc").exists() else "-1"
    return subprocess.CompletedProcess(
        [], int(rc or -1), (root / f"{name}.out").read_text(), (root / f"{name}.err").read_text()
    )


def _rows_in(root: Path) -> int:
    path = run_folder(root) / "records.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _failed_file(proc: subprocess.CompletedProcess) -> str:
    line = one_line_error(proc) or ""
    return line.split("cannot write ", 1)[-1].split(":", 1)[0].rsplit("/", 1)[-1]
