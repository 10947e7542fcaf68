"""The cache's controls through Python: policies, force, access modes, errors, listing,
statistics, and threads and processes sharing one directory."""

from __future__ import annotations

import multiprocessing
import pathlib
import threading
from typing import Any

import numpy as np
import pytest

import stepcache


def test_get_or_compute_stores_and_times(cache: stepcache.Cache) -> None:
    key = cache.key("t1_map", tr_ms=15)
    first = cache.get_or_compute(key, lambda: np.full(4, 2.0, np.float32))
    assert first.source == "computed" and not first.is_hit
    again = cache.get_or_compute(key, lambda: pytest.fail("computed twice"))
    assert again.source == "memory" and again.is_hit
    assert cache.has(key) and again.key == key


def test_an_exception_in_compute_propagates_and_stores_nothing(cache: stepcache.Cache) -> None:
    key = cache.key("t1_map", tr_ms=16)

    class FitDiverged(Exception):
        pass

    def fail() -> np.ndarray:
        raise FitDiverged("no convergence")

    with pytest.raises(FitDiverged, match="no convergence"):
        cache.get_or_compute(key, fail)
    assert not cache.has(key)
    with pytest.raises(TypeError, match="not a str"):
        cache.get_or_compute(key, lambda: "1.5")
    assert not cache.has(key)


def test_a_compute_asking_for_its_own_key_is_refused_not_left_waiting(cache: stepcache.Cache) -> None:
    key = cache.key("t1_map", tr_ms=17)

    @cache.step(version=1)
    def countdown(n: int) -> Any:
        # A step calling itself with other arguments is fine; with its own, it is refused.
        if n == 0:
            with pytest.raises(stepcache.InvalidArgument, match="inside its own compute"):
                countdown(0)
            return np.zeros(1)
        return countdown(n - 1) + n

    assert countdown(3).tolist() == [6.0]

    def compute() -> Any:
        with pytest.raises(stepcache.InvalidArgument, match="inside its own compute"):
            cache.get_or_compute(key, lambda: np.ones(2))
        return np.full(2, 3.0)

    assert cache.get_or_compute(key, compute).value.tolist() == [3.0, 3.0]


def test_policies_keep_results_where_they_say(cache_dir: pathlib.Path) -> None:
    policies = {"preview": "memory", "scratch": "transient", "t1_map": {"retention": "persistent", "compress": True}}
    with stepcache.open(cache_dir, policies=policies) as cache:
        for step in ("preview", "scratch", "t1_map"):
            cache.put(cache.key(step), np.zeros(50_000))
        assert cache.get(cache.key("preview")) is not None
        assert cache.get(cache.key("scratch")) is None
    with stepcache.open(cache_dir) as cache:
        assert [e.step for e in cache.entries()] == ["t1_map"]
        # Compressed on disk (zeros compress), whole when read.
        (entry,) = cache.entries()
        assert entry.bytes < 50_000 * 8 // 4
        hit = cache.get(cache.key("t1_map"))
        assert hit is not None and hit.value.shape == (50_000,)
    with pytest.raises(stepcache.InvalidConfig):
        stepcache.open(cache_dir, policies={"x": "forever"})
    with pytest.raises(stepcache.InvalidConfig):
        stepcache.open(cache_dir, policies={"x": {"retention": "memory", "max_age": 0}})
    with pytest.raises(stepcache.InvalidStepName):
        stepcache.open(cache_dir, policies={"bad name": "memory"})


def test_force_recomputes_once_per_key(cache: stepcache.Cache) -> None:
    a, b = cache.key("t1_map", n=1), cache.key("r1_map", n=1)
    cache.put(a, np.zeros(2))
    cache.put(b, np.zeros(2))
    cache.set_force(["t1_map"])
    assert cache.get_or_compute(a, lambda: np.ones(2)).source == "computed"
    assert cache.get_or_compute(a, lambda: np.full(2, 3.0)).source == "memory"
    assert cache.get_or_compute(b, lambda: np.ones(2)).source == "store"
    cache.set_force(True)
    assert cache.get_or_compute(b, lambda: np.ones(2)).source == "computed"
    cache.set_force(False)
    with pytest.raises(stepcache.InvalidStepName):
        cache.set_force(["bad name"])


def test_access_modes(cache: stepcache.Cache) -> None:
    key = cache.key("t1_map", n=1)
    cache.put(key, np.zeros(2))
    cache.set_access("r")  # replay only
    assert cache.get(key) is not None
    with pytest.raises(stepcache.ComputeDisabled):
        cache.get_or_compute(cache.key("t1_map", n=2), lambda: np.ones(2))
    cache.set_access("rc")  # dry run: computes, stores nothing
    other = cache.key("t1_map", n=3)
    assert cache.get_or_compute(other, lambda: np.ones(2)).source == "computed"
    assert not cache.has(other)
    cache.set_access("cw")
    with pytest.raises(stepcache.ReadDisabled):
        cache.get(key)
    with pytest.raises(stepcache.InvalidConfig):
        cache.set_access("rx")


def test_read_only_directory_serves_hits_and_refuses_writes(cache_dir: pathlib.Path) -> None:
    key = stepcache.key("t1_map", n=1)
    with stepcache.open(cache_dir) as cache:
        cache.put(key, np.zeros(2))
    with stepcache.open(cache_dir, read_only=True) as ro:
        assert ro.get(key) is not None
        with pytest.raises(stepcache.PermissionDenied):
            ro.put(key, np.ones(2))
        with pytest.raises(OSError):
            ro.invalidate(key)


def test_closed_cache_raises(cache_dir: pathlib.Path) -> None:
    cache = stepcache.open(cache_dir)
    cache.close()
    assert cache.closed
    for call in (lambda: cache.get("t1_map@b3:" + "0" * 64), lambda: cache.key("t"), cache.stats):
        with pytest.raises(stepcache.CacheClosed):
            call()
    assert issubclass(stepcache.CacheClosed, stepcache.StepcacheError)


def test_invalidate_clear_status_and_entries(cache: stepcache.Cache) -> None:
    keys = [cache.key("smooth", sigma=n, verbose=True, ignore=["verbose"], version=2) for n in range(3)]
    for n, key in enumerate(keys):
        cache.put(key, np.full(4, n, np.float32))
    states = cache.status(keys + [cache.key("smooth", sigma=9)])
    assert [s.state for s in states] == ["stored", "stored", "stored", "missing"]
    cache.get(keys[1])
    assert cache.status(keys[1:2])[0].state == "memory"
    cache.invalidate(keys[0])
    assert cache.get(keys[0]) is None
    entries = cache.entries()
    assert len(entries) == 2
    made = entries[0].provenance
    assert made.made_by.startswith("stepcache ")
    assert made.version == 2 and made.args is not None and set(made.args) == {"sigma"}
    assert entries[0].key in keys
    assert cache.clear("smooth") == 2
    assert cache.entries() == []


def test_stats_this_session_and_all_time(cache_dir: pathlib.Path) -> None:
    key = stepcache.key("t1_map", n=1)
    with stepcache.open(cache_dir) as cache:
        cache.get_or_compute(key, lambda: np.zeros(2))
        cache.get_or_compute(key, lambda: np.zeros(2))
        stats = cache.stats()
        t1 = stats.of_type("t1_map")
        assert t1 is not None and (t1.hits, t1.misses, t1.computes) == (1, 1, 1)
        assert stats.hit_rate == 0.5 and "t1_map" in str(stats)
    with stepcache.open(cache_dir) as cache:
        cache.get(key)
        (all_time,) = [t for t in cache.stats().all_time if t.step == "t1_map"]
        assert (all_time.hits, all_time.misses) == (2, 1)


def test_threads_compute_one_key_once(cache: stepcache.Cache) -> None:
    calls = []
    barrier = threading.Barrier(8)
    key = cache.key("slow", n=1)

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(1000, dtype=np.float64)

    results: list[stepcache.Hit] = []

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_compute(key, compute))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 8
    for hit in results:
        np.testing.assert_array_equal(hit.value, np.arange(1000))


def _process_worker(cache_dir: str, marker_dir: str, barrier: Any, results: Any) -> None:
    import os

    with stepcache.open(cache_dir) as cache:
        key = cache.key("shared_step", n=1)
        barrier.wait()

        def compute() -> np.ndarray:
            with open(os.path.join(marker_dir, f"computed-{os.getpid()}"), "w"):
                pass
            return np.arange(300_000, dtype=np.float64)

        hit = cache.get_or_compute(key, compute)
        results.put((hit.source, float(hit.value.sum())))


def test_processes_share_a_directory_and_compute_once(tmp_path: pathlib.Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    markers = tmp_path / "markers"
    markers.mkdir()
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(str(tmp_path / "c"), str(markers), barrier, results))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(list(markers.iterdir())) == 1
    assert sorted(source for source, _ in got).count("computed") == 1
    assert {total for _, total in got} == {float(np.arange(300_000).sum())}
