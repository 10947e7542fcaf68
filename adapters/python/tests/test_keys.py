"""Keys built in Python equal core's golden keys (core/tests/golden_keys.rs), and every
kind of Python argument enters a key as documented."""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np
import pytest

import stepcache

MAP = np.array([[1, 2], [3, 4]], dtype=np.float32)
META = b'{"units":"ms"}'


def fp(key: stepcache.Key) -> str:
    return key.fingerprint


def test_golden_scalars() -> None:
    k = stepcache.key
    assert fp(k("t1_map")) == "b3:89ed1a5bd2308553021b235b042bf59c056c23d39e01b036ba33c481dd729061"
    assert fp(k("t1_map", version=3)) == "b3:1ffa10d68b607ce43ffaf0a05d19b75b23e25bea2e4a69a25f9a6d1e95ad9019"
    assert fp(k("t1_map", b1_correction=True)) == "b3:fca6496bfe8efee42e0feb75fd8b64e8c7219a02d1c64b49d3a62f78c9abd075"
    assert fp(k("t1_map", n_iter=5)) == "b3:f4d384ccdbf122fea32639388f17cf67c5dfa403cbbaea8ddf93b37a0d5dc54f"
    assert fp(k("t1_map", offset=-7)) == "b3:2cec079bd7b432af12df965ed9a36a31f286b6e8c61fc5b3182c483fe4b168d7"
    assert fp(k("t1_map", tr_ms=1.5)) == "b3:8825a345be612678e0dc66fcb22abbccb74d4faae710a6edec7a192b63a1c8d3"
    assert fp(k("t1_map", method="vfa")) == "b3:87cf8c6ed07bb0e0b0727d8eb0f63618b22d9779081b7d4c3e1480edb136bab6"
    blob = "b3:5535a14686cc7d4e53d385f3d0668a6b0290cc7dc62ff90bda3e2cc7b6f2a694"
    assert fp(k("t1_map", blob=bytes([0, 1, 2, 254, 255]))) == blob
    assert fp(k("t1_map", blob=bytearray([0, 1, 2, 254, 255]))) == blob


def test_golden_whole_numbers_whatever_their_type() -> None:
    golden = "b3:fba216519dc19a985d51eada8f82a8dcb0cf379e8705189743f65104f6c19048"
    for tr in (15, 15.0, np.float32(15), np.uint8(15), np.int64(15), np.float64(15)):
        assert fp(stepcache.key("t1_map", tr_ms=tr)) == golden, repr(tr)


def test_golden_numbers_at_the_edges() -> None:
    golden = "b3:0c1e71819ec679f89e04b516b892cd81b8dcb98dda81297e28e1e2868ddb472f"
    as_given = stepcache.key(
        "numbers", big=1e30, huge=2.0**127, min=-(2.0**127), odd=2**53 + 1, tenth=np.float32(0.1)
    )
    as_integers = stepcache.key(
        "numbers",
        big=1000000000000000019884624838656,
        huge=2.0**127,
        min=-(2**127),
        odd=2**53 + 1,
        tenth=float(np.float32(0.1)),
    )
    assert fp(as_given) == fp(as_integers) == golden


def test_golden_list_and_array() -> None:
    golden = "b3:d9d2f3ac2740f7a0dd9895f9934c01310dd447be9537a334181c8ee3886fe410"
    assert fp(stepcache.key("t1_map", flip_deg=[1.5, 15.0, 2.0])) == golden
    assert fp(stepcache.key("t1_map", flip_deg=(1.5, 15, np.int8(2)))) == golden
    assert fp(stepcache.key("t1_map", b1=MAP)) == "b3:8977ae677ba93459f638e7bda6bc5a4270b6a694d3fe6e9a971bfc0600831e58"


def test_golden_content_and_lineage(cache: stepcache.Cache) -> None:
    base = stepcache.key("t1_map")
    cache.put(base, MAP, meta=META)
    hit = cache.get(base)
    assert hit is not None
    assert hit.content == "b3:4a88b0ea5c0e4bef746569c1a31976667f02a10940d1db79edf3e849d494e4d7"
    lineage = "b3:d52682570c1c0fa306cad2d8071f093c5c48935961b2096c6522ecf6049a2ca3"
    assert fp(stepcache.key("r1_map", t1=hit)) == lineage
    # The array the hit holds stands for the hit; a slice or a copy of it does not.
    assert fp(stepcache.key("r1_map", t1=hit.value)) == lineage
    assert fp(stepcache.key("r1_map", t1=hit.value.copy())) != lineage
    assert fp(stepcache.key("r1_map", t1=hit.value[:1])) != lineage
    assert fp(stepcache.key("r1_map", t1=hit.value.reshape(4))) != lineage
    mixed = stepcache.key(
        "t1_map",
        version=2,
        tr_ms=15.0,
        flip_deg=[2, 15],
        method="vfa",
        b1_correction=False,
        b1=MAP,
        input=hit,
    )
    assert fp(mixed) == "b3:747ee718b738cdf04ee4b30d30fe5f6210ed64d813f2d86153271e6e43a36c5d"


def test_order_ignore_and_defaults() -> None:
    a = stepcache.key("t1_map", {"tr_ms": 15.0, "method": "vfa"}, n=3)
    b = stepcache.key("t1_map", n=3, method="vfa", tr_ms=15)
    assert a == b and hash(a) == hash(b)
    assert stepcache.key("s", x=1, verbose=True, ignore=["verbose"]) == stepcache.key("s", x=1)
    assert stepcache.key("s", x=1, b1=False, defaults={"b1": False}) == stepcache.key("s", x=1)
    assert stepcache.key("s", x=1, b1=True, defaults={"b1": False}) != stepcache.key("s", x=1)
    # An argument named like an option goes through the mapping.
    assert stepcache.key("s", {"version": 2}) != stepcache.key("s", version=2)
    assert stepcache.Key.parse(str(a)) == a
    assert a.args == {"method": "vfa", "n": 3, "tr_ms": 15}


def test_arrays_key_by_dtype_shape_and_logical_contents() -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    strided = base[:, ::2]
    assert not strided.flags.c_contiguous
    assert stepcache.key("s", a=strided) == stepcache.key("s", a=np.ascontiguousarray(strided))
    assert stepcache.key("s", a=base.T) == stepcache.key("s", a=base.T.copy())
    assert stepcache.key("s", a=base.T) != stepcache.key("s", a=base)
    swapped = base.astype(base.dtype.newbyteorder(">"))
    assert stepcache.key("s", a=swapped) == stepcache.key("s", a=base)
    assert stepcache.key("s", a=base) != stepcache.key("s", a=base.astype(np.float32))
    assert stepcache.key("s", a=base) != stepcache.key("s", a=base.reshape(6, 4))
    # Arrays inside lists enter as their digests.
    assert stepcache.key("s", a=[base, 1]) != stepcache.key("s", a=[base.reshape(6, 4), 1])


def test_golden_none() -> None:
    # golden_none_arg: None keys as Rust's None and JavaScript's null do, in a list too.
    golden = "b3:138ac5f801676118052efbfe0f68c4a6d40b8e4eb0ad3fb5282ee032b77abbe3"
    assert fp(stepcache.key("t1_map", b1=None, flip_deg=[2, None])) == golden


def test_none_mappings_and_dataclasses() -> None:
    none = stepcache.key("s", x=None)
    assert none != stepcache.key("s") and none != stepcache.key("s", x=[]) and none != stepcache.key("s", x=b"")
    assert none.args == {"x": None}

    @dataclasses.dataclass
    class Fit:
        tr_ms: float
        flips: list[float]

    flat = stepcache.key("s", **{"fit.tr_ms": 15, "fit.flips": [2, 5]})
    assert stepcache.key("s", fit=Fit(15.0, [2.0, 5.0])) == flat
    assert stepcache.key("s", fit={"flips": [2, 5], "tr_ms": 15}) == flat
    assert stepcache.key("s", fit={"tr_ms": 15, "flips": [2, 5], "x": 1}) != flat


def test_unkeyable_values_are_type_errors_naming_the_argument() -> None:
    for bad in (object(), {1, 2}, np.zeros(3, dtype=bool), np.zeros(2, dtype=np.complex64), 1j, [object()],
                [{"a": 1}], np.array(["a"])):
        with pytest.raises(TypeError, match='argument "sneaky"'):
            stepcache.key("s", ok=1, sneaky=bad)
    with pytest.raises(stepcache.InvalidArgument, match='"x" is NaN'):
        stepcache.key("s", x=float("nan"))
    with pytest.raises(ValueError):
        stepcache.key("s", x=2**130)
    with pytest.raises(stepcache.InvalidArgument, match="is a key"):
        stepcache.key("s", x=stepcache.key("t"))
    with pytest.raises(stepcache.InvalidStepName):
        stepcache.key("not a step")
    with pytest.raises(stepcache.InvalidFingerprint):
        stepcache.Key.parse("t1_map@b3:00")


def test_files_key_by_contents_and_are_not_read_again(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "signal.bin"
    path.write_bytes(b"a" * 4096)
    old = 1_000_000_000 * 1_000_000_000  # 2001, in ns: far from "just modified"
    os.utime(path, ns=(old, old))
    first = stepcache.key("s", signal=path)
    # Keyed by contents, not by name: another file with the same bytes is the same key.
    other = tmp_path / "copy.bin"
    other.write_bytes(b"a" * 4096)
    assert stepcache.key("s", signal=other) == first

    # Same size and modification time, other contents: the remembered fingerprint is
    # used, which shows the file was not read again.
    path.write_bytes(b"b" * 4096)
    os.utime(path, ns=(old, old))
    assert stepcache.key("s", signal=path) == first
    # A new modification time: read again, and the new contents give a new key.
    os.utime(path, ns=(old + 10**9, old + 10**9))
    changed = stepcache.key("s", signal=path)
    assert changed != first
    assert changed == stepcache.key("s", signal=pathlib.Path(os.path.relpath(path)))
    with pytest.raises(ValueError, match='argument "signal"'):
        stepcache.key("s", signal=tmp_path / "missing.bin")


def test_only_regular_files_key_by_contents(tmp_path: pathlib.Path) -> None:
    # A pipe would block the key until someone writes, /dev/zero never ends: refused.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for special in (fifo, pathlib.Path("/dev/zero"), tmp_path):
        with pytest.raises(ValueError, match="not a regular file"):
            stepcache.key("s", signal=special)


def test_self_holding_and_too_deep_arguments_are_invalid_not_a_crash() -> None:
    holds_itself: list[object] = [1]
    holds_itself.append(holds_itself)
    with pytest.raises(stepcache.InvalidArgument, match='"x" nests lists more than 16 deep'):
        stepcache.key("s", x=holds_itself)
    mapping: dict[str, object] = {}
    mapping["a"] = mapping
    with pytest.raises(stepcache.InvalidArgument, match="holds itself"):
        stepcache.key("s", x=mapping)

    def nested(depth: int) -> object:
        return 7 if depth == 0 else (nested(depth - 1),)

    stepcache.key("s", x=nested(16))
    with pytest.raises(stepcache.InvalidArgument, match="16 deep"):
        stepcache.key("s", x=nested(17))
