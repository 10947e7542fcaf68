"""Shared fixtures: a fresh cache directory per test."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import uuid
from typing import Any, Iterator

import pytest

import stepcache


@pytest.fixture
def cache_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "cache"


@pytest.fixture
def cache(cache_dir: pathlib.Path) -> Iterator[stepcache.Cache]:
    with stepcache.open(cache_dir) as c:
        yield c


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A real S3 server (SeaweedFS) for the session, started by the repository's
    `shared_fixture` (test.sh names it in STEPCACHE_SHARED_FIXTURE): its endpoint, bucket
    and credentials. Each test uses a prefix of its own in the bucket."""
    binary = os.environ.get("STEPCACHE_SHARED_FIXTURE")
    if not binary:
        pytest.fail("STEPCACHE_SHARED_FIXTURE is not set: run the tests with adapters/python/test.sh")
    server = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdin is not None
    line = server.stdout.readline()
    if not line:
        server.wait()
        pytest.fail(f"shared_fixture exited ({server.returncode}) before it was ready")
    where = json.loads(line)
    try:
        yield {"endpoint": where["endpoint"], "bucket": "stepcache", "access_key_id": "stepcache",
               "secret_access_key": "stepcache-secret"}
    finally:
        server.stdin.close()
        server.wait(timeout=60)


@pytest.fixture
def bucket(s3_server: dict[str, str], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The shared tier's settings for `stepcache.open(shared=...)`, under a prefix of this
    test's own."""
    return {**s3_server, "prefix": f"python/{request.node.name}-{uuid.uuid4().hex[:8]}", "retries": 0}
