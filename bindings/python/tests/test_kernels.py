"""sagevec.kernels: results against numpy references, input conversion and refusal,
ISA selection, and that the GIL is released while the kernels compute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import sagevec
from sagevec import kernels

METRICS = ("l2", "ip", "cosine")
U = 2.0**-24


def ref_dist(q: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    q64, r64 = q.astype(np.float64), rows.astype(np.float64)
    if metric == "l2":
        return ((r64 - q64) ** 2).sum(axis=1)
    if metric == "ip":
        return -(r64 @ q64)
    nq, nr = np.linalg.norm(q64), np.linalg.norm(r64, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = 1.0 - (r64 @ q64) / (nq * nr)
    c = np.clip(c, 0.0, 2.0)
    c[(nr == 0) | (nq == 0)] = 1.0
    return c


def bound(q: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    """The kernels' derived error bound (gamma_{d+2} times the absolute sum)."""
    d = q.shape[0]
    g = (d + 4) * U / (1 - (d + 4) * U)
    q64, r64 = q.astype(np.float64), rows.astype(np.float64)
    if metric == "l2":
        return g * ((r64 - q64) ** 2).sum(axis=1) + 1e-30
    if metric == "ip":
        return g * np.abs(r64 * q64).sum(axis=1) + 1e-30
    return np.full(rows.shape[0], 2 * g + 4 * U)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dim", [1, 7, 16, 33, 128, 769])
def test_distances_match_reference_within_bound(metric: str, dim: int) -> None:
    rng = np.random.default_rng(dim)
    rows = rng.standard_normal((50, dim)).astype(np.float32)
    q = rng.standard_normal(dim).astype(np.float32)
    got = kernels.distances(q, rows, metric)
    assert got.dtype == np.float32 and got.shape == (50,)
    err = np.abs(got.astype(np.float64) - ref_dist(q, rows, metric))
    assert (err <= bound(q, rows, metric)).all(), err.max()


@pytest.mark.parametrize("metric", METRICS)
def test_cdist_rows_equal_distances(metric: str) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 40)).astype(np.float32)
    b = rng.standard_normal((13, 40)).astype(np.float32)
    m = kernels.cdist(a, b, metric)
    assert m.shape == (9, 13) and m.dtype == np.float32
    for i in range(9):
        np.testing.assert_array_equal(m[i], kernels.distances(a[i], b, metric))


@pytest.mark.parametrize("metric", ("l2", "ip"))
@pytest.mark.parametrize("threads", (None, 1, 2))
def test_knn_is_exact_on_integer_data_with_ties(metric: str, threads: int | None) -> None:
    # Small integers: every distance is exact in float32, and ties are real ties,
    # which must go to the smaller row (a stable argsort does the same).
    rng = np.random.default_rng(2)
    base = rng.integers(-3, 4, size=(700, 12)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(60, 12)).astype(np.float32)
    ids, dist = kernels.knn(queries, base, k=10, metric=metric, threads=threads)
    assert ids.dtype == np.int64 and dist.dtype == np.float32 and ids.shape == (60, 10)
    full = np.stack([ref_dist(q, base, metric) for q in queries])
    want = np.argsort(full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_array_equal(dist, np.take_along_axis(full, want, axis=1).astype(np.float32))


def test_knn_pads_with_minus_one_and_inf_and_accepts_one_query() -> None:
    base = np.eye(3, dtype=np.float32)
    ids, dist = kernels.knn(np.ones(3, dtype=np.float32), base, k=5)
    assert ids.shape == (5,)
    assert list(ids[3:]) == [-1, -1] and np.isinf(dist[3:]).all()
    assert sorted(ids[:3]) == [0, 1, 2]


def test_other_float_dtypes_and_strides_are_converted() -> None:
    rng = np.random.default_rng(3)
    rows64 = rng.standard_normal((20, 32))
    q = rng.standard_normal(32)
    want = kernels.distances(q.astype(np.float32), rows64.astype(np.float32))
    np.testing.assert_array_equal(kernels.distances(q, rows64), want)
    wide = np.zeros((20, 64), dtype=np.float32)
    wide[:, ::2] = rows64
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(kernels.distances(q, strided), want)
    buf = np.zeros(rows64.size * 4 + 1, dtype=np.uint8)
    misaligned = buf[1:].view(np.float32).reshape(rows64.shape)
    misaligned[...] = rows64
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(kernels.distances(q, misaligned), want)
    np.testing.assert_array_equal(kernels.knn(q, misaligned, k=3)[1], kernels.knn(q, rows64.astype(np.float32), k=3)[1])
    np.testing.assert_array_equal(
        kernels.distances(q.astype(np.float16), rows64.astype(np.float16)),
        kernels.distances(q.astype(np.float16).astype(np.float32), rows64.astype(np.float16).astype(np.float32)),
    )


@pytest.mark.parametrize("bad", [np.arange(8), np.ones(8, dtype=bool), np.array(["a"] * 8), np.ones(8, dtype=complex)])
def test_non_float_input_is_a_type_error(bad: np.ndarray) -> None:
    with pytest.raises(TypeError):
        kernels.distances(bad, np.ones((2, 8), dtype=np.float32))


def test_bad_shapes_and_arguments_are_value_errors() -> None:
    rows = np.ones((4, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="dimension"):
        kernels.distances(np.ones(7, dtype=np.float32), rows)
    with pytest.raises(ValueError, match="2-D"):
        kernels.distances(np.ones(8, dtype=np.float32), np.ones(8, dtype=np.float32))
    with pytest.raises(ValueError, match="metric"):
        kernels.distances(np.ones(8, dtype=np.float32), rows, "manhattan")
    with pytest.raises(ValueError, match="k must"):
        kernels.knn(rows, rows, k=0)
    with pytest.raises(ValueError, match="dimension"):
        kernels.knn(np.ones((2, 7), dtype=np.float32), rows)
    with pytest.raises(ValueError, match="threads"):
        kernels.knn(rows, rows, k=1, threads=0)
    with pytest.raises(ValueError, match="dimension"):
        kernels.cdist(np.ones((2, 7), dtype=np.float32), np.ones((0, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        kernels.cdist(np.ones((0, 7), dtype=np.float32), np.ones((3, 8), dtype=np.float32))


def test_cosine_zero_vector_is_one() -> None:
    rows = np.array([[0, 0, 0], [1, 2, 3]], dtype=np.float32)
    d = kernels.distances(np.array([1, 2, 3], dtype=np.float32), rows, "cosine")
    assert d[0] == 1.0 and abs(d[1]) < 1e-6


def test_isa_report_and_override() -> None:
    avail = sagevec.available_isas()
    assert avail[0] == "scalar" and sagevec.active_isa() in avail
    code = "import sagevec; print(sagevec.active_isa())"
    env = dict(os.environ, SAGEVEC_ISA="scalar")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "scalar"
    env["SAGEVEC_ISA"] = "bogus"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "ValueError" in bad.stderr and "bogus" in bad.stderr


def test_threads_get_identical_results() -> None:
    rng = np.random.default_rng(4)
    base = rng.standard_normal((20_000, 64)).astype(np.float32)
    queries = rng.standard_normal((100, 64)).astype(np.float32)
    want = kernels.knn(queries, base, k=5, threads=1)
    results: list = [None] * 4

    def search(i: int) -> None:
        results[i] = kernels.knn(queries, base, k=5, threads=1 + i % 2)

    workers = [threading.Thread(target=search, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for r in results:
        np.testing.assert_array_equal(r[0], want[0])
        np.testing.assert_array_equal(r[1], want[1])


def test_the_gil_is_released_during_a_search() -> None:
    # One long native call in a thread; the main thread keeps stamping the clock.
    # Were the GIL held, the main thread could not run Python at all during the
    # call, so its longest gap would be about the call's length.
    rng = np.random.default_rng(5)
    base = rng.standard_normal((40_000, 64)).astype(np.float32)
    queries = rng.standard_normal((2_000, 64)).astype(np.float32)
    spans: list = []

    def search() -> None:
        t0 = time.perf_counter()
        kernels.knn(queries, base, k=5, threads=1)
        spans.append(time.perf_counter() - t0)

    worker = threading.Thread(target=search)
    last = time.perf_counter()
    max_gap = 0.0
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        max_gap = max(max_gap, now - last)
        last = now
    worker.join()
    (span,) = spans
    assert max_gap < span / 2, (max_gap, span)


def test_topology_reports_the_plan_and_honours_overrides() -> None:
    t = sagevec.topology()
    assert t["numa_nodes"] >= 1 and t["threads"] >= 1 and t["pus"] >= t["cores"] >= 1
    assert sum(len(n["cpus"]) for n in t["nodes"]) == t["threads"]
    code = "import json, sagevec; print(json.dumps(sagevec.topology()))"
    env = dict(os.environ, SAGEVEC_TOPOLOGY="pack:2 numa:1 core:4 pu:2", SAGEVEC_NUM_THREADS="4")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    synth = json.loads(out.stdout)
    assert synth["numa_nodes"] == 2 and synth["threads"] == 4 and synth["pus"] == 16
    assert [len(n["cpus"]) for n in synth["nodes"]] == [2, 2]
    assert "synthetic" in synth["source"]
    env["SAGEVEC_TOPOLOGY"] = "not a topology"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "ValueError" in bad.stderr


def test_out_is_written_in_place_and_returned() -> None:
    rng = np.random.default_rng(11)
    rows = rng.standard_normal((30, 17)).astype(np.float32)
    q = rng.standard_normal(17).astype(np.float32)
    for metric in METRICS:
        want = kernels.distances(q, rows, metric)
        out = np.full(30, -5.0, dtype=np.float32)
        got = kernels.distances(q, rows, metric, out=out)
        assert got is out
        np.testing.assert_array_equal(out, want)
        # Converted inputs (float64, strided) write into out just the same.
        out2 = np.empty(30, dtype=np.float32)
        kernels.distances(q.astype(np.float64), np.asfortranarray(rows), metric, out=out2)
        np.testing.assert_array_equal(out2, want)
    c_want = kernels.cdist(rows[:4], rows)
    c_out = np.empty((4, 30), dtype=np.float32)
    assert kernels.cdist(rows[:4], rows, out=c_out) is c_out
    np.testing.assert_array_equal(c_out, c_want)
    ids_want, d_want = kernels.knn(rows[:5], rows, k=3)
    ids, dists = np.empty((5, 3), dtype=np.int64), np.empty((5, 3), dtype=np.float32)
    got_ids, got_d = kernels.knn(rows[:5], rows, k=3, out=(ids, dists))
    assert got_ids is ids and got_d is dists
    np.testing.assert_array_equal(ids, ids_want)
    np.testing.assert_array_equal(dists, d_want)
    # Fewer rows than k: the padding is written into out too.
    ids, dists = np.zeros((1, 4), dtype=np.int64), np.zeros((1, 4), dtype=np.float32)
    kernels.knn(rows[:1], rows[:2], k=4, out=(ids, dists))
    assert list(ids[0, 2:]) == [-1, -1] and np.isinf(dists[0, 2:]).all()


def test_bad_out_is_refused_and_left_alone() -> None:
    rows = np.ones((4, 8), dtype=np.float32)
    q = np.ones(8, dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        kernels.distances(q, rows, out=np.empty(3, dtype=np.float32))
    with pytest.raises(TypeError, match="float32"):
        kernels.distances(q, rows, out=np.empty(4, dtype=np.float64))
    with pytest.raises(TypeError, match="float32"):
        kernels.distances(q, rows, out=[0.0] * 4)  # type: ignore[arg-type]
    strided = np.empty(8, dtype=np.float32)[::2]
    with pytest.raises(ValueError, match="contiguous"):
        kernels.distances(q, rows, out=strided)
    frozen = np.zeros(4, dtype=np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        kernels.distances(q, rows, out=frozen)
    assert (frozen == 0).all()
    # out overlapping an input: refused, nothing computed into it.
    buf = np.ones(8, dtype=np.float32)
    with pytest.raises(ValueError, match="overlap"):
        kernels.distances(buf, np.ones((8, 8), dtype=np.float32), out=buf)
    assert (buf == 1).all()
    with pytest.raises(ValueError, match="shape"):
        kernels.cdist(rows, rows, out=np.empty((4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="int64"):
        kernels.knn(rows, rows, k=2, out=(np.empty((4, 2), dtype=np.int32), np.empty((4, 2), dtype=np.float32)))
    with pytest.raises(ValueError, match="shape"):
        kernels.knn(rows, rows, k=2, out=(np.empty((4, 3), dtype=np.int64), np.empty((4, 2), dtype=np.float32)))


def test_unsupported_metric_for_floats_is_a_value_error() -> None:
    rows = np.ones((2, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="hamming"):
        kernels.distances(np.ones(8, dtype=np.float32), rows, "hamming")
