#!/usr/bin/env python3
"""Computes the golden keys of core/tests/golden_keys.rs from the documented format alone.

An independent implementation of key format v2 (core/src/key.rs, module docs) and of the
content identity (Fingerprint::of_content in core/src/fingerprint.rs), using the reference
`blake3` and `xxhash` Python packages and no stepcache code, so the Rust goldens are checked
against the specification rather than against themselves.

Run by hand (not in CI):

    python3 -m venv /tmp/b3 && /tmp/b3/bin/pip install blake3 xxhash
    /tmp/b3/bin/python core/tests/golden_keys.py          # prints every golden
    /tmp/b3/bin/python core/tests/golden_keys.py --check  # and checks golden_keys.rs has each

The adapters/wasm browser tests pin the same values through the npm package
(adapters/wasm/test/npm.test.mjs, "the core's golden fingerprints").
"""

import math
import pathlib
import struct
import sys

import blake3
import xxhash

KEY_CONTEXT = "stepcache 2026-11 key v2"
ARRAY_CONTEXT = "stepcache 2026-11 array v1"
CONTENT_CONTEXT = "stepcache 2026-11 content v1"
F32 = 9  # ElementType::F32's code
NONE = blake3.blake3(b"stepcache none").digest()  # Arg::none's digest


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def text(b):
    return u64(len(b)) + b


def fp(digest):
    return "b3:" + digest.hex()


def derive(context, data):
    return blake3.blake3(data, derive_key_context=context).digest()


# ----- argument values ---------------------------------------------------------------


class Float:
    """A number given as a float (Python's int and float already differ: 15 vs 15.0)."""

    def __init__(self, x):
        self.x = float(x)


class Bytes:
    def __init__(self, b):
        self.b = bytes(b)


class Digest:
    """Tag 0x06: an array digest (or any precomputed 32-byte digest)."""

    def __init__(self, d):
        self.d = d


class Lineage:
    """Tag 0x07: an upstream key's fingerprint and its value's content identity."""

    def __init__(self, key, content):
        self.key, self.content = key, content


def integer(n):
    assert -(2**127) <= n < 2**127, "an integer argument is an i128"
    return b"\x01" + n.to_bytes(16, "little", signed=True)


def number(x):
    """The canonical number rule: an integer in [-2^127, 2^127) is that integer (exactly,
    whatever type it came as); any other finite number is its f64 bits; NaN and the
    infinities are rejected."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and infinities are not keys")
    if x.is_integer() and -(2.0**127) <= x < 2.0**127:
        return integer(int(x))  # int(x) is exact for an integral float
    return b"\x02" + struct.pack("<d", x)


def value(v):
    if isinstance(v, bool):
        return b"\x00" + bytes([v])
    if isinstance(v, int):
        return integer(v)
    if isinstance(v, Float):
        return number(v.x)
    if isinstance(v, str):
        return b"\x03" + text(v.encode())
    if isinstance(v, Bytes):
        return b"\x04" + text(v.b)
    if isinstance(v, list):
        return b"\x05" + u64(len(v)) + b"".join(value(item) for item in v)
    if isinstance(v, Digest):
        return b"\x06" + v.d
    if isinstance(v, Lineage):
        return b"\x07" + v.key + v.content
    raise TypeError(v)


def key(step, args=None, version=0):
    args = sorted((args or {}).items(), key=lambda kv: kv[0].encode())
    out = text(step.encode()) + u32(version) + u64(len(args))
    for name, v in args:
        out += text(name.encode()) + value(v)
    return derive(KEY_CONTEXT, out)


def array_digest(elem, shape, data):
    prefix = bytes([elem]) + u64(len(shape)) + b"".join(u64(d) for d in shape)
    return derive(ARRAY_CONTEXT, prefix + data)


def content(elem, shape, data, meta=b""):
    check = xxhash.xxh3_128_intdigest(data)  # seed 0
    head = bytes([elem]) + u64(len(shape)) + b"".join(u64(d) for d in shape)
    head += check.to_bytes(16, "little") + u64(len(meta))
    return derive(CONTENT_CONTEXT, head + meta)


# ----- the goldens -------------------------------------------------------------------

MAP = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)  # the 2x2 f32 map [[1, 2], [3, 4]]
META = b'{"units":"ms"}'


def goldens():
    base = key("t1_map")
    map_content = content(F32, [2, 2], MAP, META)
    f32_tenth = struct.unpack("<f", struct.pack("<f", 0.1))[0]  # 0.1f32 widened to f64
    return {
        "step_name_only": base,
        "step_name_and_version": key("t1_map", version=3),
        "bool_arg": key("t1_map", {"b1_correction": True}),
        "int_arg": key("t1_map", {"n_iter": 5}),
        "negative_int_arg": key("t1_map", {"offset": -7}),
        "whole_number_arg": key("t1_map", {"tr_ms": 15}),
        "float_arg": key("t1_map", {"tr_ms": Float(1.5)}),
        "text_arg": key("t1_map", {"method": "vfa"}),
        "bytes_arg": key("t1_map", {"blob": Bytes([0, 1, 2, 254, 255])}),
        "list_arg": key("t1_map", {"flip_deg": [Float(1.5), 15, 2]}),
        "array_arg": key("t1_map", {"b1": Digest(array_digest(F32, [2, 2], MAP))}),
        "map_content": map_content,
        "lineage_arg": key("r1_map", {"t1": Lineage(base, map_content)}),
        "digest_arg": key("t1_map", {"mask": Digest(blake3.blake3(b"mask").digest())}),
        # An absent value (Rust's and Python's None, JavaScript's null), alone and in a list.
        "none_arg": key("t1_map", {"b1": Digest(NONE), "flip_deg": [2, Digest(NONE)]}),
        "numbers": key(
            "numbers",
            {
                "big": 1000000000000000019884624838656,  # 1e30 as f64, exactly
                "huge": Float(2.0**127),  # integral, out of i128: a float
                "min": -(2**127),
                "odd": 2**53 + 1,
                "tenth": Float(f32_tenth),
            },
        ),
        "mixed": key(
            "t1_map",
            {
                "tr_ms": 15,
                "flip_deg": [2, 15],
                "method": "vfa",
                "b1_correction": False,
                "b1": Digest(array_digest(F32, [2, 2], MAP)),
                "input": Lineage(base, map_content),
            },
            version=2,
        ),
    }


def main():
    values = {name: fp(d) for name, d in goldens().items()}
    for name, v in values.items():
        print(f"{name:24} {v}")
    if "--check" in sys.argv:
        rust = (pathlib.Path(__file__).parent / "golden_keys.rs").read_text()
        missing = [name for name, v in values.items() if f'"{v}"' not in rust]
        if missing:
            sys.exit(f"not in golden_keys.rs: {', '.join(missing)}")
        print("every golden above is in golden_keys.rs")


if __name__ == "__main__":
    main()
