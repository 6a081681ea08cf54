"""Fixtures for the DRAGON tests: settings for a job run and the public synthetic jobs
(fold 0, with test ground truth) in ../shared/dragon/synthetic."""

from __future__ import annotations

import pytest

from clinextract.dragon.jobs import Job, load_job
from clinextract.settings import Settings
from tests.paths import SYNTHETIC


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(output_dir=tmp_path, parallel=2, ctx_per_slot=4096)


@pytest.fixture
def synthetic_job():
    """A synthetic job by task name: `synthetic_job("Task101_Example_sl_bin_clf")`."""

    def load(task: str, fold: int = 0) -> Job:
        return load_job(SYNTHETIC / "input" / f"{task}-fold{fold}")

    return load
