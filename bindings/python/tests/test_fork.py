"""A forked child (multiprocessing's default start method on Linux) can search:
the worker pool built in the parent has no threads in the child and is rebuilt
there on first use instead of deadlocking."""

from __future__ import annotations

import os
import time

import numpy as np
from sagevec import kernels


def test_knn_in_a_forked_child_after_the_parent_built_its_pools() -> None:
    rng = np.random.default_rng(6)
    base = rng.standard_normal((3_000, 32)).astype(np.float32)
    queries = rng.standard_normal((50, 32)).astype(np.float32)
    want_ids, _ = kernels.knn(queries, base, k=5)  # builds the process-wide pool
    kernels.knn(queries, base, k=5, threads=1)  # and a capped one
    pid = os.fork()
    if pid == 0:  # child: any exception or mismatch becomes a non-zero exit
        code = 1
        try:
            for threads in (None, 1):
                ids, _ = kernels.knn(queries, base, k=5, threads=threads)
                if not np.array_equal(ids, want_ids):
                    raise AssertionError("different results in the child")
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
            raise AssertionError("the forked child hung (pool not rebuilt after fork?)")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
