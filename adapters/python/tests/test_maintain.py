"""Keeping a cache: pins, collection by budget, and bundles carried to another cache."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import stepcache

MAP = 100_000  # float32 elements: 400 kB, an entry file of its own


def test_collect_applies_the_budget_and_dry_run_removes_nothing(cache_dir: pathlib.Path) -> None:
    with stepcache.open(cache_dir) as cache:
        keys = [cache.key("t1_map", n=n) for n in range(4)]
        for n, key in enumerate(keys):
            cache.put(key, np.full(MAP, n, np.float32))
    # Reopened with room for about two of them: the oldest used go first.
    with stepcache.open(cache_dir, store_budget=2 * MAP * 4 + 200_000) as cache:
        cache.get(keys[0])  # used last: kept
        would = cache.collect(dry_run=True)
        assert len(would) >= 2 and all(e.key != keys[0] for e in would)
        assert [e.key for e in cache.collect(dry_run=True)] == [e.key for e in would], "a dry run removes nothing"
        removed = cache.collect()
        assert [e.key for e in removed] == [e.key for e in would]
        assert cache.has(keys[0])
        assert not any(cache.has(e.key) for e in removed)
        assert cache.collect() == []


def test_a_pinned_entry_outlives_the_budget(cache_dir: pathlib.Path) -> None:
    with stepcache.open(cache_dir, store_budget=2 * MAP * 4 + 200_000) as cache:
        first = cache.key("t1_map", n=0)
        cache.put(first, np.zeros(MAP, np.float32))
        cache.pin(first)
        for n in range(1, 6):
            cache.put(cache.key("t1_map", n=n), np.ones(MAP, np.float32))
        assert cache.has(first), "pinned: never evicted"
        cache.unpin(first)
        for n in range(6, 9):
            cache.put(cache.key("t1_map", n=n), np.ones(MAP, np.float32))
        assert not cache.has(first), "unpinned: evicted as the oldest"


def test_bundles_carry_entries_to_another_cache(tmp_path: pathlib.Path) -> None:
    bundle = tmp_path / "maps.stepcache"
    source, target = tmp_path / "a", tmp_path / "b"
    t1 = np.arange(MAP, dtype=np.float32)
    with stepcache.open(source) as cache:
        cache.put(cache.key("t1_map", tr=15), t1, meta={"units": "ms"})
        cache.put(cache.key("mask", tr=15), np.ones(10, np.uint8))
        report = cache.export_bundle(bundle, step="t1_map")
        assert report["entries"] == 1 and report["damaged"] == 0
        assert report["bytes"] == bundle.stat().st_size
    with stepcache.open(target) as cache:
        imported = cache.import_bundle(bundle)
        assert {k: v for k, v in imported.items() if k != "bytes"} == {
            "imported": 1,
            "present": 0,
            "skipped": 0,
            "refused": [],
        }
        assert MAP * 4 < imported["bytes"] < report["bytes"], "the entry's bytes, not the framing"
        hit = cache.get(cache.key("t1_map", tr=15))
        assert hit is not None and hit.source in ("memory", "store") and hit.meta == {"units": "ms"}
        np.testing.assert_array_equal(hit.value, t1)
        assert cache.get(cache.key("mask", tr=15)) is None, "another step: not exported"
        again = cache.import_bundle(str(bundle))
        assert (again["imported"], again["present"]) == (0, 1)


def test_bad_bundles_and_paths_are_typed_errors(tmp_path: pathlib.Path) -> None:
    with stepcache.open(tmp_path / "a") as cache:
        cache.put(cache.key("t1_map", tr=15), np.zeros(MAP, np.float32))
        bundle = tmp_path / "maps.stepcache"
        cache.export_bundle(bundle)
        with pytest.raises(stepcache.InvalidArgument, match="cannot write"):
            cache.export_bundle(tmp_path / "no-such-dir" / "x.stepcache")
        with pytest.raises(stepcache.InvalidStepName):
            cache.export_bundle(tmp_path / "y.stepcache", step="bad name")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "maps.stepcache"], "no partial file"
    data = bundle.read_bytes()
    cut = tmp_path / "cut.stepcache"
    cut.write_bytes(data[: len(data) // 2])
    with stepcache.open(tmp_path / "b") as cache:
        with pytest.raises(stepcache.InvalidBundle):
            cache.import_bundle(cut)
        with pytest.raises(stepcache.InvalidArgument, match="cannot read"):
            cache.import_bundle(tmp_path / "missing.stepcache")
        with pytest.raises(stepcache.InvalidArgument, match="directory"):
            cache.import_bundle(tmp_path)
        assert cache.entries() == []
