//! The topology through hwloc (`hwloc` feature): this machine, or a synthetic one.

use std::collections::HashMap;

use hwlocality::object::types::ObjectType;

use crate::error::SchedError;
use crate::topology::RawPu;

/// Key space for cores of PUs that hwloc shows without a Core ancestor: each such PU
/// is its own core, keyed apart from real cores' logical indices.
const CORELESS: u64 = 1 << 48;

/// Every PU of `topo` as a raw PU. `allowed` is hwloc's allowed set (cgroups),
/// intersected with `mask` (the process's CPU mask) when one is given.
pub(crate) fn raw_pus(
    topo: &hwlocality::Topology,
    mask: Option<&[usize]>,
) -> Result<Vec<RawPu>, SchedError> {
    let allowed_set = topo.allowed_cpuset();
    let mut node_of: HashMap<usize, usize> = HashMap::new();
    for numa in topo.objects_with_type(ObjectType::NUMANode) {
        let id = numa.os_index().unwrap_or(numa.logical_index());
        if let Some(cpus) = numa.cpuset() {
            for cpu in cpus.iter_set() {
                // A PU under two nodes (memory-side nodes) belongs to the lower id.
                node_of
                    .entry(usize::from(cpu))
                    .and_modify(|n| *n = (*n).min(id))
                    .or_insert(id);
            }
        }
    }
    topo.objects_with_type(ObjectType::PU)
        .map(|pu| {
            let os = pu
                .os_index()
                .ok_or_else(|| SchedError::Topology("hwloc PU without an OS index".into()))?;
            let key = |ty| {
                pu.first_ancestor_with_type(ty)
                    .map(|o| o.logical_index() as u64)
            };
            Ok(RawPu {
                os,
                node: node_of.get(&os).copied().unwrap_or(0),
                package: key(ObjectType::Package).unwrap_or(0),
                l3: key(ObjectType::L3Cache),
                core: key(ObjectType::Core).unwrap_or(CORELESS + os as u64),
                allowed: allowed_set.is_set(os) && mask.is_none_or(|m| m.contains(&os)),
            })
        })
        .collect()
}

/// Raw PUs of hwloc's synthetic topology for `description`; every PU is allowed.
pub(crate) fn synthetic_raw_pus(description: &str) -> Result<Vec<RawPu>, SchedError> {
    let bad = |e: String| SchedError::Topology(format!("synthetic {description:?}: {e}"));
    let topo = hwlocality::Topology::builder()
        .from_synthetic(description.trim())
        .map_err(|e| bad(e.to_string()))?
        .build()
        .map_err(|e| bad(e.to_string()))?;
    raw_pus(&topo, None)
}
