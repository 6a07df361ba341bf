//! Prints the topology, the placement and the live pool this environment gives,
//! as `sagevec info` will:
//!
//! ```text
//! SAGEVEC_TOPOLOGY="pack:2 numa:1 l3:1 core:4 pu:2" cargo run -p sagevec-scheduler --example info
//! ```

use sagevec_scheduler::{NumaPool, Topology, process_cpus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topo = Topology::from_env()?;
    println!("{topo}");
    let pool = NumaPool::from_env()?;
    println!("{pool}");
    println!("process CPU mask: {:?}", process_cpus()?);
    Ok(())
}
