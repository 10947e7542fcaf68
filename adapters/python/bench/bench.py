"""The Python package stepcache against its peers, side by side in one run.

Three measurements, on f32 maps of the sizes given (``--sizes``, MiB):

1. **Key of an array argument**: ``stepcache.key("bench_key", x=x)`` against
   ``joblib.hash(x)`` and against the Rust API's key of the same bytes
   (``Key::of("bench_key").array("x", ..)``, timed inside ``examples/bench_peer.rs``).
   The two stepcache keys must be equal, or the run stops: both hash the same thing.
2. **Decorated call that hits, in a fresh process**: one subprocess per measurement
   imports, makes its input map, opens the cache and calls the decorated function once:
   ``@cache.step`` against ``joblib.Memory(dir, mmap_mode="r").cache`` and
   ``diskcache.Cache(dir).memoize()`` of the same function. The call is timed inside the
   subprocess; so is a first use of the result (its sum, which reads every byte: a memory
   map defers its reads to then); the subprocess's whole wall time is timed outside. Each
   peer's entry is written by an untimed first call, so the page cache is warm.
3. **Miss path, compute excluded**: storing a map under a new key with
   ``Cache.put`` (the caller keeps its array, which is written from its buffer) and
   with ``Cache.get_or_compute`` whose compute hands over a fresh array (what a step
   function's miss does), against the Rust API's ``Cache::put`` and
   ``Cache::get_or_compute`` of a ``Value`` made beforehand, and its ``put_ref`` of the
   map it keeps (what Python's ``put`` does). Maps under 16 MiB are stored 16 MiB's worth
   at a time (16 1-MiB maps, 4 4-MiB maps) under new keys, and the time per store is
   reported. Each side makes its values, runs ``sync``, then starts the clock; the
   entries are removed untimed after it.

Measurements of one table take turns in a new shuffled order every round; each figure is
the median of the rounds, with the smallest and largest beside it, and each ratio the
median of the rounds' ratios (both sides timed in the same round). Usage (``bench.sh``
builds the wheel, the Rust peer and the venv with the peers first)::

    python bench.py --rust-peer PATH [--sizes 1,4,40,256] [--reps 7] [--fresh-reps 5]
                    [--only keys,hits,stores] [--dir SCRATCH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

#: Set by :func:`scaled` when it runs, so a child can tell a hit from a miss.
COMPUTED = False


def bench_array(mib: int) -> Any:
    """The benchmark's f32 map of ``mib`` MiB: element ``i`` is ``(i % 1000003) * 0.5``.

    ``examples/bench_peer.rs`` makes the same bytes in Rust.
    """
    import numpy as np

    n = (mib << 20) // 4
    return (np.arange(n, dtype=np.int64) % 1000003).astype(np.float32) * np.float32(0.5)


def scaled(x: Any) -> Any:
    """The cached step of measurement 2 (its compute never runs when timed)."""
    global COMPUTED
    COMPUTED = True
    return x * 2.0


# ---------------------------------------------------------------- measurement 2: a child


def child(peer: str, directory: str, mib: int) -> Dict[str, Any]:
    """One fresh process's decorated call: imports, input, open, call, first use.

    Returns the seconds of each phase, whether the function computed, and (stepcache)
    where the hit came from.
    """
    start = time.perf_counter()
    import numpy as np

    if peer == "stepcache":
        import stepcache
    elif peer == "joblib":
        import joblib
    else:
        import diskcache
    imported = time.perf_counter()
    x = bench_array(mib)
    made = time.perf_counter()
    source = None
    if peer == "stepcache":
        cache = stepcache.open(directory)
        fn = cache.step(name="scaled", version=1)(scaled)
        opened = time.perf_counter()
        hit = fn.hit(x)
        y = hit.value
        called = time.perf_counter()
        source = hit.source
    elif peer == "joblib":
        memory = joblib.Memory(directory, mmap_mode="r", verbose=0)
        fn = memory.cache(scaled)
        opened = time.perf_counter()
        y = fn(x)
        called = time.perf_counter()
    else:
        dc = diskcache.Cache(directory)
        fn = dc.memoize(name="scaled")(scaled)
        opened = time.perf_counter()
        y = fn(x)
        called = time.perf_counter()
    total = float(np.sum(y, dtype=np.float32))
    used = time.perf_counter()
    if total != float(np.sum(x, dtype=np.float32) * 2):
        raise SystemExit(f"{peer}: the result is not 2 * x")
    return {
        "import": imported - start,
        "input": made - imported,
        "open": opened - made,
        "call": called - opened,
        "use": used - called,
        "computed": COMPUTED,
        "source": source,
    }


def run_child(peer: str, directory: str, mib: int) -> Dict[str, Any]:
    """Runs :func:`child` in a new interpreter; adds its wall time as ``wall``."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", peer, directory, str(mib)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: Dict[str, Any] = json.loads(out)
    result["wall"] = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------- the Rust peer


class RustPeer:
    """``examples/bench_peer.rs``, driven one command at a time over a pipe."""

    def __init__(self, path: str, directory: str) -> None:
        self._proc = subprocess.Popen(
            [path, directory], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, command: str) -> str:
        """Sends one command line and returns the reply line."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        reply = self._proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"the Rust peer stopped on {command!r}")
        return reply.strip()

    def close(self) -> None:
        """Ends the peer (closing its input) and waits for it."""
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait()


# ------------------------------------------------------------------------ the rounds


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rounds(cases: Dict[str, Callable[[], float]], reps: int) -> Dict[str, List[float]]:
    """Runs every case once per round, in a new shuffled order each round, after one
    untimed warm-up round; each case returns the seconds it measured."""
    names = list(cases)
    for name in names:
        cases[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for _ in range(reps):
        random.shuffle(names)
        for name in names:
            times[name].append(cases[name]())
    return times


# ---------------------------------------------------------------------------- report


def ms(samples: Sequence[float]) -> str:
    """Median in ms with the range of the samples."""
    return f"{fmt(statistics.median(samples) * 1e3)} [{fmt(min(samples) * 1e3)}-{fmt(max(samples) * 1e3)}]"


def fmt(value: float) -> str:
    """Three significant digits or so."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(ours: Sequence[float], theirs: Sequence[float]) -> float:
    """The median over the rounds of ours ÷ theirs in the same round.

    Paired, because this machine's speed drifts (a shared host, the kernel writing back
    earlier stores) over spans longer than a round and shorter than a run: a ratio of
    two medians would compare rounds run at different speeds."""
    assert len(ours) == len(theirs), "both sides run in every round"
    return statistics.median([a / b for a, b in zip(ours, theirs)])


def verdict(met: bool, text: str) -> str:
    """A target cell: met, or not met in bold."""
    return f"{text}: met" if met else f"{text}: **not met**"


class Table:
    """A markdown table printed at the end."""

    def __init__(self, title: str, header: Sequence[str]) -> None:
        self.title = title
        self.header = list(header)
        self.rows: List[List[str]] = []

    def add(self, *cells: str) -> None:
        """Adds a row."""
        self.rows.append(list(cells))

    def render(self) -> str:
        """The table as markdown, with its title above."""
        lines = [self.title, "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "---|" * len(self.header))
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


# ---------------------------------------------------------------------- measurements


def measure_keys(sizes: Sequence[int], reps: int, rust: RustPeer) -> Table:
    """Measurement 1: the key of an array argument."""
    import joblib
    import stepcache

    table = Table(
        "Key of an array argument (in memory)",
        ["MiB", "stepcache (Python) ms", "joblib.hash ms", "Rust API key ms", "vs joblib", "vs Rust", "targets"],
    )
    for mib in sizes:
        x = bench_array(mib)
        rust_key = rust.ask(f"key {mib}").split(" ", 1)[1]
        py_key = str(stepcache.key("bench_key", x=x))
        if py_key != rust_key:
            raise SystemExit(f"keys differ at {mib} MiB: Python {py_key}, Rust {rust_key}")
        t = rounds(
            {
                "stepcache": lambda: timed(lambda: stepcache.key("bench_key", x=x)),
                "joblib": lambda: timed(lambda: joblib.hash(x)),
                "rust": lambda: float(rust.ask(f"key {mib}").split(" ", 1)[0]),
            },
            reps,
        )
        vs_joblib = ratio(t["joblib"], t["stepcache"])
        vs_rust = ratio(t["stepcache"], t["rust"])
        table.add(
            str(mib),
            ms(t["stepcache"]),
            ms(t["joblib"]),
            ms(t["rust"]),
            f"{vs_joblib:.1f}x faster",
            f"{vs_rust:.2f}x",
            verdict(vs_joblib >= 5, "≥ 5x") + "; " + verdict(vs_rust <= 1.10, "≤ 1.10x"),
        )
        print(f"  keys {mib} MiB done", file=sys.stderr)
        del x
    return table


def measure_hits(sizes: Sequence[int], reps: int, scratch: str) -> Tuple[Table, Table]:
    """Measurement 2: a decorated call that hits, each in a fresh process."""
    peers = ["stepcache", "joblib", "diskcache"]
    calls = Table(
        "Decorated call that hits, fresh process (page cache warm)",
        ["MiB", "stepcache ms", "joblib.Memory mmap_mode='r' ms", "diskcache memoize ms", "vs joblib",
         "vs diskcache", "targets"],
    )
    totals = Table(
        "The same calls: the call plus a first use of the result (its sum), and the whole subprocess",
        ["MiB", "stepcache call+use ms", "joblib call+use ms", "diskcache call+use ms",
         "stepcache process ms", "joblib process ms", "diskcache process ms"],
    )
    for mib in sizes:
        dirs = {peer: os.path.join(scratch, f"hit-{peer}-{mib}") for peer in peers}
        for peer in peers:
            first = run_child(peer, dirs[peer], mib)
            if not first["computed"]:
                raise SystemExit(f"{peer} hit on an empty directory at {mib} MiB")
        results: Dict[str, List[Dict[str, Any]]] = {peer: [] for peer in peers}

        def case(peer: str) -> Callable[[], float]:
            def run() -> float:
                r = run_child(peer, dirs[peer], mib)
                if r["computed"] or (peer == "stepcache" and r["source"] != "store"):
                    raise SystemExit(f"{peer} did not hit its store at {mib} MiB: {r}")
                results[peer].append(r)
                return float(r["call"])

            return run

        t = rounds({peer: case(peer) for peer in peers}, reps)
        # The warm-up round's results are not figures.
        for peer in peers:
            results[peer] = results[peer][1:]
        vs_joblib = ratio(t["joblib"], t["stepcache"])
        vs_dc = ratio(t["diskcache"], t["stepcache"])
        calls.add(
            str(mib),
            ms(t["stepcache"]),
            ms(t["joblib"]),
            ms(t["diskcache"]),
            f"{vs_joblib:.1f}x faster",
            f"{vs_dc:.1f}x faster",
            verdict(vs_joblib >= 3, "≥ 3x") + "; " + verdict(vs_dc > 1, "faster than diskcache"),
        )
        used = {p: [r["call"] + r["use"] for r in results[p]] for p in peers}
        wall = {p: [r["wall"] for r in results[p]] for p in peers}
        totals.add(str(mib), *(ms(used[p]) for p in peers), *(ms(wall[p]) for p in peers))
        for peer in peers:
            shutil.rmtree(dirs[peer], ignore_errors=True)
        print(f"  fresh-process hits {mib} MiB done", file=sys.stderr)
    return calls, totals


def measure_stores(sizes: Sequence[int], reps: int, scratch: str, rust: RustPeer) -> Table:
    """Measurement 3: the miss path's store, compute excluded."""
    import stepcache

    table = Table(
        "Miss path, compute excluded: store a new map (page cache; no fsync)",
        ["MiB", "Python put ms", "Rust put ms", "ratio", "Rust put_ref ms", "Python get_or_compute ms",
         "Rust get_or_compute ms", "ratio", "target (≤ 1.15x)"],
    )
    cache = stepcache.open(os.path.join(scratch, "store-python"))
    serial = [0]
    for mib in sizes:
        x = bench_array(mib)

        # Stores of small maps are timed in batches, so that each sample is a few ms and
        # not one timer tick and scheduler hiccup away from another.
        batch = max(1, 16 // mib)

        def store(how: str) -> float:
            keys = []
            for _ in range(batch):
                serial[0] += 1
                keys.append(stepcache.key("bench_put", serial=serial[0]))
            fresh = [x.copy() for _ in keys] if how == "compute" else []
            # After the values are made, as the Rust peer syncs after making its own.
            os.sync()
            if how == "put":
                secs = timed(lambda: [cache.put(key, x) for key in keys])
            else:
                # The compute hands over the only reference to a new array, as a step
                # function returning its result does.
                secs = timed(lambda: [cache.get_or_compute(key, lambda: fresh.pop()) for key in keys])
            for key in keys:
                cache.invalidate(key)
            return secs / batch

        def rust_store(how: str) -> float:
            return float(rust.ask(f"{how} {mib} {batch}"))

        t = rounds(
            {
                "py put": lambda: store("put"),
                "py compute": lambda: store("compute"),
                "rust put": lambda: rust_store("put"),
                "rust compute": lambda: rust_store("compute"),
                "rust putref": lambda: rust_store("putref"),
            },
            reps,
        )
        put_ratio = ratio(t["py put"], t["rust put"])
        compute_ratio = ratio(t["py compute"], t["rust compute"])
        table.add(
            str(mib),
            ms(t["py put"]),
            ms(t["rust put"]),
            f"{put_ratio:.2f}x",
            ms(t["rust putref"]),
            ms(t["py compute"]),
            ms(t["rust compute"]),
            f"{compute_ratio:.2f}x",
            verdict(put_ratio <= 1.15, "put") + "; " + verdict(compute_ratio <= 1.15, "step's store"),
        )
        print(f"  stores {mib} MiB done", file=sys.stderr)
        del x
    cache.close()
    return table


def versions() -> str:
    """The versions measured, for the report's header."""
    import diskcache
    import joblib
    import numpy
    import stepcache

    return (
        f"stepcache {stepcache.__version__}, joblib {joblib.__version__}, diskcache {diskcache.__version__}, "
        f"numpy {numpy.__version__}, Python {sys.version.split()[0]}"
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Parses the command line and runs the three measurements (or one child)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rust-peer", help="the built examples/bench_peer binary")
    parser.add_argument("--sizes", default="1,4,40,256", help="map sizes in MiB, comma-separated")
    parser.add_argument("--reps", type=int, default=7, help="rounds of measurements 1 and 3")
    parser.add_argument("--fresh-reps", type=int, default=5, help="rounds of measurement 2 (a process each)")
    parser.add_argument("--only", default="keys,hits,stores", help="measurements to run, comma-separated")
    parser.add_argument("--dir", default=None, help="scratch directory on a local disk (default: $TMPDIR)")
    parser.add_argument("--child", nargs=3, metavar=("PEER", "DIR", "MIB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        peer, directory, mib = args.child
        print(json.dumps(child(peer, directory, int(mib))))
        return
    if not args.rust_peer:
        parser.error("--rust-peer is required")
    sizes = [int(s) for s in args.sizes.split(",")]
    scratch = tempfile.mkdtemp(prefix="stepcache-pybench-", dir=args.dir)
    rust = RustPeer(args.rust_peer, os.path.join(scratch, "store-rust"))
    try:
        print(f"# stepcache's Python package against its peers ({versions()})")
        print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; sizes {args.sizes} MiB; "
              f"medians of {args.reps} rounds (fresh processes: {args.fresh_reps}), [min-max]\n")
        only = set(args.only.split(","))
        tables: List[Table] = []
        if "keys" in only:
            tables.append(measure_keys(sizes, args.reps, rust))
        if "hits" in only:
            tables += measure_hits(sizes, args.fresh_reps, scratch)
        if "stores" in only:
            tables.append(measure_stores(sizes, args.reps, scratch, rust))
        print("\n\n".join(t.render() for t in tables))
        print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        rust.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
