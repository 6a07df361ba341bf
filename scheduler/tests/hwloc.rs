//! Needs the `hwloc` feature: hwloc and sysfs agree on this machine, and hwloc
//! accepts its full synthetic syntax.
#![cfg(feature = "hwloc")]

use sagevec_scheduler::{Policy, Source, Topology, plan, process_cpus};

#[test]
fn detect_uses_hwloc() {
    let t = Topology::detect();
    assert!(matches!(t.source(), Source::Hwloc { .. }), "{t}");
    assert!(t.to_string().starts_with("topology: hwloc (API 2."), "{t}");
}

#[test]
fn hwloc_and_sysfs_give_the_same_topology_and_plan() {
    let hw = Topology::from_hwloc().unwrap();
    let fs = Topology::from_sysfs().unwrap();
    assert_eq!(hw.pus(), fs.pus(), "hwloc:\n{hw}\nsysfs:\n{fs}");
    assert_eq!(hw.allowed_pus(), process_cpus().unwrap());
    for policy in [
        Policy::default(),
        Policy::default().with_smt(true),
        Policy::default().with_max_threads(1),
    ] {
        let a = plan(&hw, &policy).unwrap();
        let b = plan(&fs, &policy).unwrap();
        assert_eq!(a.nodes(), b.nodes(), "{a}\n{b}");
    }
}

#[test]
fn hwloc_synthetic_accepts_attributes() {
    // Attributes are hwloc syntax the built-in parser refuses.
    let t = Topology::synthetic("pack:2 [numa(memory=1GB)] l3:1 core:2 pu:2").unwrap();
    assert_eq!(t.nodes(), [0, 1]);
    assert_eq!(t.pus().len(), 8);
    assert!(matches!(
        t.source(),
        Source::Synthetic {
            parser: "hwloc",
            ..
        }
    ));
}
