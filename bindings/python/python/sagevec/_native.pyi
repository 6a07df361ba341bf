from typing import Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

__all__ = ["__version__", "active_isa", "available_isas", "distances", "cdist", "knn", "topology"]

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
