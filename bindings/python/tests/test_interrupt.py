"""Ctrl-C: a long batch search, knn, wait or big add stops soon after SIGINT and
raises KeyboardInterrupt, leaving the index as it was.

A timer thread sends SIGINT to this process while the main thread is inside a
call that would run for seconds. The latency from the signal to the exception
is printed (``pytest -s``); the bound asserted is lenient (1 s) because CI boxes
are small and shared: the design target is about 100 ms (chunks of ~40 ms, a
signal check every ~20 ms).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable

import numpy as np
import pytest
import sagevec
from sagevec import Index

LATENCY_BOUND = 1.0  # seconds; the design target is ~0.1


def interrupted(call: Callable[[], object], delay: float = 0.3) -> tuple[float | None, float]:
    """Runs ``call()`` here (the main thread) while a timer thread sends SIGINT
    after ``delay`` seconds. Returns (latency from the signal to the
    KeyboardInterrupt, or None if the call returned first; time in the call)."""
    assert threading.current_thread() is threading.main_thread()
    fired: list[float] = []

    def fire() -> None:
        fired.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay, fire)
    try:
        t0 = time.perf_counter()
        timer.start()
        try:
            call()
        except KeyboardInterrupt:
            t1 = time.perf_counter()
            timer.join()
            return t1 - fired[0], t1 - t0
        t1 = time.perf_counter()
        timer.cancel()
        timer.join()
        if fired:  # it fired just as the call returned: absorb the late signal
            try:
                time.sleep(0.2)
            except KeyboardInterrupt:
                pass
        return None, t1 - t0
    finally:
        signal.signal(signal.SIGINT, previous)


def long_queries(rng: np.random.Generator, dim: int, per_second: float, seconds: float) -> np.ndarray:
    n = int(min(max(per_second * seconds, 2_000), 400_000))
    return rng.standard_normal((n, dim)).astype(np.float32)


def rate(call: Callable[[np.ndarray], object], queries: np.ndarray) -> float:
    """Queries per second of ``call`` on a small sample."""
    call(queries[:64])  # warm
    t = time.perf_counter()
    call(queries[:256])
    return 256 / (time.perf_counter() - t)


@pytest.fixture(scope="module")
def flat_index() -> Index:
    rng = np.random.default_rng(11)
    ix = Index(64)  # one bulk add: every row in the graph when it returns
    ix.add(rng.standard_normal((20_000, 64)).astype(np.float32))
    return ix


@pytest.mark.parametrize("how", ["batch_search", "search_2d", "exact_batch"])
def test_ctrl_c_stops_a_long_batch_search(flat_index: Index, how: str) -> None:
    ix = flat_index
    rng = np.random.default_rng(12)
    probe = rng.standard_normal((50, 64)).astype(np.float32)
    before_ids, before_dist = ix.search(probe, k=5)
    state = (len(ix), ix.version)

    def call(q: np.ndarray) -> object:
        if how == "batch_search":
            return ix.batch_search(q, k=10)
        if how == "search_2d":
            return ix.search(q, k=10)
        return ix.batch_search(q, k=10, exact=True)

    sample = rng.standard_normal((256, 64)).astype(np.float32)
    queries = long_queries(rng, 64, rate(call, sample), seconds=4.0)
    latency, spent = interrupted(lambda: call(queries))
    print(
        f"\n{how}: {len(queries)} queries, KeyboardInterrupt {latency if latency is None else round(latency * 1e3, 1)} ms "
        f"after SIGINT ({spent:.2f} s in the call)"
    )
    assert latency is not None, f"the call ({spent:.2f} s) returned before the signal"
    assert latency < LATENCY_BOUND, latency
    # The index is as it was, and still answers the same.
    assert (len(ix), ix.version) == state
    ids, dist = ix.search(probe, k=5)
    np.testing.assert_array_equal(ids, before_ids)
    np.testing.assert_array_equal(dist, before_dist)
    assert ix.batch_search(probe[:3], k=2)[0].shape == (3, 2)


def test_ctrl_c_stops_knn() -> None:
    rng = np.random.default_rng(13)
    base = rng.standard_normal((20_000, 64)).astype(np.float32)
    sample = rng.standard_normal((256, 64)).astype(np.float32)
    queries = long_queries(rng, 64, rate(lambda q: sagevec.kernels.knn(q, base, k=10), sample), seconds=4.0)
    latency, spent = interrupted(lambda: sagevec.kernels.knn(queries, base, k=10))
    print(f"\nknn: KeyboardInterrupt {latency and round(latency * 1e3, 1)} ms after SIGINT ({spent:.2f} s)")
    assert latency is not None and latency < LATENCY_BOUND, (latency, spent)
    # Still works, and chunked results equal one small call's.
    ids, _ = sagevec.kernels.knn(queries[:5000], base, k=3)
    ids_small, _ = sagevec.kernels.knn(queries[4990:5000], base, k=3)
    np.testing.assert_array_equal(ids[4990:5000], ids_small)


def test_ctrl_c_ends_wait_for_version() -> None:
    ix = Index(8)
    ix.add(np.ones((3, 8), dtype=np.float32))
    v = ix.version
    latency, spent = interrupted(lambda: ix.wait_for_version(v + 1_000), delay=0.2)
    print(f"\nwait_for_version: {latency and round(latency * 1e3, 1)} ms")
    assert latency is not None and latency < LATENCY_BOUND, (latency, spent)
    assert ix.version == v and len(ix) == 3
    assert ix.wait_for_version(v, timeout=0) == v


def test_ctrl_c_ends_wait_for_builds() -> None:
    rng = np.random.default_rng(14)
    ix = Index(64, threads=1)
    x = rng.standard_normal((10_000, 64)).astype(np.float32)
    ix.add(x)
    ix.remove(np.arange(10_000, 20_000))  # nothing there: no compaction due
    ix.remove(np.arange(5_000, 10_000))
    ix.compact()  # the graph of the 5 000 left, rebuilt in the background
    x = x[:5_000]
    n, v = len(ix), ix.version
    latency, spent = interrupted(ix.wait_for_builds, delay=0.15)
    print(f"\nwait_for_builds: {latency and round(latency * 1e3, 1)} ms ({spent:.2f} s)")
    if latency is None:
        pytest.skip(f"the builds finished in {spent:.2f} s, before the signal")
    assert latency < LATENCY_BOUND, latency
    assert len(ix) == n and ix.version >= v
    got, _ = ix.search(x[:10], k=1, exact=True)
    np.testing.assert_array_equal(got.ravel(), np.arange(10))
    ix.wait_for_builds()  # a later wait still works (and ends the builds)
    assert ix.stats()["builder_errors"] == 0


def test_ctrl_c_during_big_adds_leaves_whole_batches() -> None:
    # Adds of big batches in a loop until Ctrl-C: the interrupted add is not
    # there at all (the signal came while its input was read or its rows were
    # being inserted: cancelled) or whole (it came as the batch was being made
    # visible), never in part.
    rng = np.random.default_rng(15)
    batch = 3_000
    x = rng.standard_normal((batch, 32)).astype(np.float32)
    meta = [{"i": i} for i in range(batch)]
    ix = Index(32)
    adds: list[int] = []

    def loop() -> None:
        while True:
            base = len(adds) * batch
            ix.add(x, ids=np.arange(base, base + batch), metadata=meta)
            adds.append(base)

    latency, spent = interrupted(loop, delay=0.5)
    print(
        f"\nadd loop: {len(adds)} adds returned, KeyboardInterrupt {latency and round(latency * 1e3, 1)} ms after SIGINT"
    )
    assert latency is not None and latency < LATENCY_BOUND, (latency, spent)
    n = len(ix)
    assert n % batch == 0 and n // batch in (len(adds), len(adds) + 1), (n, len(adds))
    np.testing.assert_array_equal(ix.ids(), np.arange(n))
    last = n - 1
    vec, m = ix.get(last)
    np.testing.assert_array_equal(vec, x[last % batch])
    assert m == {"i": last % batch}


def test_chunked_batches_equal_smaller_calls(flat_index: Index) -> None:
    # The chunked path gives exactly what one core call gives (exact search is
    # deterministic), whatever the batch size.
    rng = np.random.default_rng(16)
    q = rng.standard_normal((3_000, 64)).astype(np.float32)
    ids, dist = flat_index.batch_search(q, k=7, exact=True)
    for lo, hi in [(0, 1), (0, 31), (5, 40), (2_990, 3_000)]:
        i2, d2 = flat_index.batch_search(q[lo:hi], k=7, exact=True)
        np.testing.assert_array_equal(i2, ids[lo:hi])
        np.testing.assert_array_equal(d2, dist[lo:hi])
