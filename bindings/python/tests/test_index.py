"""sagevec.Index: every method and error path, input conversion, results against
numpy brute force, 1-D vs 2-D, filters, metadata, background builds, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sagevec
from sagevec import Index

METRICS = ("l2", "ip", "cosine")


def ref_dist(q: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    q64, r64 = q.astype(np.float64), rows.astype(np.float64)
    if metric == "l2":
        return ((r64 - q64) ** 2).sum(axis=1)
    if metric == "ip":
        return -(r64 @ q64)
    return 1.0 - (r64 @ q64) / (np.linalg.norm(q64) * np.linalg.norm(r64, axis=1))


def brute_force(queries: np.ndarray, base: np.ndarray, base_ids: np.ndarray, k: int, metric: str):
    """(ids, distances) of the k nearest, ties to the smaller id, padded -1/inf."""
    order = np.argsort(base_ids, kind="stable")
    base, base_ids = base[order], base_ids[order]
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    dist = np.full((len(queries), k), np.inf)
    for i, q in enumerate(queries):
        d = ref_dist(q, base, metric)
        top = np.argsort(d, kind="stable")[:k]
        ids[i, : len(top)] = base_ids[top]
        dist[i, : len(top)] = d[top]
    return ids, dist


def small_ints(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Integer-valued rows: l2 and ip distances are exact in float32 and ties are
    real ties (so ranks are comparable with a stable float64 argsort)."""
    x = rng.integers(-3, 4, size=(n, dim)).astype(np.float32)
    x[np.all(x == 0, axis=1), 0] = 1.0  # no zero rows (cosine refuses them)
    return x


# ---------------------------------------------------------------- construction


def test_defaults_properties_and_repr() -> None:
    ix = Index(8)
    assert (ix.dim, ix.metric, len(ix), ix.version) == (8, "l2", 0, 0)
    assert (ix.m, ix.ef_construction, ix.ef_search, ix.threads) == (16, 200, 64, None)
    assert "dim=8" in repr(ix) and "l2" in repr(ix)
    assert sagevec.Index is sagevec._native.Index
    ix2 = Index(3, "cosine", m=8, ef_construction=50, ef_search=20, threads=1)
    assert (ix2.metric, ix2.m, ix2.ef_construction, ix2.ef_search, ix2.threads) == ("cosine", 8, 50, 20, 1)
    assert Index(3, "IP").metric == "ip" and Index(3, "dot").metric == "ip"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 0}, "dim"),
        ({"dim": -1}, "dim"),
        ({"dim": 70_000}, "dim"),
        ({"dim": 4, "metric": "manhattan"}, "metric"),
        ({"dim": 4, "m": 1}, "m"),
        ({"dim": 4, "m": -3}, "m"),
        ({"dim": 4, "ef_construction": 0}, "ef_construction"),
        ({"dim": 4, "ef_search": 0}, "ef_search"),
        ({"dim": 4, "threads": 0}, "threads"),
        ({"dim": 4, "threads": -2}, "threads"),
    ],
)
def test_bad_construction_is_a_value_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Index(**kwargs)


def test_seal_threshold_is_accepted_ignored_and_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match="seal_threshold"):
        ix = Index(4, seal_threshold=100)
    ix.add(np.ones((3, 4), dtype=np.float32))
    assert ix.stats()["graph"]["slots"] == 3
    assert not hasattr(ix, "seal_threshold")


def test_construction_type_errors() -> None:
    with pytest.raises(TypeError):
        Index("8")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Index(8, m=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Index(8, "l2", 16)  # type: ignore[misc]  (m is keyword-only)


# ---------------------------------------------------------------- empty index


def test_empty_index() -> None:
    ix = Index(4)
    ids = ix.ids()
    assert ids.dtype == np.int64 and ids.shape == (0,)
    i, d = ix.search(np.ones(4, dtype=np.float32), k=3)
    assert i.dtype == np.int64 and d.dtype == np.float32
    assert list(i) == [-1, -1, -1] and np.isinf(d).all()
    i2, d2 = ix.search(np.ones((2, 4), dtype=np.float32), k=3)
    assert i2.shape == (2, 3) and (i2 == -1).all() and np.isinf(d2).all()
    _i3, _d3, m3 = ix.search(np.ones(4), k=2, exact=True, include_metadata=True)
    assert m3 == [None, None]
    assert ix.stats()["len"] == 0 and 0 not in ix
    with pytest.raises(KeyError):
        ix.get(0)
    assert ix.remove([0, 1]) == 0 and ix.version == 0
    ix.compact()
    ix.wait_for_builds()


# ---------------------------------------------------------------- add


def test_add_one_and_many_returns_int64_ids() -> None:
    ix = Index(3)
    a = ix.add(np.array([1, 2, 3], dtype=np.float32))
    assert a.dtype == np.int64 and list(a) == [0]
    b = ix.add(np.arange(6, dtype=np.float32).reshape(2, 3) + 1)
    assert list(b) == [1, 2] and len(ix) == 3 and ix.version == 2
    c = ix.add(np.ones((2, 3)), ids=[100, 7])
    assert list(c) == [100, 7]
    # auto ids continue after the largest id ever used, never reused
    assert list(ix.add(np.ones(3))) == [101]
    ix.remove([101])
    assert list(ix.add(np.ones(3))) == [102]
    assert list(ix.ids()) == [0, 1, 2, 7, 100, 102]


def test_add_with_existing_id_replaces_it() -> None:
    ix = Index(2)
    ix.add(np.array([[1, 0], [0, 1]], dtype=np.float32), ids=[5, 6], metadata=[{"v": 1}, None])
    ix.add(np.array([3, 4], dtype=np.float32), ids=[5], metadata={"v": 2})
    assert len(ix) == 2
    vec, meta = ix.get(5)
    assert list(vec) == [3, 4] and meta == {"v": 2}
    i, _ = ix.search(np.array([3, 4], dtype=np.float32), k=5, exact=True)
    assert list(i) == [5, 6, -1, -1, -1]


def test_empty_batch_is_a_no_op() -> None:
    ix = Index(4)
    ix.add(np.ones(4))
    v = ix.version
    out = ix.add(np.zeros((0, 4), dtype=np.float32))
    assert out.dtype == np.int64 and out.shape == (0,) and ix.version == v and len(ix) == 1


def misaligned(x: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``x`` whose data starts one byte off alignment."""
    buf = np.zeros(x.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(x.dtype).reshape(x.shape)
    out[...] = x
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def _variants(x: np.ndarray) -> list:
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=np.float32)
    wide[:, ::2] = x
    ro = x.copy()
    ro.flags.writeable = False
    return [
        misaligned(x),
        x.astype(np.float64),
        x.astype(np.float16),
        x.astype(">f4"),  # big-endian
        wide[:, ::2],  # strided
        np.asfortranarray(x),
        x.tolist(),
        ro,
    ]


def test_add_converts_other_floats_and_layouts() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4) + 1  # exact in float16 too
    for v in _variants(x):
        ix = Index(4)
        ix.add(v)
        for i in range(3):
            np.testing.assert_array_equal(ix.get(i)[0], x[i])


@pytest.mark.parametrize(
    "bad",
    [
        np.arange(8).reshape(2, 4),
        np.ones((2, 4), dtype=bool),
        np.array([["a"] * 4]),
        np.ones((2, 4), dtype=complex),
        [["a", "b", "c", "d"]],
    ],
)
def test_add_non_float_is_a_type_error(bad: object) -> None:
    ix = Index(4)
    with pytest.raises(TypeError, match="float"):
        ix.add(bad)
    assert len(ix) == 0


@pytest.mark.parametrize("shape", [(3,), (5,), (2, 3), (2, 5), (1, 2, 4), ()])
def test_add_wrong_shape_is_a_value_error(shape: tuple) -> None:
    ix = Index(4)
    with pytest.raises(ValueError, match=r"\(4,\) or \(n, 4\)"):
        ix.add(np.ones(shape, dtype=np.float32))


def test_bad_vectors_change_nothing() -> None:
    ix = Index(3)
    ix.add(np.ones(3))
    v = ix.version
    for bad in (np.array([[1, 2, 3], [np.nan, 0, 0]]), np.array([[1, 2, 3], [np.inf, 0, 0]])):
        with pytest.raises(ValueError, match="NaN"):
            ix.add(bad)
    cos = Index(3, "cosine")
    with pytest.raises(ValueError, match="zero"):
        cos.add(np.array([[1, 2, 3], [0, 0, 0]], dtype=np.float32))
    assert len(cos) == 0 and len(ix) == 1 and ix.version == v


def test_ids_accept_any_integer_input() -> None:
    x = np.ones((3, 2), dtype=np.float32)
    strided = np.array([[1, 9], [2, 9], [3, 9]])[:, 0]
    assert not strided.flags.c_contiguous
    for ids in (
        [1, 2, 3],
        (1, 2, 3),
        range(1, 4),
        np.array([1, 2, 3], dtype=np.int32),
        np.array([1, 2, 3], dtype=np.uint64),
        np.array([1, 2, 3], dtype=np.uint8),
        strided,
        [np.int64(1), 2, np.uint16(3)],
        misaligned(np.array([1, 2, 3], dtype=np.int64)),
        misaligned(np.array([1, 2, 3], dtype=np.int32)),
    ):
        ix = Index(2)
        got = ix.add(x, ids=ids)
        assert sorted(got.tolist()) == [1, 2, 3], ids
    ix = Index(2)
    top = 2**63 - 1
    assert ix.add(np.ones(2), ids=top).tolist() == [top]
    assert top in ix and ix.get(top)[0].tolist() == [1, 1]
    assert ix.add(np.ones(2), ids=np.uint64(5)).tolist() == [5]
    # the next auto id would pass 2^63 - 1
    with pytest.raises(ValueError, match="2\\^63"):
        ix.add(np.ones(2))


@pytest.mark.parametrize(
    "ids, exc",
    [
        ([-1, 2], ValueError),
        ([2**63, 1], ValueError),
        (np.array([2**63, 1], dtype=np.uint64), ValueError),
        ([2**70, 1], ValueError),
        (np.array([-5, 1], dtype=np.int8), ValueError),
        ([1, 1], ValueError),  # duplicate within the batch
        ([1, 2, 3], ValueError),  # length mismatch
        ([1], ValueError),
        ([1.0, 2.0], TypeError),
        ([True, False], TypeError),
        (["a", "b"], TypeError),
        ([[1, 2]], ValueError),  # 2-D
    ],
)
def test_bad_ids_are_refused_and_change_nothing(ids: object, exc: type) -> None:
    ix = Index(2)
    with pytest.raises(exc):
        ix.add(np.ones((2, 2)), ids=ids)
    assert len(ix) == 0 and ix.version == 0


# ---------------------------------------------------------------- metadata


def test_metadata_round_trip_keeps_types() -> None:
    ix = Index(2)
    meta = [
        {"s": "text", "i": -(2**63), "f": 1.5, "b": True, "big": 2**63 - 1},
        None,
        {},
        {"np_i": np.int32(7), "np_f": np.float32(0.5), "np_b": np.bool_(False), "np_s": np.str_("x")},
    ]
    ix.add(np.ones((4, 2)) * np.arange(1, 5)[:, None], metadata=meta)
    m0 = ix.get(0)[1]
    assert m0 == meta[0]
    assert type(m0["b"]) is bool and type(m0["i"]) is int and type(m0["f"]) is float
    assert ix.get(1)[1] is None
    assert ix.get(2)[1] == {}
    m3 = ix.get(3)[1]
    assert m3 == {"np_i": 7, "np_f": 0.5, "np_b": False, "np_s": "x"}
    assert type(m3["np_b"]) is bool and type(m3["np_i"]) is int and type(m3["np_f"]) is float


@pytest.mark.parametrize(
    "meta, exc",
    [
        ([{"x": 2**63}], ValueError),
        ([{1: "a"}], TypeError),
        ([{"x": [1, 2]}], TypeError),
        ([{"x": None}], TypeError),
        (["not a dict"], TypeError),
        ("abc", TypeError),
        (5, TypeError),
        ([{"a": 1}, {"b": 2}], ValueError),  # two records for one vector
    ],
)
def test_bad_metadata_is_refused(meta: object, exc: type) -> None:
    ix = Index(2)
    with pytest.raises(exc):
        ix.add(np.ones((1, 2)), metadata=meta)
    assert len(ix) == 0


def test_a_single_dict_needs_a_single_vector() -> None:
    ix = Index(2)
    ix.add(np.ones(2), metadata={"a": 1})
    assert ix.get(0)[1] == {"a": 1}
    with pytest.raises(TypeError, match="list"):
        ix.add(np.ones((2, 2)), metadata={"a": 1})


# ---------------------------------------------------------------- remove, get, contains, ids


def test_remove_get_contains_ids() -> None:
    ix = Index(2)
    ix.add(np.arange(10, dtype=np.float32).reshape(5, 2) + 1)
    v = ix.version
    # A remove that removes publishes one version, one that removes nothing none.
    # Removing 2 of 5 slots passes max_deleted_fraction, so the builder compacts, and
    # its swap publishes a version too: count those once the builder has settled.
    assert ix.remove([1, 3, 99]) == 2
    ix.wait_for_builds()
    compactions = ix.stats()["compactions"]
    assert ix.version == v + 1 + compactions
    assert ix.remove(np.array([1, 3])) == 0 and ix.version == v + 1 + compactions
    assert ix.remove(4) == 1
    assert ix.remove(np.array([], dtype=np.int64)) == 0 and ix.remove([]) == 0
    assert ix.remove({0}) == 1
    assert list(ix.ids()) == [2] and len(ix) == 1
    assert 2 in ix and np.int64(2) in ix and 1 not in ix
    assert "2" not in ix and -1 not in ix and 2**64 not in ix and None not in ix and 2.0 not in ix
    vec, meta = ix.get(2)
    assert vec.dtype == np.float32 and list(vec) == [5, 6] and meta is None
    vec[:] = 0  # a copy: the index is unchanged
    assert list(ix.get(np.int32(2))[0]) == [5, 6]
    for missing in (1, -1, 2**63, 2**70):
        with pytest.raises(KeyError):
            ix.get(missing)
    with pytest.raises(TypeError):
        ix.get("2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ix.get(2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ix.remove([-1])
    with pytest.raises(TypeError):
        ix.remove(["x"])


def test_removed_ids_are_never_returned() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 8)).astype(np.float32)
    ix = Index(8)
    ix.add(x)
    gone = np.arange(0, 300, 3)
    assert ix.remove(gone) == 100
    for exact in (False, True):
        ids, _ = ix.search(x, k=10, exact=exact)
        assert not np.isin(ids, gone).any()


def test_cosine_get_returns_the_unit_vector() -> None:
    ix = Index(2, "cosine")
    ix.add(np.array([3, 4], dtype=np.float32))
    np.testing.assert_allclose(ix.get(0)[0], [0.6, 0.8], rtol=1e-6)


# ---------------------------------------------------------------- search


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k", [1, 7, 50])
def test_exact_search_equals_numpy_brute_force(metric: str, k: int) -> None:
    rng = np.random.default_rng(k)
    base = small_ints(rng, 400, 12)
    queries = small_ints(rng, 30, 12)
    base_ids = rng.permutation(10_000)[:400]
    ix = Index(12, metric)
    ix.add(base[:150], ids=base_ids[:150])  # one bulk add, then single rows
    for row, i in zip(base[150:], base_ids[150:]):
        ix.add(row, ids=[i])
    want_ids, want_d = brute_force(queries, base, base_ids, k, metric)
    ids, dist = ix.search(queries, k=k, exact=True)
    assert ids.shape == (30, k) and ids.dtype == np.int64 and dist.dtype == np.float32
    if metric == "cosine":  # not exact in float32: compare distances, then ids where unambiguous
        np.testing.assert_allclose(dist, want_d, atol=2e-6)
        np.testing.assert_allclose(ref_dist_rows(queries, base, base_ids, ids, metric), want_d, atol=2e-6)
    else:
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(dist, want_d.astype(np.float32))
    for qi in range(0, 30, 7):  # the 1-D path gives the same rows
        i1, d1 = ix.search(queries[qi], k=k, exact=True)
        np.testing.assert_array_equal(i1, ids[qi])
        np.testing.assert_array_equal(d1, dist[qi])


def ref_dist_rows(queries, base, base_ids, ids, metric):
    pos = {int(b): n for n, b in enumerate(base_ids)}
    out = np.empty(ids.shape)
    for qi, row in enumerate(ids):
        out[qi] = ref_dist(queries[qi], base[[pos[int(i)] for i in row]], metric)
    return out


@pytest.mark.parametrize("metric", METRICS)
def test_graph_search_2d_equals_1d_and_has_good_recall(metric: str) -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal((2_000, 16)).astype(np.float32)
    queries = rng.standard_normal((40, 16)).astype(np.float32)
    ix = Index(16, metric, m=8, ef_construction=64)
    ix.add(base)
    assert ix.stats()["graph"]["slots"] == 2_000
    for kwargs in ({}, {"ef": 16}, {"ef": 16, "filter": np.arange(0, 2_000, 2)}):
        ids, dist = ix.batch_search(queries, k=10, **kwargs)
        for qi in range(len(queries)):
            i1, d1 = ix.search(queries[qi], k=10, **kwargs)
            np.testing.assert_array_equal(i1, ids[qi])
            np.testing.assert_array_equal(d1, dist[qi])
    exact, _ = ix.search(queries, k=10, exact=True)
    approx, _ = ix.search(queries, k=10, ef=100)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.9, recall


def test_k_larger_than_the_index_pads() -> None:
    ix = Index(2)
    ix.add(np.array([[0, 0], [1, 1], [5, 5]], dtype=np.float32))
    for exact in (False, True):
        i, d = ix.search(np.zeros(2, dtype=np.float32), k=5, exact=exact)
        assert list(i) == [0, 1, 2, -1, -1] and list(d[:3]) == [0, 2, 50] and np.isinf(d[3:]).all()
        i2, d2 = ix.search(np.zeros((2, 2), dtype=np.float32), k=5, exact=exact)
        assert i2.shape == (2, 5) and (i2 == i).all() and (d2 == d).all()
    big = 1 << 20  # the largest k: fine, all padding after 3
    i, d = ix.search(np.zeros(2), k=big)
    assert i.shape == (big,) and (i[3:] == -1).all()
    i, d = ix.batch_search(np.zeros((1, 2)), k=big)
    assert i.shape == (1, big) and (i[0, 3:] == -1).all() and np.isinf(d[0, 3:]).all()


@pytest.mark.parametrize(
    "k, ef, exc, match",
    [
        (0, None, ValueError, "k must be at least 1"),
        (-1, None, ValueError, "k must be"),
        ((1 << 20) + 1, None, ValueError, "invalid k"),
        (2**40, None, ValueError, "invalid k"),
        (5, 0, ValueError, "ef"),
        (5, -3, ValueError, "ef"),
        (5, 2**40, ValueError, "ef"),
        (2.5, None, TypeError, None),
    ],
)
def test_bad_k_and_ef(k: object, ef: object, exc: type, match: str) -> None:
    ix = Index(2)
    ix.add(np.ones((3, 2)))
    for q in (np.ones(2), np.ones((2, 2))):
        with pytest.raises(exc, match=match):
            ix.search(q, k=k, ef=ef)  # type: ignore[arg-type]


def test_query_dtypes_and_layouts_give_the_same_answer() -> None:
    rng = np.random.default_rng(3)
    base = small_ints(rng, 200, 4)
    q = small_ints(rng, 5, 4)
    ix = Index(4)
    ix.add(base)
    want = ix.search(q, k=5)
    for v in _variants(q):
        got = ix.search(v, k=5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        got = ix.batch_search(v, k=5)
        np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(ix.search(q[0].tolist(), k=5)[0], want[0][0])
    np.testing.assert_array_equal(ix.search(q[0].astype(np.float64), k=5)[0], want[0][0])


def test_bad_queries() -> None:
    ix = Index(4)
    ix.add(np.ones((3, 4)))
    with pytest.raises(TypeError, match="float"):
        ix.search(np.arange(4))
    with pytest.raises(TypeError, match="float"):
        ix.search(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="dimension"):
        ix.search(np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        ix.search(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        ix.search(np.ones((0, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        ix.search(np.ones((1, 1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        ix.search(np.float32(1.0))  # a scalar reads as one 1-element query
    with pytest.raises(ValueError, match="NaN"):
        ix.search(np.array([1, np.nan, 0, 0], dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        ix.search(np.array([[1, 0, 0, 0], [1, np.inf, 0, 0]], dtype=np.float32))
    # A bad row deep in a batch the binding cuts into chunks is named by its row in
    # the whole batch, graph or exact.
    many = np.ones((5000, 4), dtype=np.float32)
    many[4321, 2] = np.nan
    for exact in (False, True):
        with pytest.raises(ValueError, match="vector 4321 holds NaN"):
            ix.batch_search(many, k=1, exact=exact)
    with pytest.raises(ValueError, match="n_queries"):
        ix.batch_search(np.ones(4, dtype=np.float32))
    i, d = ix.search(np.ones((0, 4), dtype=np.float32), k=3)
    assert i.shape == (0, 3) and d.shape == (0, 3)
    cos = Index(2, "cosine")
    cos.add(np.ones(2))
    with pytest.raises(ValueError, match="zero"):
        cos.search(np.zeros(2))


def test_filters() -> None:
    ix = Index(2)
    x = np.array([[i, 0] for i in range(10)], dtype=np.float32)
    meta = [{"parity": "even" if i % 2 == 0 else "odd", "n": i, "flag": i < 3, "f": float(i)} for i in range(10)]
    meta[9] = None
    ix.add(x, metadata=meta)
    q = np.zeros(2, dtype=np.float32)
    for exact in (False, True):
        s = lambda flt, k=4, exact=exact: ix.search(q, k=k, exact=exact, filter=flt)[0].tolist()  # noqa: E731
        assert s([7, 3, 99]) == [3, 7, -1, -1]
        assert s(np.array([5, 1], dtype=np.uint32)) == [1, 5, -1, -1]
        assert s({4, 6}) == [4, 6, -1, -1]
        assert s(frozenset([8])) == [8, -1, -1, -1]
        assert s([]) == [-1, -1, -1, -1]
        assert s({"parity": "odd"}) == [1, 3, 5, 7]
        assert s({"parity": "odd", "n": 5}) == [5, -1, -1, -1]
        assert s({"flag": True}) == [0, 1, 2, -1]
        assert s({"n": 2}) == [2, -1, -1, -1]
        assert s({"n": 2.0}) == [-1, -1, -1, -1]  # typed: an int is not a float
        assert s({"f": 2.0}) == [2, -1, -1, -1]
        assert s({"flag": 1}) == [-1, -1, -1, -1]  # typed: True is not 1
        assert s({"n": np.int64(4)}) == [4, -1, -1, -1]
        assert s({}) == [0, 1, 2, 3]  # no condition: everything, even without metadata
        assert s({}, k=10)[-1] == 9
        ids2, _ = ix.search(np.zeros((2, 2)), k=3, exact=exact, filter={"parity": "even"})
        assert ids2.tolist() == [[0, 2, 4], [0, 2, 4]]
    with pytest.raises(TypeError, match="filter"):
        ix.search(q, filter="odd")
    with pytest.raises(TypeError, match="filter"):
        ix.search(q, filter=[1.5])
    with pytest.raises(ValueError):
        ix.search(q, filter=[-1])
    with pytest.raises(TypeError):
        ix.search(q, filter={"n": [1]})


def test_include_metadata() -> None:
    ix = Index(2)
    ix.add(np.array([[0, 0], [1, 0], [2, 0]], dtype=np.float32), metadata=[{"a": 0}, None, {"a": 2}])
    i, _d, m = ix.search(np.zeros(2), k=4, include_metadata=True)
    assert i.tolist() == [0, 1, 2, -1] and m == [{"a": 0}, None, {"a": 2}, None]
    _i2, _d2, m2 = ix.batch_search(np.zeros((2, 2)), k=4, include_metadata=True)
    assert m2 == [m, m]
    assert len(ix.search(np.zeros(2), k=2)) == 2
    _, _, m3 = ix.search(np.zeros(2), k=1, include_metadata=True, filter={"a": 2})
    assert m3 == [{"a": 2}]


# ---------------------------------------------------------------- stats, versions, builds


def test_stats_versions_and_background_builds() -> None:
    rng = np.random.default_rng(1)
    ix = Index(8)
    v0 = ix.version
    ix.add(rng.standard_normal((200, 8)))
    assert ix.version == v0 + 1
    assert ix.wait_for_version(ix.version) == ix.version
    assert ix.wait_for_version(ix.version + 1000, timeout=0.05) is None
    with pytest.raises(ValueError, match="timeout"):
        ix.wait_for_version(0, timeout=-1.0)
    with pytest.raises(ValueError, match="timeout"):
        ix.wait_for_version(0, timeout=float("nan"))
    ix.wait_for_builds()
    s = ix.stats()
    assert s["len"] == 200 and s["dim"] == 8 and s["metric"] == "l2" and s["version"] == ix.version
    g = s["graph"]
    assert (g["slots"], g["removed_slots"], g["walks_f16"], g["clipped_rows"]) == (200, 0, False, 0)
    assert g["f16_scale"] is None and g["max_level"] >= 0  # 8-d: the graph walks f32
    assert s["vectors_added"] == 200 and s["compactions"] == 0 and s["checkpoints"] == 0
    assert s["builder_errors"] == 0 and s["last_builder_error"] is None
    assert s["memory_bytes"]["total"] == sum(s["memory_bytes"][k] for k in ("vectors", "graphs", "rows")) > 0
    ix.search(rng.standard_normal(8))
    ix.search(rng.standard_normal((5, 8)))
    s = ix.stats()
    assert s["searches"] == 1 and s["batch_searches"] == 1 and s["latency"]["count"] == 6
    assert s["latency"]["p99_us"] >= s["latency"]["p50_us"] > 0
    with pytest.warns(DeprecationWarning, match="seal"):
        v = ix.seal()  # nothing to seal any more
    assert v == ix.version
    ix.remove(np.arange(100))
    assert ix.stats()["graph"]["removed_slots"] == 100
    ix.compact()
    ix.wait_for_builds()
    s = ix.stats()
    assert s["len"] == 100 and s["rows_stored"] == 100  # compaction dropped the removed rows
    assert s["vectors_removed"] == 100 and s["compactions"] >= 1  # the remove's own, or compact()'s
    ids, _ = ix.search(rng.standard_normal((10, 8)), k=100, exact=True)
    assert sorted(ids[0].tolist()) == list(range(100, 200))


# ---------------------------------------------------------------- pickling


@pytest.mark.parametrize("metric", METRICS)
def test_pickle_round_trip(metric: str) -> None:
    rng = np.random.default_rng(11)
    x = small_ints(rng, 300, 6)
    ix = Index(6, metric, m=8, ef_construction=40, ef_search=30)
    meta = [{"i": i, "s": str(i)} if i % 4 else None for i in range(300)]
    ix.add(x, ids=np.arange(300) * 3, metadata=meta)
    ix.remove(np.arange(0, 900, 9))
    back = pickle.loads(pickle.dumps(ix))
    assert isinstance(back, Index)
    assert (back.dim, back.metric, back.m, back.ef_construction, back.ef_search) == (6, metric, 8, 40, 30)
    np.testing.assert_array_equal(back.ids(), ix.ids())
    for i in ix.ids()[:50]:
        v0, m0 = ix.get(i)
        v1, m1 = back.get(i)
        np.testing.assert_allclose(v1, v0, rtol=1e-6)
        assert m1 == m0
    q = small_ints(rng, 20, 6)
    a = ix.search(q, k=8, exact=True)
    b = back.search(q, k=8, exact=True)
    np.testing.assert_allclose(b[1], a[1], atol=1e-6)
    if metric != "cosine":
        np.testing.assert_array_equal(b[0], a[0])
    empty = pickle.loads(pickle.dumps(Index(3, threads=1)))
    assert len(empty) == 0 and empty.threads == 1
