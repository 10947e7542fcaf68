"""Regions of cached arrays: slices of a volume without reading the rest."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import stepcache


def volume(z: int = 6) -> np.ndarray:
    """A `[z, 256, 512]` float32 volume (512 KiB a slice), each voxel its own index."""
    return np.arange(z * 256 * 512, dtype=np.float32).reshape(z, 256, 512)


@pytest.mark.parametrize(
    "region",
    [
        np.s_[2:3],
        np.s_[1:4],
        np.s_[3:5, 10:20, 7:9],
        np.s_[:, 255],
        np.s_[4],
        np.s_[2:, :, 511:],
        (slice(0, 6), slice(None)),
        (np.int64(3), slice(np.int32(2), np.uint8(9))),
        np.s_[1 : 10**20],
    ],
)
def test_a_region_is_the_numpy_slice_of_the_array(cache_dir: pathlib.Path, region: object) -> None:
    writer = stepcache.open(cache_dir)
    key = writer.key("smoothed", sigma=1.5)
    writer.put(key, volume())
    # From disk (a fresh handle has nothing in memory), then from the memory tier.
    reader = stepcache.open(cache_dir)
    expected = volume()[tuple(s if isinstance(s, slice) else slice(s, s + 1) for s in np.index_exp[region])]
    for cache, source in [(reader, "store"), (writer, "store")]:
        hit = cache.get_region(key, region)
        assert hit is not None and hit.source == source
        assert hit.value.dtype == np.float32
        np.testing.assert_array_equal(hit.value, expected)
    warm = stepcache.open(cache_dir)
    assert warm.get(key) is not None
    hit = warm.get_region(key, region)
    assert hit is not None and hit.source == "memory"
    np.testing.assert_array_equal(hit.value, expected)


def test_a_missing_key_is_none(cache: stepcache.Cache) -> None:
    assert cache.get_region(cache.key("smoothed", sigma=9.0), np.s_[0:1]) is None


@pytest.mark.parametrize(
    "region, message",
    [
        (np.s_[0:7], "not within"),
        (np.s_[3:2], "not within"),
        (np.s_[0:1, 0:1, 0:1, 0:1], "dimensions"),
        (np.s_[::2], "step 1"),
        (np.s_[-1:], "negative"),
        ("z", "expected a slice or an int"),
        (np.s_[1.5:2], "not an integer"),
        (np.float64(2.0), "expected a slice or an int"),
        (True, "expected a slice or an int"),
    ],
)
def test_a_region_that_does_not_fit_is_a_value_error_and_loses_nothing(
    cache: stepcache.Cache, region: object, message: str
) -> None:
    key = cache.key("smoothed", sigma=2.5)
    cache.put(key, volume())
    with pytest.raises(ValueError, match=message) as raised:
        cache.get_region(key, region)
    assert isinstance(raised.value, stepcache.InvalidArgument)
    np.testing.assert_array_equal(cache.get(key).value, volume())
