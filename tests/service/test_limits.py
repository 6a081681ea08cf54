"""KeyGate: per key, `concurrency` at work, `queue` waiting, TooBusy beyond; keys apart."""

from __future__ import annotations

import asyncio

import pytest

from clinextract.errors import ConfigError
from clinextract.service.config import ServiceConfig, is_loopback
from clinextract.service.limits import KeyGate, TooBusy


def test_a_key_gets_its_slots_and_queue_then_too_busy():
    async def scenario():
        gate = KeyGate(concurrency=2, queue=1, retry_after=3)
        release = asyncio.Event()
        working = []

        async def request(key):
            async with gate.admit(key):
                working.append(key)
                await release.wait()

        tasks = [asyncio.create_task(request("a")) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert working == ["a", "a"] and gate.load("a") == 3  # two at work, one waits
        with pytest.raises(TooBusy) as busy:
            async with gate.admit("a"):
                pass
        assert busy.value.retry_after == 3
        async with gate.admit("b"):  # another key is not held up
            pass
        release.set()
        await asyncio.gather(*tasks)
        assert working == ["a"] * 3 and gate.load("a") == 0
        async with gate.admit("a"):  # room again
            pass

    asyncio.run(scenario())


def test_loopback_is_all_that_may_go_without_keys(tmp_path):
    for host in ("127.0.0.1", "127.8.9.1", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        ServiceConfig(host=host).check_exposure()
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.org", ""):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="--api-keys"):
            ServiceConfig(host=host).check_exposure()
        ServiceConfig(host=host, api_keys=tmp_path / "keys.json").check_exposure()
