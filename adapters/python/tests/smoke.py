"""A short run of the installed wheel, for each CPython the abi3 wheel is for (test.sh runs
it in a fresh venv per interpreter found): keys, a step, a store hit as a read-only view,
records, errors. Prints one line and exits 0, or raises."""

from __future__ import annotations

import sys
import tempfile

import numpy as np

import stepcache


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        with stepcache.open(root) as cache:
            calls = []

            @cache.step(version=1)
            def smooth(x: np.ndarray, sigma: float = 1.0) -> dict[str, np.ndarray]:
                calls.append(sigma)
                return {"map": x * sigma, "mask": (x > 0).astype(np.uint8)}

            x = np.arange(300_000, dtype=np.float32)
            first, again = smooth(x, 2.0), smooth(x, sigma=2.0)
            assert calls == [2.0], calls
            np.testing.assert_array_equal(again["map"], x * 2)
            key = cache.key("t1_map", x=x, tr_ms=15)
            assert cache.put(key, x)["store"] == "stored"
            assert str(key) == str(stepcache.key("t1_map", x=x, tr_ms=15))
        with stepcache.open(root) as cache:
            hit = cache.get(key)
            assert hit is not None and hit.source == "store" and not hit.value.flags.writeable
            np.testing.assert_array_equal(hit.value, x)
            try:
                cache.put(cache.key("bad"), [1, 2])
            except TypeError:
                pass
            else:
                raise AssertionError("a list is not a value")
    print(f"stepcache {stepcache.__version__} on Python {sys.version.split()[0]}, numpy {np.__version__}: ok")


if __name__ == "__main__":
    main()
