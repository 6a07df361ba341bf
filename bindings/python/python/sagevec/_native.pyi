from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__all__ = ["__version__", "active_isa", "available_isas", "distances", "cdist", "knn", "topology", "Index", "_restore_index"]

__version__: str

def active_isa() -> str: ...
def available_isas() -> list[str]: ...
def distances(
    query: npt.NDArray[np.float32], rows_: npt.NDArray[np.float32], metric_: str
) -> npt.NDArray[np.float32]: ...
def cdist(
    a: npt.NDArray[np.float32], b: npt.NDArray[np.float32], metric_: str
) -> npt.NDArray[np.float32]: ...
def knn(
    queries: npt.NDArray[np.float32],
    base: npt.NDArray[np.float32],
    k: int,
    metric_: str,
    threads: Optional[int] = None,
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
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        seal_threshold: int = 8192,
        threads: Optional[int] = None,
    ) -> "Index": ...
    @property
    def dim(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def ef_construction(self) -> int: ...
    @property
    def ef_search(self) -> int: ...
    @property
    def seal_threshold(self) -> int: ...
    @property
    def threads(self) -> Optional[int]: ...
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
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

def _restore_index(
    dim: int,
    metric: str,
    params: dict[str, Any],
    ids: _IdsLike,
    vectors: _FloatArrayLike,
    metadata: Optional[Sequence[Optional[_Metadata]]] = None,
) -> Index: ...
