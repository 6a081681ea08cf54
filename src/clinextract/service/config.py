"""The service's own options: where it listens, its folders, its limits.

Engine and decoding options are the one `Settings` (the same flags as `clinextract run`);
these are what only a service has. Each field's description is its `--help` text.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError

MB = 1 << 20


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port (0 = any free port).")
    api_keys: Path | None = Field(
        None,
        description="Keys file (hashes; see `clinextract service add-key`). "
        "Required to listen on anything but loopback.",
    )
    jobs_dir: Path = Field(Path("jobs"), description="Where jobs (run folders) are kept.")
    max_body_mb: float = Field(
        1.0, gt=0, description="Largest request body in MB, except job uploads (413)."
    )
    max_upload_mb: float = Field(100.0, gt=0, description="Largest job upload in MB (413).")
    max_sync: int = Field(32, ge=1, description="Texts per POST /v1/extract.")
    max_chars: int = Field(50_000, ge=1, description="Characters per text.")
    key_concurrency: int = Field(
        4, ge=1, description="Sync requests one key may have running at once."
    )
    key_queue: int = Field(
        16, ge=0, description="Sync requests one key may have waiting; beyond that 429."
    )
    key_jobs: int = Field(4, ge=1, description="Unfinished jobs one key may have; beyond that 429.")
    job_workers: int = Field(2, ge=1, description="Jobs that run at the same time.")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MB)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    def check_exposure(self) -> None:
        """Listening beyond this machine without keys is refused: anyone who can reach
        the port could send reports and read every job's results."""
        if self.api_keys is None and not is_loopback(self.host):
            raise ConfigError(
                f"--host {self.host} is reachable from other machines: give --api-keys FILE "
                "(create one with `clinextract service add-key FILE --name NAME`)"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
