"""Distance kernels and exact search on numpy arrays.

Metrics (all distances: smaller is closer): ``"l2"`` squared Euclidean, ``"ip"``
negative dot product, ``"cosine"`` 1 - cos (1.0 for a zero vector).

Inputs: float32 C-contiguous arrays are read in place; other float dtypes and
non-contiguous or misaligned arrays are converted with one copy; anything else (ints, bools,
objects, complex) is a ``TypeError``. Shapes are checked (``ValueError``). The
kernels do not check for NaN/inf: NaN in gives NaN out.

Outputs: a new array, or (``out=``) the caller's own float32 array (int64 ids for
``knn``), C-contiguous and of the result's shape, written in place and returned; it
may not overlap an input. With ``out=`` a call allocates nothing, and the checks and
conversions above run in the compiled extension, so a small call costs about a
microsecond beyond its arithmetic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sagevec import _native

__all__ = ["active_isa", "available_isas", "cdist", "distances", "knn"]


def active_isa() -> str:
    """The ISA the kernels use here: ``SAGEVEC_ISA`` if set, else the best available."""
    return _native.active_isa()


def available_isas() -> list[str]:
    """Every ISA this CPU and OS can run, slowest first."""
    return _native.available_isas()


def distances(
    query: npt.ArrayLike, rows: npt.ArrayLike, metric: str = "l2", *, out: np.ndarray | None = None
) -> np.ndarray:
    """Distances from one query (1-D, length d) to each row of ``rows`` (n x d).

    Returns a float32 array of length n (``out`` itself when given).
    """
    return _native.distances(query, rows, metric, out)


def cdist(a: npt.ArrayLike, b: npt.ArrayLike, metric: str = "l2", *, out: np.ndarray | None = None) -> np.ndarray:
    """All pairwise distances between the rows of ``a`` (m x d) and ``b`` (n x d).

    Returns a float32 array of shape (m, n) (``out`` itself when given).
    """
    return _native.cdist(a, b, metric, out)


def knn(
    queries: npt.ArrayLike,
    base: npt.ArrayLike,
    k: int = 10,
    metric: str = "l2",
    threads: int | None = None,
    *,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``base`` for every query, on all cores.

    What faiss's ``IndexFlat`` is used for: the fused many-to-many kernel on every
    worker (``threads`` caps them; ``None`` uses the process-wide pool). Returns
    ``(ids, distances)``: int64 and float32 arrays of shape (n_queries, k), best
    first, ties to the smaller row; missing results are ``-1`` and ``inf``. A 1-D
    ``queries`` is treated as one query (then ``out``, if given, is of shape (1, k)).
    """
    q = np.asarray(queries)
    single = q.ndim == 1
    if single:
        q = q[np.newaxis, :]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    ids, dist = _native.knn(q, base, int(k), metric, threads, out)
    return (ids[0], dist[0]) if single else (ids, dist)
