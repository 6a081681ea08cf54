"""Helpers for the server-engine tests: a tiny task on disk, the CLI as a subprocess, a
`clinextract serve` process, and the run folder's records."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.processes import ServerProcess

TESTS = Path(__file__).parent

# The fault-server task: the answer is the report's first number (see fixtures/fault_server).
VALUE_SPEC = {
    "Description": "Give the value mentioned in the report.",
    "Data_Path": "reports.csv",
    "Input_Field": "text",
    "Parser_Format": {"value": {"type": "int", "optional": True}},
}

# A small radiology task for the real model: short reports, a closed, bounded schema.
RADIOLOGY_SCHEMA = {
    "type": "object",
    "properties": {
        "exam": {"enum": ["CT", "MRI", "X-ray", "ultrasound"]},
        "nodule": {"type": "boolean"},
        "size_mm": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 200}, {"type": "null"}]},
    },
    "required": ["exam", "nodule", "size_mm"],
}
RADIOLOGY_SPEC = {
    "Description": "Read the radiology report: the kind of exam, whether a lung nodule is "
    "described, and the size of the largest nodule in mm (null if none).",
    "Data_Path": "reports.csv",
    "Input_Field": "text",
    "Parser_Format": RADIOLOGY_SCHEMA,
    "Example_Path": "examples.json",
}
RADIOLOGY_EXAMPLES = [
    {"input": "CT chest: 8 mm nodule in the left upper lobe.",
     "output": {"exam": "CT", "nodule": True, "size_mm": 8}},
    {"input": "MRI knee: meniscal tear, no other findings.",
     "output": {"exam": "MRI", "nodule": False, "size_mm": None}},
    {"input": "Chest X-ray: 15 mm nodule right lower zone.",
     "output": {"exam": "X-ray", "nodule": True, "size_mm": 15}},
]  # fmt: skip
RADIOLOGY_REPORTS = [
    "CT thorax: solid nodule of 6 mm in the right upper lobe. No effusion.",
    "MRI brain: no abnormalities. Normal ventricles.",
    "X-ray chest: no nodules, heart size normal.",
    "CT thorax: two nodules, the largest 11 mm in the left lower lobe. Follow-up advised.",
    "Ultrasound abdomen: liver normal, no free fluid.",
    "CT abdomen: 4 mm nodule in the lung base, otherwise unremarkable.",
]


def write_task(root: Path, reports: list[str], spec: dict[str, Any] | None = None) -> Path:
    """tasks/Task001_test.json + data/reports.csv under `root`; returns `root`."""
    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "tasks" / "Task001_test.json").write_text(json.dumps(spec or VALUE_SPEC))
    lines = ["id,text"] + [f'{n},"{r}"' for n, r in enumerate(reports)]
    (root / "data" / "reports.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if (spec or {}).get("Example_Path") == "examples.json":
        (root / "data" / "examples.json").write_text(json.dumps(RADIOLOGY_EXAMPLES))
    return root


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    env["TERM"] = "dumb"
    env.pop("CLINEXTRACT_API_KEY", None)
    env.pop("OPENAI_API_KEY", None)
    return env


def run_args(root: Path, *extra: str) -> list[str]:
    return [
        "clinextract", "run", "--task-id", "1", "--task-dir", str(root / "tasks"),
        "--data-dir", str(root / "data"), "--example-dir", str(root / "data"),
        "--output-dir", str(root / "out"), *extra,
    ]  # fmt: skip


def run_cli(root: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        run_args(root, *extra), env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


def run_dir(root: Path, run_name: str = "run") -> Path:
    return root / "out" / run_name / "Task001_test-run0"


def records(root: Path, run_name: str = "run") -> list[dict[str, Any]]:
    path = run_dir(root, run_name) / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def predictions(root: Path, run_name: str = "run") -> list[dict[str, Any]]:
    return json.loads((run_dir(root, run_name) / "nlp-predictions-dataset.json").read_text())


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """stderr lines that are not progress output."""
    return [line for line in proc.stderr.splitlines() if "error" in line.lower()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess(ServerProcess):
    """`clinextract serve` in a subprocess; `url` once it listens."""

    def __init__(self, *args: str, port: int = 0, timeout: float = 120):
        super().__init__(["clinextract", "serve", "--port", str(port), *args], env=cli_env())
        found = self.wait_for(r"serving (\S+) at (http://\S+/v1)", timeout)
        if found is None:
            assert self.proc.stderr is not None
            raise RuntimeError(f"clinextract serve did not start: {self.proc.stderr.read()}")
        self.banner, self.name, self.url = found.string, found.group(1), found.group(2)
