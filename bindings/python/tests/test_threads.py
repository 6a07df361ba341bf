"""sagevec.Index under threads: the service pattern (10 workers mixing every
operation with invariants checked), a GIL probe, arrays mutated during calls,
worker-pool sizes, and use from a forked child."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sagevec import Index

DIM = 16


class Model:
    """What the test knows about the index, kept under the test's own lock (the
    index itself is called with no lock). Each worker owns the ids it added and
    is the only one to remove them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.added = 0  # vectors whose add returned
        self.adding = 0  # vectors in adds that have not returned
        self.removed = 0  # vectors whose remove returned
        self.removing = 0
        self.seq = 0  # bumped when a remove returns
        self.removed_at: dict[int, int] = {}  # id -> seq at which its remove returned
        self.ops: dict[str, int] = {}
        self.violations: list[str] = []

    def count(self, op: str) -> None:
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1

    def violation(self, what: str) -> None:
        with self.lock:
            self.violations.append(what)

    def removed_before(self, ids: np.ndarray, seq: int) -> list[int]:
        """Returned ids whose remove had returned before the search started."""
        with self.lock:
            return [int(i) for i in np.unique(ids) if i >= 0 and self.removed_at.get(int(i), seq + 1) <= seq]


def worker(ix: Index, model: Model, w: int, deadline: float) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(100 + w)
    mine: dict[int, np.ndarray] = {}  # acknowledged, not removed: id -> vector
    ops = ["add", "add_batch", "search", "batch_search", "remove", "stats"]
    weights = np.array([0.14, 0.14, 0.30, 0.16, 0.14, 0.12])
    while time.monotonic() < deadline:
        op = ops[rng.choice(len(ops), p=weights)]
        model.count(op)
        if op in ("add", "add_batch"):
            n = 1 if op == "add" else int(rng.integers(2, 48))
            vecs = rng.standard_normal((n, DIM)).astype(np.float32)
            meta = [{"w": w, "n": int(j)} for j in range(n)]
            with model.lock:
                model.adding += n
            ids = ix.add(vecs[0], metadata=meta[0]) if op == "add" else ix.add(vecs, metadata=meta)
            with model.lock:
                model.adding -= n
                model.added += n
            if len(ids) != n or len(set(ids.tolist())) != n:
                model.violation(f"{op} returned ids {ids}")
            mine.update(zip(ids.tolist(), vecs))
            # Acknowledged means searchable: each finds itself first (exact).
            got, _dist = ix.batch_search(vecs, k=1, exact=True) if n > 1 else ix.search(vecs[0], k=1, exact=True)
            got = np.atleast_1d(got.reshape(-1))
            if not np.array_equal(got, ids):
                model.violation(f"{op}: self-query of {ids} gave {got}")
        elif op == "search":
            with model.lock:
                seq = model.seq
            if mine and rng.random() < 0.5:
                own = list(mine)[int(rng.integers(len(mine)))]
                got, _dist = ix.search(mine[own], k=3, exact=True)
                if got[0] != own:
                    model.violation(f"search: self-query of {own} gave {got}")
            else:
                got, _dist = ix.search(rng.standard_normal(DIM).astype(np.float32), k=10, ef=32)
            if bad := model.removed_before(got, seq):
                model.violation(f"search returned removed ids {bad}")
        elif op == "batch_search":
            with model.lock:
                seq = model.seq
            own = list(mine)[-16:]
            if own:
                got, _ = ix.batch_search(np.stack([mine[i] for i in own]), k=5, exact=True)
                if not np.array_equal(got[:, 0], own):
                    model.violation(f"batch_search: self-queries of {own} gave {got[:, 0]}")
            else:
                got, _ = ix.batch_search(rng.standard_normal((8, DIM)).astype(np.float32), k=5)
            if bad := model.removed_before(got, seq):
                model.violation(f"batch_search returned removed ids {bad}")
        elif op == "remove":
            if not mine:
                continue
            keys = list(mine)
            pick = [
                keys[int(j)] for j in rng.choice(len(keys), size=min(len(keys), int(rng.integers(1, 8))), replace=False)
            ]
            with model.lock:
                model.removing += len(pick)
            n = ix.remove(pick)
            with model.lock:
                model.removing -= len(pick)
                model.removed += n
                model.seq += 1
                for i in pick:
                    model.removed_at[i] = model.seq
            if n != len(pick):
                model.violation(f"remove({pick}) removed {n}")
            for i in pick:
                del mine[i]
                if i in ix:
                    model.violation(f"{i} still in the index after remove")
        else:  # stats: the size seen lies between what the model allows
            with model.lock:
                a0, r0 = model.added, model.removed
            size = ix.stats()["len"]
            size2 = len(ix)
            with model.lock:
                a1, ia1, r1, ir1 = model.added, model.adding, model.removed, model.removing
            lo, hi = a0 - (r1 + ir1), a1 + ia1 - r0
            if not (lo <= size <= hi and lo <= size2 <= hi):
                model.violation(f"stats len {size} / len {size2} outside [{lo}, {hi}]")
    return mine


def test_service_pattern_ten_threads_no_lock() -> None:
    ix = Index(DIM, m=8, ef_construction=40)
    model = Model()
    seconds = 3.0
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(max_workers=10) as pool:
        owned = list(pool.map(lambda w: worker(ix, model, w, deadline), range(10)))
    live = {}
    for m in owned:
        live.update(m)
    # Quiescent: the model is exact now.
    assert len(ix) == model.added - model.removed == len(live)
    assert set(ix.ids().tolist()) == set(live)
    ix.wait_for_builds()
    sample = list(live)[:: max(1, len(live) // 200)]
    got, _ = ix.batch_search(np.stack([live[i] for i in sample]), k=1, exact=True)
    assert got[:, 0].tolist() == sample
    gone = np.array(list(model.removed_at), dtype=np.int64)
    if len(gone):
        got, _ = ix.search(np.random.default_rng(0).standard_normal((50, DIM)), k=20)
        assert not np.isin(got, gone).any()
    s = ix.stats()
    total = sum(model.ops.values())
    print(
        f"\nservice pattern: {total} operations in {seconds:.0f} s by 10 threads "
        f"({', '.join(f'{k} {v}' for k, v in sorted(model.ops.items()))}); "
        f"{len(ix)} live, {model.removed} removed, {s['compactions']} compactions, {s['repairs']} repairs, "
        f"{len(model.violations)} violations"
    )
    assert not model.violations, model.violations[:10]
    assert total > 200 and s["builder_errors"] == 0
    assert s["graph"]["slots"] - s["graph"]["removed_slots"] == len(ix)


def test_the_gil_is_released_during_batch_search() -> None:
    # A pure-Python counter thread stamps the clock while the main thread is in a
    # long batch_search. Were the GIL held for the call, the counter could not
    # run at all meanwhile: its longest gap would be about the call's length.
    rng = np.random.default_rng(5)
    ix = Index(64, threads=1)
    ix.add(rng.standard_normal((30_000, 64)).astype(np.float32))
    queries = rng.standard_normal((1_500, 64)).astype(np.float32)
    stamps: list[float] = []
    stop = threading.Event()

    def counter() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter())

    t = threading.Thread(target=counter)
    t.start()
    time.sleep(0.02)
    t0 = time.perf_counter()
    ix.batch_search(queries, k=5, exact=True)
    t1 = time.perf_counter()
    stop.set()
    t.join()
    span = t1 - t0
    inside = np.array([s for s in stamps if t0 <= s <= t1])
    gaps = np.diff(np.concatenate([[t0], inside, [t1]]))
    assert span > 0.05, span  # long enough to tell
    assert len(inside) > 100 and gaps.max() < span / 2, (len(inside), gaps.max(), span)


def test_arrays_mutated_during_calls_do_not_crash() -> None:
    ix = Index(DIM)
    rng = np.random.default_rng(1)
    ix.add(rng.standard_normal((500, DIM)).astype(np.float32))
    shared = rng.standard_normal((64, DIM)).astype(np.float32) + 10
    stop = threading.Event()

    def scribble() -> None:
        r = np.random.default_rng(2)
        while not stop.is_set():
            shared[:] = r.standard_normal(shared.shape).astype(np.float32) + 10

    t = threading.Thread(target=scribble)
    t.start()
    try:
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            ix.search(shared, k=5)
            ix.search(shared[0], k=5)
            ix.add(shared[:8])
    finally:
        stop.set()
        t.join()
    assert len(ix) > 500


def test_pool_sizes_give_identical_results() -> None:
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3_000, DIM)).astype(np.float32)
    queries = rng.standard_normal((100, DIM)).astype(np.float32)
    results = []
    for threads in (None, 1, 2):
        ix = Index(DIM, threads=threads)
        ix.add(base)
        results.append(ix.batch_search(queries, k=10, exact=True))
    for ids, dist in results[1:]:
        np.testing.assert_array_equal(ids, results[0][0])
        np.testing.assert_array_equal(dist, results[0][1])


def test_an_index_in_a_forked_child() -> None:
    rng = np.random.default_rng(6)
    base = rng.standard_normal((2_000, DIM)).astype(np.float32)
    queries = rng.standard_normal((20, DIM)).astype(np.float32)
    ix = Index(DIM)
    ix.add(base)  # a bulk add: linked on the builder's pool, which the child lacks
    want, _ = ix.search(queries, k=5, exact=True)
    pid = os.fork()
    if pid == 0:  # child: any exception or mismatch becomes a non-zero exit
        code = 1
        try:
            ids, _ = ix.search(queries, k=5, exact=True)  # batch on the (rebuilt) pool
            if not np.array_equal(ids, want):
                raise AssertionError("different results in the child")
            if not np.array_equal(ix.search(queries[0], k=5, exact=True)[0], want[0]):
                raise AssertionError("different 1-D results in the child")
            ix.add(base[:600] + 1)  # a bulk add in the child: linked on this thread
            ix.remove([0, 1])
            ix.search(queries, k=5)
            try:
                ix.wait_for_builds()
                raise AssertionError("wait_for_builds should refuse in a forked child")
            except RuntimeError:
                pass
            del ix  # must not join the parent's builder thread
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung")
        time.sleep(0.02)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert len(ix) == 2_000  # the parent's index is untouched
