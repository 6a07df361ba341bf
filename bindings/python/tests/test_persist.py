"""save / load and read-only opening.

- ``index.save(path)``: a self-contained copy of the current snapshot in a new
  (absent or empty) directory.
- ``Index.load(path)``: reads such a directory (or a durable index's, even one
  being written: no lock) into memory; dim and metric come from the files.
- ``Index(dim, metric, path=p, read_only=True)``: reads a directory as it is
  now, without a lock, even while another index has it open for writing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sagevec import Index

DIM = 12


def data(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def meta_of(i: int) -> dict | None:
    return None if i % 3 == 0 else {"i": int(i), "even": i % 2 == 0, "tag": f"t{i % 5}", "x": i / 4}


def filled(metric: str = "l2", **kwargs: object) -> Index:
    """An index of a bulk add and single adds, with removed ids, an upsert and metadata."""
    ix = Index(DIM, metric, **kwargs)
    x = data(1_700)
    ids = np.arange(0, 3_400, 2)
    ix.add(x[:1_600], ids=ids[:1_600], metadata=[meta_of(int(i)) for i in ids[:1_600]])
    for row, i in zip(x[1_600:], ids[1_600:]):
        ix.add(row, ids=[int(i)], metadata=meta_of(int(i)))
    ix.add(x[0], ids=[int(ids[5])], metadata=meta_of(int(ids[5])))  # an upsert
    ix.remove(ids[::7])
    ix.wait_for_builds()
    return ix


def files_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.name != "LOCK"}


def assert_same_index(a: Index, b: Index, queries: np.ndarray) -> None:
    assert (a.dim, a.metric, len(a)) == (b.dim, b.metric, len(b))
    ids = a.ids()
    np.testing.assert_array_equal(ids, b.ids())
    for i in ids[:: max(1, len(ids) // 200)]:
        va, ma = a.get(int(i))
        vb, mb = b.get(int(i))
        np.testing.assert_array_equal(va, vb)
        assert ma == mb and (ma is None or type(ma.get("i")) is int)
    for exact in (True, False):
        ia, da = a.search(queries, k=8, exact=exact)
        ib, db = b.search(queries, k=8, exact=exact)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(da, db)
    fa = a.search(queries[:5], k=4, filter={"tag": "t1"}, include_metadata=True)
    fb = b.search(queries[:5], k=4, filter={"tag": "t1"}, include_metadata=True)
    np.testing.assert_array_equal(fa[0], fb[0])
    assert fa[2] == fb[2]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_save_load_round_trip(tmp_path: Path, metric: str) -> None:
    ix = filled(metric)
    saved = tmp_path / "saved"
    ix.save(saved)
    assert (saved / "MANIFEST").is_file()
    back = Index.load(saved)  # dim and metric from the files
    assert back.path is None and not back.read_only and back.durability is None
    assert_same_index(ix, back, data(40, seed=9))
    # The graph came with the files (its links, not a rebuild: the graph searches
    # above returned the same rows), removed slots included.
    assert back.stats()["graph"] == ix.stats()["graph"]
    # In memory and writable; auto ids go on after the largest ever used.
    before = files_of(saved)
    new = back.add(data(2, seed=3))
    assert new.tolist() == [3_398 + 1, 3_398 + 2]
    back.remove([2])
    assert files_of(saved) == before  # later writes are not logged
    assert len(ix) == len(back) - 1  # the original is untouched
    # Explicit dim/metric are checked against the files.
    again = Index.load(str(saved), DIM, metric, ef_search=80, threads=1)
    assert again.ef_search == 80 and again.threads == 1 and len(again) == len(ix)
    with pytest.raises(OSError, match="dimension"):
        Index.load(saved, DIM + 1)
    other = "l2" if metric != "l2" else "ip"
    with pytest.raises(OSError, match="metric"):
        Index.load(saved, metric=other)


def test_save_and_load_an_empty_index(tmp_path: Path) -> None:
    Index(DIM, "cosine").save(tmp_path / "e")
    back = Index.load(tmp_path / "e")
    assert (len(back), back.dim, back.metric) == (0, DIM, "cosine")
    ids, dist = back.search(data(1)[0], k=3)
    assert ids.tolist() == [-1, -1, -1] and np.isinf(dist).all()


def test_save_needs_an_absent_or_empty_directory(tmp_path: Path) -> None:
    ix = filled()
    empty = tmp_path / "empty"
    empty.mkdir()
    ix.save(empty)  # empty: fine
    with pytest.raises(OSError, match="not empty") as info:
        ix.save(empty)  # now it holds an index
    assert isinstance(info.value, FileExistsError) and info.value.filename == str(empty)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        ix.save(other)
    assert [p.name for p in other.iterdir()] == ["notes.txt"]  # nothing written
    with pytest.raises(TypeError, match="path"):
        ix.save(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        ix.save("")
    ix.close()
    with pytest.raises(ValueError, match="closed"):
        ix.save(tmp_path / "late")


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no sagevec index"):
        Index.load(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()  # and nothing was created
    with pytest.raises(FileNotFoundError):
        Index.load(tmp_path)  # a directory without an index
    assert list(tmp_path.iterdir()) == []
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "MANIFEST").write_bytes(b"not a manifest at all")
    with pytest.raises(OSError, match="MANIFEST"):
        Index.load(bad)
    with pytest.raises(OSError, match="corrupt|magic"):
        Index.load(bad, DIM, "l2")  # with dim given, the index names the problem
    with pytest.raises(TypeError):
        Index.load(None)  # type: ignore[arg-type]


def test_durable_and_read_only_indexes_save_and_load(tmp_path: Path) -> None:
    live = tmp_path / "live"
    with Index(DIM, path=live) as w:
        w.add(data(1_000), metadata=[meta_of(i) for i in range(1_000)])
        w.remove([5, 6])
        w.save(tmp_path / "copy")  # a durable index saves like any other
        queries = data(20, seed=4)
        # Loading takes no lock either: a copy of what the files hold now.
        snap = Index.load(live)
        assert len(snap) == 998 and snap.path is None
        snap.add(data(1, seed=8))  # in memory: the writer's files are untouched
        assert len(w) == 998
        ro = Index(DIM, path=live, read_only=True)
        ro.save(tmp_path / "copy2")
        ro.close()
        want_ids, want_dist = w.search(queries, k=5, exact=True)
    for saved in ("copy", "copy2"):
        back = Index.load(tmp_path / saved)
        assert len(back) == 998
        ids, dist = back.search(queries, k=5, exact=True)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(dist, want_dist)
    closed = Index.load(live)  # a closed durable index's directory loads too
    assert len(closed) == 998 and closed.path is None


def test_read_only_while_another_index_writes(tmp_path: Path) -> None:
    path = tmp_path / "kb"
    w = Index(DIM, "cosine", path=path)
    x = data(700)
    w.add(x[:500], metadata=[meta_of(i) for i in range(500)])
    w.checkpoint()  # row blocks, links and a new log
    w.add(x[500:600])  # and writes only in the log
    w.remove([1, 2])

    ro = Index(DIM, "cosine", path=path, read_only=True)
    assert ro.read_only and not w.read_only
    assert ro.path == str(path) and ro.durability is None and ro.sync_interval_ms is None
    assert "read_only=True" in repr(ro)
    # It sees every acknowledged write so far, log included.
    np.testing.assert_array_equal(ro.ids(), w.ids())
    q = data(15, seed=5)
    np.testing.assert_array_equal(ro.search(q, k=6, exact=True)[0], w.search(q, k=6, exact=True)[0])
    assert ro.get(3)[1] == meta_of(3)
    # Writes are refused with OSError, and change nothing.
    for write in (
        lambda: ro.add(x[600]),
        lambda: ro.add(x[600:610], ids=np.arange(9_000, 9_010)),
        lambda: ro.remove([0]),
        lambda: ro.transaction(),
        lambda: ro.checkpoint(),
    ):
        with pytest.raises(OSError, match="read-only"):
            write()
    assert len(ro) == 598
    # The writer goes on; the reader keeps the state it opened.
    w.add(x[600:])
    assert len(w) == 698 and len(ro) == 598
    ro.compact()  # in-memory housekeeping is allowed
    ro.wait_for_builds()
    assert len(ro) == 598
    # The reader took no lock and wrote nothing; the writer's lock still holds.
    with pytest.raises(OSError, match="locked"):
        Index(DIM, "cosine", path=path)
    ro.close()
    w.close()
    with Index(DIM, "cosine", path=path) as again:
        assert len(again) == 698


def test_read_only_changes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "kb"
    with Index(DIM, path=path) as w:
        w.add(data(100))
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in path.iterdir()}
    with Index(DIM, path=path, read_only=True) as ro:
        assert len(ro) == 100
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in path.iterdir()}
    assert after == before


def test_read_only_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read_only.*path"):
        Index(DIM, read_only=True)
    with pytest.raises(ValueError, match="durability"):
        Index(DIM, path=tmp_path / "x", read_only=True, durability="off")
    with pytest.raises(ValueError, match="checkpoint_bytes"):
        Index(DIM, path=tmp_path / "x", read_only=True, checkpoint_bytes=1 << 20)
    with pytest.raises(OSError):
        Index(DIM, path=tmp_path / "nothing-here", read_only=True)
    assert not (tmp_path / "nothing-here").exists()
    with Index(DIM, path=tmp_path / "kb") as w:
        w.add(data(3))
    with pytest.raises(OSError, match="dimension"):
        Index(DIM + 1, path=tmp_path / "kb", read_only=True)
    assert not Index(DIM).read_only


def test_read_only_from_another_process_while_this_one_writes(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "kb"
    with Index(DIM, path=path) as w:
        w.add(data(250))
        code = (
            "import sys, sagevec\n"
            f"ix = sagevec.Index({DIM}, path=sys.argv[1], read_only=True)\n"
            "print(len(ix))\n"
            "try:\n"
            "    ix.add([0.0] * %d)\n"
            "except OSError:\n"
            "    print('refused')\n" % DIM
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["250", "refused"]
