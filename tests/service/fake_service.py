"""`clinextract service` with a fake engine, for the tests that start a real uvicorn:

    python -m tests.service.fake_service [the options of `clinextract service`]

The engine answers at once (or after $FAKE_DELAY_S seconds per request) with the fake
task's fields computed from the report: `lengte` its length, `woord` its first word; a
report that starts with "RAISE:" makes it fail with an unexpected error. The
command is the real one (address and key checks, task folder, jobs, uvicorn); only the
engine is swapped, through the click context.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

from clinextract.engines.base import Completion, Engine, Request
from clinextract.service.cli import service_group
from clinextract.settings import Settings
from tests.fakes import FakeEngine, ok, report_of


def answer(request: Request) -> Completion:
    delay = float(os.environ.get("FAKE_DELAY_S") or 0)
    if delay:
        time.sleep(delay)
    text = report_of(request)
    if text.startswith("RAISE:"):  # a bug in the engine, with report text in its message
        raise RuntimeError(f"engine bug while reading {text}")
    words = text.split()
    return ok(json.dumps({"lengte": len(text), "woord": words[0] if words else ""}))


def serve_with(engine_factory: Callable[[Settings], Engine]) -> None:
    """Run the real `clinextract service` command (arguments from sys.argv) with this
    engine instead of the one the options name."""
    service_group.main(
        sys.argv[1:], prog_name="fake-service", obj={"engine_factory": engine_factory}
    )


def main() -> None:
    serve_with(lambda settings: FakeEngine(answer, capacity=settings.parallel))


if __name__ == "__main__":
    main()
