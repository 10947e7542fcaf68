"""Shared fixtures: a fresh cache directory per test."""

from __future__ import annotations

import pathlib
from typing import Iterator

import pytest

import stepcache


@pytest.fixture
def cache_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "cache"


@pytest.fixture
def cache(cache_dir: pathlib.Path) -> Iterator[stepcache.Cache]:
    with stepcache.open(cache_dir) as c:
        yield c
