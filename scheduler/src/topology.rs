//! Machine topology: packages, NUMA nodes, L3 groups, cores and PUs, plus the
//! process's allowed CPUs, read from hwloc, Linux sysfs, or a synthetic description.
//!
//! Every source goes through one normaliser ([`Topology::from_raw`]), so packages,
//! L3 groups and cores get dense ids in the order of their lowest PU whatever the
//! source: the hwloc and sysfs readers of one machine give equal topologies, and a
//! synthetic description gives the same topology through hwloc or the built-in parser.

use std::collections::HashMap;
use std::fmt;

use crate::error::SchedError;
use crate::pin::{fmt_list, process_cpus};

/// Environment variable naming a synthetic topology (hwloc's synthetic syntax).
pub const ENV_TOPOLOGY: &str = "SAGEVEC_TOPOLOGY";

/// One processing unit (hardware thread) of a [`Topology`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pu {
    /// OS index: the Linux CPU number on a real topology, the PU's logical index
    /// on a synthetic one (such PUs need not exist on this machine).
    pub os: usize,
    /// OS index of the NUMA node that holds this PU.
    pub node: usize,
    /// Package (socket), a dense index numbered in order of each package's lowest PU.
    pub package: usize,
    /// L3 cache group, dense like `package`; `None` where no L3 is reported.
    pub l3: Option<usize>,
    /// Physical core, dense across the machine like `package`.
    pub core: usize,
    /// Position among the SMT siblings of its core, by OS index (0 for the first).
    pub smt_rank: usize,
    /// Whether the process may run here (taskset mask, cgroup cpuset).
    pub allowed: bool,
}

/// Where a [`Topology`] came from, and why a fallback happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// Read by hwloc from this machine.
    Hwloc {
        /// API version of the loaded hwloc (`hwloc_get_api_version`), e.g. `2.8.0`
        /// for hwloc 2.9, whose API did not change.
        api: String,
    },
    /// Read from Linux sysfs.
    Sysfs {
        /// Why hwloc was not used (feature off, or hwloc failed).
        why: String,
    },
    /// Built from a synthetic description, not from this machine.
    Synthetic {
        /// The description, e.g. `pack:2 numa:1 l3:1 core:4 pu:2`.
        description: String,
        /// `"hwloc"` or `"built-in"` (the parser used without the `hwloc` feature).
        parser: &'static str,
    },
    /// Neither hwloc nor sysfs worked: one node of all allowed CPUs.
    Flat {
        /// What failed.
        why: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Hwloc { api } => write!(f, "hwloc (API {api})"),
            Source::Sysfs { why } => write!(f, "Linux sysfs ({why})"),
            Source::Synthetic {
                description,
                parser,
            } => write!(f, "synthetic {description:?} ({parser} parser)"),
            Source::Flat { why } => write!(f, "one node of the allowed CPUs ({why})"),
        }
    }
}

/// A PU as a reader sees it, before normalisation: `package`, `l3` and `core` are
/// arbitrary keys that are equal exactly when two PUs share that object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawPu {
    pub(crate) os: usize,
    pub(crate) node: usize,
    pub(crate) package: u64,
    pub(crate) l3: Option<u64>,
    pub(crate) core: u64,
    pub(crate) allowed: bool,
}

/// The machine as the scheduler sees it: every PU with its node, package, L3 group
/// and core, which PUs the process may use, and which real CPUs the process may use
/// (where synthetic PUs get pinned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    pus: Vec<Pu>,
    source: Source,
    host_cpus: Vec<usize>,
}

impl Topology {
    /// The topology to use for this process: [`synthetic`](Self::synthetic) from
    /// `SAGEVEC_TOPOLOGY` when that is set and non-empty, else [`detect`](Self::detect).
    ///
    /// Errors only when `SAGEVEC_TOPOLOGY` does not parse: a typo there must not
    /// silently fall back to the real machine.
    pub fn from_env() -> Result<Topology, SchedError> {
        match std::env::var(ENV_TOPOLOGY) {
            Ok(desc) if !desc.trim().is_empty() => Topology::synthetic(&desc),
            _ => Ok(Topology::detect()),
        }
    }

    /// This machine's topology: hwloc (with the `hwloc` feature), else Linux sysfs,
    /// else one node of the allowed CPUs. [`source`](Self::source) says which and why.
    pub fn detect() -> Topology {
        #[cfg(feature = "hwloc")]
        let why = match Topology::from_hwloc() {
            Ok(t) => return t,
            Err(e) => format!("hwloc failed: {e}"),
        };
        #[cfg(not(feature = "hwloc"))]
        let why = String::from("built without the `hwloc` feature");
        match Topology::from_sysfs() {
            Ok(mut t) => {
                t.source = Source::Sysfs { why };
                t
            }
            Err(e) => {
                let cpus = host_cpus();
                Topology::flat(&cpus, format!("{why}; sysfs: {e}"))
            }
        }
    }

    /// Reads this machine through hwloc. The allowed PUs are hwloc's allowed set
    /// (cgroups) intersected with the process's CPU mask (taskset).
    #[cfg(feature = "hwloc")]
    pub fn from_hwloc() -> Result<Topology, SchedError> {
        use hwlocality::topology::builder::BuildFlags;
        let hw = |e: String| SchedError::Topology(format!("hwloc topology: {e}"));
        // Keep PUs outside our cgroup cpuset in the topology, marked not allowed, as
        // sysfs shows them: both sources then number cores and L3 groups alike.
        let topo = hwlocality::Topology::builder()
            .with_flags(BuildFlags::INCLUDE_DISALLOWED)
            .map_err(|e| hw(e.to_string()))?
            .build()
            .map_err(|e| hw(e.to_string()))?;
        let mask = process_cpus().map_err(|e| SchedError::Topology(format!("cpu mask: {e}")))?;
        let raw = crate::hwloc::raw_pus(&topo, Some(&mask))?;
        let api = hwlocality::hwloc_api_version();
        let source = Source::Hwloc {
            api: format!("{}.{}.{}", api >> 16, (api >> 8) & 0xff, api & 0xff),
        };
        Topology::from_raw(raw, source, mask)
    }

    /// Reads this machine from `/sys/devices/system/{cpu,node}`. The allowed PUs are
    /// the online CPUs in the process's CPU mask.
    pub fn from_sysfs() -> Result<Topology, SchedError> {
        let mask = process_cpus().map_err(|e| SchedError::Topology(format!("cpu mask: {e}")))?;
        let raw = crate::sysfs::raw_pus(std::path::Path::new("/sys/devices/system"), &mask)?;
        let source = Source::Sysfs {
            why: String::from("requested"),
        };
        Topology::from_raw(raw, source, mask)
    }

    /// A topology from hwloc's synthetic syntax, e.g. `pack:2 numa:1 l3:1 core:4 pu:2`,
    /// so that multi-socket plans can be built and run on a one-socket machine.
    ///
    /// Every synthetic PU is allowed; workers planned on them are pinned round-robin
    /// onto the real CPUs of the process mask. With the `hwloc` feature hwloc parses
    /// the description (any syntax it accepts); without it a built-in parser accepts
    /// plain `type:count` levels ending in `pu` (types `pack`/`package`/`socket`,
    /// `numa`/`node`, `group`, `die`, `l3`, `l2`, `l1`, `core`, `pu`).
    pub fn synthetic(description: &str) -> Result<Topology, SchedError> {
        #[cfg(feature = "hwloc")]
        let (raw, parser) = (crate::hwloc::synthetic_raw_pus(description)?, "hwloc");
        #[cfg(not(feature = "hwloc"))]
        let (raw, parser) = (synthetic_builtin(description)?, "built-in");
        let source = Source::Synthetic {
            description: description.trim().to_owned(),
            parser,
        };
        Topology::from_raw(raw, source, host_cpus())
    }

    /// One NUMA node holding `cpus` (one core per CPU), for machines where nothing
    /// better can be read; `why` is reported by [`source`](Self::source).
    pub fn flat(cpus: &[usize], why: impl Into<String>) -> Topology {
        let mut cpus = cpus.to_vec();
        cpus.sort_unstable();
        cpus.dedup();
        if cpus.is_empty() {
            cpus.push(0);
        }
        let raw = cpus
            .iter()
            .map(|&os| RawPu {
                os,
                node: 0,
                package: 0,
                l3: None,
                core: os as u64,
                allowed: true,
            })
            .collect();
        let source = Source::Flat { why: why.into() };
        Topology::from_raw(raw, source, cpus).expect("a flat topology has distinct PUs")
    }

    /// The same topology with only the PUs in `pus` (OS indices) still allowed, as if
    /// the process had been started under `taskset -c <pus>`. For tests and for
    /// callers that want to restrict a pool to some CPUs. On a real topology the
    /// host CPUs shrink with it; a synthetic one keeps pinning onto the same real CPUs.
    pub fn restrict(&self, pus: &[usize]) -> Topology {
        let mut t = self.clone();
        for pu in &mut t.pus {
            pu.allowed &= pus.contains(&pu.os);
        }
        if !matches!(t.source, Source::Synthetic { .. }) {
            t.host_cpus.retain(|c| pus.contains(c));
        }
        t
    }

    /// Normalises raw PUs: sorts by OS index, assigns dense package/L3/core ids in
    /// order of first appearance, and SMT ranks within cores.
    pub(crate) fn from_raw(
        mut raw: Vec<RawPu>,
        source: Source,
        host_cpus: Vec<usize>,
    ) -> Result<Topology, SchedError> {
        raw.sort_by_key(|p| p.os);
        if raw.windows(2).any(|w| w[0].os == w[1].os) {
            return Err(SchedError::Topology("a PU appears twice".into()));
        }
        if raw.is_empty() {
            return Err(SchedError::Topology("no PUs".into()));
        }
        fn dense(map: &mut HashMap<u64, usize>, key: u64) -> usize {
            let next = map.len();
            *map.entry(key).or_insert(next)
        }
        let (mut packages, mut l3s, mut cores) = (HashMap::new(), HashMap::new(), HashMap::new());
        let mut core_members: HashMap<usize, usize> = HashMap::new();
        let pus = raw
            .iter()
            .map(|r| {
                let core = dense(&mut cores, r.core);
                let rank = core_members.entry(core).or_insert(0);
                let smt_rank = *rank;
                *rank += 1;
                Pu {
                    os: r.os,
                    node: r.node,
                    package: dense(&mut packages, r.package),
                    l3: r.l3.map(|k| dense(&mut l3s, k)),
                    core,
                    smt_rank,
                    allowed: r.allowed,
                }
            })
            .collect();
        let mut host_cpus = host_cpus;
        host_cpus.sort_unstable();
        host_cpus.dedup();
        Ok(Topology {
            pus,
            source,
            host_cpus,
        })
    }

    /// Where this topology came from, and why a fallback happened.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Whether the PUs are synthetic (not this machine's CPUs).
    pub fn is_synthetic(&self) -> bool {
        matches!(self.source, Source::Synthetic { .. })
    }

    /// Every PU, in OS-index order.
    pub fn pus(&self) -> &[Pu] {
        &self.pus
    }

    /// OS indices of the NUMA nodes that hold at least one PU, in increasing order.
    pub fn nodes(&self) -> Vec<usize> {
        let mut nodes: Vec<usize> = self.pus.iter().map(|p| p.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// Number of packages (sockets).
    pub fn n_packages(&self) -> usize {
        self.pus.iter().map(|p| p.package + 1).max().unwrap_or(0)
    }

    /// Number of physical cores.
    pub fn n_cores(&self) -> usize {
        self.pus.iter().map(|p| p.core + 1).max().unwrap_or(0)
    }

    /// OS indices of the PUs the process may use.
    pub fn allowed_pus(&self) -> Vec<usize> {
        self.pus
            .iter()
            .filter(|p| p.allowed)
            .map(|p| p.os)
            .collect()
    }

    /// The real CPUs of the process mask when the topology was read: where workers
    /// are pinned (synthetic PUs map onto these round-robin).
    pub fn host_cpus(&self) -> &[usize] {
        &self.host_cpus
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.nodes();
        let n_l3 = self
            .pus
            .iter()
            .filter_map(|p| p.l3)
            .max()
            .map_or(0, |m| m + 1);
        writeln!(f, "topology: {}", self.source)?;
        write!(
            f,
            "  {} package(s), {} NUMA node(s), {} L3 group(s), {} core(s), {} PU(s); allowed PUs: {}",
            self.n_packages(),
            nodes.len(),
            n_l3,
            self.n_cores(),
            self.pus.len(),
            fmt_list(&self.allowed_pus()),
        )?;
        for node in nodes {
            let pus: Vec<&Pu> = self.pus.iter().filter(|p| p.node == node).collect();
            let os: Vec<usize> = pus.iter().map(|p| p.os).collect();
            let mut packages: Vec<usize> = pus.iter().map(|p| p.package).collect();
            packages.dedup();
            let mut cores: Vec<usize> = pus.iter().map(|p| p.core).collect();
            cores.sort_unstable();
            cores.dedup();
            write!(
                f,
                "\n  node {node}: package {}, {} core(s), PUs {}",
                fmt_list(&packages),
                cores.len(),
                fmt_list(&os)
            )?;
        }
        Ok(())
    }
}

/// The real CPUs of the process mask, or CPU 0 alone if even that cannot be read.
fn host_cpus() -> Vec<usize> {
    match process_cpus() {
        Ok(c) if !c.is_empty() => c,
        _ => vec![0],
    }
}

// Used without the `hwloc` feature, and by the hwloc cross-check test with it.
#[cfg_attr(all(feature = "hwloc", not(test)), allow(dead_code))]
/// Kinds of level in a synthetic description that the built-in parser knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Package,
    Numa,
    L3,
    Core,
    Pu,
    Other,
}

// Used without the `hwloc` feature, and by the hwloc cross-check test with it.
#[cfg_attr(all(feature = "hwloc", not(test)), allow(dead_code))]
fn level_of(name: &str) -> Option<Level> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "pack" | "package" | "socket" => Level::Package,
        "numa" | "numanode" | "node" => Level::Numa,
        "l3" | "l3cache" | "l3u" | "l3d" => Level::L3,
        "core" => Level::Core,
        "pu" => Level::Pu,
        "machine" | "group" | "die" | "l2" | "l2cache" | "l2u" | "l2d" | "l1" | "l1cache"
        | "l1d" | "l1u" => Level::Other,
        _ => return None,
    })
}

// Used without the `hwloc` feature, and by the hwloc cross-check test with it.
#[cfg_attr(all(feature = "hwloc", not(test)), allow(dead_code))]
/// hwloc's synthetic syntax without hwloc: whitespace-separated `type:count` levels
/// ending in `pu`. PUs, nodes and every other object are numbered in order, as hwloc
/// numbers a synthetic topology.
pub(crate) fn synthetic_builtin(description: &str) -> Result<Vec<RawPu>, SchedError> {
    let bad = |why: String| SchedError::Topology(format!("synthetic {description:?}: {why}"));
    let mut levels = Vec::new();
    for token in description.split_whitespace() {
        if token.contains('(') {
            return Err(bad(format!(
                "attributes ({token}) need the `hwloc` feature"
            )));
        }
        let (name, count) = token
            .split_once(':')
            .ok_or_else(|| bad(format!("{token:?} is not type:count")))?;
        let level = level_of(name).ok_or_else(|| bad(format!("unknown type {name:?}")))?;
        let count: usize = count
            .parse()
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| bad(format!("bad count in {token:?}")))?;
        levels.push((level, count));
    }
    if levels.last().map(|l| l.0) != Some(Level::Pu) {
        return Err(bad("the last level must be `pu`".into()));
    }
    if levels.iter().filter(|l| l.0 == Level::Pu).count() != 1 {
        return Err(bad("`pu` must appear once".into()));
    }
    let total = levels
        .iter()
        .try_fold(1usize, |acc, l| acc.checked_mul(l.1))
        .filter(|&t| t <= 1 << 20)
        .ok_or_else(|| bad("too many PUs".into()))?;
    // PUs under one object of level j: the product of the counts below j.
    let mut span = vec![1usize; levels.len()];
    for j in (0..levels.len().saturating_sub(1)).rev() {
        span[j] = span[j + 1] * levels[j + 1].1;
    }
    let index_at = |pu: usize, kind: Level| -> Option<u64> {
        levels
            .iter()
            .position(|l| l.0 == kind)
            .map(|j| (pu / span[j]) as u64)
    };
    Ok((0..total)
        .map(|os| RawPu {
            os,
            node: index_at(os, Level::Numa).unwrap_or(0) as usize,
            package: index_at(os, Level::Package).unwrap_or(0),
            l3: index_at(os, Level::L3),
            core: index_at(os, Level::Core).unwrap_or(os as u64),
            allowed: true,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(desc: &str) -> Topology {
        let raw = synthetic_builtin(desc).unwrap();
        let source = Source::Synthetic {
            description: desc.into(),
            parser: "built-in",
        };
        Topology::from_raw(raw, source, vec![0, 1]).unwrap()
    }

    #[test]
    fn builtin_two_sockets() {
        let t = builtin("pack:2 numa:1 l3:1 core:4 pu:2");
        assert_eq!(t.pus().len(), 16);
        assert_eq!(t.nodes(), [0, 1]);
        assert_eq!(t.n_packages(), 2);
        assert_eq!(t.n_cores(), 8);
        let p9 = &t.pus()[9];
        assert_eq!(
            (p9.node, p9.package, p9.l3, p9.core, p9.smt_rank),
            (1, 1, Some(1), 4, 1)
        );
        assert!(t.is_synthetic());
    }

    #[test]
    fn builtin_rejects_bad_descriptions() {
        for bad in [
            "",
            "pack:2",
            "pack:2 core:0 pu:1",
            "pack:x pu:1",
            "frob:2 pu:2",
            "pu:2 pu:2",
            "pack:2 core:2(memory=1) pu:1",
            "pack core:2 pu:2",
        ] {
            assert!(synthetic_builtin(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn flat_and_restrict() {
        let t = Topology::flat(&[3, 1, 1], "test");
        assert_eq!(t.allowed_pus(), [1, 3]);
        assert_eq!(t.nodes(), [0]);
        let r = t.restrict(&[3]);
        assert_eq!(r.allowed_pus(), [3]);
        assert_eq!(r.host_cpus(), [3]);
        assert!(format!("{}", r).contains("allowed PUs: 3"));
    }

    #[cfg(not(feature = "hwloc"))]
    #[test]
    fn without_hwloc_sysfs_and_the_builtin_parser_are_used() {
        let t = Topology::detect();
        assert!(
            matches!(t.source(), Source::Sysfs { why } if why.contains("without the `hwloc` feature")),
            "{t}"
        );
        let s = Topology::synthetic("pack:2 numa:1 core:2 pu:1").unwrap();
        assert!(matches!(
            s.source(),
            Source::Synthetic {
                parser: "built-in",
                ..
            }
        ));
    }

    #[test]
    fn detect_reports_a_usable_topology() {
        let t = Topology::detect();
        assert!(!t.allowed_pus().is_empty(), "{t}");
        let mask = process_cpus().unwrap();
        assert_eq!(
            t.allowed_pus(),
            mask,
            "allowed PUs are the process mask: {t}"
        );
        assert_eq!(t.host_cpus(), mask);
    }
}

#[cfg(all(test, feature = "hwloc"))]
mod hwloc_tests {
    use super::*;

    /// The built-in parser (used without hwloc) must number a synthetic topology
    /// exactly as hwloc does, so plans do not depend on the build.
    #[test]
    fn builtin_parser_matches_hwloc() {
        for desc in [
            "pu:1",
            "core:2 pu:1",
            "pack:2 core:2 pu:2",
            "pack:2 numa:1 l3:1 core:4 pu:2",
            "pack:2 numa:1 l3:1 core:8 pu:2",
            "pack:4 numa:1 l3:1 core:2 pu:2",
            "pack:2 numa:2 l3:1 core:3 pu:2",
            "pack:1 numa:1 l3:2 core:4 pu:1",
            "pack:2 l3:2 core:2 pu:1",
            "numa:2 core:2 pu:2",
            "node:2 core:4 pu:2",
        ] {
            let source = Source::Synthetic {
                description: desc.into(),
                parser: "test",
            };
            let hw = crate::hwloc::synthetic_raw_pus(desc).unwrap();
            let hw = Topology::from_raw(hw, source.clone(), vec![0]).unwrap();
            let ours = Topology::from_raw(synthetic_builtin(desc).unwrap(), source, vec![0]);
            assert_eq!(hw, ours.unwrap(), "{desc}");
        }
    }
}
