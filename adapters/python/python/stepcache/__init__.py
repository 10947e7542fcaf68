"""stepcache: keep the results of expensive computation steps, get them back in milliseconds.

A cache of numpy arrays in a directory, with a memory tier in front, shared safely by
threads and processes (and by Rust programs using the ``stepcache`` crate on the same
directory). Open one with :func:`open`; decorate a step with :meth:`Cache.step`::

    import numpy as np
    import stepcache

    cache = stepcache.open("/tmp/maps")

    @cache.step(version=1, ignore=("verbose",))
    def t1_map(signal: np.ndarray, flip_deg: list[float], tr_ms: float = 15.0,
               verbose: bool = False) -> np.ndarray:
        ...

Results come back as read-only numpy arrays over the cache's bytes (a memory map for
large stored entries); passing one into the next step keys that step by lineage.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from . import _native
from ._native import (
    ArrayArg,
    CacheClosed,
    ComputeDisabled,
    ComputeFailed,
    DigestArg,
    EntryInfo,
    Hit,
    InvalidArgument,
    InvalidBundle,
    InvalidConfig,
    InvalidEntry,
    InvalidFingerprint,
    InvalidStepName,
    InvalidValue,
    Key,
    LineageArg,
    PermissionDenied,
    Provenance,
    ReadDisabled,
    SharedStats,
    Stats,
    Status,
    StepcacheError,
    StorageError,
    StorageBlocked,
    StorageFull,
    TierStats,
    TooLarge,
    TypeStats,
    Value,
    WrongType,
    key,
)

__version__: str = _native.__version__

__all__ = [
    "ArrayArg",
    "Cache",
    "CacheClosed",
    "ComputeDisabled",
    "ComputeFailed",
    "DigestArg",
    "EntryInfo",
    "Hit",
    "InvalidArgument",
    "InvalidBundle",
    "InvalidConfig",
    "InvalidEntry",
    "InvalidFingerprint",
    "InvalidStepName",
    "InvalidValue",
    "Key",
    "LineageArg",
    "PermissionDenied",
    "Provenance",
    "ReadDisabled",
    "SharedStats",
    "Stats",
    "Status",
    "StepFunction",
    "StepcacheError",
    "StorageError",
    "StorageBlocked",
    "StorageFull",
    "TierStats",
    "TooLarge",
    "TypeStats",
    "Value",
    "WrongType",
    "key",
    "open",
]

Policy = Union[str, Mapping[str, Any]]


class StepFunction:
    """A function whose results the cache keeps, keyed by every argument it is called with.

    Calling it returns the result (a read-only numpy array, or bytes); :meth:`hit` returns
    the whole :class:`Hit` (where it came from, its cost), and :meth:`key` the key a call
    would use, without computing anything.
    """

    def __init__(
        self,
        cache: "Cache",
        fn: Callable[..., Any],
        name: str,
        version: int,
        ignore: tuple[str, ...],
    ) -> None:
        self._cache = cache
        self._fn = fn
        self._name = name
        self._version = version
        self._ignore = list(ignore)
        self._signature = inspect.signature(fn)
        # Arguments equal to the function's own defaults are left out of the key, so a
        # parameter added later with a default keeps every earlier result valid.
        self._defaults = {
            p.name: p.default
            for p in self._signature.parameters.values()
            if p.default is not inspect.Parameter.empty
        }
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        """The step name its keys carry."""
        return self._name

    def key(self, *args: Any, **kwargs: Any) -> Key:
        """The key of a call with these arguments.

        Raises:
            TypeError: naming an argument stepcache cannot fingerprint, or if the
                arguments do not fit the function's signature.
        """
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        named: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self._signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                named.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                named[name] = list(value)
            else:
                named[name] = value
        return self._cache.key(
            self._name,
            named,
            version=self._version,
            ignore=self._ignore,
            defaults=self._defaults,
        )

    def hit(self, *args: Any, **kwargs: Any) -> Hit:
        """The cached result of this call, or the function's, computed, timed and stored."""
        key = self.key(*args, **kwargs)
        return self._cache.get_or_compute(key, lambda: self._fn(*args, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The cached result of this call, or the function's, computed and stored."""
        return self.hit(*args, **kwargs).value

    def __repr__(self) -> str:
        return f"<stepcache step {self._name!r} v{self._version} of {self._fn!r}>"


class Cache(_native.Cache):
    """A cache of step results in a directory, with a memory tier in front.

    Threads may share one; processes (Python or Rust) may open the same directory. Use it
    as a context manager, or call :meth:`close`.
    """

    def step(
        self,
        name: Optional[str] = None,
        *,
        version: int = 0,
        ignore: Iterable[str] = (),
    ) -> Callable[[Callable[..., Any]], StepFunction]:
        """Decorates a function so its results are cached, keyed by all its arguments.

        Every argument, positional or keyword, enters the key (numpy arrays by dtype,
        shape and bytes; files by contents; stepcache results by lineage), except those
        named in ``ignore`` and those equal to the function's own defaults. An argument
        stepcache cannot fingerprint is a ``TypeError`` naming it. Force and access
        modes apply to every call.

        Args:
            name: the step name (default: the function's ``__name__``).
            version: bump it when the computation changes, so old results are not reused.
            ignore: arguments that never change the result (verbosity, thread counts).
        """
        ignored = tuple(ignore)

        def decorate(fn: Callable[..., Any]) -> StepFunction:
            return StepFunction(self, fn, name or fn.__name__, version, ignored)

        return decorate


def open(
    dir: Union[str, "os.PathLike[str]", None] = None,
    *,
    memory_budget: Optional[int] = None,
    store_budget: Optional[int] = None,
    policies: Optional[Mapping[str, Policy]] = None,
    retention: Optional[str] = None,
    max_age: Optional[float] = None,
    compress: bool = False,
    access: str = "rcw",
    read_only: bool = False,
    memory_map: bool = True,
    durability: str = "buffered",
    shared: Union[bool, str, Mapping[str, Any], None] = None,
    sharing: bool = False,
    team_key: Union[str, bytes, None] = None,
    shared_retry_after: Optional[float] = None,
) -> Cache:
    """Opens (creating it owner-only if needed) a cache directory.

    Args:
        dir: the directory (default: ``$STEPCACHE_DIR``, else the user's cache directory).
        memory_budget: bytes kept in memory (default 1 GiB; 0 keeps nothing).
        store_budget: bytes kept on disk (default 16 GiB).
        policies: per step, a retention (``"persistent"``, ``"memory"``, ``"transient"``)
            or a dict of ``retention``, ``max_age`` (seconds), ``compress`` and ``shared``.
        retention: the retention of steps without a policy (default ``"persistent"``).
        max_age: seconds after which results of steps without a policy are misses.
        compress: compress stored results (kept only where it saves at least 1/8).
        access: letters ``r`` (read), ``c`` (compute), ``w`` (write) the cache may do.
        read_only: open without changing anything in the directory.
        memory_map: memory-map stored entries of 256 KiB or more (zero-copy hits).
        durability: ``"buffered"`` or ``"fsync"`` (every put waits for the disk).
        shared: a shared tier on an S3 bucket (AWS S3, SeaweedFS, MinIO, Ceph, Garage):
            ``True`` for the bucket the environment names (``STEPCACHE_BUCKET``,
            ``STEPCACHE_PREFIX``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``,
            ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), a
            bucket name, or a dict of ``bucket``, ``endpoint``, ``prefix``, ``region``,
            ``access_key_id``, ``secret_access_key``, ``session_token``, ``timeout``
            (seconds per request) and ``retries``, each over the environment's.
        sharing: share every step without a policy of its own (a policy's ``shared``
            says it per step; nothing leaves the machine unless asked to).
        team_key: a secret (at least 16 bytes) whose key seals shared entries; entries
            not sealed with it are never read from the shared tier.
        shared_retry_after: seconds a failing shared tier is left alone (default 30).

    Raises:
        InvalidConfig: an unknown retention, access letter or durability, or a zero age.
        InvalidStepName: a policy for an invalid step name.
        StorageError: the directory cannot be created or opened.
    """
    return Cache(
        None if dir is None else os.fspath(dir),
        memory_budget=memory_budget,
        store_budget=store_budget,
        policies=None if policies is None else dict(policies),
        retention=retention,
        max_age=max_age,
        compress=compress,
        access=access,
        read_only=read_only,
        memory_map=memory_map,
        durability=durability,
        shared=shared,
        sharing=sharing,
        team_key=team_key,
        shared_retry_after=shared_retry_after,
    )

