import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any, final

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

__all__ = [
    "Index",
    "Transaction",
    "__version__",
    "_restore_index",
    "active_isa",
    "available_isas",
    "cdist",
    "distances",
    "knn",
    "topology",
]

__version__: str

def active_isa() -> str: ...
def available_isas() -> list[str]: ...
def distances(
    query: npt.ArrayLike,
    rows: npt.ArrayLike,
    metric: str = "l2",
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def cdist(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    metric: str = "l2",
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def knn(
    queries: npt.ArrayLike,
    base: npt.ArrayLike,
    k: int,
    metric: str = "l2",
    threads: int | None = None,
    out: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def topology() -> dict[str, Any]: ...

# A metadata record: str keys to str / int / float / bool values.
_Metadata: TypeAlias = dict[str, str | int | float | bool]
# Anything numpy turns into a float array (float32 C-contiguous is read in place).
_FloatArrayLike: TypeAlias = npt.NDArray[np.floating[Any]] | Sequence[float] | Sequence[Sequence[float]]
# Ids: integers in [0, 2^63).
_IdsLike: TypeAlias = int | npt.NDArray[np.integer[Any]] | Sequence[int]
# A search filter: allowed ids, or metadata equalities that must all hold.
_Filter: TypeAlias = _IdsLike | dict[str, str | int | float | bool]
# (ids, distances) or (ids, distances, metadata).
_SearchResult: TypeAlias = (
    tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
    | tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], list[Any]]
)

@final
class Index:
    def __new__(
        cls,
        dim: int,
        metric: str = "l2",
        *,
        path: str | os.PathLike[str] | None = None,
        read_only: bool = False,
        durability: str | None = None,
        sync_interval_ms: int | None = None,
        checkpoint_bytes: int | None = None,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seal_threshold: int | None = None,
        threads: int | None = None,
        traversal: str = "auto",
    ) -> Index: ...
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        dim: int | None = None,
        metric: str | None = None,
        *,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seal_threshold: int | None = None,
        threads: int | None = None,
        traversal: str = "auto",
    ) -> Index: ...
    def save(self, path: str | os.PathLike[str]) -> None: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def path(self) -> str | None: ...
    @property
    def durability(self) -> str | None: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def sync_interval_ms(self) -> int | None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def version(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def ef_construction(self) -> int: ...
    @property
    def ef_search(self) -> int: ...
    @property
    def threads(self) -> int | None: ...
    @property
    def traversal(self) -> str: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object, /) -> bool: ...
    def add(
        self,
        vectors: _FloatArrayLike,
        ids: _IdsLike | None = None,
        metadata: Sequence[_Metadata | None] | _Metadata | None = None,
    ) -> npt.NDArray[np.int64]: ...
    def remove(self, ids: _IdsLike) -> int: ...
    def get(self, id: int) -> tuple[npt.NDArray[np.float32], _Metadata | None]: ...
    def ids(self) -> npt.NDArray[np.int64]: ...
    def search(
        self,
        queries: _FloatArrayLike,
        k: int = 10,
        *,
        ef: int | None = None,
        exact: bool = False,
        filter: _Filter | None = None,
        include_metadata: bool = False,
    ) -> _SearchResult: ...
    def batch_search(
        self,
        queries: _FloatArrayLike,
        k: int = 10,
        *,
        ef: int | None = None,
        exact: bool = False,
        filter: _Filter | None = None,
        include_metadata: bool = False,
    ) -> _SearchResult: ...
    def stats(self) -> dict[str, Any]: ...
    def seal(self) -> int: ...
    def compact(self) -> None: ...
    def wait_for_builds(self) -> None: ...
    def wait_for_version(self, version: int, timeout: float | None = None) -> int | None: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Index: ...
    def __exit__(
        self,
        _exc_type: type[BaseException] | None = None,
        _exc_value: BaseException | None = None,
        _traceback: TracebackType | None = None,
    ) -> bool: ...
    def transaction(self) -> Transaction: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...

# What Transaction.commit() returns: {"added": [int64 ids of each add],
# "removed": int, "version": int}.
_Committed: TypeAlias = dict[str, Any]

@final
class Transaction:
    def add(
        self,
        vectors: _FloatArrayLike,
        ids: _IdsLike | None = None,
        metadata: Sequence[_Metadata | None] | _Metadata | None = None,
    ) -> None: ...
    def remove(self, ids: _IdsLike) -> None: ...
    def __len__(self) -> int: ...
    def commit(self) -> _Committed: ...
    def rollback(self) -> None: ...
    @property
    def state(self) -> str: ...
    @property
    def result(self) -> _Committed | None: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        _exc_value: BaseException | None = None,
        _traceback: TracebackType | None = None,
    ) -> bool: ...

def _restore_index(
    dim: int,
    metric: str,
    params: dict[str, Any],
    ids: _IdsLike,
    vectors: _FloatArrayLike,
    metadata: Sequence[_Metadata | None] | None = None,
) -> Index: ...
