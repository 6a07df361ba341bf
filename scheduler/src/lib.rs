//! NUMA-aware scheduler (work in progress).
