//! The topology from Linux sysfs, for builds without hwloc (the Python wheel).
//!
//! Reads `cpu/online`, `node/node*/cpulist`, `cpu/cpuN/topology/{physical_package_id,
//! thread_siblings_list}` and `cpu/cpuN/cache/index*/{level,shared_cpu_list}` under a
//! root (normally `/sys/devices/system`; tests pass a fake tree).

use std::fs;
use std::path::Path;

use crate::error::SchedError;
use crate::pin::parse_cpulist;
use crate::topology::RawPu;

fn read(path: &Path) -> Result<String, SchedError> {
    fs::read_to_string(path).map_err(|e| SchedError::Topology(format!("{}: {e}", path.display())))
}

fn read_list(path: &Path) -> Result<Vec<usize>, SchedError> {
    parse_cpulist(&read(path)?)
        .map_err(|e| SchedError::Topology(format!("{}: {e}", path.display())))
}

/// Every online CPU under `root` as a raw PU; `allowed` marks those in `mask`.
pub(crate) fn raw_pus(root: &Path, mask: &[usize]) -> Result<Vec<RawPu>, SchedError> {
    let online = read_list(&root.join("cpu/online"))?;
    if online.is_empty() {
        return Err(SchedError::Topology("sysfs lists no online CPU".into()));
    }
    // cpu -> node from node*/cpulist; a kernel without NUMA has no node directory.
    let mut node_of = std::collections::HashMap::new();
    if let Ok(entries) = fs::read_dir(root.join("node")) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix("node"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            for cpu in read_list(&entry.path().join("cpulist"))? {
                // A CPU listed by two nodes (memory-side nodes) belongs to the lower id.
                node_of
                    .entry(cpu)
                    .and_modify(|n: &mut usize| *n = (*n).min(id))
                    .or_insert(id);
            }
        }
    }
    online
        .iter()
        .map(|&cpu| {
            let dir = root.join(format!("cpu/cpu{cpu}"));
            let package = read(&dir.join("topology/physical_package_id"))
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .map_or(0, |p| p.max(0) as u64);
            let siblings = read_list(&dir.join("topology/thread_siblings_list"))
                .or_else(|_| read_list(&dir.join("topology/core_cpus_list")))
                .unwrap_or_default();
            let core = siblings.first().copied().unwrap_or(cpu) as u64;
            Ok(RawPu {
                os: cpu,
                node: node_of.get(&cpu).copied().unwrap_or(0),
                package,
                l3: l3_key(&dir),
                core,
                allowed: mask.contains(&cpu),
            })
        })
        .collect()
}

/// The lowest CPU sharing this CPU's L3, as the L3 group's key.
fn l3_key(cpu_dir: &Path) -> Option<u64> {
    let entries = fs::read_dir(cpu_dir.join("cache")).ok()?;
    for entry in entries.flatten() {
        let p = entry.path();
        // `cache/` also holds files such as `uevent`: skip what has no `level`.
        let Ok(level) = read(&p.join("level")) else {
            continue;
        };
        if level.trim() == "3" {
            let shared = read_list(&p.join("shared_cpu_list")).ok()?;
            return shared.first().map(|&c| c as u64);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Source, Topology};

    /// Writes a fake sysfs tree: 2 nodes x 2 cores x 2 SMT siblings, Linux-style
    /// sibling numbering (cpu n and n+4 share a core), one L3 per node.
    fn fake_tree(root: &Path) {
        let w = |p: &str, s: &str| {
            let path = root.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, s).unwrap();
        };
        w("cpu/online", "0-7\n");
        w("node/node0/cpulist", "0-1,4-5\n");
        w("node/node1/cpulist", "2-3,6-7\n");
        w("node/possible", "0-1\n");
        for cpu in 0..8 {
            let core = cpu % 4;
            let pkg = core / 2;
            let d = format!("cpu/cpu{cpu}");
            w(
                &format!("{d}/topology/physical_package_id"),
                &format!("{pkg}\n"),
            );
            w(
                &format!("{d}/topology/thread_siblings_list"),
                &format!("{core},{}\n", core + 4),
            );
            w(&format!("{d}/cache/uevent"), "\n");
            w(&format!("{d}/cache/index0/level"), "1\n");
            w(
                &format!("{d}/cache/index0/shared_cpu_list"),
                &format!("{core},{}\n", core + 4),
            );
            w(&format!("{d}/cache/index3/level"), "3\n");
            let l3 = if pkg == 0 { "0-1,4-5" } else { "2-3,6-7" };
            w(
                &format!("{d}/cache/index3/shared_cpu_list"),
                &format!("{l3}\n"),
            );
        }
    }

    #[test]
    fn reads_a_two_node_smt_tree() {
        let dir = std::env::temp_dir().join(format!("sagevec-sysfs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fake_tree(&dir);
        let raw = raw_pus(&dir, &[0, 1, 2, 3, 4, 5, 6]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let source = Source::Sysfs { why: "test".into() };
        let t = Topology::from_raw(raw, source, vec![0, 1]).unwrap();
        assert_eq!(t.nodes(), [0, 1]);
        assert_eq!(t.n_cores(), 4);
        assert_eq!(t.n_packages(), 2);
        let cpu6 = &t.pus()[6];
        assert_eq!(
            (cpu6.node, cpu6.package, cpu6.l3, cpu6.core),
            (1, 1, Some(1), 2)
        );
        assert_eq!(cpu6.smt_rank, 1);
        assert_eq!(t.pus()[2].smt_rank, 0);
        assert!(!t.pus()[7].allowed);
    }

    #[test]
    fn missing_tree_is_an_error() {
        assert!(raw_pus(Path::new("/nonexistent/sagevec"), &[0]).is_err());
    }
}
