"""sagevec.Index(path=...): reopening, durability modes and their argument
checks, the directory lock, closing (and using a closed index), damaged files,
kill -9 with real processes, and transactions (atomic to concurrent readers,
rolled back by an exception, refused after they end, durable whole)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sagevec
from sagevec import Index, Transaction

DIM = 8


def vectors_for(ids: np.ndarray, dim: int = DIM) -> np.ndarray:
    """The vector of each id: the same in every process (checks exact bytes)."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.sin(ids[:, None] * 0.37 + np.arange(dim)[None, :]).astype(np.float32)


def meta_for(ids: np.ndarray) -> list:
    return [{"id": int(i), "even": bool(i % 2 == 0), "name": f"doc-{int(i)}"} for i in ids]


def wal_files(path: Path) -> list[Path]:
    return sorted(path.glob("wal-*.log"))


def run_child(code: str, *args: object) -> subprocess.Popen:
    """``python -c code args...`` with this interpreter (and its sagevec)."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(proc: subprocess.Popen) -> str:
    """SIGKILL: no close, no checkpoint, no flush (what a crash leaves)."""
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return out


def expect_line(proc: subprocess.Popen, prefix: str) -> str:
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith(prefix):
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"child said {line!r}, expected {prefix!r}; stderr:\n{err}")
    return line


# ---------------------------------------------------------------- reopen


def exact_results(ix: Index, queries: np.ndarray, k: int = 7):
    ids, dist, meta = ix.search(queries, k=k, exact=True, include_metadata=True)
    one = [ix.search(q, k=k, exact=True) for q in queries[:3]]
    return ids, dist, meta, one


def snapshot_of(ix: Index) -> dict:
    return {int(i): ix.get(int(i)) for i in ix.ids()}


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_reopen_after_close_gives_the_same_index(tmp_path: Path, metric: str) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "ix"
    queries = rng.standard_normal((20, DIM)).astype(np.float32)
    ix = Index(DIM, metric, path=path)
    assert ix.path == str(path) and ix.durability == "every_write" and not ix.closed
    ids = np.arange(0, 350)
    ix.add(vectors_for(ids), ids=ids, metadata=meta_for(ids))
    ix.add(vectors_for(np.array([1000])), metadata=[None])  # auto id 350
    ix.remove(np.arange(0, 350, 7))
    with ix.transaction() as tx:
        tx.remove([1, 2, 3])
        tx.add(vectors_for(np.array([5000, 5001])), ids=[5000, 5001], metadata=[{"tx": True}, None])
    ix.remove([5001])  # the largest id ever used stays 5001
    ix.wait_for_builds()
    assert ix.stats()["graph"]["slots"] >= 350  # every row is in the one graph
    want = snapshot_of(ix)
    want_results = exact_results(ix, queries)
    ix.close()
    assert ix.closed and ix.path == str(path)

    back = Index(DIM, metric, path=str(path))  # a str works too
    assert len(back) == len(want) and list(back.ids()) == sorted(want)
    for i, (vec, meta) in want.items():
        got_vec, got_meta = back.get(i)
        assert got_vec.tobytes() == vec.tobytes() and got_meta == meta
    got_results = exact_results(back, queries)
    np.testing.assert_array_equal(got_results[0], want_results[0])
    np.testing.assert_array_equal(got_results[1], want_results[1])
    assert got_results[2] == want_results[2]
    for (gi, gd), (wi, wd) in zip(got_results[3], want_results[3]):
        np.testing.assert_array_equal(gi, wi)
        np.testing.assert_array_equal(gd, wd)
    assert list(back.add(vectors_for(np.array([1])))) == [5002]  # auto ids never reused
    back.close()


def test_with_block_closes_and_the_same_process_can_reopen(tmp_path: Path) -> None:
    with Index(DIM, path=tmp_path) as ix:
        ix.add(vectors_for(np.arange(5)))
    assert ix.closed
    with pytest.raises(RuntimeError, match="boom"), Index(DIM, path=tmp_path) as ix2:
        ix2.add(vectors_for(np.arange(5, 8)), ids=[5, 6, 7])
        raise RuntimeError("boom")
    assert ix2.closed
    for _ in range(3):  # open, close, open again: the lock is released each time
        with Index(DIM, path=tmp_path) as ix3:
            assert list(ix3.ids()) == list(range(8))


def test_relative_and_pathlike_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ix = Index(DIM, path="rel")
    ix.add(vectors_for(np.arange(3)))
    assert ix.path == str(tmp_path / "rel")  # made absolute at open
    monkeypatch.chdir("/")
    ix.checkpoint()  # still writes to tmp_path/rel
    ix.close()
    with Index(DIM, path=tmp_path / "rel") as back:
        assert len(back) == 3
    with pytest.raises(TypeError, match="path"):
        Index(DIM, path=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="path"):
        Index(DIM, path="")


def test_in_memory_defaults(tmp_path: Path) -> None:
    ix = Index(DIM)
    assert (ix.path, ix.durability, ix.sync_interval_ms, ix.closed) == (None, None, None, False)
    ix.checkpoint()  # a no-op in memory
    ix.add(vectors_for(np.arange(2)))
    with ix:
        pass
    assert ix.closed


# ---------------------------------------------------------------- durability


@pytest.mark.parametrize(
    "kwargs, name, interval",
    [
        ({}, "every_write", None),
        ({"durability": "every_write"}, "every_write", None),
        ({"durability": "EVERY_WRITE"}, "every_write", None),
        ({"durability": "periodic", "sync_interval_ms": 5}, "periodic", 5),
        ({"durability": "off"}, "off", None),
    ],
)
def test_durability_modes_round_trip(tmp_path: Path, kwargs: dict, name: str, interval) -> None:
    ix = Index(DIM, path=tmp_path, checkpoint_bytes=1 << 20, **kwargs)
    assert (ix.durability, ix.sync_interval_ms) == (name, interval)
    for b in range(5):
        ids = np.arange(b * 10, b * 10 + 10)
        ix.add(vectors_for(ids), ids=ids, metadata=meta_for(ids))
    ix.remove([0, 1])
    if name == "periodic":
        time.sleep(0.02)
        ix.add(vectors_for(np.array([99])), ids=[99])
    want = snapshot_of(ix)
    ix.close()
    with Index(DIM, path=tmp_path, **kwargs) as back:
        got = snapshot_of(back)
    assert got.keys() == want.keys()
    assert all(got[i][0].tobytes() == want[i][0].tobytes() and got[i][1] == want[i][1] for i in want)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"durability": "every_write"}, ValueError, "path"),
        ({"durability": "off"}, ValueError, "path"),
        ({"sync_interval_ms": 10}, ValueError, "path"),
        ({"checkpoint_bytes": 1000}, ValueError, "path"),
        ({"path": "P", "durability": "sometimes"}, ValueError, "every_write.*periodic.*off"),
        ({"path": "P", "durability": ""}, ValueError, "durability"),
        ({"path": "P", "durability": "periodic"}, ValueError, "sync_interval_ms"),
        ({"path": "P", "durability": "periodic", "sync_interval_ms": 0}, ValueError, "at least 1"),
        ({"path": "P", "durability": "periodic", "sync_interval_ms": -5}, ValueError, "at least 1"),
        ({"path": "P", "durability": "every_write", "sync_interval_ms": 5}, ValueError, "periodic"),
        ({"path": "P", "durability": "off", "sync_interval_ms": 5}, ValueError, "periodic"),
        ({"path": "P", "sync_interval_ms": 5}, ValueError, "periodic"),
        ({"path": "P", "checkpoint_bytes": -1}, ValueError, "checkpoint_bytes"),
        ({"path": "P", "durability": 3}, TypeError, "durability"),
        ({"path": "P", "durability": "periodic", "sync_interval_ms": 1.5}, TypeError, "sync_interval_ms"),
    ],
)
def test_bad_durability_arguments(tmp_path: Path, kwargs: dict, exc: type, match: str) -> None:
    if kwargs.get("path") == "P":
        kwargs = {**kwargs, "path": tmp_path / "ix"}
    with pytest.raises(exc, match=match):
        Index(DIM, **kwargs)
    assert not (tmp_path / "ix").exists()  # refused before any file was made


def test_files_that_contradict_the_arguments(tmp_path: Path) -> None:
    with Index(DIM, "l2", path=tmp_path / "ix") as ix:
        ix.add(vectors_for(np.arange(3)))
    with pytest.raises(OSError, match="dimension"):
        Index(DIM + 1, "l2", path=tmp_path / "ix")
    with pytest.raises(OSError, match="metric"):
        Index(DIM, "ip", path=tmp_path / "ix")
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OSError, match="file"):
        Index(DIM, path=tmp_path / "file")
    with Index(DIM, "l2", path=tmp_path / "ix") as ix:  # still intact
        assert len(ix) == 3


def test_checkpoint_writes_the_graph_and_restarts_the_log(tmp_path: Path) -> None:
    with Index(DIM, path=tmp_path) as ix:
        ix.add(vectors_for(np.arange(120)))
        log_before = sum(f.stat().st_size for f in wal_files(tmp_path))
        ix.checkpoint()
        assert (tmp_path / "MANIFEST").exists() and list(tmp_path.glob("rows-*.dat"))
        assert list(tmp_path.glob("links-*.dat"))
        assert sum(f.stat().st_size for f in wal_files(tmp_path)) < log_before
        ix.add(vectors_for(np.arange(120, 130)))
    with Index(DIM, path=tmp_path) as back:
        assert list(back.ids()) == list(range(130))


# ---------------------------------------------------------------- lock


def test_a_second_open_of_the_same_directory_is_locked(tmp_path: Path) -> None:
    ix = Index(DIM, path=tmp_path)
    with pytest.raises(OSError, match="locked") as info:
        Index(DIM, path=tmp_path)
    assert str(tmp_path) in str(info.value)
    ix.add(vectors_for(np.arange(2)))  # the first one is unaffected
    ix.close()
    Index(DIM, path=tmp_path).close()


def test_another_process_is_locked_out(tmp_path: Path) -> None:
    holder = run_child(
        "import sys, sagevec\n"
        "ix = sagevec.Index(8, path=sys.argv[1])\n"
        "print('open', flush=True)\n"
        "import time; time.sleep(60)\n",
        tmp_path,
    )
    try:
        expect_line(holder, "open")
        with pytest.raises(OSError, match="locked") as info:
            Index(DIM, path=tmp_path)
        assert str(tmp_path) in str(info.value)
    finally:
        kill(holder)
    Index(DIM, path=tmp_path).close()  # released when the holder died


# ---------------------------------------------------------------- closed


def test_a_closed_index_refuses_every_method(tmp_path: Path) -> None:
    ix = Index(DIM, path=tmp_path, m=8)
    ix.add(vectors_for(np.arange(4)))
    ix.close()
    ix.close()  # twice is fine
    q = np.ones(DIM, dtype=np.float32)
    calls = [
        lambda: len(ix),
        lambda: 0 in ix,
        lambda: ix.version,
        lambda: ix.add(q),
        lambda: ix.remove([0]),
        lambda: ix.get(0),
        lambda: ix.ids(),
        lambda: ix.search(q),
        lambda: ix.search(q[None, :]),
        lambda: ix.batch_search(q[None, :]),
        lambda: ix.stats(),
        lambda: ix.seal(),
        lambda: ix.compact(),
        lambda: ix.wait_for_builds(),
        lambda: ix.wait_for_version(0),
        lambda: ix.checkpoint(),
        lambda: ix.transaction(),
        lambda: pickle.dumps(ix),
        lambda: ix.__enter__(),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="closed"):
            call()
    # what it was stays readable
    assert (ix.dim, ix.metric, ix.m, ix.path, ix.closed) == (DIM, "l2", 8, str(tmp_path), True)
    assert "closed" in repr(ix)


def test_close_while_other_threads_search_and_wait(tmp_path: Path) -> None:
    ix = Index(DIM, path=tmp_path)
    ix.add(vectors_for(np.arange(2_000)))
    queries = vectors_for(np.arange(64))
    outcomes: list[str] = []
    lock = threading.Lock()

    def searcher() -> None:
        while True:
            try:
                ix.search(queries, k=5)
                ix.search(queries[0], k=5)
                len(ix)
            except ValueError as e:
                with lock:
                    outcomes.append(str(e))
                return

    def waiter() -> None:
        try:
            ix.wait_for_version(10**12)  # no timeout: only closing ends it
        except ValueError as e:
            with lock:
                outcomes.append(str(e))

    threads = [threading.Thread(target=searcher) for _ in range(3)] + [threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    ix.close()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 4 and all("closed" in o for o in outcomes)
    with Index(DIM, path=tmp_path) as back:
        assert len(back) == 2_000


def test_pickling_a_durable_index_copies_it_into_memory(tmp_path: Path) -> None:
    with Index(DIM, "cosine", path=tmp_path, m=8) as ix:
        ix.add(vectors_for(np.arange(10)), metadata=meta_for(np.arange(10)))
        copy = pickle.loads(pickle.dumps(ix))
        assert copy.path is None and copy.durability is None and copy.m == 8
        assert snapshot_of(copy).keys() == snapshot_of(ix).keys()
        copy.add(vectors_for(np.array([50])))  # the copy is independent
        assert len(ix) == 10
    assert len(copy) == 11 and not copy.closed


# ---------------------------------------------------------------- crashes


WRITER = r"""
import sys
import numpy as np
import sagevec

path, dim, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def vectors_for(ids):
    return np.sin(ids[:, None] * 0.37 + np.arange(dim)[None, :]).astype(np.float32)

ix = sagevec.Index(dim, path=path, durability="every_write")
have = ix.ids()
start = int(have.max()) + 1 if len(have) else 0
start = -(-start // batch) * batch
print("ready", start, flush=True)
while True:
    ids = np.arange(start, start + batch)
    ix.add(vectors_for(ids), ids=ids, metadata=[{"id": int(i)} for i in ids])
    print(" ".join(map(str, ids)), flush=True)  # acknowledged
    start += batch
"""


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    batch, kills = 20, 10
    acked: set[int] = set()
    lost = 0
    for _ in range(kills):
        proc = run_child(WRITER, tmp_path, DIM, batch)
        expect_line(proc, "ready")
        time.sleep(float(rng.uniform(0.0, 0.2)))
        out = kill(proc)
        for line in out.splitlines():
            acked.update(int(i) for i in line.split())
        with Index(DIM, path=tmp_path) as ix:
            present = set(ix.ids().tolist())
            lost += len(acked - present)
            assert acked <= present, f"lost {sorted(acked - present)[:10]}"
            # no half batch: every batch is all there or not at all
            counts = np.bincount(np.array(sorted(present), dtype=np.int64) // batch)
            assert set(counts.tolist()) <= {0, batch}
            ids = np.array(sorted(acked), dtype=np.int64)
            want = vectors_for(ids)
            for row, i in enumerate(ids.tolist()):
                vec, meta = ix.get(i)
                assert vec.tobytes() == want[row].tobytes() and meta == {"id": i}
    print(f"kills: {kills}, acknowledged: {len(acked)}, lost: {lost}")
    assert len(acked) > 0 and lost == 0


FILLER = r"""
import sys
import numpy as np
import sagevec

path, dim, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ix = sagevec.Index(dim, path=path)
for b in range(batches):
    ids = np.arange(b * 10, b * 10 + 10)
    ix.add(np.sin(ids[:, None] * 0.37 + np.arange(dim)[None, :]).astype(np.float32), ids=ids)
tx = ix.transaction()
tx.add(np.ones((5, dim)), ids=range(1000, 1005))
print("done", flush=True)  # then killed: nothing is closed or checkpointed
import time; time.sleep(60)
"""


def crashed_with_batches(path: Path, batches: int) -> Path:
    """A directory whose writer was killed after ``batches`` acknowledged adds
    of 10 rows (ids ``0 .. 10 * batches``) and an uncommitted transaction; its
    log holds one record per batch."""
    proc = run_child(FILLER, path, DIM, batches)
    expect_line(proc, "done")
    kill(proc)
    (wal,) = wal_files(path)
    return wal


def test_a_crashed_index_reopens_and_an_uncommitted_transaction_is_gone(tmp_path: Path) -> None:
    crashed_with_batches(tmp_path, 5)
    with Index(DIM, path=tmp_path) as ix:
        assert list(ix.ids()) == list(range(50))


def test_a_torn_last_record_is_dropped(tmp_path: Path) -> None:
    wal = crashed_with_batches(tmp_path, 5)
    with open(wal, "r+b") as f:  # a write cut short: part of the last record
        f.truncate(wal.stat().st_size - 7)
    with Index(DIM, path=tmp_path) as ix:
        assert list(ix.ids()) == list(range(40))


def test_a_damaged_log_record_is_an_os_error_naming_the_file(tmp_path: Path) -> None:
    wal = crashed_with_batches(tmp_path, 5)
    data = bytearray(wal.read_bytes())
    header, record_head = 29, 12  # see index/src/durable/format.rs
    data[header + record_head + 20] ^= 0x40  # inside the first of five records
    wal.write_bytes(bytes(data))
    for _ in range(2):  # refused every time: nothing was cut or rewritten
        with pytest.raises(OSError, match="corrupt") as info:
            Index(DIM, path=tmp_path)
        assert wal.name in str(info.value)
        assert wal.read_bytes() == bytes(data)


# ---------------------------------------------------------------- transactions


@pytest.mark.parametrize("durable", [False, True])
def test_transaction_commit_returns_what_it_did(tmp_path: Path, durable: bool) -> None:
    ix = Index(DIM, path=tmp_path if durable else None)
    ix.add(vectors_for(np.arange(3)), ids=[0, 1, 2])
    tx = ix.transaction()
    assert isinstance(tx, Transaction) and tx.state == "open" and tx.result is None
    assert tx.add(vectors_for(np.arange(2))) is None  # auto ids: chosen at commit
    tx.add(vectors_for(np.array([7])), ids=[70], metadata=[{"k": "v"}])
    tx.add(vectors_for(np.array([9]))[0], metadata={"one": 1})  # a single vector
    tx.remove([0, 1, 99])
    tx.remove(3)  # the first auto id, added above
    assert len(tx) == 5 and "operations=5" in repr(tx)
    assert len(ix) == 3 and 70 not in ix  # nothing visible before commit
    before = ix.version
    done = tx.commit()
    assert [a.dtype for a in done["added"]] == [np.int64] * 3
    assert [list(a) for a in done["added"]] == [[3, 4], [70], [71]]
    # One write, one version. The commit removes half the slots, so the builder
    # compacts, and a compaction's swap publishes a version too: count those once
    # the builder has settled.
    assert done["removed"] == 3 and done["version"] == before + 1
    ix.wait_for_builds()
    assert ix.version == done["version"] + ix.stats()["compactions"]
    assert tx.state == "committed"
    assert {k: (list(map(list, v)) if k == "added" else v) for k, v in tx.result.items()} == {
        "added": [[3, 4], [70], [71]],
        "removed": 3,
        "version": done["version"],
    }
    assert list(ix.ids()) == [2, 4, 70, 71]
    assert ix.get(70)[1] == {"k": "v"} and ix.get(71)[1] == {"one": 1}
    empty = ix.transaction().commit()
    assert empty == {"added": [], "removed": 0, "version": ix.version}
    ix.close()


def test_a_refused_add_leaves_the_transaction_unchanged() -> None:
    ix = Index(DIM)
    tx = ix.transaction()
    tx.add(vectors_for(np.arange(2)), ids=[1, 2])
    bad = vectors_for(np.arange(2))
    bad[1, 3] = np.nan
    with pytest.raises(ValueError):
        tx.add(bad)
    with pytest.raises(ValueError):
        tx.add(np.ones((2, DIM + 1)))
    with pytest.raises(ValueError):
        tx.add(vectors_for(np.arange(2)), ids=[5, 5])
    with pytest.raises(TypeError):
        tx.add(np.ones((2, DIM), dtype=np.int32))
    with pytest.raises(ValueError):
        tx.remove([-1])
    assert len(tx) == 1
    assert [list(a) for a in tx.commit()["added"]] == [[1, 2]]
    assert list(ix.ids()) == [1, 2]


def test_with_block_commits_or_rolls_back() -> None:
    ix = Index(DIM)
    ix.add(vectors_for(np.arange(4)))
    with ix.transaction() as tx:
        tx.remove([0])
        tx.add(vectors_for(np.array([10])), ids=[10])
    assert tx.state == "committed" and list(ix.ids()) == [1, 2, 3, 10]
    assert [list(a) for a in tx.result["added"]] == [[10]]
    version = ix.version

    class Boom(Exception):
        pass

    with pytest.raises(Boom), ix.transaction() as tx2:
        tx2.remove([1, 2, 3])
        tx2.add(vectors_for(np.array([20])), ids=[20])
        raise Boom()
    assert tx2.state == "rolled_back" and tx2.result is None
    assert list(ix.ids()) == [1, 2, 3, 10] and ix.version == version
    # the block may end the transaction itself
    with ix.transaction() as tx3:
        tx3.add(vectors_for(np.array([30])), ids=[30])
        tx3.rollback()
    assert 30 not in ix
    with ix.transaction() as tx4:
        tx4.add(vectors_for(np.array([40])), ids=[40])
        tx4.commit()
    assert 40 in ix and tx4.state == "committed"
    # a commit that fails at the end of the block raises there
    ix.close()


@pytest.mark.parametrize("end", ["commit", "rollback", "closed"])
def test_an_ended_transaction_refuses_reuse(tmp_path: Path, end: str) -> None:
    ix = Index(DIM, path=tmp_path)
    tx = ix.transaction()
    tx.add(vectors_for(np.arange(2)))
    if end == "commit":
        tx.commit()
        match = "committed"
    elif end == "rollback":
        tx.rollback()
        match = "rolled back"
    else:
        ix.close()
        match = "closed"
    assert tx.state == ("committed" if end == "commit" else "rolled_back")
    for call in (
        lambda: tx.add(vectors_for(np.arange(1))),
        lambda: tx.remove([1]),
        lambda: len(tx),
        lambda: tx.commit(),
        lambda: tx.__enter__(),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    if end != "closed":
        with pytest.raises(ValueError, match=match):
            tx.rollback()
    assert "state=" in repr(tx)
    if end == "closed":
        # the open transaction was discarded: the directory is free again and
        # nothing of it was written
        with Index(DIM, path=tmp_path) as back:
            assert len(back) == 0
    else:
        ix.close()


def test_readers_never_see_half_a_transaction() -> None:
    ix = Index(DIM)
    a = np.arange(0, 200)
    b = np.arange(1000, 1300)
    c = np.arange(5000, 5050)  # only ever in rolled-back transactions
    ix.add(vectors_for(a), ids=a)
    states = (set(a.tolist()), set(b.tolist()))
    stop = threading.Event()
    seen: list[str] = []
    reads = [0]

    def reader() -> None:
        q = vectors_for(np.array([3]))
        while not stop.is_set():
            ids = set(ix.ids().tolist())
            n = len(ix)
            found, _ = ix.search(q, k=400, exact=True)
            got = set(found[0][found[0] >= 0].tolist())
            reads[0] += 1
            if ids not in states:
                seen.append(f"ids(): {len(ids)} ids, not one of the two states")
            if n not in (len(a), len(b)):
                seen.append(f"len() = {n}")
            if got not in states:
                seen.append(f"search saw {len(got)} ids, not one of the two states")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while reads[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        current, other = a, b
        for round_ in range(40):
            with ix.transaction() as tx:
                tx.remove(current)
                half = len(other) // 2
                tx.add(vectors_for(other[:half]), ids=other[:half])
                tx.add(vectors_for(other[half:]), ids=other[half:])
            current, other = other, current
            rolled = ix.transaction()
            rolled.remove(current)
            rolled.add(vectors_for(c), ids=c)
            rolled.rollback()
            if round_ % 8 == 0:
                time.sleep(0.005)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not seen, seen[:5]
    assert reads[0] > 0


def test_a_committed_transaction_survives_reopen_whole(tmp_path: Path) -> None:
    with Index(DIM, path=tmp_path) as ix:
        ix.add(vectors_for(np.arange(100)), ids=np.arange(100))
        with ix.transaction() as tx:
            tx.remove(np.arange(100))
            tx.add(vectors_for(np.arange(500, 650)), ids=np.arange(500, 650), metadata=meta_for(np.arange(500, 650)))
        uncommitted = ix.transaction()
        uncommitted.add(vectors_for(np.arange(3)), ids=[7000, 7001, 7002])
    assert uncommitted.state == "rolled_back"
    with Index(DIM, path=tmp_path) as back:
        assert list(back.ids()) == list(range(500, 650))
        assert back.get(600)[1] == meta_for(np.array([600]))[0]


TX_WRITER = r"""
import sys
import numpy as np
import sagevec

path, dim = sys.argv[1], int(sys.argv[2])
ix = sagevec.Index(dim, path=path)
ix.add(np.ones((100, dim), dtype=np.float32), ids=np.arange(100))
with ix.transaction() as tx:
    tx.remove(np.arange(100))
    for b in range(10):
        ids = np.arange(1000 + b * 100, 1100 + b * 100)
        tx.add(np.full((100, dim), 2.0, dtype=np.float32), ids=ids)
print("committed", flush=True)
import time; time.sleep(60)
"""


def test_a_committed_transaction_survives_kill_9_whole(tmp_path: Path) -> None:
    proc = run_child(TX_WRITER, tmp_path, DIM)
    expect_line(proc, "committed")
    kill(proc)
    with Index(DIM, path=tmp_path) as ix:
        assert list(ix.ids()) == list(range(1000, 2000))


def test_a_forked_child_may_read_a_durable_index_but_not_write(tmp_path: Path) -> None:
    ix = Index(DIM, path=tmp_path)
    ix.add(vectors_for(np.arange(50)))
    want, _ = ix.search(vectors_for(np.arange(3)), k=5, exact=True)
    pid = os.fork()
    if pid == 0:  # child: any exception or mismatch becomes a non-zero exit
        code = 1
        try:
            got, _ = ix.search(vectors_for(np.arange(3)), k=5, exact=True)
            assert np.array_equal(got, want)
            for write in (
                lambda: ix.add(vectors_for(np.arange(1))),
                lambda: ix.remove([0]),
                lambda: ix.checkpoint(),
                lambda: ix.transaction().commit(),
            ):
                try:
                    write()
                    raise AssertionError("a write from a forked child was accepted")
                except RuntimeError:
                    pass
            ix.close()  # leaves the parent's files alone
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    ix.add(vectors_for(np.arange(50, 60)))  # the parent goes on
    ix.close()
    with Index(DIM, path=tmp_path) as back:
        assert len(back) == 60


def test_exports() -> None:
    assert sagevec.Transaction is sagevec._native.Transaction
    assert "Transaction" in sagevec.__all__
