"""Fuzzing: inputs drawn by hypothesis (tests/reliability/fuzz_inputs.py) through the real
`clinextract run` command, in this process (click's CliRunner, so a thousand cases take
a minute, not an hour), against the scripted OpenAI-compatible server on 127.0.0.1 that
answers `{"value": N}` with N the report's first number. A sample of the schema cases
also goes through the real embedded model (llama.cpp's own grammar conversion).

Every case must end as one of:
  * a configuration error: exit 2, one line on stderr, no traceback;
  * a run: exit 0, one prediction per input row, every failed row with its error, and
    every value one the server gave for that row.
Anything else (a traceback, another exit code, several error lines, a row lost or
invented) is a defect, listed with the case that caused it.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, seed, settings

from clinextract.cli import cli
from clinextract.errors import exit_status
from tests.engines.fixtures.fault_server import FaultServer, Reply, completion
from tests.reliability.fuzz_inputs import CATEGORIES, Case
from tests.reliability.helpers import Tally, cli_args

CONFIG, RAN_OK, RAN_FAILURES = (
    "one-line error, exit 2",
    "ran, every row a value",
    "ran, per-row failures",
)


def _examples(count: int, seed_value: int) -> Any:
    """Hypothesis as the campaign uses it: reproducible (a fixed seed, no example
    database), every case counted once (no shrinking), no deadline."""
    options = settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    return lambda func: seed(seed_value)(options(func))


def materialize(case: Case, root: Path) -> None:
    (root / "tasks" / "parsers").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "tasks" / "Task001_fuzz.json").write_bytes(case.task)
    for name, content in case.files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)


def cli_case(case: Case, root: Path, server: FaultServer) -> tuple[str, str | None]:
    """(outcome, defect or None) of one case through the CLI."""
    materialize(case, root)
    extra = [str(root / a) if a == "data" else a for a in case.args]
    server_args = ["--engine", "openai", "--base-url", server.url, "--max-failures", "2"]
    args = ["run", *cli_args(root, *server_args, "--concurrency", "4", *extra)]
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    stderr = result.stderr
    if not isinstance(result.exception, SystemExit | None):
        return "traceback", f"{type(result.exception).__name__}: {result.exception}"
    if "Traceback" in stderr:
        return "traceback", stderr[-300:]
    if result.exit_code == 2:
        errors = [x for x in stderr.splitlines() if x.strip()]
        lines = [x for x in errors if not x.startswith("starting the ")]
        return CONFIG, None if len(lines) == 1 else f"{len(lines)} lines: {lines[:3]}"
    if result.exit_code != 0:
        return f"exit {result.exit_code}", stderr[-300:]
    return _check_predictions(case, root)


def _check_predictions(case: Case, root: Path) -> tuple[str, str | None]:
    runs = list((root / "out").glob("run/*-run0/nlp-predictions-dataset.json"))
    if len(runs) != 1:
        return "exit 0", "no predictions file"
    predictions = json.loads(runs[0].read_text(encoding="utf-8"))
    manifest = json.loads((runs[0].parent / "manifest.json").read_text())
    if len(predictions) != manifest["counts"]["rows"] or (
        case.rows is not None and len(predictions) != case.rows
    ):
        return "exit 0", f"{len(predictions)} predictions for {case.rows} rows"
    failures = 0
    for pred in predictions:
        if pred["status"] != "success":
            failures += 1
            if not pred.get("error"):
                return "exit 0", "a failed row without its error"
        elif "value" in pred and pred["value"] != _first_number(pred.get(case.input_field)):
            return "exit 0", f"value {pred['value']!r} the server did not give"
    return (RAN_FAILURES if failures else RAN_OK), None


def _first_number(text: Any) -> int | None:
    found = re.search(r"\d+", str(text).strip()) if text is not None else None
    return int(found.group()) if found else None


def answer(n: int, body: dict[str, Any]) -> Reply:
    """The report's first number as `value`, for the answer and for a repair alike."""
    report = next(
        m["content"]
        for m in reversed(body["messages"])
        if m["role"] == "user" and "Report:" in m["content"]
    )
    value = _first_number(report.split("Report:", 1)[1])
    return Reply(payload=completion(json.dumps({"value": value})))


def run(work: Path, per_category: dict[str, int], seed_value: int = 20261201) -> Tally:
    tally = Tally("fuzzing")
    server = FaultServer(answer).start()
    work.mkdir(parents=True, exist_ok=True)
    try:
        for category, strategy in CATEGORIES.items():
            _fuzz(category, strategy, per_category[category], seed_value, work, server, tally)
    finally:
        server.stop()
    tally.figures["tracebacks"] = sum(1 for p in tally.problems if ": traceback:" in p)
    return tally


def _fuzz(
    category: str,
    strategy: Any,
    examples: int,
    seed_value: int,
    work: Path,
    server: FaultServer,
    tally: Tally,
) -> None:
    by_kind = tally.counter(f"{category}: kinds")
    outcomes = tally.counter(f"{category}: outcomes")

    @_examples(examples, seed_value)
    @given(strategy)
    def one(case: Case) -> None:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            outcome, defect = cli_case(case, Path(tmp), server)
        by_kind[case.kind] += 1
        outcomes[outcome if defect is None else "defect"] += 1
        tally.add("inputs")
        if defect is not None:
            task = case.task[:120]
            tally.problems.append(f"{category} / {case.kind}: {outcome}: {defect} ({task!r})")

    one()


def run_embedded(work: Path, cases: int, seed_value: int = 7) -> Tally:
    """Schema and data cases through one loaded embedded engine and `run_task`, judged
    by the same rule as the CLI (`errors.exit_status`: an exception it does not know
    would be a traceback)."""
    from clinextract.engines.embedded import EmbeddedEngine
    from clinextract.pipeline import run_task
    from clinextract.settings import Settings
    from clinextract.task import load_task

    tally = Tally("fuzzing, real model")
    base = Settings(parallel=2, max_tokens=48, wait_timeout=300)
    engine = EmbeddedEngine(base)
    outcomes = tally.counter("outcomes")
    try:

        @_examples(cases, seed_value)
        @given(CATEGORIES["schema"])
        def one(case: Case) -> None:
            with tempfile.TemporaryDirectory(dir=work) as tmp:
                root = Path(tmp)
                materialize(case, root)
                folders = {"task_dir": root / "tasks", "data_dir": root / "data"}
                opts = base.model_copy(update={**folders, "output_dir": root / "out"})
                try:
                    run_task(load_task(1, opts), opts, engine=engine)
                    outcome, defect = _check_predictions(case, root)
                except Exception as exc:  # noqa: BLE001 - judged like the CLI judges it
                    known = exit_status(exc)
                    outcome = "traceback" if known is None else f"exit {known[0]}"
                    defect = None if known and known[0] == 2 else f"{type(exc).__name__}: {exc}"
                    outcome = CONFIG if defect is None else outcome
            outcomes[outcome if defect is None else "defect"] += 1
            tally.add("inputs")
            if defect:
                tally.problems.append(f"schema / {case.kind}: {outcome}: {defect}")

        one()
    finally:
        engine.close()
    tally.figures["tracebacks"] = sum(1 for p in tally.problems if ": traceback:" in p)
    return tally


def summary(tally: Tally) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, value in tally.figures.items():
        if key.endswith("outcomes"):
            out.update(value)
    return out
