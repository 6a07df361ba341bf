"""``traversal=``: which copy of the vectors a graph search walks ("auto", "f32",
"f16"). Accepted values, the error for others, the property, pickling and
loading (the setting is never read from files), and graph searches of both
copies against a numpy brute force."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sagevec import Index
from sagevec.compat import DatabaseConfig, SageDB

TRAVERSALS = ("auto", "f32", "f16")

# Graph search data: a few thousand rows in gaussian clusters, dim >= 96 (where
# "auto" walks the f16 copy too).
N, DIM, N_QUERIES, K, EF = 4000, 96, 200, 10, 32


def test_default_is_auto() -> None:
    assert Index(8).traversal == "auto"
    assert Index(8, "cosine", m=8).traversal == "auto"


@pytest.mark.parametrize("name", TRAVERSALS)
def test_accepted_values_and_property(name: str) -> None:
    ix = Index(8, traversal=name)
    assert ix.traversal == name
    assert Index(8, traversal=name.upper()).traversal == name  # case does not matter


@pytest.mark.parametrize("bad", ["", "bf16", "f64", "fp16", "half"])
def test_bad_value_is_a_value_error_naming_the_choices(bad: str) -> None:
    with pytest.raises(ValueError, match=r"traversal.*auto, f32 or f16"):
        Index(8, traversal=bad)


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Index(8, traversal=16)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Index(8, traversal=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_pickle_keeps_traversal(name: str) -> None:
    rng = np.random.default_rng(3)
    ix = Index(16, m=8, ef_construction=40, threads=1, traversal=name)
    ix.add(rng.standard_normal((50, 16)).astype(np.float32))
    back = pickle.loads(pickle.dumps(ix))
    assert back.traversal == name and (back.m, back.ef_construction, back.threads) == (8, 40, 1)
    np.testing.assert_array_equal(back.ids(), ix.ids())


def test_pickle_without_traversal_restores_the_default() -> None:
    """A pickle made before ``traversal`` existed has no such entry."""
    fn, (dim, metric, params, ids, vectors, meta) = Index(4, traversal="f32").__reduce__()
    assert params.pop("traversal") == "f32"
    assert fn(dim, metric, params, ids, vectors, meta).traversal == "auto"
    params["traversal"] = "bf16"
    with pytest.raises(ValueError, match="traversal"):
        fn(dim, metric, params, ids, vectors, meta)


def test_compat_config_passes_traversal() -> None:
    assert SageDB(DatabaseConfig(8)).index.traversal == "auto"
    assert SageDB(DatabaseConfig(8, traversal="f16")).index.traversal == "f16"
    with pytest.raises(ValueError, match="traversal"):
        SageDB(DatabaseConfig(8, traversal="f8"))


# ---------------------------------------------------------------- graph searches


def clustered(rng: np.random.Generator, n: int, dim: int, centres: np.ndarray) -> np.ndarray:
    which = rng.integers(0, len(centres), size=n)
    return (centres[which] + rng.standard_normal((n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Base rows, queries, and the numpy brute force: true ids and squared L2
    distances (float64) of every query to every row."""
    rng = np.random.default_rng(20240611)
    centres = rng.standard_normal((40, DIM)) * 3.0
    base = clustered(rng, N, DIM, centres)
    queries = clustered(rng, N_QUERIES, DIM, centres)
    b, q = base.astype(np.float64), queries.astype(np.float64)
    d2 = (q * q).sum(1)[:, None] - 2.0 * q @ b.T + (b * b).sum(1)[None, :]
    truth = np.argsort(d2, axis=1, kind="stable")[:, :K]
    return base, queries, truth, d2


def graph_index(base: np.ndarray, traversal: str) -> Index:
    ix = Index(DIM, "l2", m=16, ef_construction=100, traversal=traversal)
    ix.add(base)
    ix.wait_for_builds()
    g = ix.stats()["graph"]
    assert g["slots"] == N and g["walks_f16"] == (traversal != "f32"), g  # every row in the graph
    return ix


def recall(got: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(t)) / K for g, t in zip(got.tolist(), truth.tolist())]))


def check_results(ix: Index, queries: np.ndarray, truth: np.ndarray, d2: np.ndarray) -> float:
    ids, dist = ix.search(queries, k=K, ef=EF)
    assert ids.shape == (N_QUERIES, K) and (ids >= 0).all()
    # Distances are the exact f32 ones whichever copy was walked: numpy's squared
    # L2 of the returned ids (none is near 0 here), to float32 rounding of sums
    # of ~DIM terms.
    want = np.take_along_axis(d2, ids, axis=1)
    np.testing.assert_allclose(dist, want, rtol=1e-4, atol=0)
    assert (np.diff(dist, axis=1) >= 0).all()  # best first
    return recall(ids, truth)


@pytest.mark.parametrize("traversal", ["f32", "f16", "auto"])
def test_graph_search_recall_and_distances(data, traversal: str) -> None:
    base, queries, truth, d2 = data
    ix = graph_index(base, traversal)
    r = check_results(ix, queries, truth, d2)
    assert r >= 0.95, f"recall@{K} {r:.3f} with traversal={traversal}"
    # One query at a time (the caller's thread) finds the same as the batch.
    ids1, dist1 = ix.search(queries[0], k=K, ef=EF)
    ids2, dist2 = ix.search(queries[:1], k=K, ef=EF)
    np.testing.assert_array_equal(ids1, ids2[0])
    np.testing.assert_array_equal(dist1, dist2[0])


def graph_bytes(ix: Index) -> int:
    return int(ix.stats()["memory_bytes"]["graphs"])


def test_f16_copy_is_held_and_load_applies_its_own_argument(data, tmp_path: Path) -> None:
    base, queries, truth, d2 = data
    f32 = graph_index(base, "f32")
    f16 = graph_index(base, "f16")
    # The f16 copy: two bytes per element (rows padded, so at least that).
    extra = graph_bytes(f16) - graph_bytes(f32)
    assert N * DIM * 2 <= extra <= N * DIM * 2 * 1.5, extra
    assert graph_bytes(graph_index(base, "auto")) == graph_bytes(f16)  # DIM >= 96

    f16.save(tmp_path / "saved")
    for name, want in [("f32", graph_bytes(f32)), ("f16", graph_bytes(f16)), ("auto", graph_bytes(f16))]:
        back = Index.load(tmp_path / "saved", traversal=name)
        assert back.traversal == name and graph_bytes(back) == want, name
        assert check_results(back, queries, truth, d2) >= 0.95
    with pytest.raises(ValueError, match="auto, f32 or f16"):
        Index.load(tmp_path / "saved", traversal="f8")

    # A durable index reopened with another traversal walks that one.
    path = tmp_path / "durable"
    with Index(DIM, path=path, traversal="f16") as ix:
        ix.add(base)
        assert graph_bytes(ix) == graph_bytes(f16)
    with Index(DIM, path=path, traversal="f32") as ix:
        assert ix.traversal == "f32"
        assert ix.stats()["graph"]["slots"] == N and graph_bytes(ix) == graph_bytes(f32)
