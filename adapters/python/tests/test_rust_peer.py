"""A Python process and a Rust process share one cache directory: the same arguments give
the same key, and each reads what the other wrote (the Rust side is examples/peer.rs)."""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np
import pytest

import stepcache


@pytest.fixture
def peer() -> str:
    path = os.environ.get("STEPCACHE_RUST_PEER")
    if not path:
        pytest.fail(
            "set STEPCACHE_RUST_PEER to the Rust peer: cargo build --release -p stepcache-python --example peer "
            "(tests/run.sh does)"
        )
    return path


def test_python_reads_what_rust_wrote(peer: str, cache_dir: pathlib.Path) -> None:
    out = subprocess.run([peer, "write", str(cache_dir)], check=True, capture_output=True, text=True)
    signal = (np.arange(4 * 8 * 8, dtype=np.float32) * 0.25).reshape(4, 8, 8)
    with stepcache.open(cache_dir) as cache:
        key = cache.key(
            "t1_map",
            tr_ms=15,
            flip_deg=[2, 5, 10, 15],
            signal=signal,
            method="vfa",
            verbose=False,
            version=1,
            ignore=["verbose"],
        )
        assert str(key) == out.stdout.strip()
        hit = cache.get(key)
        assert hit is not None and hit.source == "store"
        np.testing.assert_array_equal(hit.value, (800 + np.arange(64 * 64, dtype=np.float32)).reshape(64, 64))
        assert hit.meta == {"units": "ms"}
        (entry,) = cache.entries()
        assert entry.provenance.args is not None and entry.provenance.args["method"] == "vfa"


def test_rust_reads_what_python_wrote(peer: str, cache_dir: pathlib.Path) -> None:
    with stepcache.open(cache_dir) as cache:
        cache.put(cache.key("py_map", n=3, label="from python"), np.arange(1000, dtype=np.float64), meta={"a": 1})
    out = subprocess.run([peer, "read", str(cache_dir)], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == 'f64 [1000] 499500 {"a":1}'
