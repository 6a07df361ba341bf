//! NUMA-aware scheduling for sagevec: topology -> placement plan -> pinned
//! per-node rayon pools. The crate knows nothing of vectors.
//!
//! | piece | what it does |
//! |---|---|
//! | [`Topology`] | packages, NUMA nodes, L3 groups, cores, PUs and the allowed CPUs, from hwloc (feature `hwloc`), Linux sysfs, or a synthetic description (`SAGEVEC_TOPOLOGY`); [`Topology::source`] says which and why |
//! | [`plan`] | pure: a [`Topology`] and a [`Policy`] give a [`Placement`] (which PUs run workers, per node); `Display` is what `sagevec info` prints |
//! | [`NumaPool`] | one rayon pool per node, workers `sagevec-n{node}-w{i}` pinned to their CPU; `install`, `scope`, `broadcast`, `split_range`; rebuilt lazily after `fork()` |
//! | [`NodeBuffer`] | raw 64-byte-aligned bytes first-touched by a node's pinned workers |
//! | [`Par`] | parallelism as an argument: `Par::Seq` or `Par::Pool(&NumaPool)` |
//!
//! Environment overrides: `SAGEVEC_NUM_THREADS` (cap on workers, spread evenly over
//! nodes; `0` = no cap), `SAGEVEC_PIN=off|on|auto` (auto pins when the plan spans
//! two or more nodes), `SAGEVEC_TOPOLOGY` (a synthetic topology such as
//! `pack:2 numa:1 l3:1 core:4 pu:2`, whose PUs are pinned round-robin onto the real
//! allowed CPUs, so multi-socket plans run on a one-socket machine).
//!
//! Nothing here builds rayon's global pool.
//!
//! ```
//! use sagevec_scheduler::{NumaPool, Par, Policy, Topology, plan};
//!
//! // Two sockets of 4 cores x 2 SMT threads, whatever this machine is.
//! let topo = Topology::synthetic("pack:2 numa:1 l3:1 core:4 pu:2")?;
//! let placement = plan(&topo, &Policy::default().with_max_threads(4))?;
//! assert_eq!(placement.n_nodes(), 2);
//! assert!(placement.pinned());
//! println!("{placement}");
//!
//! let pool = NumaPool::new(placement)?;
//! // Each node sums its share of 0..1000 on its own workers.
//! let sums = Par::Pool(&pool).broadcast_range(1000, |_node, range| range.sum::<usize>());
//! assert_eq!(sums.iter().sum::<usize>(), 999 * 1000 / 2);
//! # Ok::<(), sagevec_scheduler::SchedError>(())
//! ```

mod buffer;
mod error;
mod fork;
mod generational;
#[cfg(feature = "hwloc")]
mod hwloc;
mod par;
mod pin;
mod plan;
mod pool;
mod primitive;
mod sysfs;
mod topology;

pub use buffer::{ALIGN, MMAP_MIN, NodeBuffer};
pub use error::SchedError;
pub use par::Par;
pub use pin::{current_thread_cpus, process_cpus};
pub use plan::{ENV_NUM_THREADS, ENV_PIN, NodePlan, Pin, Placement, Policy, Worker, plan};
pub use pool::{BACKGROUND_NICE, NumaPool};
pub use topology::{ENV_TOPOLOGY, Pu, Source, Topology};

/// rayon, re-exported so callers use the version the pools are built with
/// (for `rayon::Scope` in [`NumaPool::scope`] and parallel iterators inside `install`).
pub use rayon;
