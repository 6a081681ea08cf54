"""`clinextract review export|import|stats`, `export`, `evaluate` and `run --examples-from`
as a user types them (subprocesses); the runs are made with the FakeEngine (fakes.py),
no model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.studio.helpers import fake_run, make_workspace, write_task


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "clinextract", *map(str, args)]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture()
def runs(tmp_path: Path) -> tuple[Path, Path]:
    settings = make_workspace(tmp_path)
    return fake_run(settings, "one"), fake_run(settings, "two")


def test_import_export_stats(runs, tmp_path, cli_env) -> None:  # noqa: ANN001
    run, _ = runs
    gold = tmp_path / "gold.csv"
    gold.write_text("id,side,size_mm\nr1,right,6\nr3,none,\n", encoding="utf-8")
    proc = cli("review", "import", run, gold, "--reviewer", "anna", env=cli_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4 decisions of anna on 2 records" in proc.stdout
    other = tmp_path / "bob.json"
    other.write_text(json.dumps([{"id": "r1", "side": "left"}, {"id": "r3", "side": "none"}]))
    assert cli("review", "import", run, other, "--reviewer", "bob", env=cli_env, cwd=tmp_path)
    for name in ("back.csv", "back.json"):
        out = tmp_path / name
        proc = cli(
            "review", "export", run, "-o", out, "--reviewer", "anna", env=cli_env, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "back.csv").read_text(encoding="utf-8") == gold.read_text(encoding="utf-8")
    back = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    assert back == [
        {"id": "r1", "side": "right", "size_mm": 6},
        {"id": "r3", "side": "none", "size_mm": None},
    ]
    proc = cli("review", "stats", run, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    side = next(line for line in proc.stdout.splitlines() if line.strip().startswith("│ side"))
    # anna: right (accept), none (correct); bob: left, none (both correct) → 1/4 agree;
    # kappa of anna and bob on r1, r3: po 1/2, pe 1/4 → 1/3
    assert "25%" in side and "0.33" in side


def test_export_and_evaluate_side_by_side(runs, tmp_path, cli_env) -> None:  # noqa: ANN001
    one, two = runs
    ls = tmp_path / "ls.json"
    proc = cli("export", one, "--format", "label-studio", "-o", ls, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(ls.read_text(encoding="utf-8"))) == 4
    gold = tmp_path / "gold.csv"
    gold.write_text("id,side,size_mm\nr1,right,6\nr2,left,12\nr3,none,\nr4,right,30\n")
    scores = tmp_path / "scores.json"
    proc = cli("evaluate", one, two, "--gold", gold, "-o", scores, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4 rows shared" in proc.stdout and "one/Task001_lesions-run0" in proc.stdout
    rows = json.loads(scores.read_text(encoding="utf-8"))
    acc = {(r["run"], r["field"]): r for r in rows if r["metric"] == "accuracy"}
    assert acc[("one/Task001_lesions-run0", "side")]["value"] == pytest.approx(0.5)
    assert acc[("two/Task001_lesions-run0", "side")]["low"] <= 0.5


def test_errors_are_one_line_with_exit_2(runs, tmp_path, cli_env) -> None:  # noqa: ANN001
    run, _ = runs
    proc = cli("review", "stats", run, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 2 and "no decisions yet" in one_error_line(proc)
    proc = cli("review", "export", run, "-o", tmp_path / "g.csv", env=cli_env, cwd=tmp_path)
    assert proc.returncode == 2 and "no reviewed values" in one_error_line(proc)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,side\nr1,up\n")
    proc = cli("review", "import", run, bad, "--reviewer", "x", env=cli_env, cwd=tmp_path)
    assert proc.returncode == 2 and "not one of" in one_error_line(proc)
    proc = cli("evaluate", tmp_path / "nope", "--gold", bad, env=cli_env, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    task_args = ["--task-dir", tmp_path / "tasks", "--data-dir", tmp_path / "data"]
    proc = cli(
        "run", "--task-id", "1", *task_args, "--examples-from", run, env=cli_env, cwd=tmp_path
    )
    assert proc.returncode == 2 and "no fully reviewed record" in one_error_line(proc)
    write_task(make_workspace(tmp_path))
    proc = cli(
        "run", "--task-id", "1", *task_args, "--examples-from", run, "--num-examples", "0",
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
