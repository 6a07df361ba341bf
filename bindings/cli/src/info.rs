//! `sagevec info`: what the kernels will use on this machine.
//!
//! Prints the CPU model, the logical CPU count, the SIMD features detected (cpuid
//! and OS support, through `Caps::detect`), the ISAs this host can run, the active
//! ISA with its source (auto or `SAGEVEC_ISA`), the AVX-512 extensions its families
//! use, and the path each kernel family (f32, f16, bf16, i8, u8, bits) dispatches
//! to (its ISA, plus the extension it uses: `avx512vnni`, `avx512vpopcntdq`), then
//! the topology (and where it came from: hwloc, sysfs, a
//! synthetic `SAGEVEC_TOPOLOGY`, or the one-node fallback) and the placement plan
//! worker pools would use. `--json` prints the same facts as one JSON object. It is the first
//! thing to run when triaging a performance or illegal-instruction report, so it
//! never executes a wide kernel: detection only.

use std::io::Write;

use clap::Args;
use sagevec_kernels::{Caps, Isa, KernelTable};
use sagevec_scheduler::{Placement, Policy, Topology, plan};
use serde_json::{Map, Value, json};

use crate::error::CliError;
use crate::machine::{self, IsaSource};

/// Options of `sagevec info`.
#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// Print one JSON object instead of text.
    #[arg(long, conflicts_with = "isas")]
    json: bool,
    /// Print only the ISAs this CPU/OS can run, one per line (for scripts; ignores
    /// `SAGEVEC_ISA`).
    #[arg(long)]
    isas: bool,
}

/// Everything `info` reports, gathered once so text and JSON agree.
#[derive(Debug)]
pub(crate) struct Info {
    pub(crate) cpu_model: String,
    pub(crate) logical_cpus: usize,
    pub(crate) features: Vec<(&'static str, bool)>,
    pub(crate) available: Vec<Isa>,
    pub(crate) active: Isa,
    pub(crate) source: IsaSource,
    /// `(element type, kernel path)` per kernel family of the active table.
    pub(crate) families: Vec<(&'static str, &'static str)>,
    /// The extensions the active table's families use (`vnni`, `vpopcntdq`, ...).
    pub(crate) extensions: Vec<&'static str>,
    /// The topology (hwloc, sysfs, synthetic or flat fallback; it says which).
    pub(crate) topology: Topology,
    /// The placement plan worker pools would use here (honours `SAGEVEC_*`).
    pub(crate) placement: Placement,
}

impl Info {
    /// Detects everything; a usage error if `SAGEVEC_ISA` cannot be honoured.
    pub(crate) fn gather() -> Result<Info, CliError> {
        let (active, source) = machine::active_isa()?;
        let table = KernelTable::for_isa(active).map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(Info {
            cpu_model: machine::cpu_model(),
            logical_cpus: machine::logical_cpus(),
            features: Caps::detect().list().to_vec(),
            available: Isa::available(),
            active,
            source,
            families: table.families(),
            extensions: table.extensions().names(),
            topology: Topology::from_env().map_err(|e| CliError::Usage(e.to_string()))?,
            placement: Policy::from_env()
                .and_then(|policy| {
                    let topo = Topology::from_env()?;
                    plan(&topo, &policy)
                })
                .map_err(|e| CliError::Usage(e.to_string()))?,
        })
    }

    /// The JSON form (also embedded in the bench report).
    pub(crate) fn to_json(&self) -> Value {
        let features: Map<String, Value> = self
            .features
            .iter()
            .map(|&(name, on)| (name.to_owned(), Value::Bool(on)))
            .collect();
        let families: Vec<Value> = self
            .families
            .iter()
            .map(|&(elem, path)| json!({ "elem": elem, "isa": self.active.name(), "path": path }))
            .collect();
        let source_value = match &self.source {
            IsaSource::Auto => Value::Null,
            IsaSource::Env(v) => Value::String(v.clone()),
        };
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "arch": std::env::consts::ARCH,
            "os": std::env::consts::OS,
            "cpu_model": self.cpu_model,
            "logical_cpus": self.logical_cpus,
            "features": features,
            "available_isas": self.available.iter().map(|i| i.name()).collect::<Vec<_>>(),
            "active_isa": self.active.name(),
            "isa_source": self.source.key(),
            "isa_env_value": source_value,
            "extensions": self.extensions,
            "families": families,
            "topology": {
                "source": self.topology.source().to_string(),
                "packages": self.topology.n_packages(),
                "numa_nodes": self.topology.nodes().len(),
                "cores": self.topology.n_cores(),
                "pus": self.topology.pus().len(),
                "allowed_pus": self.topology.allowed_pus(),
            },
            "placement": {
                "nodes": self.placement.n_nodes(),
                "threads": self.placement.n_threads(),
                "pinned": self.placement.pinned(),
                "text": self.placement.to_string(),
            },
        })
    }

    /// The text form.
    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let names = |on: bool| -> String {
            let v: Vec<&str> = self
                .features
                .iter()
                .filter(|&&(_, present)| present == on)
                .map(|&(n, _)| n)
                .collect();
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(" ")
            }
        };
        let available: Vec<&str> = self.available.iter().map(|i| i.name()).collect();
        writeln!(out, "sagevec {}", env!("CARGO_PKG_VERSION"))?;
        writeln!(out, "cpu:            {}", self.cpu_model)?;
        writeln!(
            out,
            "arch/os:        {}/{}",
            std::env::consts::ARCH,
            std::env::consts::OS
        )?;
        writeln!(out, "logical cpus:   {}", self.logical_cpus)?;
        writeln!(out, "features:       {}", names(true))?;
        writeln!(out, "not present:    {}", names(false))?;
        writeln!(out, "isas available: {}", available.join(", "))?;
        writeln!(
            out,
            "active isa:     {} ({})",
            self.active,
            self.source.describe()
        )?;
        let extensions = if self.extensions.is_empty() {
            "-".to_owned()
        } else {
            self.extensions.join(" ")
        };
        writeln!(out, "extensions:     {extensions}")?;
        writeln!(out, "kernel families:")?;
        for (elem, path) in &self.families {
            writeln!(out, "  {elem:<12}  {path}")?;
        }
        writeln!(out, "{}", self.topology)?;
        writeln!(out, "{}", self.placement)?;
        Ok(())
    }
}

/// Runs `sagevec info`.
pub(crate) fn run(args: &InfoArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if args.isas {
        for isa in Isa::available() {
            writeln!(out, "{isa}")?;
        }
        return Ok(());
    }
    let info = Info::gather()?;
    if args.json {
        let text = serde_json::to_string_pretty(&info.to_json())
            .map_err(|e| CliError::Runtime(format!("encoding JSON: {e}")))?;
        writeln!(out, "{text}")?;
    } else {
        info.write_text(out)?;
    }
    Ok(())
}
