"""The step decorator: every argument enters the key, defaults are dropped, results
chain by lineage, and force and access modes apply."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import stepcache


def test_a_step_caches_by_all_its_arguments(cache: stepcache.Cache) -> None:
    calls: list[tuple[float, bool]] = []

    @cache.step(version=1, ignore=("verbose",))
    def t1_map(signal: np.ndarray, tr_ms: float, smooth: bool = False, verbose: bool = False) -> np.ndarray:
        calls.append((tr_ms, smooth))
        return signal.mean(axis=0) * tr_ms

    signal = np.ones((4, 8, 8), np.float32)
    first = t1_map(signal, 15.0)
    assert first.flags.writeable is False and first.shape == (8, 8)
    t1_map(signal, tr_ms=15, verbose=True)  # keyword, whole number, ignored flag: one key
    t1_map(signal, 15.0, smooth=True)
    t1_map(signal * 2, 15.0)
    assert calls == [(15.0, False), (15.0, True), (15.0, False)]
    assert t1_map.name == "t1_map"
    assert t1_map.hit(signal, 15.0).source == "memory"
    assert t1_map.key(signal, 15.0) == cache.key("t1_map", signal=signal, tr_ms=15, version=1)


def test_arguments_equal_to_defaults_leave_the_key(cache: stepcache.Cache) -> None:
    def fit(x: np.ndarray, n_iter: int = 10) -> np.ndarray:
        return x + n_iter

    def fit_with_b1(x: np.ndarray, n_iter: int = 10, b1: bool = False) -> np.ndarray:
        return x + n_iter

    old = cache.step("fit", version=1)(fit)
    new = cache.step("fit", version=1)(fit_with_b1)
    x = np.zeros(3)
    # A parameter added with its old behaviour as default keeps old results valid.
    assert old.key(x) == new.key(x) == new.key(x, 10, False) == cache.key("fit", x=x, version=1)
    assert new.key(x, b1=True) != old.key(x)
    assert old.key(x, n_iter=11) != old.key(x)
    old(x)
    assert new.hit(x).source == "memory"


def test_an_unkeyable_argument_is_a_type_error_naming_it(cache: stepcache.Cache) -> None:
    @cache.step()
    def smooth(x: np.ndarray, kernel: object = None) -> np.ndarray:
        return x

    with pytest.raises(TypeError, match='argument "kernel"'):
        smooth(np.zeros(2), kernel=lambda v: v)
    with pytest.raises(TypeError):
        smooth(np.zeros(2), 1, 2)  # does not fit the signature


def test_results_chain_by_lineage(cache: stepcache.Cache) -> None:
    @cache.step(version=1)
    def t1_map(signal: np.ndarray) -> np.ndarray:
        return signal * 1000.0

    @cache.step(version=1)
    def r1_map(t1: np.ndarray) -> np.ndarray:
        return 1000.0 / t1

    t1 = t1_map(np.ones(16, np.float32))
    r1 = r1_map(t1)
    np.testing.assert_allclose(r1, 1.0)
    t1_hit = t1_map.hit(np.ones(16, np.float32))
    (arg,) = r1_map.key(t1).args.values()  # type: ignore[union-attr]
    assert isinstance(arg, stepcache.LineageArg)
    assert arg.key == t1_hit.key.fingerprint and arg.content == t1_hit.content
    # The same values from elsewhere are hashed: another key.
    assert r1_map.key(np.array(t1)) != r1_map.key(t1)


def test_var_arguments_enter_the_key(cache: stepcache.Cache) -> None:
    @cache.step()
    def stack(*maps: np.ndarray, **options: float) -> np.ndarray:
        return np.stack(maps) * options.get("scale", 1.0)

    a, b = np.zeros(2), np.ones(2)
    assert stack.key(a, b) != stack.key(b, a)
    assert stack.key(a, scale=2.0) != stack.key(a)
    np.testing.assert_array_equal(stack(a, b, scale=2.0), [[0, 0], [2, 2]])


def test_force_and_access_apply_to_steps(cache: stepcache.Cache) -> None:
    calls = []

    @cache.step()
    def smooth(x: np.ndarray) -> np.ndarray:
        calls.append(1)
        return x

    x = np.zeros(4)
    smooth(x)
    cache.set_force(["smooth"])
    smooth(x)
    smooth(x)
    assert len(calls) == 2
    cache.set_access("r")
    with pytest.raises(stepcache.ComputeDisabled):
        smooth(np.ones(4))


def test_several_outputs_are_one_entry(cache_dir: pathlib.Path) -> None:
    calls: list[float] = []

    with stepcache.open(cache_dir) as cache:

        @cache.step(version=1)
        def t1_fit(signal: np.ndarray, tr_ms: float) -> dict[str, np.ndarray]:
            calls.append(tr_ms)
            t1 = signal.mean(axis=0) * tr_ms
            return {"t1": t1, "sd": t1 / 10, "mask": (t1 > 0).astype(np.uint8), "mean": np.float64(t1.mean())}

        @cache.step(version=1)
        def split(signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return signal[0], signal[1]

        signal = np.ones((4, 8, 8), np.float32)
        fit = t1_fit(signal, 15.0)
        assert list(fit) == ["t1", "sd", "mask", "mean"]
        assert fit["t1"].shape == (8, 8) and fit["mask"].dtype == np.uint8 and float(fit["mean"]) == 15.0
        assert all(part.flags.writeable is False for part in fit.values())
        pair = split(signal)
        assert isinstance(pair, tuple) and len(pair) == 2 and pair[1].shape == (8, 8)
        assert len(cache.entries()) == 2, "one entry per call, whatever its outputs"

    # A fresh process's view: read back from disk, the parts are views of the one entry.
    with stepcache.open(cache_dir) as cache:

        @cache.step(version=1)
        def t1_fit(signal: np.ndarray, tr_ms: float) -> dict[str, np.ndarray]:
            calls.append(tr_ms)
            raise AssertionError("stored: not computed again")

        again = t1_fit(signal, 15.0)
        assert calls == [15.0]
        np.testing.assert_array_equal(again["sd"], fit["sd"])
        assert np.shares_memory(again["t1"], t1_fit(signal, 15.0)["t1"]), "views of the stored bytes"
        # A part passed on is keyed by its contents (a lineage would name the whole record).
        assert cache.key("next", x=again["sd"]) == cache.key("next", x=np.array(fit["sd"]))


def test_bad_outputs_are_errors(cache: stepcache.Cache) -> None:
    key = cache.key("fit", n=1)
    with pytest.raises(TypeError, match="str keys"):
        cache.put(key, {1: np.zeros(2)})
    with pytest.raises(stepcache.InvalidValue):
        cache.put(key, {"": np.zeros(2)})
    with pytest.raises(TypeError):
        cache.put(key, {"a": [1, 2]})
    assert cache.get(key) is None
