"""Values: every dtype round trips with shape and metadata; large stored results come
back as read-only views of the entry's memory map; damaged entries are misses."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import stepcache

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5, 2)])
def test_every_dtype_round_trips_through_memory_and_disk(
    cache_dir: pathlib.Path, dtype: type, shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(7)
    data = (rng.random(shape) * 100).astype(dtype)
    key = stepcache.key("round_trip", dtype=np.dtype(dtype).str, shape=list(shape))
    with stepcache.open(cache_dir) as cache:
        cache.put(key, data, meta={"units": "ms", "n": 3})
        # Written from the array itself, then read from disk once, then from memory.
        hits = [cache.get(key), cache.get(key)]
        assert [h.source if h else None for h in hits] == ["store", "memory"]
        for hit in hits:
            assert hit is not None
            np.testing.assert_array_equal(hit.value, data)
    with stepcache.open(cache_dir) as cache:
        hit = cache.get(key)
        assert hit is not None and hit.source == "store"
        assert hit.value.dtype == np.dtype(dtype) and hit.value.shape == shape
        np.testing.assert_array_equal(hit.value, data)
        assert hit.meta == {"units": "ms", "n": 3}
        assert hit.meta_bytes == b'{"units":"ms","n":3}'


def test_bytes_and_raw_metadata(cache: stepcache.Cache) -> None:
    key = cache.key("report", subject="sub-01")
    cache.put(key, stepcache.Value(b'{"t1_ms": 1020}', meta=b"\x00raw"))
    hit = cache.get(key)
    assert hit is not None
    assert hit.value == b'{"t1_ms": 1020}'
    assert hit.meta == b"\x00raw"
    cache.put(key, np.zeros(2))
    hit = cache.get(key)
    assert hit is not None and hit.meta is None


def test_values_that_are_not_arrays_or_bytes_are_type_errors(cache: stepcache.Cache) -> None:
    with pytest.raises(TypeError, match="not a list"):
        cache.put(cache.key("s"), [1, 2])
    with pytest.raises(TypeError, match="float16"):
        cache.put(cache.key("s"), np.zeros(2, np.float16))


def test_numbers_are_stored_as_zero_dimensional_arrays(cache: stepcache.Cache) -> None:
    # A mean beside its map, as a Python float, an int and numpy scalars.
    key = cache.key("t1_fit", n=1)
    cache.put(key, {"t1": np.ones(4, np.float32), "mean": 1000.5, "voxels": 4, "sd": np.float32(2.5)})
    parts = cache.get(key).value
    assert (parts["mean"].dtype, parts["mean"].shape, float(parts["mean"])) == (np.float64, (), 1000.5)
    assert (parts["voxels"].dtype, int(parts["voxels"])) == (np.int64, 4)
    assert (parts["sd"].dtype, float(parts["sd"])) == (np.float32, 2.5)
    assert cache.get_or_compute(cache.key("count"), lambda: 7).value.tolist() == 7
    with pytest.raises(OverflowError):
        cache.put(cache.key("s"), {"n": 2**70})
    with pytest.raises(TypeError, match="bool"):
        cache.put(cache.key("s"), {"flag": True})


def mapped_file(address: int) -> str:
    """The file mapped at `address` in this process ('' if none)."""
    for line in pathlib.Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start <= address < end:
            return fields[5] if len(fields) > 5 else ""
    return ""


def test_store_hits_are_read_only_views_of_the_memory_map(cache_dir: pathlib.Path) -> None:
    big = np.arange(4 << 20, dtype=np.float32).reshape(1024, 4096)  # 16 MiB
    key = stepcache.key("big", n=1)
    with stepcache.open(cache_dir) as cache:
        cache.put(key, big)
    with stepcache.open(cache_dir) as cache:
        first = cache.get(key)
        second = cache.get(key)
        assert first is not None and second is not None
        assert (first.source, second.source) == ("store", "memory")
        arr = first.value
        assert arr.flags.writeable is False
        with pytest.raises(ValueError):
            arr.setflags(write=True)
        with pytest.raises(ValueError):
            arr[0, 0] = 1
        # The bytes are the entry file's, mapped into this process, not a copy.
        address = arr.__array_interface__["data"][0]
        entry = mapped_file(address)
        assert entry.startswith(str(cache_dir.resolve() / "v2" / "entries")), entry
        assert type(arr.base).__name__ == "_Owner"
        # The memory tier's hit is the same mapping, not another copy.
        assert second.value.__array_interface__["data"][0] == address
        assert np.shares_memory(first.value, second.value)
        np.testing.assert_array_equal(arr, big)
    # The arrays outlive the cache that returned them.
    assert float(arr[1023, 4095]) == float(big[1023, 4095])


def test_a_put_is_written_from_the_array_and_kept_as_it_was_put(cache: stepcache.Cache) -> None:
    data = np.arange(1 << 20, dtype=np.float64)  # 8 MiB
    key = cache.key("large_put", n=1)
    report = cache.put(key, data)
    # No copy in memory: the array is the caller's, who may change it.
    assert report == {"memory": "skipped: Borrowed", "store": "stored", "shared": "skipped: Policy"}
    data[:] = -1
    hit = cache.get(key)
    assert hit is not None and hit.source == "store"
    assert hit.value.flags.writeable is False
    np.testing.assert_array_equal(hit.value, np.arange(1 << 20, dtype=np.float64))


def test_a_put_the_disk_does_not_keep_is_a_copy_in_memory(cache_dir: pathlib.Path) -> None:
    with stepcache.open(cache_dir, policies={"preview": "memory"}) as cache:
        data = np.arange(1000, dtype=np.float32)
        key = cache.key("preview", n=1)
        assert cache.put(key, data)["memory"] == "stored"
        data[:] = -1
        hit = cache.get(key)
        assert hit is not None and hit.source == "memory"
        np.testing.assert_array_equal(hit.value, np.arange(1000, dtype=np.float32))
        assert not np.shares_memory(hit.value, data)


def address(array: np.ndarray) -> int:
    """The address of the first element of `array`."""
    return int(array.__array_interface__["data"][0])


def test_a_computed_array_nothing_else_holds_is_stored_without_a_copy(cache: stepcache.Cache) -> None:
    made: list[int] = []

    def compute() -> np.ndarray:
        result = np.arange(1 << 20, dtype=np.float64)
        made.append(address(result))
        return result

    key = cache.key("handed_over", n=1)
    hit = cache.get_or_compute(key, compute)
    assert hit.source == "computed"
    # The result is the array compute made, now read-only, not a copy of it.
    assert address(hit.value) == made[0]
    assert hit.value.flags.writeable is False
    again = cache.get(key)
    assert again is not None and again.source == "memory" and address(again.value) == made[0]
    np.testing.assert_array_equal(again.value, np.arange(1 << 20, dtype=np.float64))


class Sub(np.ndarray):
    """A subclass of ndarray (as np.memmap is): its bytes may be someone else's."""


def test_a_computed_array_something_else_can_reach_is_copied(cache_dir: pathlib.Path) -> None:
    kept = np.arange(1000, dtype=np.float64)
    whole = np.arange(2000, dtype=np.float64)
    cases = {
        "kept": lambda: kept,
        "view": lambda: whole[:1000],
        "subclass": lambda: np.arange(1000, dtype=np.float64).view(Sub),
        "fortran": lambda: np.asfortranarray(np.arange(1000, dtype=np.float64).reshape(10, 100)),
    }
    with stepcache.open(cache_dir) as cache:
        for name, compute in cases.items():
            expected = np.array(compute())
            hit = cache.get_or_compute(cache.key("copied", case=name), compute)
            assert hit.source == "computed"
            np.testing.assert_array_equal(hit.value, expected)
        # The caller's arrays stay theirs: writable, and changing them changes no result.
        assert kept.flags.writeable and whole.flags.writeable
        kept[:] = -1
        whole[:] = -1
        for name in ("kept", "view"):
            hit = cache.get(cache.key("copied", case=name))
            assert hit is not None and hit.source == "memory"
            np.testing.assert_array_equal(hit.value, np.arange(1000, dtype=np.float64))
    with stepcache.open(cache_dir) as cache:
        hit = cache.get(cache.key("copied", case="kept"))
        assert hit is not None and hit.source == "store"
        np.testing.assert_array_equal(hit.value, np.arange(1000, dtype=np.float64))


def test_a_damaged_entry_is_a_miss_and_is_removed(cache_dir: pathlib.Path) -> None:
    key = stepcache.key("t1_map", n=1)
    with stepcache.open(cache_dir) as cache:
        cache.put(key, np.arange(100_000, dtype=np.float64))
    (entry,) = (cache_dir / "v2" / "entries").iterdir()
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    entry.write_bytes(bytes(raw))
    with stepcache.open(cache_dir) as cache:
        assert cache.get(key) is None
        assert cache.stats().corrupt_removed == 1
        assert not entry.exists()
        hit = cache.get_or_compute(key, lambda: np.ones(3))
        assert hit.source == "computed"


def test_a_truncated_entry_is_a_miss(cache_dir: pathlib.Path) -> None:
    key = stepcache.key("t1_map", n=2)
    with stepcache.open(cache_dir) as cache:
        cache.put(key, np.arange(1000, dtype=np.int32))
    (entry,) = (cache_dir / "v2" / "entries").iterdir()
    entry.write_bytes(entry.read_bytes()[:-7])
    with stepcache.open(cache_dir) as cache:
        assert cache.get(key) is None
