import os
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "active_isa",
    "available_isas",
    "distances",
    "cdist",
    "knn",
    "topology",
    "Index",
    "Transaction",
    "_restore_index",
]

__version__: str

def active_isa() -> str: ...
def available_isas() -> list[str]: ...
def distances(
    query: npt.ArrayLike,
    rows: npt.ArrayLike,
    metric: str = "l2",
    out: Optional[npt.NDArray[np.float32]] = None,
) -> npt.NDArray[np.float32]: ...
def cdist(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    metric: str = "l2",
    out: Optional[npt.NDArray[np.float32]] = None,
) -> npt.NDArray[np.float32]: ...
def knn(
    queries: npt.ArrayLike,
    base: npt.ArrayLike,
    k: int,
    metric: str = "l2",
    threads: Optional[int] = None,
    out: Optional[Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = None,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def topology() -> dict[str, Any]: ...

# A metadata record: str keys to str / int / float / bool values.
_Metadata = Dict[str, Union[str, int, float, bool]]
# Anything numpy turns into a float array (float32 C-contiguous is read in place).
_FloatArrayLike = Union[npt.NDArray[np.floating[Any]], Sequence[float], Sequence[Sequence[float]]]
# Ids: integers in [0, 2^63).
_IdsLike = Union[int, npt.NDArray[np.integer[Any]], Sequence[int]]
# A search filter: allowed ids, or metadata equalities that must all hold.
_Filter = Union[_IdsLike, Dict[str, Union[str, int, float, bool]]]
# (ids, distances) or (ids, distances, metadata).
_SearchResult = Union[
    Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]],
    Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], List[Any]],
]

@final
class Index:
    def __new__(
        cls,
        dim: int,
        metric: str = "l2",
        *,
        path: Union[str, "os.PathLike[str]", None] = None,
        read_only: bool = False,
        durability: Optional[str] = None,
        sync_interval_ms: Optional[int] = None,
        checkpoint_bytes: Optional[int] = None,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seal_threshold: Optional[int] = None,
        threads: Optional[int] = None,
        traversal: str = "auto",
    ) -> "Index": ...
    @classmethod
    def load(
        cls,
        path: Union[str, "os.PathLike[str]"],
        dim: Optional[int] = None,
        metric: Optional[str] = None,
        *,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seal_threshold: Optional[int] = None,
        threads: Optional[int] = None,
        traversal: str = "auto",
    ) -> "Index": ...
    def save(self, path: Union[str, "os.PathLike[str]"]) -> None: ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def path(self) -> Optional[str]: ...
    @property
    def durability(self) -> Optional[str]: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def sync_interval_ms(self) -> Optional[int]: ...
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
    def threads(self) -> Optional[int]: ...
    @property
    def traversal(self) -> str: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object, /) -> bool: ...
    def add(
        self,
        vectors: _FloatArrayLike,
        ids: Optional[_IdsLike] = None,
        metadata: Union[Sequence[Optional[_Metadata]], _Metadata, None] = None,
    ) -> npt.NDArray[np.int64]: ...
    def remove(self, ids: _IdsLike) -> int: ...
    def get(self, id: int) -> Tuple[npt.NDArray[np.float32], Optional[_Metadata]]: ...
    def ids(self) -> npt.NDArray[np.int64]: ...
    def search(
        self,
        queries: _FloatArrayLike,
        k: int = 10,
        *,
        ef: Optional[int] = None,
        exact: bool = False,
        filter: Optional[_Filter] = None,
        include_metadata: bool = False,
    ) -> _SearchResult: ...
    def batch_search(
        self,
        queries: _FloatArrayLike,
        k: int = 10,
        *,
        ef: Optional[int] = None,
        exact: bool = False,
        filter: Optional[_Filter] = None,
        include_metadata: bool = False,
    ) -> _SearchResult: ...
    def stats(self) -> dict[str, Any]: ...
    def seal(self) -> int: ...
    def compact(self) -> None: ...
    def wait_for_builds(self) -> None: ...
    def wait_for_version(self, version: int, timeout: Optional[float] = None) -> Optional[int]: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Index": ...
    def __exit__(
        self,
        _exc_type: Optional[Type[BaseException]] = None,
        _exc_value: Optional[BaseException] = None,
        _traceback: Optional[TracebackType] = None,
    ) -> bool: ...
    def transaction(self) -> "Transaction": ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

# What Transaction.commit() returns: {"added": [int64 ids of each add],
# "removed": int, "version": int}.
_Committed = Dict[str, Any]

@final
class Transaction:
    def add(
        self,
        vectors: _FloatArrayLike,
        ids: Optional[_IdsLike] = None,
        metadata: Union[Sequence[Optional[_Metadata]], _Metadata, None] = None,
    ) -> None: ...
    def remove(self, ids: _IdsLike) -> None: ...
    def __len__(self) -> int: ...
    def commit(self) -> _Committed: ...
    def rollback(self) -> None: ...
    @property
    def state(self) -> str: ...
    @property
    def result(self) -> Optional[_Committed]: ...
    def __enter__(self) -> "Transaction": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        _exc_value: Optional[BaseException] = None,
        _traceback: Optional[TracebackType] = None,
    ) -> bool: ...

def _restore_index(
    dim: int,
    metric: str,
    params: dict[str, Any],
    ids: _IdsLike,
    vectors: _FloatArrayLike,
    metadata: Optional[Sequence[Optional[_Metadata]]] = None,
) -> Index: ...
