"""sagevec.ray: one index sharded over Ray actors, searched by scatter-gather.

``ShardedIndex(dim, metric="l2", shards=N, path=None, **index_args)`` starts N
Ray actors, each holding a :class:`sagevec.Index` (``index_args`` go to every
one) whose worker pool has as many threads as the actor has CPUs, so the actors
of a machine do not oversubscribe its cores. Rows are routed to a shard by
their id (:func:`shard_of`), ``search`` / ``batch_search`` send the queries to
every shard (a batch as one object in Ray's object store, read in place by each
actor; a query or a few under 64 KiB inline in each call) and
merge the per-shard top-k exactly as one ``Index`` orders its results (ids
int64 padded with -1, distances float32 padded with +inf, ties to the smaller
id).

Atomicity: an ``add`` is atomic per shard, not across shards. Every shard
checks its part first (an open transaction per shard) and only when all have
accepted it does any commit, so bad input changes nothing anywhere; then each
shard commits its part, visible there all at once. A search running during
those commits may see the part of one shard and not yet of another, and a
failure during them (an actor dies, a disk error) leaves some shards with
their part and others without: :class:`PartialWriteError` says which, and
retrying with its ids is an upsert. ``remove`` is per shard in the same way.
There is no cross-shard transaction.

Concurrency: a shard's actor runs one call at a time (so the version a search
reports is that of the rows it read), while the shards run in parallel; a batch
search uses every thread of every shard. Calls from several Python threads are
safe; writes are serialised here, as one ``Index`` serialises them.

Cosine: the shards of a cosine index are ``"ip"`` indexes of unit vectors,
normalised here exactly as the core normalises them, so their distances are
the key a cosine ``Index`` ranks by internally (its reported ``1 - cos``,
rounded to float32, can tie rows that it still orders); the merge ranks by
that key and reports ``1 + d`` as the core does, so exact results match one
cosine ``Index`` bit for bit.

Durability: with ``path``, shard ``i`` is a durable ``Index`` in
``path/shard-<i>`` (every acknowledged write survives a crash of its actor,
under the default ``"every_write"`` durability), and ``path/sagevec-sharded.json``
records the shard count, the routing, ``dim``, ``metric`` and the id counter.
Reopening with another shard count is an ``OSError``, never a misroute. A dead
actor makes every call that needs it raise :class:`ShardUnavailableError`
naming the shard; ``restart_shard(i)`` reopens a durable shard from its
directory. On a cluster of several machines ``path`` must be a file system
that every node sees at the same path.

``import sagevec`` never imports Ray; this module needs it
(``pip install 'sagevec[ray]'``).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Union, cast

import numpy as np
import numpy.typing as npt

try:
    import ray
    from ray.actor import ActorHandle
    from ray.exceptions import RayActorError, RayError, RayTaskError
except ImportError as err:  # Ray is an optional dependency
    raise ImportError("sagevec.ray needs Ray, an optional dependency: pip install 'sagevec[ray]'") from err

import sagevec

if TYPE_CHECKING:  # typing.Self is 3.11+; typing_extensions is no run-time dependency
    from typing_extensions import Self

__all__ = [
    "MANIFEST",
    "ROUTING",
    "PartialWriteError",
    "SearchResult",
    "ShardUnavailableError",
    "ShardedIndex",
    "merge_topk",
    "shard_of",
]

#: The file under ``path`` that records the sharded index's shape.
MANIFEST = "sagevec-sharded.json"
#: How ids are routed to shards: ``splitmix64(id) % shards`` (see :func:`shard_of`).
ROUTING = "splitmix64"
_FORMAT = "sagevec-sharded"
_FORMAT_VERSION = 1
_ID_LIMIT = 2**63
# Query arrays up to this size are sent inside each call rather than put in the
# object store once (below Ray's own 100 KiB limit for inline arguments).
_INLINE_BYTES = 64 * 1024

_Metadata = dict[str, Union[str, int, float, bool]]
_PathLike = Union[str, "os.PathLike[str]"]


# ---------------------------------------------------------------- errors


class ShardUnavailableError(RuntimeError):
    """A shard's Ray actor is dead (or unreachable): the call could not be
    served. ``shard`` is its number. A durable shard comes back with every
    acknowledged write through :meth:`ShardedIndex.restart_shard`."""

    def __init__(self, message: str, shard: int) -> None:
        super().__init__(message)
        self.shard = shard


class PartialWriteError(RuntimeError):
    """A write applied on some shards and failed on others (writes are atomic
    per shard, not across shards). ``ids``: every id of the write (int64);
    ``committed`` / ``failed``: the shard numbers. Retrying an add with
    ``ids=error.ids`` is an upsert, and retrying a remove is harmless. The
    first shard's error is the ``__cause__``."""

    def __init__(
        self, message: str, ids: npt.NDArray[np.int64], committed: tuple[int, ...], failed: tuple[int, ...]
    ) -> None:
        super().__init__(message)
        self.ids = ids
        self.committed = committed
        self.failed = failed


class SearchResult(tuple[Any, ...]):
    """What ``ShardedIndex.search`` returns: the tuple ``Index.search`` returns,
    ``(ids, distances)`` or ``(ids, distances, metadata)``, plus ``versions``,
    the version of each shard's rows that the search read (index = shard)."""

    versions: tuple[int, ...]

    def __new__(cls, items: Sequence[Any], versions: Sequence[int]) -> Self:
        result = super().__new__(cls, items)
        result.versions = tuple(int(v) for v in versions)
        return result


# ---------------------------------------------------------------- routing and merging


def shard_of(ids: npt.ArrayLike, shards: int) -> npt.NDArray[np.intp]:
    """The shard of each id: ``splitmix64(id) % shards`` (the output mix of
    SplitMix64 on the id as an unsigned 64-bit integer). Hashing first keeps
    structured ids (all even, or ``doc * 10 + chunk``) spread evenly. This is
    part of the durable format (recorded as ``"routing"`` in the manifest):
    it never changes."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    z = np.asarray(ids).astype(np.uint64).reshape(-1)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(shards)).astype(np.intp)


def _total_order_key(distances: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """An int32 per float32 that sorts as Rust's ``f32::total_cmp`` does
    (``-0.0`` before ``+0.0``, NaN last), as one ``Index`` orders its hits."""
    bits = np.ascontiguousarray(distances, dtype=np.float32).view(np.int32)
    return bits ^ ((bits >> np.int32(31)) & np.int32(0x7FFFFFFF))


def merge_topk(
    ids: Sequence[npt.NDArray[np.int64]], distances: Sequence[npt.NDArray[np.float32]], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """Merges per-shard results ``(n, k_s)`` into the best ``k`` per row, in the
    order one ``Index`` gives: distance (``f32::total_cmp``), then the smaller
    id; padding (id -1) after every real hit. Returns ``(ids[n, k],
    distances[n, k], source[n, k])`` where ``source`` is the column in the
    side-by-side concatenation of the inputs that each result came from.
    Exact: the global top-k is within the union of the per-shard top-k."""
    all_ids = np.concatenate([np.asarray(a, dtype=np.int64) for a in ids], axis=1)
    all_dist = np.concatenate([np.asarray(d, dtype=np.float32) for d in distances], axis=1)
    pad = all_ids < 0
    order = np.lexsort((all_ids, pad, _total_order_key(all_dist)), axis=-1)[:, :k]
    out_ids = np.take_along_axis(all_ids, order, axis=1)
    out_dist = np.take_along_axis(all_dist, order, axis=1)
    if out_ids.shape[1] < k:  # fewer candidates than k (a zero-width input)
        extra = k - out_ids.shape[1]
        n = out_ids.shape[0]
        out_ids = np.concatenate([out_ids, np.full((n, extra), -1, np.int64)], axis=1)
        out_dist = np.concatenate([out_dist, np.full((n, extra), np.inf, np.float32)], axis=1)
        order = np.concatenate([order, np.full((n, extra), -1, np.intp)], axis=1)
    return out_ids, out_dist, order


# ---------------------------------------------------------------- input conversion


def _float_rows(x: Any, name: str, expected: str) -> npt.NDArray[np.float32]:
    """A float32 C-contiguous array of ``x`` (no copy when it already is one);
    non-float input is a ``TypeError`` as ``Index`` gives it."""
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must be a float array of shape {expected} (float32 is read in place), got dtype {arr.dtype}"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def _id_array(ids: Any, name: str) -> npt.NDArray[np.int64]:
    """``ids`` (one int, a sequence or an integer array) as a 1-D int64 array,
    each in ``[0, 2^63)``; messages as ``Index`` words them."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ids, got shape {list(arr.shape)}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == object:  # Python ints beyond 64 bits, or mixed objects
        for v in arr:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{name} must hold integers, got {v!r}")
            if not 0 <= int(v) < _ID_LIMIT:
                raise ValueError(f"{name}: id {int(v)} is outside [0, 2^63)")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got {arr.reshape(-1)[0].item()!r}")
    if arr.dtype.kind == "i" and int(arr.min()) < 0:
        raise ValueError(f"{name}: id {int(arr.min())} is outside [0, 2^63)")
    if int(arr.max()) >= _ID_LIMIT:
        raise ValueError(f"{name}: id {int(arr.max())} is outside [0, 2^63)")
    return arr.astype(np.int64, copy=False)


def _metadata_list(metadata: Any, n: int) -> list[_Metadata | None] | None:
    """``metadata`` for a 2-D batch, as a list with one entry per row, to be
    split by shard (each shard checks the entries themselves)."""
    if metadata is None:
        return None
    if isinstance(metadata, (dict, str, bytes)) or not isinstance(metadata, Sequence):
        raise TypeError("metadata must be a list with one dict (or None) per vector")
    if len(metadata) != n:
        raise ValueError(f"metadata: {len(metadata)} entries for {n} vectors")
    return list(metadata)


def _unit_rows(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row scaled to unit length exactly as the core does under cosine (an
    f64 sum of squares in order, ``x * (1 / sqrt(sum))`` rounded to f32), so a
    shard storing these under ``ip`` ranks by the very key a cosine ``Index``
    uses internally. Zero rows stay zero (the callers refuse them first)."""
    out = np.empty_like(x)
    for start in range(0, x.shape[0], 16384):  # bounded f64 temporaries
        block = x[start : start + 16384].astype(np.float64)
        norm2 = np.cumsum(block * block, axis=1)[:, -1]  # in order, as Rust's iterator sum
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / np.sqrt(norm2)
        out[start : start + 16384] = (block * inv[:, None]).astype(np.float32)
    return out


def _first_bad_row(x: npt.NDArray[np.float32], cosine: bool) -> str | None:
    """What ``Index.add`` says of the first row it refuses for its values (rows
    numbered in the whole batch, not within a shard's part), or ``None``."""
    bad = np.asarray(~np.isfinite(x).all(axis=1), dtype=np.bool_)
    zero = np.asarray(~x.any(axis=1), dtype=np.bool_) if cosine else np.zeros_like(bad)
    rows = np.flatnonzero(bad | zero)
    if rows.size == 0:
        return None
    row = int(rows[0])
    if bad[row]:
        return f"vector {row} holds NaN or an infinity"
    return f"vector {row} is zero, which has no direction under cosine"


# ---------------------------------------------------------------- stats


# Per-shard report entries that adding up across shards would not make
# meaningful (everything else numeric in ``Index.stats()`` is a count or a
# size). Floats (latency means and percentiles) are never summed either.
_NOT_ADDITIVE = frozenset({"dim", "version"})


def _combine_stats(per_shard: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The one place this module reads ``Index.stats()`` keys: sums every
    integer entry present in all shards' reports (nested dicts recursively),
    except ``_NOT_ADDITIVE``, so keys the core adds, renames or drops flow
    through without a change here. Strings, floats and ``None`` stay per shard."""

    def combine(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = [k for k in reports[0] if all(k in r for r in reports[1:])]
        for key in keys:
            if key in _NOT_ADDITIVE:
                continue
            values = [r[key] for r in reports]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                out[key] = sum(values)
            elif all(isinstance(v, Mapping) for v in values):
                inner = combine(values)
                if inner:
                    out[key] = inner
        return out

    return combine(per_shard) if per_shard else {}


# ---------------------------------------------------------------- the actor


class _Shard:
    """One shard, inside its Ray actor (one call at a time): an ``Index`` whose
    pool has the actor's CPUs as threads, and the adds it has checked but not
    yet committed (``prepare`` / ``commit``)."""

    def __init__(self) -> None:
        self._index: sagevec.Index | None = None
        self._pending: dict[int, sagevec.Transaction] = {}
        self._tokens = 0

    def open(self, dim: int, metric: str, path: str | None, index_args: dict[str, Any]) -> dict[str, Any]:
        ctx = ray.get_runtime_context()
        cpus = float(ctx.get_assigned_resources().get("CPU", 0.0))  # type: ignore[no-untyped-call]
        # Whole CPUs only (a fractional share still runs one thread).
        threads = max(1, math.floor(cpus + 1e-6))
        self._index = sagevec.Index(dim, metric, path=path, threads=threads, **index_args)
        return {"node_id": ctx.get_node_id(), "pid": os.getpid(), "cpus": cpus, "threads": threads, "path": path}

    def _ix(self) -> sagevec.Index:
        if self._index is None:
            raise RuntimeError("this shard was never opened")
        return self._index

    def add(self, vectors: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], metadata: Any) -> int:
        """One call, all or nothing (the whole add is on this shard); the version after."""
        ix = self._ix()
        ix.add(vectors, ids=ids, metadata=metadata)
        return ix.version

    def prepare(self, vectors: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], metadata: Any) -> int:
        """Checks this shard's part of an add (queued in a transaction); a token for ``commit``."""
        tx = self._ix().transaction()
        try:
            tx.add(vectors, ids=ids, metadata=metadata)
        except BaseException:
            tx.rollback()
            raise
        self._tokens += 1
        self._pending[self._tokens] = tx
        return self._tokens

    def commit(self, token: int) -> int:
        tx = self._pending.pop(token, None)
        if tx is None:
            raise RuntimeError(f"no prepared add {token} on this shard (was it restarted?)")
        return int(tx.commit()["version"])

    def rollback(self, token: int) -> None:
        tx = self._pending.pop(token, None)
        if tx is not None:
            tx.rollback()

    def remove(self, ids: npt.NDArray[np.int64]) -> int:
        return self._ix().remove(ids)

    def search(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        batch: bool,
        ef: int | None,
        exact: bool,
        filter: Any,
        include_metadata: bool,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], tuple[Any, int]]:
        """The shard's ids, distances, and (metadata or ``None``, the version
        of its rows it read), as three returns (``num_returns=3``: two arrays
        that small batches pass inline, without the object store). No write of
        the sharded index runs here during the search (an actor runs one call
        at a time); a background build finishing meanwhile publishes a later
        version with the same rows."""
        ix = self._ix()
        version = ix.version
        run = ix.batch_search if batch else ix.search
        result: tuple[Any, ...] = run(queries, k, ef=ef, exact=exact, filter=filter, include_metadata=include_metadata)
        return result[0], result[1], (result[2] if include_metadata else None, version)

    def get(self, id: int) -> tuple[npt.NDArray[np.float32], _Metadata | None]:
        return self._ix().get(id)

    def contains(self, id: int) -> bool:
        return id in self._ix()

    def ids(self) -> npt.NDArray[np.int64]:
        return self._ix().ids()

    def len(self) -> int:
        return len(self._ix())

    def version(self) -> int:
        return self._ix().version

    def stats(self) -> dict[str, Any]:
        return self._ix().stats()

    def wait_for_builds(self) -> None:
        self._ix().wait_for_builds()

    def checkpoint(self) -> None:
        self._ix().checkpoint()

    def close(self) -> None:
        self._pending.clear()
        if self._index is not None:
            self._index.close()

    def ping(self) -> None:
        return None


_ShardActor = ray.remote(_Shard)
if TYPE_CHECKING:
    _Handle = ActorHandle[_Shard]
else:  # not subscriptable at run time in every Ray release
    _Handle = ActorHandle

# Actor options this module sets itself.
_OWN_ACTOR_OPTIONS = ("num_cpus", "max_restarts", "max_concurrency", "max_task_retries")


def _shard_cpus(shards: int) -> float:
    """CPUs per actor when none are given: the largest share (whole CPUs where
    there are enough, else a fraction, to 1e-4 as Ray counts) with which
    ``shards`` actors fit on the alive nodes of the cluster."""
    alive = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
    nodes = [float(n.get("Resources", {}).get("CPU", 0.0)) for n in alive]
    candidates = sorted(
        {math.floor(c / m * 1e4) / 1e4 for c in nodes if c > 0 for m in range(1, shards + 1)}, reverse=True
    )
    for share in candidates:
        if share > 0 and sum(math.floor(c / share + 1e-9) for c in nodes) >= shards:
            return share
    raise ValueError(f"the Ray cluster has no CPU for {shards} shard actors (CPUs per alive node: {nodes})")


def _ray_error_text(err: BaseException) -> str:
    """The first line of a Ray error (its full text is a page of context)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------- manifest


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Writes ``path`` so that a crash leaves the old file or the new one:
    a synced temporary file renamed over it, then the directory synced."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise OSError(f"{file}: not a sagevec sharded-index manifest ({e})") from None
    fields = {
        "format": str,
        "format_version": int,
        "shards": int,
        "routing": str,
        "dim": int,
        "metric": str,
        "next_id": int,
        "shard_dirs": list,
    }
    for key, kind in fields.items():
        if not isinstance(data, dict) or not isinstance(data.get(key), kind):
            raise OSError(f"{file}: not a sagevec sharded-index manifest ({key!r} missing or not {kind.__name__})")
    if data["format"] != _FORMAT or data["format_version"] > _FORMAT_VERSION:
        raise OSError(
            f"{file}: format {data['format']!r} version {data['format_version']} is not one this "
            f"sagevec reads ({_FORMAT!r} up to version {_FORMAT_VERSION})"
        )
    if data["routing"] != ROUTING:
        raise OSError(f"{file}: routing {data['routing']!r} is unknown to this sagevec (it routes by {ROUTING!r})")
    names = data["shard_dirs"]
    if len(names) != data["shards"] or not all(
        isinstance(d, str) and d not in ("", ".", "..") and os.path.basename(d) == d for d in names
    ):
        raise OSError(f"{file}: 'shard_dirs' must be {data['shards']} directory names (in this directory)")
    return cast(dict[str, Any], data)


# ---------------------------------------------------------------- the sharded index


class ShardedIndex:
    """One index over ``shards`` Ray actors (see the module's docs).

    ``ShardedIndex(dim, metric="l2", shards=N, path=None, *, cpus_per_shard=None,
    actor_options=None, **index_args)``: ``index_args`` are ``sagevec.Index``'s
    keyword arguments (``m``, ``ef_search``, ``durability``, ...; not ``path``
    nor ``threads``) for every shard. Each actor reserves ``cpus_per_shard``
    CPUs (default: the largest share with which all N fit on the cluster's
    nodes now; a given value is not checked, since an autoscaler may add nodes,
    and actors wait until Ray can place them) and its ``Index`` runs
    ``floor(cpus_per_shard)`` threads (at least one). ``actor_options`` go to Ray's ``.options()`` of every actor (e.g.
    ``scheduling_strategy="SPREAD"``). Connects to Ray with ``ray.init()``
    when no connection exists yet.

    With ``path``: a new directory (or an empty one) becomes a new sharded
    index; one holding ``sagevec-sharded.json`` is reopened, which needs the
    same ``dim``, ``metric`` and shard count (``shards=None`` takes the
    recorded one), else ``OSError``.
    """

    def __init__(
        self,
        dim: int,
        metric: str = "l2",
        shards: int | None = None,
        path: _PathLike | None = None,
        *,
        cpus_per_shard: float | None = None,
        actor_options: Mapping[str, Any] | None = None,
        **index_args: Any,
    ) -> None:
        for name in ("path", "threads"):
            if name in index_args:
                raise TypeError(
                    f"{name} is not an index argument of ShardedIndex"
                    + (
                        ": each shard runs one thread per CPU of its actor (cpus_per_shard)"
                        if name == "threads"
                        else ""
                    )
                )
        options = dict(actor_options or {})
        own = [o for o in _OWN_ACTOR_OPTIONS if o in options]
        if own:
            raise ValueError(
                f"actor_options may not set {', '.join(own)}: ShardedIndex sets them "
                "(cpus_per_shard for CPUs; a dead shard is restarted with restart_shard)"
            )
        if shards is not None and (isinstance(shards, bool) or not isinstance(shards, int) or shards < 1):
            raise ValueError(f"shards must be a positive integer, got {shards!r}")
        if cpus_per_shard is not None and not (
            isinstance(cpus_per_shard, (int, float)) and not isinstance(cpus_per_shard, bool) and cpus_per_shard > 0
        ):
            raise ValueError(f"cpus_per_shard must be a positive number, got {cpus_per_shard!r}")
        # dim and metric as the core checks and names them ("IP" -> "ip").
        probe = sagevec.Index(dim, metric)
        self._dim, self._metric = probe.dim, probe.metric
        probe.close()
        # Cosine shards are "ip" indexes of unit vectors normalised here (as the
        # core normalises): their distances are the internal key a cosine
        # Index ranks by, which its reported 1 - cos rounds away, so the merge
        # is exact; distances are reported as the core reports them.
        self._cosine = self._metric == "cosine"
        self._shard_metric = "ip" if self._cosine else self._metric

        self._read_only = bool(index_args.get("read_only", False))
        self._path: Path | None = None
        self._dir_names: list[str]
        shard_dirs: list[str | None]
        if path is None:
            if shards is None:
                raise ValueError("shards is needed for a sharded index in memory")
            self._next_id = 0
            self._dir_names = []
            shard_dirs = [None] * shards
        else:
            self._path = Path(os.path.abspath(os.fspath(path)))  # actors have another working directory
            manifest = self._open_manifest(shards)
            shards = int(manifest["shards"])
            self._next_id = int(manifest["next_id"])
            self._dir_names = list(manifest["shard_dirs"])
            shard_dirs = [str(self._path / d) for d in self._dir_names]

        self._shards = shards
        self._index_args = dict(index_args)
        self._options = options
        self._cpus = cpus_per_shard
        self._write_lock = threading.Lock()
        self._closed = False
        self._shard_dirs = shard_dirs
        self._actors: list[_Handle] = []
        self._info: list[dict[str, Any]] = []

        if not ray.is_initialized():
            ray.init()
        if self._cpus is None:
            self._cpus = _shard_cpus(shards)
        handles = [self._spawn() for _ in range(shards)]
        opened = {i: self._open_ref(h, i) for i, h in enumerate(handles)}
        self._actors = handles
        outcomes = self._gather(opened)
        if any(isinstance(o, BaseException) for o in outcomes.values()):
            for h in handles:
                ray.kill(h, no_restart=True)
            self._closed = True
            self._raise_first(outcomes)
        self._info = [outcomes[i] for i in range(shards)]

    # -------------------------------------------------------- set-up

    def _open_manifest(self, shards: int | None) -> dict[str, Any]:
        """Reads (or, for a new index, writes) ``path``'s manifest and checks it
        against the arguments."""
        assert self._path is not None
        path = self._path
        if (path / MANIFEST).exists():
            manifest = _read_manifest(path)
            where = f"{path / MANIFEST}"
            if shards is not None and manifest["shards"] != shards:
                raise OSError(
                    f"{where}: this sharded index has {manifest['shards']} shards, not {shards}: rows are routed by "
                    f"id over the shard count, so it must be reopened with shards={manifest['shards']} (or None)"
                )
            if manifest["dim"] != self._dim:
                raise OSError(f"{where}: dim is {manifest['dim']}, not {self._dim}")
            if manifest["metric"] != self._metric:
                raise OSError(f"{where}: metric is {manifest['metric']!r}, not {self._metric!r}")
            return manifest
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise OSError(f"{path}: not a sagevec sharded index (no {MANIFEST}) and not an empty directory")
        if self._read_only:
            raise FileNotFoundError(f"{path}: no sagevec sharded index there (no {MANIFEST})")
        if shards is None:
            raise ValueError(f"shards is needed to create a sharded index ({path} has none yet)")
        path.mkdir(parents=True, exist_ok=True)
        manifest = self._manifest(shards, [f"shard-{i}" for i in range(shards)], 0)
        _write_json_atomic(path / MANIFEST, manifest)  # first: a crash after it leaves a valid index
        return manifest

    def _manifest(self, shards: int, dir_names: list[str], next_id: int) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "shards": shards,
            "routing": ROUTING,
            "shard_dirs": dir_names,
            "dim": self._dim,
            "metric": self._metric,
            "next_id": next_id,
        }

    def _spawn(self) -> _Handle:
        return cast(
            _Handle,
            _ShardActor.options(num_cpus=self._cpus, max_restarts=0, max_concurrency=1, **self._options).remote(),
        )

    def _open_ref(self, handle: _Handle, shard: int) -> Any:
        return handle.open.remote(self._dim, self._shard_metric, self._shard_dirs[shard], self._index_args)

    def _write_manifest(self) -> None:
        if self._path is None or self._read_only:
            return
        _write_json_atomic(self._path / MANIFEST, self._manifest(self._shards, self._dir_names, self._next_id))

    # -------------------------------------------------------- calling the shards

    def _live(self) -> None:
        if self._closed:
            raise ValueError("the sharded index is closed")

    def _gather(self, refs: Mapping[int, Any]) -> dict[int, Any]:
        """Each shard's outcome: its value (a list for a list of refs), or the
        exception to raise for it (the shard's own exception, or
        ``ShardUnavailableError``)."""
        out: dict[int, Any] = {}
        for shard, ref in refs.items():
            try:
                out[shard] = ray.get(ref)
            except RayTaskError as e:  # the method raised: its own exception
                cause = e.cause if isinstance(e.cause, BaseException) else e
                if not isinstance(cause, (ValueError, TypeError, KeyError)) and hasattr(cause, "add_note"):
                    cause.add_note(f"(from shard {shard} of {self._shards})")  # bad input reads the same on every shard
                out[shard] = cause
            except RayActorError as e:
                out[shard] = ShardUnavailableError(
                    f"shard {shard} of {self._shards} is unavailable: its Ray actor died or cannot be reached "
                    f"({_ray_error_text(e)}). "
                    + (
                        f"Its directory {self._shard_dirs[shard]} holds every acknowledged write: "
                        f"restart_shard({shard}) reopens it."
                        if self._shard_dirs[shard] is not None
                        else "It was in memory: its rows are lost."
                    ),
                    shard,
                )
            except RayError as e:
                out[shard] = ShardUnavailableError(
                    f"shard {shard} of {self._shards}: Ray could not complete the call ({_ray_error_text(e)})", shard
                )
        return out

    @staticmethod
    def _raise_first(outcomes: Mapping[int, Any]) -> None:
        for shard in sorted(outcomes):
            if isinstance(outcomes[shard], BaseException):
                raise outcomes[shard]

    def _call(self, method: str, shards: Sequence[int] | None = None, *args: Any) -> list[Any]:
        """``method(*args)`` on every shard (or those given), in parallel; the
        values in shard order, or the first shard's error."""
        chosen = range(self._shards) if shards is None else shards
        refs = {s: getattr(self._actors[s], method).remote(*args) for s in chosen}
        outcomes = self._gather(refs)
        self._raise_first(outcomes)
        return [outcomes[s] for s in chosen]

    # -------------------------------------------------------- properties

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def shards(self) -> int:
        """The shard count."""
        return self._shards

    @property
    def path(self) -> str | None:
        """The directory (absolute), or ``None`` in memory."""
        return None if self._path is None else str(self._path)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def cpus_per_shard(self) -> float:
        assert self._cpus is not None
        return float(self._cpus)

    @property
    def actors(self) -> tuple[_Handle, ...]:
        """The Ray actor of each shard (index = shard)."""
        return tuple(self._actors)

    @property
    def versions(self) -> tuple[int, ...]:
        """Each shard's current version."""
        self._live()
        return tuple(int(v) for v in self._call("version"))

    def __repr__(self) -> str:
        where = f", path={str(self._path)!r}" if self._path is not None else ""
        state = ", closed" if self._closed else ""
        return (
            f"sagevec.ray.ShardedIndex(dim={self._dim}, metric={self._metric!r}, shards={self._shards}{where}{state})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a ShardedIndex cannot be pickled: it owns its shards' actors and the id counter")

    # -------------------------------------------------------- writes

    def add(
        self,
        vectors: Any,
        ids: Any = None,
        metadata: Sequence[_Metadata | None] | _Metadata | None = None,
    ) -> npt.NDArray[np.int64]:
        """Adds vectors; returns their ids (int64, input order). Takes what
        ``Index.add`` takes. Without ``ids``, ids come from one counter of the
        sharded index (the largest id ever used + 1, never reused, as ``Index``
        assigns them); an id already present is replaced (on its shard, since
        an id always routes to the same one). Atomic per shard, not across
        shards (see the module's docs): bad input raises and changes nothing."""
        expected = f"({self._dim},) or (n, {self._dim})"
        x = _float_rows(vectors, "vectors", expected)
        if x.ndim not in (1, 2) or x.shape[-1] != self._dim:
            raise ValueError(f"vectors must have shape {expected}, got {tuple(x.shape)}")
        single = x.ndim == 1
        n = 1 if single else x.shape[0]
        # Checked here so that errors number rows in the whole batch.
        problem = _first_bad_row(x.reshape(n, self._dim), self._cosine)
        if problem is not None:
            raise ValueError(problem)
        if self._cosine:
            x = _unit_rows(x.reshape(n, self._dim)).reshape(x.shape)
        given = None if ids is None else _id_array(ids, "ids")
        if given is not None and len(given) != n:
            raise ValueError(f"ids: {len(given)} entries for {n} vectors")
        rows_meta = None if single else _metadata_list(metadata, n)
        with self._write_lock:
            self._live()
            if n == 0:
                return np.zeros(0, dtype=np.int64)
            if given is None:
                new_ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
            else:
                new_ids = given.copy()  # the caller's array is theirs, as Index.add returns a new one
            mark = max(self._next_id, int(new_ids.max()) + 1)
            route = shard_of(new_ids, self._shards)
            parts = {int(s): np.flatnonzero(route == s) for s in np.unique(route)}
            durable_mark = self._path is not None and not self._read_only and mark > self._next_id
            if len(parts) == 1 and not durable_mark:
                # One shard holds the whole add: one call, all or nothing there.
                (shard,) = parts
                self._call("add", [shard], x, new_ids, metadata if single else rows_meta)
                self._next_id = mark
                return new_ids
            self._add_two_phase(x, single, new_ids, metadata, rows_meta, parts, mark)
            return new_ids

    def _add_two_phase(
        self,
        x: npt.NDArray[np.float32],
        single: bool,
        new_ids: npt.NDArray[np.int64],
        metadata: Any,
        rows_meta: list[_Metadata | None] | None,
        parts: Mapping[int, npt.NDArray[np.intp]],
        mark: int,
    ) -> None:
        """Every shard checks its part (prepare), then the id mark is made
        durable, then every shard commits."""
        refs: dict[int, Any] = {}
        for shard, rows in parts.items():
            if single:
                part_x, part_meta = x, metadata
            else:
                part_x = x[rows]
                part_meta = None if rows_meta is None else [rows_meta[i] for i in rows]
            refs[shard] = self._actors[shard].prepare.remote(part_x, new_ids[rows], part_meta)
        prepared = self._gather(refs)
        tokens = {s: t for s, t in prepared.items() if not isinstance(t, BaseException)}
        if len(tokens) < len(prepared):
            self._rollback(tokens)
            self._raise_first(prepared)
        if mark > self._next_id and self._path is not None and not self._read_only:
            previous, self._next_id = self._next_id, mark
            try:
                self._write_manifest()  # before any commit: ids are reserved, never reused
            except BaseException:
                self._next_id = previous
                self._rollback(tokens)
                raise
        committed = self._gather({s: self._actors[s].commit.remote(t) for s, t in tokens.items()})
        self._next_id = max(self._next_id, mark)
        self._check_write(
            committed,
            new_ids,
            "add",
            "an add is atomic per shard, not across shards; retrying it with ids=error.ids replaces what is there",
        )

    @staticmethod
    def _check_write(outcomes: Mapping[int, Any], ids: npt.NDArray[np.int64], what: str, advice: str) -> None:
        """Raises for a write that not every shard applied: the first shard's
        error when none did, else ``PartialWriteError`` naming them."""
        failed = tuple(s for s in sorted(outcomes) if isinstance(outcomes[s], BaseException))
        if not failed:
            return
        done = tuple(s for s in sorted(outcomes) if s not in failed)
        first = outcomes[failed[0]]
        if not done:
            raise first
        raise PartialWriteError(
            f"the {what} was applied on shard(s) {list(done)} but failed on shard(s) {list(failed)} ({first}): "
            f"{advice}",
            ids,
            done,
            failed,
        ) from first

    def _rollback(self, tokens: Mapping[int, int]) -> None:
        # Best effort: a dead shard's open transaction died with it.
        self._gather({s: self._actors[s].rollback.remote(t) for s, t in tokens.items()})

    def remove(self, ids: Any) -> int:
        """Removes ``ids`` from their shards; returns how many were live
        (unknown ids are skipped). Per shard, not across shards."""
        arr = _id_array(ids, "ids")
        with self._write_lock:
            self._live()
            if arr.size == 0:
                return 0
            route = shard_of(arr, self._shards)
            refs = {int(s): self._actors[int(s)].remove.remote(arr[route == s]) for s in np.unique(route)}
            outcomes = self._gather(refs)
        self._check_write(outcomes, arr, "remove", "retrying it is harmless")
        return int(sum(outcomes.values()))

    # -------------------------------------------------------- searches

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        ef: int | None = None,
        exact: bool = False,
        filter: Any = None,
        include_metadata: bool = False,
    ) -> SearchResult:
        """The ``k`` nearest over all shards, as ``Index.search`` returns them
        (a 1-D query gives ``(k,)`` arrays, a 2-D batch ``(n, k)``), with
        ``.versions``: each shard's version read. Options pass through to every
        shard; an id filter goes to each shard as the ids it holds."""
        return self._search(queries, k, False, ef, exact, filter, include_metadata)

    def batch_search(
        self,
        queries: Any,
        k: int = 10,
        *,
        ef: int | None = None,
        exact: bool = False,
        filter: Any = None,
        include_metadata: bool = False,
    ) -> SearchResult:
        """``search`` for a 2-D batch ``(n, dim)``, by its explicit name."""
        return self._search(queries, k, True, ef, exact, filter, include_metadata)

    def _search(
        self, queries: Any, k: int, batch: bool, ef: int | None, exact: bool, filter: Any, include_metadata: bool
    ) -> SearchResult:
        self._live()
        q = _float_rows(queries, "queries", f"({self._dim},) or (n_queries, {self._dim})")
        if self._cosine and q.ndim in (1, 2) and q.shape[-1] == self._dim:
            rows = q.reshape(-1, self._dim)
            zero = np.flatnonzero(~rows.any(axis=1) & np.isfinite(rows).all(axis=1))
            if zero.size:
                raise ValueError(f"query {int(zero[0])} is zero, which has no direction under cosine")
            q = _unit_rows(rows).reshape(q.shape)
        if isinstance(filter, Mapping) or filter is None:
            filters: list[Any] = [filter] * self._shards
        else:
            allowed = _id_array(filter, "filter")
            route = shard_of(allowed, self._shards)
            filters = [allowed[route == s] for s in range(self._shards)]
        # A batch goes to the object store once and every shard reads it in
        # place; a small one (one query, a few) rides inline in each call.
        qref = q if q.nbytes <= _INLINE_BYTES else ray.put(q)
        refs = {
            s: self._actors[s]
            .search.options(num_returns=3)
            .remote(qref, k, batch, ef, exact, filters[s], include_metadata)
            for s in range(self._shards)
        }
        outcomes = self._gather(refs)
        self._raise_first(outcomes)
        results = [(outcomes[s][0], outcomes[s][1], outcomes[s][2][0]) for s in range(self._shards)]
        versions = [outcomes[s][2][1] for s in range(self._shards)]
        one = results[0][0].ndim == 1
        shape = (1, -1) if one else results[0][0].shape
        ids, dist, source = merge_topk(
            [r[0].reshape(shape) for r in results], [r[1].reshape(shape) for r in results], k
        )
        if self._cosine:  # as the core reports an internal -dot under cosine: 1 + d, in f32
            dist = np.where(np.isfinite(dist), np.float32(1.0) + dist, dist).astype(np.float32)
        if not include_metadata:
            return SearchResult((ids[0], dist[0]) if one else (ids, dist), versions)
        width = results[0][0].shape[-1]
        metas = [[r[2]] if one else r[2] for r in results]
        meta = [
            [None if c < 0 else metas[c // width][row][c % width] for c in source[row].tolist()]
            for row in range(ids.shape[0])
        ]
        return SearchResult((ids[0], dist[0], meta[0]) if one else (ids, dist, meta), versions)

    # -------------------------------------------------------- reads

    def __len__(self) -> int:
        self._live()
        return int(sum(self._call("len")))

    def __contains__(self, id: object) -> bool:
        self._live()
        try:
            arr = _id_array(id, "id")
        except (TypeError, ValueError):
            return False
        if arr.size != 1:
            return False
        shard = int(shard_of(arr, self._shards)[0])
        return bool(self._call("contains", [shard], int(arr[0]))[0])

    def get(self, id: int) -> tuple[npt.NDArray[np.float32], _Metadata | None]:
        """``(vector, metadata)`` of a live id, from its shard (``KeyError`` if not live)."""
        self._live()
        arr = _id_array(id, "id")
        if arr.size != 1:
            raise TypeError(f"get takes one id, got {arr.size}")
        shard = int(shard_of(arr, self._shards)[0])
        vec, meta = self._call("get", [shard], int(arr[0]))[0]
        return np.array(vec, dtype=np.float32), meta

    def ids(self) -> npt.NDArray[np.int64]:
        """Every live id, ascending (int64)."""
        self._live()
        parts = self._call("ids")
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def stats(self) -> dict[str, Any]:
        """``{"dim", "metric", "shards", "routing", "path", "next_id",
        "cpus_per_shard", "totals": {counts and sizes summed over shards},
        "per_shard": [{"shard", "node_id", "pid", "cpus", "threads", "path",
        "stats": that shard's Index.stats()}, ...]}``. A cosine index's shards
        report ``"metric": "ip"``: they hold unit vectors (see the module's docs)."""
        self._live()
        per = self._call("stats")
        return {
            "dim": self._dim,
            "metric": self._metric,
            "shards": self._shards,
            "routing": ROUTING,
            "path": self.path,
            "next_id": self._next_id,
            "cpus_per_shard": self.cpus_per_shard,
            "totals": _combine_stats(per),
            "per_shard": [{"shard": i, **self._info[i], "stats": s} for i, s in enumerate(per)],
        }

    # -------------------------------------------------------- maintenance

    def wait_for_builds(self) -> None:
        """Waits until every shard's background builds are done."""
        self._live()
        self._call("wait_for_builds")

    def checkpoint(self) -> None:
        """Checkpoints every shard (nothing in memory) and rewrites the manifest."""
        self._live()
        with self._write_lock:
            self._call("checkpoint")
            self._write_manifest()

    def restart_shard(self, shard: int) -> None:
        """Replaces shard ``shard``'s actor by a new one that reopens its
        directory, with every acknowledged write (the old actor, alive or
        not, is closed if it can be, then killed). ``ValueError`` in memory,
        where a restarted shard would come back empty."""
        self._live()
        if not isinstance(shard, int) or not 0 <= shard < self._shards:
            raise ValueError(f"shard must be in 0..{self._shards - 1}, got {shard!r}")
        if self._shard_dirs[shard] is None:
            raise ValueError(f"shard {shard} is in memory: a restarted actor would come back empty")
        with self._write_lock:
            old = self._actors[shard]
            self._gather({shard: old.close.remote()})  # flushes it, if it is alive
            ray.kill(old, no_restart=True)
            deadline = time.monotonic() + 60.0
            while not isinstance(self._gather({shard: old.ping.remote()})[shard], ShardUnavailableError):
                if time.monotonic() > deadline:  # pragma: no cover - Ray kills within milliseconds
                    raise RuntimeError(f"shard {shard}'s old actor is still alive 60 s after ray.kill")
                time.sleep(0.01)
            handle = self._spawn()
            outcome = self._gather({shard: self._open_ref(handle, shard)})[shard]
            if isinstance(outcome, BaseException):
                ray.kill(handle, no_restart=True)
                raise outcome
            self._actors[shard] = handle
            self._info[shard] = outcome

    def close(self) -> None:
        """Closes every shard (a durable one checkpoints and unlocks its
        directory, which may then be reopened) and ends their actors; every
        method then raises ``ValueError``. Closing twice does nothing. A
        shard's error is raised after all the others are closed."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            outcomes = self._gather({s: a.close.remote() for s, a in enumerate(self._actors)})
            if not self._read_only and self._path is not None:
                try:
                    self._write_manifest()
                except OSError as e:
                    outcomes[self._shards] = e  # raised after any shard's error
            for actor in self._actors:
                ray.kill(actor, no_restart=True)
        self._raise_first(outcomes)

    def __enter__(self) -> Self:
        self._live()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> Literal[False]:
        self.close()
        return False
