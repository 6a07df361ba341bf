//! NumaPool on this machine: real pinning (checked with sched_getaffinity inside
//! every worker), synthetic multi-node pools mapped onto the real CPUs, broadcast,
//! range splitting, node buffers, environment overrides and fork.
//!
//! Tests that need a fresh process (environment variables, fork) re-run this test
//! binary on one `#[ignore]`d child test, selected with `--exact --ignored` and an
//! environment flag, so they neither mutate this process's environment nor fork a
//! process full of test threads.

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sagevec_scheduler::rayon;
use sagevec_scheduler::rayon::prelude::*;
use sagevec_scheduler::{
    BACKGROUND_NICE, NodeBuffer, NumaPool, Par, Pin, Policy, Topology, current_thread_cpus, plan,
    process_cpus,
};

const TWO: &str = "pack:2 numa:1 l3:1 core:4 pu:2";

/// (thread name, CPU mask) of every worker of node index `node`, by worker index.
fn worker_view(pool: &NumaPool, node: usize) -> Vec<(String, Vec<usize>)> {
    pool.install(node, || {
        rayon::broadcast(|_| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            (name, current_thread_cpus().unwrap())
        })
    })
}

/// Checks that every worker has its planned name and exactly its planned CPU.
fn assert_pinned_as_planned(pool: &NumaPool) {
    let mask = process_cpus().unwrap();
    for (i, n) in pool.placement().nodes().iter().enumerate() {
        let view = worker_view(pool, i);
        assert_eq!(view.len(), n.workers.len());
        for (w, (name, cpus)) in view.iter().enumerate() {
            assert_eq!(*name, format!("sagevec-n{}-w{w}", n.node));
            assert_eq!(
                *cpus,
                [n.workers[w].cpu],
                "worker {name} is not pinned as planned"
            );
            assert!(
                mask.contains(&cpus[0]),
                "{name} pinned outside the process mask"
            );
        }
    }
    assert!(pool.pin_failures().is_empty(), "{:?}", pool.pin_failures());
}

#[test]
fn real_topology_workers_pinned_to_their_cpu() {
    let topo = Topology::detect();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_pin(Pin::On)).unwrap()).unwrap();
    assert_pinned_as_planned(&pool);
    // One worker per allowed core, only on allowed CPUs: under `taskset -c 0` this is
    // exactly one worker, on CPU 0.
    let mask = process_cpus().unwrap();
    let used: HashSet<usize> = pool
        .placement()
        .nodes()
        .iter()
        .flat_map(|n| &n.workers)
        .map(|w| w.cpu)
        .collect();
    assert!(used.iter().all(|c| mask.contains(c)));
    let allowed_cores: HashSet<usize> = topo
        .pus()
        .iter()
        .filter(|p| p.allowed)
        .map(|p| p.core)
        .collect();
    assert_eq!(pool.n_threads(), allowed_cores.len());
    assert_eq!(
        used.len(),
        allowed_cores.len(),
        "one CPU per worker on a real topology"
    );
    if mask == [0] {
        assert_eq!(
            used,
            HashSet::from([0]),
            "under taskset -c 0 only CPU 0 is used"
        );
        assert_eq!(pool.n_threads(), 1);
    }
}

#[test]
fn synthetic_two_node_pool_pins_round_robin_onto_real_cpus() {
    let topo = Topology::synthetic(TWO).unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default()).unwrap()).unwrap();
    assert_eq!((pool.n_nodes(), pool.n_threads()), (2, 8));
    assert!(pool.placement().pinned());
    assert_pinned_as_planned(&pool);
    let mask = process_cpus().unwrap();
    let used: HashSet<usize> = (0..2)
        .flat_map(|i| worker_view(&pool, i))
        .map(|(_, cpus)| cpus[0])
        .collect();
    assert_eq!(
        used,
        mask.iter().copied().take(8).collect(),
        "round robin over the mask"
    );
}

#[test]
fn unpinned_workers_keep_the_process_mask() {
    let topo = Topology::synthetic(TWO).unwrap();
    let policy = Policy::default().with_pin(Pin::Off).with_max_threads(2);
    let pool = NumaPool::new(plan(&topo, &policy).unwrap()).unwrap();
    assert!(!pool.placement().pinned());
    let mask = process_cpus().unwrap();
    for node in 0..pool.n_nodes() {
        for (_, cpus) in worker_view(&pool, node) {
            assert_eq!(cpus, mask);
        }
    }
}

#[test]
fn broadcast_runs_every_node_in_its_own_pool_at_once() {
    // Four nodes of one worker each: node 0's single worker must not run the other
    // nodes' calls one after another. Each call waits (bounded) until all have started.
    let topo = Topology::synthetic("pack:4 numa:1 core:1 pu:1").unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default()).unwrap()).unwrap();
    assert_eq!(pool.n_nodes(), 4);
    let arrived = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = pool.broadcast(|node| {
        arrived.fetch_add(1, Ordering::SeqCst);
        while arrived.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let name = std::thread::current().name().unwrap_or("").to_owned();
        (node, name, arrived.load(Ordering::SeqCst))
    });
    for (i, (node, name, seen)) in out.iter().enumerate() {
        assert_eq!(*node, i);
        let os = pool.placement().nodes()[i].node;
        assert!(
            name.starts_with(&format!("sagevec-n{os}-")),
            "node {i} ran on {name}"
        );
        assert_eq!(
            *seen, 4,
            "node {i} did not run concurrently with the others"
        );
    }
}

#[test]
fn split_work_covers_every_item_exactly_once() {
    let topo = Topology::synthetic(TWO).unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_max_threads(3)).unwrap()).unwrap();
    assert_eq!(pool.node_threads(0), 2);
    assert_eq!(pool.node_threads(1), 1);
    for len in [0usize, 1, 2, 5, 1000, 30_001] {
        let hits: Vec<AtomicU8> = (0..len).map(|_| AtomicU8::new(0)).collect();
        let sizes = pool.broadcast_range(len, |node, range| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            assert!(name.starts_with(&format!("sagevec-n{node}-")), "{name}");
            let n = range.len();
            range.into_par_iter().with_min_len(64).for_each(|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            n
        });
        assert!(
            hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
            "len {len}"
        );
        assert_eq!(sizes.iter().sum::<usize>(), len);
        assert!(
            sizes[0].abs_diff(2 * len / 3) <= 1,
            "2:1 split of {len}: {sizes:?}"
        );
    }
}

#[test]
fn install_and_scope_run_on_the_chosen_node() {
    let topo = Topology::synthetic(TWO).unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_max_threads(4)).unwrap()).unwrap();
    let name = pool.install(1, || std::thread::current().name().map(str::to_owned));
    assert!(name.unwrap().starts_with("sagevec-n1-w"));
    let total = AtomicUsize::new(0);
    pool.scope(0, |s| {
        for k in 1..=10 {
            let total = &total;
            s.spawn(move |_| {
                let name = std::thread::current().name().unwrap_or("").to_owned();
                assert!(name.starts_with("sagevec-n0-w"), "{name}");
                total.fetch_add(k, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(total.into_inner(), 55);
}

#[test]
fn par_seq_and_pool_agree() {
    let topo = Topology::synthetic(TWO).unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_max_threads(2)).unwrap()).unwrap();
    let sum = |par: Par<'_>| -> u64 {
        par.broadcast_range(10_000, |_, r| r.map(|i| i as u64).sum::<u64>())
            .into_iter()
            .sum()
    };
    assert_eq!(sum(Par::Seq), sum(Par::from(&pool)));
    assert_eq!((Par::Seq.n_threads(), Par::Seq.n_nodes()), (1, 1));
    assert_eq!(
        (Par::Pool(&pool).n_threads(), Par::Pool(&pool).n_nodes()),
        (2, 2)
    );
    assert!(Par::Seq.is_seq() && !Par::Pool(&pool).is_seq());
    assert_eq!(Par::Seq.split_range(7), [(0, 0..7)]);
    assert_eq!(Par::Seq.install(0, || 3), 3);
}

#[test]
fn node_buffers_are_aligned_zeroed_and_writable() {
    let topo = Topology::synthetic(TWO).unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_max_threads(2)).unwrap()).unwrap();
    for node in 0..2 {
        for len in [0, 1, 63, 4096, 65_535, 65_536, 4 * 65_536 + 13] {
            let mut b = NodeBuffer::zeroed(&pool, node, len);
            assert_eq!((b.len(), b.is_empty(), b.node()), (len, len == 0, node));
            assert_eq!(
                b.as_ptr() as usize % sagevec_scheduler::ALIGN,
                0,
                "len {len}"
            );
            assert!(b.as_slice().iter().all(|&x| x == 0), "len {len} not zeroed");
            for (i, x) in b.as_mut_slice().iter_mut().enumerate() {
                *x = i as u8;
            }
            assert!(b.as_slice().iter().enumerate().all(|(i, &x)| x == i as u8));
            // Moves to another thread like a Box<[u8]>.
            let b = std::thread::spawn(move || b).join().unwrap();
            assert_eq!(b.len(), len);
        }
    }
}

/// On a real topology, the pages of a large buffer are resident on the node's OS id
/// after `zeroed` (move_pages in query mode): the node's workers touched them.
#[test]
fn node_buffer_pages_are_resident_on_their_node() {
    let topo = Topology::detect();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_pin(Pin::On)).unwrap()).unwrap();
    let page = 4096;
    for (i, n) in pool.placement().nodes().iter().enumerate() {
        let b = NodeBuffer::zeroed(&pool, i, 64 * page);
        let pages: Vec<*mut libc::c_void> = (0..64)
            .map(|k| b.as_ptr().wrapping_add(k * page) as *mut _)
            .collect();
        let mut status = vec![i32::MIN; pages.len()];
        // SAFETY: query mode (nodes = NULL) only writes `status`, which has one entry
        // per page; the pages belong to `b`, alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_pages,
                0,
                pages.len() as libc::c_ulong,
                pages.as_ptr(),
                std::ptr::null::<i32>(),
                status.as_mut_ptr(),
                0,
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            println!("SKIP node_buffer_pages_are_resident_on_their_node: move_pages: {e}");
            return;
        }
        let want = i32::try_from(n.node).unwrap();
        assert!(
            status.iter().all(|&s| s == want),
            "node {}: {status:?}",
            n.node
        );
    }
}

// ----- tests in a child process -----

const CHILD_FLAG: &str = "SAGEVEC_SCHEDULER_TEST_CHILD";

/// Runs the ignored test `name` of this binary in a child process with `env` set
/// (and every other SAGEVEC_* variable removed); asserts that it ran and passed.
fn run_child(name: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--test-threads=1",
        "--nocapture",
    ]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SAGEVEC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(CHILD_FLAG, name).envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} {env:?} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} did not run:\n{text}"
    );
}

/// Whether this process is the child run for `name` (else the ignored test is a no-op).
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_FLAG).is_ok_and(|v| v == name)
}

#[test]
fn env_overrides_reach_from_env() {
    run_child(
        "child_env_synthetic",
        &[
            ("SAGEVEC_TOPOLOGY", TWO),
            ("SAGEVEC_NUM_THREADS", "3"),
            ("EXPECT_PINNED", "1"),
        ],
    );
    run_child(
        "child_env_synthetic",
        &[
            ("SAGEVEC_TOPOLOGY", TWO),
            ("SAGEVEC_NUM_THREADS", "3"),
            ("SAGEVEC_PIN", "off"),
            ("EXPECT_PINNED", "0"),
        ],
    );
    run_child("child_env_invalid", &[("SAGEVEC_NUM_THREADS", "three")]);
    run_child("child_env_invalid", &[("SAGEVEC_PIN", "maybe")]);
    run_child(
        "child_env_invalid",
        &[("SAGEVEC_TOPOLOGY", "pack:2 nonsense")],
    );
}

#[test]
#[ignore = "child process of env_overrides_reach_from_env"]
fn child_env_synthetic() {
    if !is_child("child_env_synthetic") {
        return;
    }
    let pool = NumaPool::process_wide().unwrap();
    assert!(
        std::ptr::eq(pool, NumaPool::process_wide().unwrap()),
        "one pool per process"
    );
    assert_eq!((pool.n_nodes(), pool.n_threads()), (2, 3));
    assert_eq!((pool.node_threads(0), pool.node_threads(1)), (2, 1));
    let text = pool.to_string();
    assert!(
        text.contains("synthetic \"pack:2 numa:1 l3:1 core:4 pu:2\""),
        "{text}"
    );
    let pinned = std::env::var("EXPECT_PINNED").unwrap() == "1";
    assert_eq!(pool.placement().pinned(), pinned, "{text}");
    let mask = process_cpus().unwrap();
    for (i, n) in pool.placement().nodes().iter().enumerate() {
        for (w, (_, cpus)) in worker_view(pool, i).into_iter().enumerate() {
            if pinned {
                assert_eq!(cpus, [n.workers[w].cpu]);
            } else {
                assert_eq!(cpus, mask);
            }
        }
    }
}

#[test]
#[ignore = "child process of env_overrides_reach_from_env"]
fn child_env_invalid() {
    if !is_child("child_env_invalid") {
        return;
    }
    let err = NumaPool::from_env().unwrap_err();
    assert!(
        err.to_string().contains("SAGEVEC_") || err.to_string().contains("synthetic"),
        "{err}"
    );
}

#[test]
fn pool_is_rebuilt_after_fork() {
    run_child("child_fork", &[]);
    run_child("child_fork", &[("SAGEVEC_TOPOLOGY", TWO)]);
}

#[test]
#[ignore = "child process of pool_is_rebuilt_after_fork"]
fn child_fork() {
    if !is_child("child_fork") {
        return;
    }
    let topo = Topology::from_env().unwrap();
    let pool = NumaPool::new(plan(&topo, &Policy::default().with_pin(Pin::On)).unwrap()).unwrap();
    let expected: u64 = (0..100_000u64).sum();
    let work = |pool: &NumaPool| -> u64 {
        pool.broadcast_range(100_000, |_, r| {
            r.into_par_iter().map(|i| i as u64).sum::<u64>()
        })
        .into_iter()
        .sum()
    };
    assert_eq!(work(&pool), expected);

    // SAFETY: the child only runs the checks below and leaves with `_exit`; the pool's
    // own rebuild path is what is under test. An alarm kills it if it deadlocks.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: alarm has no preconditions; SIGALRM's default action ends the child.
        unsafe { libc::alarm(20) };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_eq!(work(&pool), expected);
            assert_pinned_as_planned(&pool);
            let b = NodeBuffer::zeroed(&pool, 0, 1 << 20);
            assert!(b.as_slice().iter().all(|&x| x == 0));
        }))
        .is_ok();
        // SAFETY: ends the child at once, without running the parent's atexit handlers
        // or unwinding into the test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child we forked; `status` is a valid out-pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "forked child failed or hung (status {status:#x})"
    );
    // The parent's pool still works.
    assert_eq!(work(&pool), expected);
    assert_pinned_as_planned(&pool);
}

/// Nice value of the calling thread, from /proc (Linux).
fn thread_nice() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, nice 19.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(16)?.parse().ok()
}

#[test]
fn background_pools_run_at_a_lower_priority() {
    let Some(own) = thread_nice() else {
        eprintln!("SKIP: no /proc/thread-self/stat");
        return;
    };
    let placement = plan(&Topology::detect(), &Policy::default()).unwrap();
    let normal = NumaPool::new(placement.clone()).unwrap();
    let background = NumaPool::new_background(placement).unwrap();
    for node in 0..normal.n_nodes() {
        assert_eq!(normal.install(node, thread_nice), Some(own));
        let bg = background.broadcast(|_| thread_nice());
        for n in bg {
            assert_eq!(n, Some((own + i64::from(BACKGROUND_NICE)).min(19)));
        }
    }
}
