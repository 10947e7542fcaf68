"""Type stubs of the native module stepcache._native (built from adapters/python/src)."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np
import numpy.typing as npt

__version__: str

Source = Literal["memory", "store", "computed", "waited", "shared"]
State = Literal["memory", "stored", "expired", "forced", "shared", "missing"]
# A number is stored as a 0-dimensional array (a Python float as float64, an int as int64).
Part = Union[npt.NDArray[Any], np.generic, int, float, bytes]
# Several outputs of one step are a tuple or a dict of parts, stored as one entry.
Result = Union[Part, tuple[Part, ...], dict[str, Part]]
KeyLike = Union["Key", str]
_C = TypeVar("_C", bound="Cache")

class StepcacheError(Exception): ...
class InvalidStepName(StepcacheError, ValueError): ...
class InvalidArgument(StepcacheError, ValueError): ...
class InvalidValue(StepcacheError, ValueError): ...
class WrongType(StepcacheError, TypeError): ...
class InvalidConfig(StepcacheError, ValueError): ...
class InvalidFingerprint(StepcacheError, ValueError): ...
class TooLarge(StepcacheError, ValueError): ...
class ReadDisabled(StepcacheError, RuntimeError): ...
class ComputeDisabled(StepcacheError, RuntimeError): ...
class ComputeFailed(StepcacheError, RuntimeError): ...
class StorageError(StepcacheError, OSError): ...
class StorageFull(StepcacheError, OSError): ...
class PermissionDenied(StepcacheError, OSError): ...
class StorageBlocked(StepcacheError, OSError): ...
class CacheClosed(StepcacheError, RuntimeError): ...
class InvalidEntry(StepcacheError, ValueError): ...
class InvalidBundle(StepcacheError, ValueError): ...

class Key:
    """A cache key: a step name and the blake3 fingerprint of its version and arguments."""
    @staticmethod
    def parse(text: str) -> Key: ...
    @property
    def step(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def version(self) -> Optional[int]: ...
    @property
    def args(self) -> Optional[dict[str, Any]]: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Hit:
    """A value found or computed, and where it came from."""
    @property
    def value(self) -> Any: ...
    @property
    def key(self) -> Key: ...
    @property
    def source(self) -> Source: ...
    @property
    def created_ms(self) -> int: ...
    @property
    def cost_us(self) -> int: ...
    @property
    def content(self) -> str: ...
    @property
    def meta(self) -> Any: ...
    @property
    def meta_bytes(self) -> bytes: ...
    @property
    def is_hit(self) -> bool: ...

class Value:
    """A result with metadata: data is a numpy array or bytes, meta bytes or JSON-compatible."""
    def __init__(self, data: Result, meta: Any = None) -> None: ...
    @property
    def data(self) -> Result: ...
    @property
    def meta(self) -> Any: ...

class ArrayArg:
    dtype: str
    shape: list[int]
    fingerprint: str

class DigestArg:
    fingerprint: str

class LineageArg:
    key: str
    content: str

class Provenance:
    made_by: str
    version: Optional[int]
    args: Optional[dict[str, Any]]
    omitted: int

class EntryInfo:
    key: Key
    step: str
    bytes: int
    created_ms: int
    cost_us: int
    hits: int
    in_memory: bool
    stored: bool
    provenance: Provenance

class Status:
    key: Key
    state: State
    created_ms: Optional[int]
    cost_us: Optional[int]

class TierStats:
    hits: int
    misses: int
    bytes: int
    entries: int
    budget: int
    evictions: int
    expired: int

class TypeStats:
    step: str
    hits: int
    misses: int
    puts: int
    computes: int
    compute_us: int
    saved_us: int

class SharedStats:
    enabled: bool
    hits: int
    misses: int
    rejected: int
    puts: int
    bytes_read: int
    bytes_written: int
    errors: int
    pending: int
    degraded: bool
    last_error: Optional[str]

class Stats:
    memory: TierStats
    store: TierStats
    shared: SharedStats
    types: list[TypeStats]
    all_time: list[TypeStats]
    corrupt_removed: int
    waited_computes: int
    hit_rate: float
    saved_us: int
    def of_type(self, step: str) -> Optional[TypeStats]: ...

def key(
    step: str,
    args: Optional[Mapping[str, Any]] = None,
    *,
    version: int = 0,
    ignore: Sequence[str] = (),
    defaults: Optional[Mapping[str, Any]] = None,
    **kwargs: Any,
) -> Key:
    """The key of step with the arguments args and **kwargs (numpy arrays, numbers, str,
    bytes, None, lists, dicts, dataclasses, paths by contents, results by lineage)."""

class Cache:
    def __init__(
        self,
        dir: Optional[str] = None,
        *,
        memory_budget: Optional[int] = None,
        store_budget: Optional[int] = None,
        policies: Optional[dict[str, Union[str, Mapping[str, Any]]]] = None,
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
    ) -> None: ...
    @property
    def dir(self) -> os.PathLike[str]: ...
    @property
    def closed(self) -> bool: ...
    def key(
        self,
        step: str,
        args: Optional[Mapping[str, Any]] = None,
        *,
        version: int = 0,
        ignore: Sequence[str] = (),
        defaults: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> Key: ...
    def get(self, key: KeyLike) -> Optional[Hit]: ...
    def get_region(self, key: KeyLike, region: Union[int, slice, tuple[Union[int, slice], ...]]) -> Optional[Hit]: ...
    def has(self, key: KeyLike) -> bool: ...
    def put(self, key: KeyLike, value: Union[Result, Value], *, meta: Any = None) -> dict[str, str]: ...
    def get_or_compute(self, key: KeyLike, compute: Callable[[], Union[Result, Value]]) -> Hit: ...
    def invalidate(self, key: KeyLike) -> None: ...
    def pin(self, key: KeyLike) -> None: ...
    def unpin(self, key: KeyLike) -> None: ...
    def collect(self, *, dry_run: bool = False) -> list[EntryInfo]: ...
    def export_bundle(
        self, path: Union[str, os.PathLike[str]], *, step: Optional[str] = None, since: Optional[float] = None
    ) -> dict[str, int]: ...
    def import_bundle(self, path: Union[str, os.PathLike[str]]) -> dict[str, Any]: ...
    def flush_shared(self) -> int: ...
    def push(self, *, step: Optional[str] = None, since: Optional[float] = None) -> dict[str, Any]: ...
    def pull(self, *, step: Optional[str] = None, since: Optional[float] = None) -> dict[str, Any]: ...
    def clear(self, step: Optional[str] = None) -> int: ...
    def status(self, keys: Sequence[KeyLike]) -> list[Status]: ...
    def stats(self) -> Stats: ...
    def save_stats(self) -> None: ...
    def entries(self) -> list[EntryInfo]: ...
    def set_force(self, force: Union[bool, None, str, Iterable[str]]) -> None: ...
    def set_access(self, access: str) -> None: ...
    def close(self) -> None: ...
    def __enter__(self: _C) -> _C: ...
    def __exit__(self, *exc: object) -> None: ...
