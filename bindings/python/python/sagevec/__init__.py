"""sagevec: fast, thread-safe CPU vector search.

- :class:`Index`: a concurrent vector index, in memory or durable in a
  directory (``path=``), or read-only (``path=..., read_only=True``). Share one
  between any number of Python threads with no lock: readers never wait, writes
  are serialised inside, and the GIL is released while it computes or waits.
  numpy in, numpy out. ``index.save(dir)`` / ``Index.load(dir)`` copy a
  snapshot to and from a directory. Ctrl-C stops a long batch call.
- :class:`Transaction` (``index.transaction()``): adds and removes made visible
  together at commit.
- :mod:`sagevec.kernels`: runtime-dispatched SIMD distance kernels (scalar,
  AVX2+FMA, AVX-512), exact batch search on every core, and the ISA report.
- :func:`topology`: the placement plan worker pools use.
- :mod:`sagevec.compat`: ``SageDB`` / ``SageDBService`` look-alikes for
  pipelines written against the SageDB service API.

Distances everywhere: smaller is closer (``"l2"`` squared Euclidean, ``"ip"``
negative dot product, ``"cosine"`` 1 - cos).
"""

from sagevec import compat, kernels
from sagevec._native import Index, Transaction, __version__, topology
from sagevec.kernels import active_isa, available_isas

__all__ = ["Index", "Transaction", "__version__", "active_isa", "available_isas", "compat", "kernels", "topology"]
