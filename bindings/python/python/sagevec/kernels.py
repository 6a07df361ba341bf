"""Distance kernels and exact search on numpy arrays.

Metrics (all distances: smaller is closer): ``"l2"`` squared Euclidean, ``"ip"``
negative dot product, ``"cosine"`` 1 - cos (1.0 for a zero vector).

Inputs: float32 C-contiguous arrays are read in place; other float dtypes and
non-contiguous or misaligned arrays are converted with one copy; anything else (ints, bools,
objects, complex) is a ``TypeError``. Shapes are checked (``ValueError``). The
kernels do not check for NaN/inf: NaN in gives NaN out.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from sagevec import _native

__all__ = ["active_isa", "available_isas", "cdist", "distances", "knn"]


def _as_f32(x: object, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    # C-contiguous and aligned (ascontiguousarray alone keeps a misaligned buffer).
    return np.require(arr, dtype=np.float32, requirements=["C", "A"])


def active_isa() -> str:
    """The ISA the kernels use here: ``SAGEVEC_ISA`` if set, else the best available."""
    return _native.active_isa()


def available_isas() -> list[str]:
    """Every ISA this CPU and OS can run, slowest first."""
    return _native.available_isas()


def distances(query: np.ndarray, rows: np.ndarray, metric: str = "l2") -> np.ndarray:
    """Distances from one query (1-D, length d) to each row of ``rows`` (n x d).

    Returns a float32 array of length n.
    """
    return _native.distances(_as_f32(query, "query", 1), _as_f32(rows, "rows", 2), metric)


def cdist(a: np.ndarray, b: np.ndarray, metric: str = "l2") -> np.ndarray:
    """All pairwise distances between the rows of ``a`` (m x d) and ``b`` (n x d).

    Returns a float32 array of shape (m, n).
    """
    return _native.cdist(_as_f32(a, "a", 2), _as_f32(b, "b", 2), metric)


def knn(
    queries: np.ndarray,
    base: np.ndarray,
    k: int = 10,
    metric: str = "l2",
    threads: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``base`` for every query, on all cores.

    What faiss's ``IndexFlat`` is used for: the fused many-to-many kernel on every
    worker (``threads`` caps them; ``None`` uses the process-wide pool). Returns
    ``(ids, distances)``: int64 and float32 arrays of shape (n_queries, k), best
    first, ties to the smaller row; missing results are ``-1`` and ``inf``. A 1-D
    ``queries`` is treated as one query.
    """
    q = np.asarray(queries)
    single = q.ndim == 1
    if single:
        q = q[np.newaxis, :]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ids, dist = _native.knn(_as_f32(q, "queries", 2), _as_f32(base, "base", 2), int(k), metric, threads)
    return (ids[0], dist[0]) if single else (ids, dist)
