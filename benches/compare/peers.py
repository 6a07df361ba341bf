"""The peer HNSW engines (hnswlib, faiss IndexHNSWFlat, usearch) behind one interface,
exact ground truth and recall@k: what hnsw_peers.py, index_mix.py, compare.py and
benches/python/threads.py measure with.

Every engine class takes ``(metric, dim, m, efc, capacity=0, k=K)`` (metric ``l2``,
``ip`` or ``cosine``: hnswlib ``cosine``, usearch ``cos``, faiss inner product on rows and
queries it normalises itself, as a faiss user must) and offers:

- ``build(base, threads)``: a fresh index of ``base`` (ids 0..n-1) built on ``threads``
  threads, with room for ``capacity`` rows in all;
- ``set_ef(ef)``: the beam width of every later search;
- ``batch(queries, threads)``: top-k ids of every query (int64, one row per query) from
  one call on ``threads`` threads;
- ``search(q)``: one query (a 1-D row) on the calling thread, returning what the library
  returns, untouched, so a timed loop measures the library's call alone; ``ids(result)``
  turns that into the query's ids;
- ``add(key, v2d, key_arr)``: one vector with id ``key`` (``v2d`` the (1, dim) row and
  ``key_arr`` the key as a uint64 array, made by the caller outside any timing);
- ``get(key)``: the stored vector of id ``key`` (1-D float32; unit-normalised where the
  library stores it so under cosine), or None where the library does not have it.

Libraries load lazily (``import`` inside the class), so a missing one only fails the
engine that needs it. ``version`` is the library's installed version.
"""

from __future__ import annotations

import math
import os
import threading
from importlib.metadata import version
from typing import ClassVar

import numpy as np

K = 10
M = 16
EF_CONSTRUCTION = 200


def unit_rows(x: np.ndarray) -> np.ndarray:
    """A float32 C-contiguous copy of ``x`` with every row scaled to unit L2 norm."""
    x = np.asarray(x, dtype=np.float32)
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=-1, keepdims=True), dtype=np.float32)


def exact_knn(base: np.ndarray, queries: np.ndarray, metric: str = "l2", k: int = K) -> np.ndarray:
    """Exact top-k ids (int64, nearest first) of every query: faiss ``IndexFlat`` (squared
    L2, inner product, or cosine as inner product of unit rows; float32, on all cores), the
    ground truth of every peer bench."""
    import faiss

    if metric not in ("l2", "ip", "cosine"):
        raise ValueError(f"exact_knn: metric {metric!r} is none of l2, ip, cosine")
    if metric == "cosine":
        base, queries = unit_rows(base), unit_rows(queries)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    flat = faiss.IndexFlatL2(base.shape[1]) if metric == "l2" else faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    _, ids = flat.search(queries, k)
    return ids


def recall(found: np.ndarray, truth: np.ndarray, k: int = K) -> float:
    """Recall@k: of the first k true ids of each query, the share that the first k found
    ids contain, over all queries (rows of ``found`` and ``truth`` pair up)."""
    hits = sum(len(np.intersect1d(f[:k], t[:k])) for f, t in zip(found, truth, strict=True))
    return hits / (len(truth) * k)


class Peer:
    """What every engine keeps: its parameters and the metric in the library's own
    spelling (``METRICS``). Subclasses import their library in ``load``."""

    name = ""
    package = ""  # the distribution whose version is reported
    METRICS: ClassVar[dict[str, str]] = {}

    def __init__(
        self, metric: str, dim: int, m: int = M, efc: int = EF_CONSTRUCTION, capacity: int = 0, k: int = K
    ) -> None:
        self.load()
        self.version = version(self.package)
        self.metric = self.METRICS[metric]
        self.dim, self.m, self.efc, self.capacity, self.k = dim, m, efc, capacity, k

    def load(self) -> None:
        raise NotImplementedError


class Hnswlib(Peer):
    name, package = "hnswlib", "hnswlib"
    METRICS: ClassVar[dict[str, str]] = {"l2": "l2", "ip": "ip", "cosine": "cosine"}

    def load(self) -> None:
        import hnswlib

        self.mod = hnswlib

    def build(self, base: np.ndarray, threads: int) -> None:
        self.index = self.mod.Index(space=self.metric, dim=self.dim)
        self.index.init_index(
            max_elements=max(self.capacity, len(base)), ef_construction=self.efc, M=self.m, random_seed=100
        )
        self.index.add_items(base, np.arange(len(base)), num_threads=threads)

    def set_ef(self, ef: int) -> None:
        self.index.set_ef(ef)

    def batch(self, queries: np.ndarray, threads: int) -> np.ndarray:
        labels, _ = self.index.knn_query(queries, k=self.k, num_threads=threads)
        return labels.astype(np.int64)

    def search(self, q: np.ndarray):
        # hnswlib raises "Cannot return the results in a contiguous 2D array" when a
        # search finds fewer than k rows, which can happen while another thread adds.
        return self.index.knn_query(q, k=self.k, num_threads=1)

    @staticmethod
    def ids(result) -> np.ndarray:
        return result[0].reshape(-1)  # (labels, distances)

    def add(self, key: int, v2d: np.ndarray, key_arr: np.ndarray) -> None:
        self.index.add_items(v2d, key_arr, num_threads=1)

    def get(self, key: int) -> np.ndarray | None:
        # get_items raises RuntimeError("Label not found") for an id it does not have;
        # under cosine it returns the normalised row it stored.
        try:
            rows = self.index.get_items([key], return_type="numpy")
        except RuntimeError:
            return None
        return np.asarray(rows, dtype=np.float32).reshape(-1)


class Faiss(Peer):
    name, package = "faiss", "faiss-cpu"
    # Cosine: inner product on rows and queries normalised here (IndexHNSWFlat has no
    # cosine metric), inside the timed calls as in a faiss user's code.
    METRICS: ClassVar[dict[str, str]] = {
        "l2": "METRIC_L2",
        "ip": "METRIC_INNER_PRODUCT",
        "cosine": "METRIC_INNER_PRODUCT",
    }

    def __init__(
        self, metric: str, dim: int, m: int = M, efc: int = EF_CONSTRUCTION, capacity: int = 0, k: int = K
    ) -> None:
        super().__init__(metric, dim, m, efc, capacity, k)
        self.normalise = metric == "cosine"

    def load(self) -> None:
        import faiss

        self.faiss = faiss
        # faiss's OpenMP thread count is per OS thread: `search` sets it once in each.
        self.local = threading.local()

    def build(self, base: np.ndarray, threads: int) -> None:
        self.faiss.omp_set_num_threads(threads)
        self.index = self.faiss.IndexHNSWFlat(self.dim, self.m, getattr(self.faiss, self.metric))
        self.index.hnsw.efConstruction = self.efc
        self.index.add(unit_rows(base) if self.normalise else base)

    def set_ef(self, ef: int) -> None:
        self.index.hnsw.efSearch = ef

    def batch(self, queries: np.ndarray, threads: int) -> np.ndarray:
        self.faiss.omp_set_num_threads(threads)
        _, ids = self.index.search(unit_rows(queries) if self.normalise else queries, self.k)
        return ids

    def search(self, q: np.ndarray):
        if not getattr(self.local, "one_thread", False):
            self.faiss.omp_set_num_threads(1)
            self.local.one_thread = True
        if self.normalise:  # about 1 us in numpy, against tens of us for the search
            q = q * np.float32(1.0 / math.sqrt(float(q @ q)))
        # faiss has no 1-D query API: the row goes as a (1, dim) view.
        return self.index.search(q.reshape(1, -1), self.k)

    @staticmethod
    def ids(result) -> np.ndarray:
        return result[1].reshape(-1)  # (distances, labels)

    def add(self, key: int, v2d: np.ndarray, key_arr: np.ndarray) -> None:
        raise NotImplementedError("faiss IndexHNSWFlat takes neither chosen ids nor adds beside searches")

    def get(self, key: int) -> np.ndarray | None:
        raise NotImplementedError("faiss IndexHNSWFlat is not in the mix (no adds beside searches)")


class Usearch(Peer):
    name, package = "usearch", "usearch"
    METRICS: ClassVar[dict[str, str]] = {"l2": "l2sq", "ip": "ip", "cosine": "cos"}

    def load(self) -> None:
        from usearch.index import Index

        # No reserve() in the Python API: `add` grows the index to the next power of
        # two itself, so `capacity` needs no call.
        self.Index = Index

    def build(self, base: np.ndarray, threads: int) -> None:
        # f32 storage (the default may pick f16 where the CPU has it).
        self.index = self.Index(
            ndim=self.dim, metric=self.metric, dtype="f32", connectivity=self.m, expansion_add=self.efc
        )
        self.index.add(np.arange(len(base), dtype=np.uint64), base, threads=threads)

    def set_ef(self, ef: int) -> None:
        self.index.expansion_search = ef

    def batch(self, queries: np.ndarray, threads: int) -> np.ndarray:
        return np.asarray(self.index.search(queries, self.k, threads=threads).keys).astype(np.int64)

    def search(self, q: np.ndarray):
        return self.index.search(q, self.k, threads=1)

    @staticmethod
    def ids(result) -> np.ndarray:
        return np.asarray(result.keys).reshape(-1)  # Matches

    def add(self, key: int, v2d: np.ndarray, key_arr: np.ndarray) -> None:
        self.index.add(key, v2d[0], threads=1)

    def storage_rows(self) -> int:
        """Rows the index has room for: usearch's `add` grows it (to the next power of two)
        by itself, and that reallocation is not safe beside concurrent searches."""
        return int(self.index.capacity)

    def get(self, key: int) -> np.ndarray | None:
        if not self.index.contains(key):
            return None
        v = self.index.get(key)
        return None if v is None else np.asarray(v, dtype=np.float32).reshape(-1)


PEERS = {"hnswlib": Hnswlib, "faiss": Faiss, "usearch": Usearch}
