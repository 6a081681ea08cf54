"""`clinextract service` with the benchmark's instant fake engine (bench/fake.py), so the
service benchmark measures what the service itself costs:

    python -m bench.service_fake [the options of `clinextract service`]
"""

from __future__ import annotations

from tests.service.fake_service import serve_with

from .fake import InstantEngine

if __name__ == "__main__":
    serve_with(lambda settings: InstantEngine(capacity=settings.parallel))
