"""Typical use of stepcache, checked by mypy --strict against the package's stubs."""

from __future__ import annotations

import pathlib
import tempfile
from typing import Optional

import numpy as np
import numpy.typing as npt

import stepcache


def main(root: pathlib.Path) -> float:
    with stepcache.open(root / "cache", memory_budget=64 << 20, policies={"preview": "memory"}) as cache:

        @cache.step(version=1, ignore=("verbose",))
        def t1_map(signal: npt.NDArray[np.float32], tr_ms: float = 15.0, verbose: bool = False) -> npt.NDArray[np.float32]:
            return np.asarray(signal.mean(axis=0), dtype=np.float32)

        t1 = t1_map(np.ones((4, 8, 8), np.float32))
        key: stepcache.Key = cache.key("r1_map", t1=t1, version=1)
        hit: stepcache.Hit = cache.get_or_compute(key, lambda: 1000.0 / np.asarray(t1))
        found: Optional[stepcache.Hit] = cache.get(key)
        assert found is not None and found.source in ("memory", "store")
        rows: Optional[stepcache.Hit] = cache.get_region(key, np.s_[2:4, 1])
        assert rows is not None and rows.value.shape == (2, 1)
        stats: stepcache.Stats = cache.stats()
        entries: list[stepcache.EntryInfo] = cache.entries()
        made: stepcache.Provenance = entries[0].provenance
        cache.set_force(["t1_map"])
        cache.set_access("rcw")
        cache.pin(key)
        cache.unpin(key)
        removed: list[stepcache.EntryInfo] = cache.collect(dry_run=True)
        exported: dict[str, int] = cache.export_bundle(root / "maps.stepcache", step="r1_map", since=0.0)
        refused = cache.import_bundle(str(root / "maps.stepcache"))["refused"]
        print(len(removed), exported["entries"], refused)
        shared: stepcache.SharedStats = stats.shared
        print(shared.enabled, shared.hits, shared.last_error, cache.flush_shared())
        try:
            cache.put(key, np.zeros(2), meta={"units": "ms"})
        except stepcache.StepcacheError as e:
            print(type(e).__name__)
        print(made.made_by, stats.hit_rate, hit.cost_us, cache.status([key])[0].state)
        return float(np.asarray(hit.value).sum())


def shared_cache(root: pathlib.Path) -> dict[str, object]:
    bucket = {"bucket": "lab", "endpoint": "http://127.0.0.1:8333", "prefix": "t1", "timeout": 5.0}
    with stepcache.open(root, shared=bucket, sharing=True, team_key=b"0123456789abcdef0123") as cache:
        return cache.pull(step="t1_map", since=0.0)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print(main(pathlib.Path(d)))
