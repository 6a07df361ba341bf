//! The placement plan: a pure function from a [`Topology`] and a [`Policy`] to the
//! PUs that workers run on, node by node.
//!
//! Order of choice inside a node: physical cores before SMT siblings, and cores
//! spread round-robin over the node's L3 groups, so a thread cap keeps as much cache
//! as it can. A cap is spread evenly over nodes (counts differ by at most one unless
//! a node runs out of PUs; the spare goes to nodes that still have some).

use std::fmt;
use std::ops::Range;

use crate::error::SchedError;
use crate::pin::fmt_list;
use crate::topology::{Pu, Topology};

/// Environment variable capping the number of workers (`0` or empty: no cap).
pub const ENV_NUM_THREADS: &str = "SAGEVEC_NUM_THREADS";
/// Environment variable for pinning: `off`, `on` or `auto`.
pub const ENV_PIN: &str = "SAGEVEC_PIN";

/// Whether workers are pinned to their PU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pin {
    /// Pin when the placement spans two or more NUMA nodes: that is where pinning
    /// keeps memory local; on one node the OS scheduler is left free to balance.
    #[default]
    Auto,
    /// Always pin.
    On,
    /// Never pin (`SAGEVEC_PIN=off`).
    Off,
}

/// What to run workers on: which PUs per core, how many workers, which nodes.
///
/// The default is one worker per allowed physical core of every node, pinned when
/// there are several nodes. Build variations with the `with_*` methods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Use every allowed PU (SMT siblings too) instead of one per physical core.
    pub smt: bool,
    /// Cap on the total number of workers, spread evenly over nodes (`None`: no cap).
    /// A cap never adds workers beyond the chosen PUs.
    pub max_threads: Option<usize>,
    /// Only these NUMA nodes (OS indices); `None`: every node with an allowed PU.
    pub nodes: Option<Vec<usize>>,
    /// Pinning.
    pub pin: Pin,
}

impl Policy {
    /// The default policy with `SAGEVEC_NUM_THREADS` and `SAGEVEC_PIN` applied.
    pub fn from_env() -> Result<Policy, SchedError> {
        Policy::default().with_env()
    }

    /// This policy with `SAGEVEC_NUM_THREADS` and `SAGEVEC_PIN` applied where set:
    /// the environment overrides what the program chose.
    pub fn with_env(self) -> Result<Policy, SchedError> {
        self.with_vars(|k| std::env::var(k).ok())
    }

    /// Applies overrides read through `get` (the environment, or a map in tests).
    pub(crate) fn with_vars(
        mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Policy, SchedError> {
        if let Some(v) = get(ENV_NUM_THREADS) {
            let t = v.trim();
            if !t.is_empty() {
                let n: usize = t.parse().map_err(|_| SchedError::Env {
                    var: ENV_NUM_THREADS,
                    value: v.clone(),
                    expected: "a non-negative integer (0: no cap)",
                })?;
                self.max_threads = (n > 0).then_some(n);
            }
        }
        if let Some(v) = get(ENV_PIN) {
            self.pin = match v.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => Pin::Auto,
                "on" | "1" | "true" | "yes" => Pin::On,
                "off" | "0" | "false" | "no" => Pin::Off,
                _ => {
                    return Err(SchedError::Env {
                        var: ENV_PIN,
                        value: v,
                        expected: "off, on or auto",
                    });
                }
            };
        }
        Ok(self)
    }

    /// Every allowed PU (`true`) or one per physical core (`false`, the default).
    pub fn with_smt(mut self, smt: bool) -> Policy {
        self.smt = smt;
        self
    }

    /// At most `n` workers in all (`0` is refused by [`plan`]).
    pub fn with_max_threads(mut self, n: usize) -> Policy {
        self.max_threads = Some(n);
        self
    }

    /// Only these NUMA nodes (OS indices).
    pub fn with_nodes(mut self, nodes: impl IntoIterator<Item = usize>) -> Policy {
        self.nodes = Some(nodes.into_iter().collect());
        self
    }

    /// Pinning mode.
    pub fn with_pin(mut self, pin: Pin) -> Policy {
        self.pin = pin;
        self
    }
}

/// One worker: the PU it was planned on and the real CPU it is pinned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Worker {
    /// The PU (OS index in the topology; synthetic on a synthetic topology).
    pub pu: usize,
    /// Its physical core (dense id, see [`Pu::core`]).
    pub core: usize,
    /// The real CPU this worker runs on when pinned: `pu` itself on a real topology,
    /// the process's allowed CPUs round-robin on a synthetic one.
    pub cpu: usize,
}

/// The workers of one NUMA node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodePlan {
    /// OS index of the NUMA node.
    pub node: usize,
    /// Package of the node's first worker.
    pub package: usize,
    /// Workers in PU order; worker `i` becomes thread `sagevec-n{node}-w{i}`.
    pub workers: Vec<Worker>,
}

/// The result of [`plan`]: per node, which PUs run workers, and whether they are pinned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    nodes: Vec<NodePlan>,
    pinned: bool,
    smt: bool,
    source: String,
    synthetic: bool,
    skipped: Vec<(usize, &'static str)>,
}

impl Placement {
    /// The nodes that run workers (every one has at least one), in node order.
    /// Node *indices* elsewhere in the API index this slice.
    pub fn nodes(&self) -> &[NodePlan] {
        &self.nodes
    }

    /// Number of nodes that run workers.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Total number of workers.
    pub fn n_threads(&self) -> usize {
        self.nodes.iter().map(|n| n.workers.len()).sum()
    }

    /// Whether workers are pinned to their CPU.
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// Splits `0..len` into one contiguous range per node (by node index, possibly
    /// empty), sized in proportion to the node's workers; together they cover every
    /// item exactly once.
    pub fn split_range(&self, len: usize) -> Vec<(usize, Range<usize>)> {
        let counts: Vec<usize> = self.nodes.iter().map(|n| n.workers.len()).collect();
        split_proportional(len, &counts)
    }
}

/// Splits `0..len` in proportion to `weights`: boundary `i` is
/// `len * (w_0 + … + w_{i-1}) / total`, so every range is within one item of its share.
pub(crate) fn split_proportional(len: usize, weights: &[usize]) -> Vec<(usize, Range<usize>)> {
    let total: u128 = weights.iter().map(|&w| w as u128).sum();
    if total == 0 {
        return weights.iter().enumerate().map(|(i, _)| (i, 0..0)).collect();
    }
    let mut acc = 0u128;
    let mut start = 0usize;
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            acc += w as u128;
            let end = (len as u128 * acc / total) as usize;
            let r = (i, start..end);
            start = end;
            r
        })
        .collect()
}

/// Plans workers for `policy` on `topo`. Pure: the same inputs give the same plan.
///
/// Errors if the policy names a node the topology lacks, asks for zero threads, or
/// leaves no allowed PU.
pub fn plan(topo: &Topology, policy: &Policy) -> Result<Placement, SchedError> {
    let all_nodes = topo.nodes();
    let nodes: Vec<usize> = match &policy.nodes {
        None => all_nodes.clone(),
        Some(want) => {
            if want.is_empty() {
                return Err(SchedError::Plan("the node list is empty".into()));
            }
            if let Some(bad) = want.iter().find(|n| !all_nodes.contains(n)) {
                return Err(SchedError::Plan(format!(
                    "node {bad} is not in the topology (nodes: {})",
                    fmt_list(&all_nodes)
                )));
            }
            all_nodes
                .iter()
                .copied()
                .filter(|n| want.contains(n))
                .collect()
        }
    };
    if policy.max_threads == Some(0) {
        return Err(SchedError::Plan(
            "a thread cap of 0 leaves no worker".into(),
        ));
    }

    let mut skipped = Vec::new();
    let mut candidates: Vec<(usize, Vec<&Pu>)> = Vec::new();
    for &node in &nodes {
        let c = node_candidates(topo, node, policy.smt);
        if c.is_empty() {
            skipped.push((node, "no allowed PU"));
        } else {
            candidates.push((node, c));
        }
    }
    if candidates.is_empty() {
        return Err(SchedError::Plan(format!(
            "no allowed PU on node(s) {}",
            fmt_list(&nodes)
        )));
    }

    let caps: Vec<usize> = candidates.iter().map(|(_, c)| c.len()).collect();
    let total = policy
        .max_threads
        .map_or(usize::MAX, |m| m)
        .min(caps.iter().sum());
    let counts = spread(total, &caps);

    let mut plans = Vec::new();
    let mut global = 0usize;
    let host = topo.host_cpus();
    for ((node, cands), count) in candidates.into_iter().zip(counts) {
        if count == 0 {
            skipped.push((node, "thread cap reached"));
            continue;
        }
        let mut chosen: Vec<&Pu> = cands.into_iter().take(count).collect();
        chosen.sort_by_key(|p| p.os);
        let workers = chosen
            .iter()
            .map(|p| {
                let cpu = if topo.is_synthetic() {
                    host.get(global % host.len().max(1)).copied().unwrap_or(0)
                } else {
                    p.os
                };
                global += 1;
                Worker {
                    pu: p.os,
                    core: p.core,
                    cpu,
                }
            })
            .collect();
        plans.push(NodePlan {
            node,
            package: chosen[0].package,
            workers,
        });
    }
    skipped.sort_unstable();
    let pinned = match policy.pin {
        Pin::On => true,
        Pin::Off => false,
        Pin::Auto => plans.len() >= 2,
    };
    Ok(Placement {
        nodes: plans,
        pinned,
        smt: policy.smt,
        source: topo.source().to_string(),
        synthetic: topo.is_synthetic(),
        skipped,
    })
}

/// The allowed PUs of `node` in the order workers take them: the first allowed PU
/// of every core before any second sibling (only first ones unless `smt`), and
/// within a round, cores alternating over L3 groups.
fn node_candidates(topo: &Topology, node: usize, smt: bool) -> Vec<&Pu> {
    let mut allowed: Vec<&Pu> = topo
        .pus()
        .iter()
        .filter(|p| p.node == node && p.allowed)
        .collect();
    allowed.sort_by_key(|p| p.os);
    // Rank among the *allowed* siblings: a core whose first PU is masked out still
    // gets a worker on its second.
    let mut seen_per_core = std::collections::HashMap::new();
    let ranked: Vec<(usize, &Pu)> = allowed
        .into_iter()
        .map(|p| {
            let r = seen_per_core.entry(p.core).or_insert(0usize);
            *r += 1;
            (*r - 1, p)
        })
        .filter(|(rank, _)| smt || *rank == 0)
        .collect();
    // Position within (rank, L3 group), to alternate groups round-robin.
    let mut seen_per_group = std::collections::HashMap::new();
    // Sort key: (sibling rank, position in its L3 group, L3 group, OS index).
    type Key = (usize, usize, usize, usize);
    let mut keyed: Vec<(Key, &Pu)> = ranked
        .into_iter()
        .map(|(rank, p)| {
            let group = p.l3.map_or(0, |g| g + 1);
            let pos = seen_per_group.entry((rank, group)).or_insert(0usize);
            *pos += 1;
            ((rank, *pos - 1, group, p.os), p)
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, p)| p).collect()
}

/// Spreads `total` workers over nodes with capacities `caps`: even shares, the
/// remainder to the first nodes, and what a full node cannot take to the others.
fn spread(total: usize, caps: &[usize]) -> Vec<usize> {
    let mut counts = vec![0usize; caps.len()];
    let mut left = total.min(caps.iter().sum());
    while left > 0 {
        let open: Vec<usize> = (0..caps.len()).filter(|&i| counts[i] < caps[i]).collect();
        let share = left / open.len();
        if share == 0 {
            for &i in open.iter().take(left) {
                counts[i] += 1;
            }
            break;
        }
        for &i in &open {
            let add = share.min(caps[i] - counts[i]);
            counts[i] += add;
            left -= add;
        }
    }
    counts
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "placement: {} worker(s) on {} NUMA node(s), {}, {}",
            self.n_threads(),
            self.n_nodes(),
            if self.smt {
                "every PU (SMT)"
            } else {
                "one per physical core"
            },
            if self.pinned { "pinned" } else { "not pinned" },
        )?;
        write!(f, "\n  topology: {}", self.source)?;
        if self.synthetic {
            write!(f, "; synthetic PUs map round-robin onto real CPUs")?;
        }
        for n in &self.nodes {
            let pus: Vec<usize> = n.workers.iter().map(|w| w.pu).collect();
            let cpus: Vec<usize> = n.workers.iter().map(|w| w.cpu).collect();
            write!(
                f,
                "\n  node {} (package {}): {} worker(s) on PU {}",
                n.node,
                n.package,
                n.workers.len(),
                fmt_list(&pus)
            )?;
            if self.synthetic {
                write!(f, " -> CPU {}", fmt_list(&cpus))?;
            }
        }
        for (node, why) in &self.skipped {
            write!(f, "\n  node {node}: no workers ({why})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn spread_is_even_and_respects_caps() {
        assert_eq!(spread(8, &[4, 4]), [4, 4]);
        assert_eq!(spread(5, &[4, 4]), [3, 2]);
        assert_eq!(spread(7, &[1, 8, 8]), [1, 3, 3]);
        assert_eq!(spread(1, &[4, 4, 4]), [1, 0, 0]);
        assert_eq!(spread(100, &[2, 3]), [2, 3]);
        assert_eq!(spread(0, &[2, 3]), [0, 0]);
    }

    #[test]
    fn split_covers_every_item_once_in_proportion() {
        for weights in [&[1usize][..], &[2, 2], &[3, 1], &[1, 2, 3, 4], &[5, 0, 5]] {
            for len in [0usize, 1, 2, 3, 7, 10, 99, 1000, 12345] {
                let parts = split_proportional(len, weights);
                assert_eq!(parts.len(), weights.len());
                let mut next = 0;
                let total: usize = weights.iter().sum();
                for (i, (node, r)) in parts.iter().enumerate() {
                    assert_eq!(*node, i);
                    assert_eq!(r.start, next, "contiguous: {weights:?} {len}");
                    next = r.end;
                    let share = len as f64 * weights[i] as f64 / total as f64;
                    assert!(
                        (r.len() as f64 - share).abs() < 1.0 + 1e-9,
                        "{weights:?} {len}"
                    );
                }
                assert_eq!(next, len);
            }
        }
    }

    #[test]
    fn env_overrides_parse() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            let m: HashMap<&str, &str> = pairs.iter().copied().collect();
            move |k: &str| m.get(k).map(|v| v.to_string())
        };
        let p = Policy::default()
            .with_vars(vars(&[(ENV_NUM_THREADS, "3"), (ENV_PIN, "OFF")]))
            .unwrap();
        assert_eq!((p.max_threads, p.pin), (Some(3), Pin::Off));
        let p = Policy::default()
            .with_max_threads(5)
            .with_vars(vars(&[(ENV_NUM_THREADS, "0"), (ENV_PIN, "on")]))
            .unwrap();
        assert_eq!((p.max_threads, p.pin), (None, Pin::On));
        let p = Policy::default()
            .with_max_threads(5)
            .with_vars(vars(&[]))
            .unwrap();
        assert_eq!(p.max_threads, Some(5));
        assert!(
            Policy::default()
                .with_vars(vars(&[(ENV_NUM_THREADS, "-1")]))
                .is_err()
        );
        assert!(
            Policy::default()
                .with_vars(vars(&[(ENV_PIN, "sometimes")]))
                .is_err()
        );
    }
}
