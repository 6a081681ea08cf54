"""TEST FIXTURE, not a product: the scripted OpenAI-compatible fault server
(tests/engines/fixtures/fault_server.py) as a process with a misbehaviour, for engine
faults a test can also kill and restart:

    python -m tests.reliability.fault_modes PORT MODE

MODE is `ok`; `every5` (HTTP 500 for every fifth request); `cut` (every third answer is
cut off mid-body, the connection closed); `slow:SECONDS:WINDOW` (each answer takes
SECONDS during the first WINDOW seconds after the first request, then it is quick).
Every answer that does arrive is the right one: `{"value": N}`, N the report's first
number, so a test can tell a real value from a fabricated one.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from tests.engines.fixtures.fault_server import FaultServer, Reply, ok


def script_for(mode: str):  # noqa: ANN201 - a Script
    first: list[float] = []

    def script(n: int, body: dict) -> Reply:
        reply = ok(body)
        if mode == "every5" and n % 5 == 4:
            return Reply(status=500, payload={"error": {"message": "every fifth request"}})
        if mode == "cut" and n % 3 == 2:
            return dataclasses.replace(reply, cut=True)
        if mode.startswith("slow:"):
            _, seconds, window = mode.split(":")
            first.append(time.monotonic())
            if time.monotonic() - first[0] < float(window):
                return dataclasses.replace(reply, delay=float(seconds))
        return reply

    return script


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    server = FaultServer(script_for(mode), port=port)
    print(f"fault server at {server.url} ({mode})", flush=True)
    server.serve_forever()
