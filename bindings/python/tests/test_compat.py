"""sagevec.compat: the SageDB / SageDBService look-alikes behave as documented."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import sagevec
from sagevec.compat import DatabaseConfig, QueryResult, SageDB, SageDBService, SearchParams


def test_sagedb_add_search_and_properties() -> None:
    db = SageDB.from_config(DatabaseConfig(4))
    assert (db.size, db.dimension, db.index_version) == (0, 4, 0)
    assert isinstance(db.index, sagevec.Index)
    for uid in range(5):
        assert db.add(np.arange(4, dtype=np.float32) + uid, {"tag": "demo", "uid": str(uid)}) == uid
    assert db.size == 5 and db.index_version == 5
    res = db.search(np.array([0, 1, 2, 3], dtype=np.float32), k=3)
    assert [r.id for r in res] == [0, 1, 2]
    assert [r.score for r in res] == [0.0, 4.0, 16.0]  # squared L2: smaller is closer
    assert res[1].metadata == {"tag": "demo", "uid": "1"}
    want = {"id": 1, "score": 4.0, "metadata": res[1].metadata}
    assert res[1]["score"] == 4.0 and dict(res[1]) == res[1].to_dict() == want
    # the mapping's key order is the record's field order (what keys(), iter and dict(r) give)
    assert res[1].keys() == list(res[1]) == list(dict(res[1])) == list(res[1].to_dict()) == ["id", "score", "metadata"]
    assert res[0] == QueryResult(0, 0.0, {"tag": "demo", "uid": "0"})
    assert [r.metadata for r in db.search([0, 1, 2, 3], k=2, include_metadata=False)] == [{}, {}]
    assert len(db.search([0, 1, 2, 3], k=50)) == 5  # no padding
    assert db.get_metadata(2) == {"tag": "demo", "uid": "2"} and db.get_metadata(99) is None
    assert db.stats() == {"size": 5, "dimension": 4, "index_version": 5}


def test_sagedb_batches() -> None:
    db = SageDB(3)
    ids = db.add_batch(np.eye(3, dtype=np.float32), [{"i": 0}, {"i": 1}, {"i": 2}])
    assert ids == [0, 1, 2] and db.size == 3 and db.index_version == 1
    assert db.add_batch([[1.0, 1.0, 1.0]]) == [3]
    rows = db.batch_search(np.eye(3), SearchParams(k=2, include_metadata=True))
    assert len(rows) == 3 and [r[0].id for r in rows] == [0, 1, 2]
    assert rows[2][0].metadata == {"i": 2} and rows[0][1].id == 1  # ties (2.0) go to the smaller id
    rows = db.batch_search(np.eye(3)[:1], SearchParams(2, False))
    assert rows[0][0].metadata == {}
    assert len(db.batch_search(np.eye(3))[0]) == 4  # default SearchParams: k=10
    assert db.remove([0, 7]) == 1 and db.size == 3
    assert db.search_with_params([1, 0, 0], SearchParams(1))[0].id != 0


def test_sagedb_errors() -> None:
    db = SageDB(DatabaseConfig(3, "cosine"))
    with pytest.raises(ValueError):
        db.add(np.ones((2, 3)))
    with pytest.raises(ValueError):
        db.add_batch(np.ones(3))
    with pytest.raises(ValueError):
        db.add(np.zeros(3))  # cosine refuses a zero vector
    with pytest.raises(ValueError):
        db.search(np.ones((2, 3)))
    with pytest.raises(ValueError):
        db.search(np.ones(4))
    assert db.size == 0


def test_service_returns_plain_dicts() -> None:
    svc = SageDBService(4)
    assert svc.add([1, 0, 0, 0], {"name": "a"}) == 0
    assert svc.add_batch([[0, 1, 0, 0], [0, 0, 1, 0]], [{"name": "b"}, {"name": "c"}]) == [1, 2]
    hits = svc.search([1, 0, 0, 0], k=2)
    assert hits == [
        {"id": 0, "score": 0.0, "metadata": {"name": "a"}},
        {"id": 1, "score": 2.0, "metadata": {"name": "b"}},
    ]
    assert all(type(h) is dict for h in hits)
    assert svc.search([1, 0, 0, 0], k=1, include_metadata=False) == [{"id": 0, "score": 0.0, "metadata": {}}]
    batch = svc.batch_search([[1, 0, 0, 0], [0, 0, 1, 0]], k=1)
    assert batch == [
        [{"id": 0, "score": 0.0, "metadata": {"name": "a"}}],
        [{"id": 2, "score": 0.0, "metadata": {"name": "c"}}],
    ]
    assert svc.stats() == {"size": 3, "dimension": 4, "index_version": 2}
    assert svc.remove([1]) == 1 and svc.stats()["size"] == 2 and svc.stats()["index_version"] == 3
    with pytest.raises(ValueError, match=r"\(4,\)"):
        svc.add([1, 2, 3])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        svc.add_batch([1, 2, 3, 4])
    assert SageDBService(2, "HNSW", metric="ip").db.index.metric == "ip"


def test_service_from_threads_without_a_lock() -> None:
    svc = SageDBService(8)
    errors: list = []

    def work(w: int) -> None:
        try:
            for j in range(30):
                v = np.full(8, w * 100 + j + 1, dtype=np.float32)
                i = svc.add(v, {"w": w})
                assert svc.search(v, k=1)[0]["id"] == i
                svc.batch_search(np.stack([v, v]), k=3)
                svc.stats()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and svc.stats()["size"] == 240
