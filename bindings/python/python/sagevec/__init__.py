"""sagevec: fast, thread-safe CPU vector search.

Today the package carries the distance kernels (:mod:`sagevec.kernels`): runtime-
dispatched SIMD (scalar, AVX2+FMA, AVX-512), exact batch search on every core, and
the ISA report, and :func:`topology` (the placement plan worker pools use). Every call that computes releases the GIL.
"""

from sagevec import kernels
from sagevec._native import __version__, topology
from sagevec.kernels import active_isa, available_isas

__all__ = ["__version__", "active_isa", "available_isas", "kernels", "topology"]
