//! Placement plans on synthetic topologies (1, 2 and 4 nodes, with and without SMT,
//! thread caps, restricted CPU sets, node subsets). These run with and without the
//! `hwloc` feature: without it the built-in synthetic parser is used, and a unit
//! test checks that it numbers topologies exactly as hwloc does.

use std::collections::HashSet;

use sagevec_scheduler::{Pin, Placement, Policy, Topology, plan};

const ONE: &str = "pack:1 numa:1 l3:1 core:4 pu:2";
const TWO: &str = "pack:2 numa:1 l3:1 core:4 pu:2";
const FOUR: &str = "pack:4 numa:1 l3:1 core:2 pu:2";

fn synth(desc: &str) -> Topology {
    Topology::synthetic(desc).unwrap()
}

/// Every worker on a distinct allowed PU of its node (distinct cores without SMT),
/// pinned to a real CPU of the process, counts balanced and as many as allowed.
fn check(topo: &Topology, policy: &Policy, p: &Placement) {
    let mut pus = HashSet::new();
    let mut cores = HashSet::new();
    let mut counts = Vec::new();
    let mut caps = Vec::new();
    for n in p.nodes() {
        assert!(!n.workers.is_empty(), "{p}");
        for w in &n.workers {
            let pu = topo.pus().iter().find(|x| x.os == w.pu).unwrap();
            assert_eq!(pu.node, n.node, "worker on another node's PU\n{p}");
            assert!(pu.allowed, "worker on a PU outside the allowed set\n{p}");
            assert!(pus.insert(w.pu), "two workers on PU {}\n{p}", w.pu);
            assert_eq!(w.core, pu.core);
            if !policy.smt {
                assert!(cores.insert(w.core), "two workers on core {}\n{p}", w.core);
            }
            assert!(
                topo.host_cpus().contains(&w.cpu),
                "CPU {} not ours\n{p}",
                w.cpu
            );
            if !topo.is_synthetic() {
                assert_eq!(w.cpu, w.pu);
            }
        }
        let node_pus = topo.pus().iter().filter(|x| x.node == n.node && x.allowed);
        let cap = if policy.smt {
            node_pus.count()
        } else {
            node_pus.map(|x| x.core).collect::<HashSet<_>>().len()
        };
        counts.push(n.workers.len());
        caps.push(cap);
    }
    for a in 0..counts.len() {
        for b in 0..counts.len() {
            assert!(
                counts[a] <= counts[b] + 1 || counts[b] == caps[b],
                "unbalanced {counts:?} (caps {caps:?})\n{p}"
            );
        }
    }
    // As many workers as the policy allows: every candidate unless capped.
    let selected: Vec<usize> = topo
        .nodes()
        .into_iter()
        .filter(|n| policy.nodes.as_ref().is_none_or(|s| s.contains(n)))
        .collect();
    let all_caps: usize = selected
        .iter()
        .map(|&node| {
            let node_pus = topo.pus().iter().filter(|x| x.node == node && x.allowed);
            if policy.smt {
                node_pus.count()
            } else {
                node_pus.map(|x| x.core).collect::<HashSet<_>>().len()
            }
        })
        .sum();
    let want = policy.max_threads.map_or(all_caps, |m| m.min(all_caps));
    assert_eq!(p.n_threads(), want, "{p}");
    assert_eq!(plan(topo, policy).unwrap(), *p, "plan is deterministic");
}

fn pus_of(p: &Placement) -> Vec<Vec<usize>> {
    p.nodes()
        .iter()
        .map(|n| n.workers.iter().map(|w| w.pu).collect())
        .collect()
}

#[test]
fn one_node() {
    let t = synth(ONE);
    let policy = Policy::default();
    let p = plan(&t, &policy).unwrap();
    check(&t, &policy, &p);
    assert_eq!(pus_of(&p), [vec![0, 2, 4, 6]]);
    assert!(!p.pinned(), "auto pinning stays off on one node");
    let smt = Policy::default().with_smt(true);
    let p = plan(&t, &smt).unwrap();
    check(&t, &smt, &p);
    assert_eq!(pus_of(&p), [(0..8).collect::<Vec<_>>()]);
    let on = Policy::default().with_pin(Pin::On);
    assert!(plan(&t, &on).unwrap().pinned());
}

#[test]
fn two_nodes() {
    let t = synth(TWO);
    let policy = Policy::default();
    let p = plan(&t, &policy).unwrap();
    check(&t, &policy, &p);
    assert_eq!(pus_of(&p), [vec![0, 2, 4, 6], vec![8, 10, 12, 14]]);
    assert_eq!(p.nodes()[1].node, 1);
    assert_eq!(p.nodes()[1].package, 1);
    assert!(p.pinned(), "auto pinning is on across nodes");
    // Synthetic PUs map round-robin onto the real allowed CPUs, by worker.
    let host = t.host_cpus();
    let cpus: Vec<usize> = p
        .nodes()
        .iter()
        .flat_map(|n| &n.workers)
        .map(|w| w.cpu)
        .collect();
    let expect: Vec<usize> = (0..8).map(|k| host[k % host.len()]).collect();
    assert_eq!(cpus, expect);

    let smt = Policy::default().with_smt(true);
    let p = plan(&t, &smt).unwrap();
    check(&t, &smt, &p);
    assert_eq!(p.n_threads(), 16);

    for cap in 1..=9 {
        let capped = Policy::default().with_max_threads(cap);
        let p = plan(&t, &capped).unwrap();
        check(&t, &capped, &p);
    }
    let p = plan(&t, &Policy::default().with_max_threads(3)).unwrap();
    assert_eq!(pus_of(&p), [vec![0, 2], vec![8]]);
    let p = plan(&t, &Policy::default().with_max_threads(1)).unwrap();
    assert_eq!(pus_of(&p), [vec![0]]);
    assert!(!p.pinned(), "a one-node result is not auto-pinned");
    assert!(
        p.to_string()
            .contains("node 1: no workers (thread cap reached)"),
        "{p}"
    );
    let p = plan(&t, &Policy::default().with_max_threads(10).with_smt(true)).unwrap();
    assert_eq!(p.nodes()[0].workers.len(), 5);
    assert_eq!(p.nodes()[1].workers.len(), 5);
}

#[test]
fn four_nodes() {
    let t = synth(FOUR);
    for smt in [false, true] {
        for cap in [None, Some(1), Some(3), Some(5), Some(6), Some(7), Some(100)] {
            let mut policy = Policy::default().with_smt(smt);
            policy.max_threads = cap;
            let p = plan(&t, &policy).unwrap();
            check(&t, &policy, &p);
        }
    }
    let p = plan(&t, &Policy::default().with_max_threads(6)).unwrap();
    let counts: Vec<usize> = p.nodes().iter().map(|n| n.workers.len()).collect();
    assert_eq!(counts, [2, 2, 1, 1]);
    let sub = Policy::default().with_nodes([1, 3]);
    let p = plan(&t, &sub).unwrap();
    check(&t, &sub, &p);
    let nodes: Vec<usize> = p.nodes().iter().map(|n| n.node).collect();
    assert_eq!(nodes, [1, 3]);
}

#[test]
fn restricted_cpu_sets() {
    let t = synth(TWO);
    // Node 0: cores 0 and 1 with both siblings; node 1: only the first PU of core 4.
    let r = t.restrict(&[0, 1, 2, 3, 8]);
    for policy in [
        Policy::default(),
        Policy::default().with_smt(true),
        Policy::default().with_max_threads(2),
        Policy::default().with_max_threads(4).with_smt(true),
    ] {
        let p = plan(&r, &policy).unwrap();
        check(&r, &policy, &p);
    }
    assert_eq!(
        pus_of(&plan(&r, &Policy::default()).unwrap()),
        [vec![0, 2], vec![8]]
    );
    let p = plan(&r, &Policy::default().with_smt(true).with_max_threads(4)).unwrap();
    assert_eq!(
        pus_of(&p),
        [vec![0, 1, 2], vec![8]],
        "node 1 is full at 1, node 0 takes the rest"
    );

    // Only second siblings allowed: cores still get one worker each, on the sibling.
    let r = t.restrict(&[1, 3]);
    let p = plan(&r, &Policy::default()).unwrap();
    check(&r, &Policy::default(), &p);
    assert_eq!(pus_of(&p), [vec![1, 3]]);
    assert!(
        p.to_string().contains("node 1: no workers (no allowed PU)"),
        "{p}"
    );

    // Nothing allowed on the chosen node.
    assert!(plan(&r, &Policy::default().with_nodes([1])).is_err());
    assert!(plan(&t.restrict(&[]), &Policy::default()).is_err());
}

#[test]
fn cap_spreads_over_l3_groups_first() {
    let t = synth("pack:1 numa:1 l3:2 core:4 pu:2");
    let p = plan(&t, &Policy::default().with_max_threads(2)).unwrap();
    assert_eq!(pus_of(&p), [vec![0, 8]], "one core per L3 group");
    let p = plan(&t, &Policy::default().with_max_threads(10).with_smt(true)).unwrap();
    let pus = &pus_of(&p)[0];
    let first_siblings = pus.iter().filter(|&&pu| pu % 2 == 0).count();
    assert_eq!(
        first_siblings, 8,
        "all physical cores before SMT siblings: {pus:?}"
    );
}

#[test]
fn bad_policies_are_errors() {
    let t = synth(TWO);
    assert!(plan(&t, &Policy::default().with_nodes([7])).is_err());
    assert!(plan(&t, &Policy::default().with_nodes([])).is_err());
    assert!(plan(&t, &Policy::default().with_max_threads(0)).is_err());
    assert!(Topology::synthetic("pack:2 bogus:2 pu:1").is_err());
}

#[test]
fn placement_prints_readably() {
    let t = synth(TWO);
    let p = plan(&t, &Policy::default()).unwrap();
    let text = p.to_string();
    assert!(
        text.starts_with("placement: 8 worker(s) on 2 NUMA node(s), one per physical core, pinned"),
        "{text}"
    );
    assert!(
        text.contains("synthetic \"pack:2 numa:1 l3:1 core:4 pu:2\""),
        "{text}"
    );
    assert!(
        text.contains("node 0 (package 0): 4 worker(s) on PU 0,2,4,6 -> CPU "),
        "{text}"
    );
    assert!(
        text.contains("node 1 (package 1): 4 worker(s) on PU 8,10,12,14"),
        "{text}"
    );
    let topo_text = t.to_string();
    assert!(
        topo_text.contains("2 package(s), 2 NUMA node(s), 2 L3 group(s), 8 core(s), 16 PU(s)"),
        "{topo_text}"
    );
}

#[test]
fn real_machine_plan() {
    let t = Topology::detect();
    let policy = Policy::default();
    let p = plan(&t, &policy).unwrap();
    check(&t, &policy, &p);
    let mask = sagevec_scheduler::process_cpus().unwrap();
    for w in p.nodes().iter().flat_map(|n| &n.workers) {
        assert!(mask.contains(&w.cpu), "{p}");
    }
}
