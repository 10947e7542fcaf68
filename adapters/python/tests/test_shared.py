"""The shared tier from Python, on a real S3 server (SeaweedFS): computed on one machine,
reused on another; types that are not shared never leave; a team key keeps out what it
did not seal; an unreachable bucket leaves the local tiers working."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pytest

import stepcache

TEAM_SECRET = "the lab's team secret, 32 bytes+"


def machine(root: pathlib.Path, name: str, bucket: dict[str, Any], **kw: Any) -> stepcache.Cache:
    """A cache of its own directory (another machine) on the shared bucket, sharing t1_map."""
    return stepcache.open(root / name, shared=bucket, policies={"t1_map": {"shared": True}}, **kw)


def test_a_result_computed_on_one_machine_is_a_shared_hit_on_another(
    tmp_path: pathlib.Path, bucket: dict[str, Any]
) -> None:
    t1 = np.linspace(500, 1500, 4096, dtype=np.float32)
    with machine(tmp_path, "a", bucket) as a:
        key = a.key("t1_map", subject="sub-01", tr_ms=15)
        assert a.put(key, t1)["shared"] == "stored"
        a.put(a.key("preview", subject="sub-01"), t1)  # not shared: stays on a
        assert a.stats().shared.puts == 1
    with machine(tmp_path, "b", bucket) as b:
        assert b.status([key])[0].state == "shared"
        hit = b.get(key)
        assert hit is not None and hit.source == "shared"
        np.testing.assert_array_equal(hit.value, t1)
        again = b.get(key)
        assert again is not None and again.source in ("memory", "store"), "kept locally after the shared hit"
        assert b.get(b.key("preview", subject="sub-01")) is None, "a type that is not shared never left a"
        shared = b.stats().shared
        assert (shared.enabled, shared.hits, shared.rejected) == (True, 1, 0)
        # Computed once anywhere: b's step finds a's result.
        assert b.get_or_compute(key, lambda: pytest.fail("computed again")).is_hit


def test_a_team_key_keeps_out_what_it_did_not_seal(tmp_path: pathlib.Path, bucket: dict[str, Any]) -> None:
    with machine(tmp_path, "a", bucket, team_key=TEAM_SECRET) as a:
        sealed = a.key("t1_map", n=1)
        a.put(sealed, np.ones(100, np.float32))
    with machine(tmp_path, "b", bucket) as b:
        unsealed = b.key("t1_map", n=2)
        b.put(unsealed, np.ones(100, np.float32))
    with machine(tmp_path, "c", bucket, team_key=TEAM_SECRET.encode()) as c:
        hit = c.get(sealed)
        assert hit is not None and hit.source == "shared"
        assert c.get(unsealed) is None, "not sealed with the team key: never read"
        assert c.stats().shared.rejected == 1
    with pytest.raises(stepcache.InvalidConfig, match="at least"):
        machine(tmp_path, "d", bucket, team_key="short")


def test_an_unreachable_bucket_leaves_the_local_tiers_working(tmp_path: pathlib.Path) -> None:
    nowhere = {"bucket": "stepcache", "endpoint": "http://127.0.0.1:9", "access_key_id": "x",
               "secret_access_key": "y", "timeout": 2, "retries": 0}
    with machine(tmp_path, "a", nowhere, shared_retry_after=60) as a:
        key = a.key("t1_map", n=1)
        report = a.put(key, np.ones(10, np.float32))
        assert report["store"] == "stored" and report["shared"].startswith("failed")
        hit = a.get(key)
        assert hit is not None and hit.source == "store"
        shared = a.stats().shared
        assert shared.errors >= 1 and shared.degraded and shared.pending == 1 and shared.last_error


def test_push_and_pull_copy_entries_whatever_the_policy(tmp_path: pathlib.Path, bucket: dict[str, Any]) -> None:
    with stepcache.open(tmp_path / "a", shared=bucket) as a:  # shares nothing by policy
        key = a.key("r1_map", n=1)
        a.put(key, np.full(1000, 2.5, np.float32))
        assert a.put(a.key("r1_map", n=2), np.zeros(3))["shared"].startswith("skipped")
        pushed = a.push(step="r1_map")
        assert (pushed["copied"], pushed["refused"]) == (2, [])
        assert a.push()["present"] == 2
    with stepcache.open(tmp_path / "b", shared=bucket) as b:
        pulled = b.pull(step="r1_map")
        assert (pulled["copied"], pulled["present"]) == (2, 0)
        hit = b.get(key)
        assert hit is not None and hit.source in ("memory", "store")
        np.testing.assert_array_equal(hit.value, np.full(1000, 2.5, np.float32))
        assert b.flush_shared() == 0
    with stepcache.open(tmp_path / "c") as c, pytest.raises(stepcache.InvalidConfig):
        c.push()


def test_bad_shared_settings_are_clear_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TypeError, match="unknown shared field"):
        stepcache.open(tmp_path, shared={"bucket": "b", "endpoit": "http://x"})
    with pytest.raises(TypeError, match="together"):
        stepcache.open(tmp_path, shared={"bucket": "b", "access_key_id": "x"})
    with pytest.raises(TypeError, match="positive"):
        stepcache.open(tmp_path, shared="b", shared_retry_after=0)
    with pytest.raises(stepcache.InvalidConfig, match="shared"):
        stepcache.open(tmp_path, policies={"t1_map": {"sharde": True}})
