"""Drop-in classes for pipelines written against the SageDB service API.

``SageDB`` / ``DatabaseConfig`` / ``SearchParams`` mirror ``sage_db``'s Python
API (``add``, ``add_batch``, ``search``, ``batch_search``, ``size``,
``dimension``, ``index_version``); ``SageDBService`` mirrors its micro-service
wrapper, whose methods return plain dicts. They are thin Python layers over one
:class:`sagevec.Index`, so they inherit its threading: call them from any number
of threads with no lock.

**score** is sagevec's distance: *smaller is closer*. Under ``"l2"`` (the
default, as in SageDB's FAISS L2 index) it is the squared Euclidean distance;
under ``"ip"`` the negative dot product; under ``"cosine"`` 1 - cos. Results come
best first and hold only real hits (no padding: fewer than ``k`` when the index
holds fewer vectors or the filter admits fewer).

Inputs: anything numpy converts to float32 (lists of ints included, as SageDB
accepted them); :class:`sagevec.Index` itself refuses non-float arrays.

Metadata: a dict of ``str`` keys to ``str``/``int``/``float``/``bool`` values
(SageDB takes ``dict[str, str]``, which is a special case). A result's
``metadata`` is ``{}`` when the vector has none or it was not asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from sagevec._native import Index

__all__ = ["DatabaseConfig", "QueryResult", "SageDB", "SageDBService", "SearchParams"]

MetadataDict = dict[str, Any]


class DatabaseConfig:
    """How a :class:`SageDB` is built: ``DatabaseConfig(dimension)``.

    ``metric`` is ``"l2"`` (default), ``"ip"`` or ``"cosine"``; ``m``,
    ``ef_construction``, ``ef_search``, ``threads`` and ``traversal`` are passed
    to :class:`sagevec.Index`. ``index_type`` is accepted for SageDB compatibility
    and ignored (sagevec picks flat scans or HNSW graphs per segment itself).
    """

    def __init__(
        self,
        dimension: int,
        metric: str = "l2",
        *,
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 64,
        threads: int | None = None,
        traversal: str = "auto",
        index_type: Any = None,
    ) -> None:
        self.dimension = int(dimension)
        self.metric = metric
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.threads = threads
        self.traversal = traversal
        self.index_type = index_type

    def __repr__(self) -> str:
        return f"DatabaseConfig(dimension={self.dimension}, metric={self.metric!r})"


class SearchParams:
    """What a search asks for: ``SearchParams(k, include_metadata)``."""

    def __init__(self, k: int = 10, include_metadata: bool = True) -> None:
        self.k = int(k)
        self.include_metadata = bool(include_metadata)

    def __repr__(self) -> str:
        return f"SearchParams(k={self.k}, include_metadata={self.include_metadata})"


class QueryResult:
    """One hit: ``id`` (int), ``score`` (float: the distance, smaller is closer)
    and ``metadata`` (dict). Also readable as a mapping: ``r["score"]``,
    ``dict(r)``."""

    # Also the mapping's keys, in this order (keys(), iter, dict(r)): not sorted.
    __slots__ = ("id", "score", "metadata")  # noqa: RUF023

    def __init__(self, id: int, score: float, metadata: MetadataDict | None = None) -> None:
        self.id = id
        self.score = score
        self.metadata: MetadataDict = metadata if metadata is not None else {}

    def __getitem__(self, key: str) -> Any:
        if key not in self.__slots__:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> list[str]:
        return list(self.__slots__)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__slots__)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "score", "metadata"}``."""
        return {"id": self.id, "score": self.score, "metadata": self.metadata}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QueryResult):
            return self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QueryResult(id={self.id}, score={self.score:.6g}, metadata={self.metadata!r})"


def _results(ids: np.ndarray, dists: np.ndarray, meta: Sequence[Any] | None) -> list[QueryResult]:
    out = []
    for j, (i, d) in enumerate(zip(ids.tolist(), dists.tolist())):
        if i < 0:  # padding: no more hits
            break
        out.append(QueryResult(i, d, (meta[j] or {}) if meta is not None else {}))
    return out


class SageDB:
    """A SageDB-compatible database over one :class:`sagevec.Index`.

    ``SageDB(dimension)``, ``SageDB(DatabaseConfig(...))`` or
    ``SageDB.from_config(config)``. Thread-safe without a lock.
    """

    def __init__(self, dimension: int | DatabaseConfig, metric: str = "l2", index_type: Any = None) -> None:
        config = dimension if isinstance(dimension, DatabaseConfig) else DatabaseConfig(dimension, metric)
        self.config = config
        self.index = Index(
            config.dimension,
            config.metric,
            m=config.m,
            ef_construction=config.ef_construction,
            ef_search=config.ef_search,
            threads=config.threads,
            traversal=config.traversal,
        )

    @classmethod
    def from_config(cls, config: DatabaseConfig) -> SageDB:
        return cls(config)

    def add(self, vector: Any, metadata: MetadataDict | None = None) -> int:
        """Adds one vector (length ``dimension``); returns its new id."""
        v = np.asarray(vector, dtype=np.float32)
        if v.ndim != 1:
            raise ValueError(f"vector must be 1-D of length {self.dimension}, got shape {v.shape}")
        return int(self.index.add(v, metadata=[metadata])[0])

    def add_batch(self, vectors: Any, metadata_list: Sequence[MetadataDict | None] | None = None) -> list[int]:
        """Adds ``n x dimension`` vectors (with one metadata dict per vector, or
        none); returns their ids. All become visible at once, or none."""
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, {self.dimension}), got shape {v.shape}")
        meta = list(metadata_list) if metadata_list else None
        return self.index.add(v, metadata=meta).tolist()

    def remove(self, ids: Any) -> int:
        """Removes ids (skipping unknown ones); returns how many were removed."""
        return self.index.remove(ids)

    def search(self, query: Any, k: int = 10, include_metadata: bool = True) -> list[QueryResult]:
        """The ``k`` nearest vectors, best first (``score``: distance, smaller
        is closer)."""
        q = np.asarray(query, dtype=np.float32)
        if q.ndim != 1:
            raise ValueError(f"query must be 1-D of length {self.dimension}, got shape {q.shape}; use batch_search")
        ids, dists, *meta = self.index.search(q, k, include_metadata=include_metadata)
        return _results(ids, dists, meta[0] if meta else None)

    def search_with_params(self, query: Any, params: SearchParams) -> list[QueryResult]:
        return self.search(query, params.k, params.include_metadata)

    def batch_search(self, queries: Any, params: SearchParams | None = None) -> list[list[QueryResult]]:
        """One result list per row of ``queries`` (one snapshot, all cores)."""
        params = params if params is not None else SearchParams()
        ids, dists, *rest = self.index.batch_search(
            np.asarray(queries, dtype=np.float32), params.k, include_metadata=params.include_metadata
        )
        metas: Sequence[Any] = rest[0] if rest else [None] * len(ids)
        return [_results(i, d, m) for i, d, m in zip(ids, dists, metas)]

    def get_metadata(self, vector_id: int) -> MetadataDict | None:
        """The metadata of a live id (``None`` if it has none or is not there)."""
        try:
            return self.index.get(vector_id)[1]
        except KeyError:
            return None

    @property
    def size(self) -> int:
        """Live vectors."""
        return len(self.index)

    @property
    def dimension(self) -> int:
        return self.index.dim

    @property
    def index_version(self) -> int:
        """Bumped by every write (and background rebuild); see ``Index.version``."""
        return self.index.version

    def stats(self) -> dict[str, Any]:
        """``{"size", "dimension", "index_version"}``."""
        return {"size": self.size, "dimension": self.dimension, "index_version": self.index_version}


def _as_dicts(results: list[QueryResult], include_metadata: bool) -> list[dict[str, Any]]:
    return [{"id": r.id, "score": r.score, "metadata": r.metadata if include_metadata else {}} for r in results]


class SageDBService:
    """The SageDB micro-service wrapper: ``SageDBService(dimension)``; every
    method returns plain Python values (results as ``{"id", "score",
    "metadata"}`` dicts; ``score`` is the distance, smaller is closer).
    ``index_type`` is accepted and ignored. Register one instance and call it
    from any number of worker threads: no lock needed."""

    def __init__(
        self, dimension: int = 4, index_type: str = "AUTO", *, metric: str = "l2", **index_kwargs: Any
    ) -> None:
        self._db = SageDB(DatabaseConfig(dimension, metric, **index_kwargs))
        self._dim = int(dimension)

    @property
    def db(self) -> SageDB:
        return self._db

    def add(self, vector: Any, metadata: MetadataDict | None = None) -> int:
        v = np.asarray(vector, dtype=np.float32)
        if v.ndim != 1 or v.shape[0] != self._dim:
            raise ValueError(f"vector shape must be ({self._dim},), got {v.shape}")
        return self._db.add(v, metadata)

    def add_batch(self, vectors: Any, metadata_list: Sequence[MetadataDict | None] | None = None) -> list[int]:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self._dim:
            raise ValueError(f"vectors shape must be (N, {self._dim}), got {arr.shape}")
        return self._db.add_batch(arr, metadata_list)

    def remove(self, ids: Any) -> int:
        return self._db.remove(ids)

    def search(self, query: Any, k: int = 5, include_metadata: bool = True) -> list[dict[str, Any]]:
        return _as_dicts(self._db.search(query, k, include_metadata), include_metadata)

    def batch_search(self, queries: Any, k: int = 5, include_metadata: bool = True) -> list[list[dict[str, Any]]]:
        rows = self._db.batch_search(queries, SearchParams(k, include_metadata))
        return [_as_dicts(r, include_metadata) for r in rows]

    def stats(self) -> dict[str, Any]:
        """``{"size", "dimension", "index_version"}``."""
        return self._db.stats()
