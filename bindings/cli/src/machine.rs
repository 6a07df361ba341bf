//! Facts about the host shared by `info` and `bench`: the CPU model, the number of
//! logical CPUs, and the active ISA together with where it came from.
//!
//! The active ISA is resolved through `sagevec_kernels::try_kernels`, so the CLI
//! reports exactly what the library will dispatch to, and an unknown or unsupported
//! `SAGEVEC_ISA` becomes a usage error (exit 2) instead of the panic that
//! `kernels()` would raise.

use sagevec_kernels::{ISA_ENV, Isa, try_kernels};

use crate::error::CliError;

/// The CPU model name: `model name` from `/proc/cpuinfo` (x86), else the other keys
/// some architectures use there, else the target architecture.
pub(crate) fn cpu_model() -> String {
    if let Ok(text) = std::fs::read_to_string("/proc/cpuinfo") {
        for key in ["model name", "Model", "Hardware", "cpu model", "cpu"] {
            let found = text.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_owned())
            });
            if let Some(model) = found {
                return model;
            }
        }
    }
    format!("unknown {} CPU", std::env::consts::ARCH)
}

/// Logical CPUs this process may run on (honours affinity masks and cgroup quotas).
pub(crate) fn logical_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where the active ISA came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IsaSource {
    /// No override: the best ISA the CPU and OS support.
    Auto,
    /// `SAGEVEC_ISA` asked for it (the raw value).
    Env(String),
}

impl IsaSource {
    /// Short form for JSON: `"auto"` or `"SAGEVEC_ISA"`.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            IsaSource::Auto => "auto",
            IsaSource::Env(_) => ISA_ENV,
        }
    }

    /// Human form for text output.
    pub(crate) fn describe(&self) -> String {
        match self {
            IsaSource::Auto => "auto: best supported".to_owned(),
            IsaSource::Env(value) => format!("from {ISA_ENV}={value}"),
        }
    }
}

/// The ISA the default kernel table uses, and why; a usage error if `SAGEVEC_ISA`
/// is not valid UTF-8, is unknown, or names an ISA this CPU/OS lacks.
pub(crate) fn active_isa() -> Result<(Isa, IsaSource), CliError> {
    // The kernels crate refuses unknown, unsupported and non-UTF-8 values itself.
    let isa = try_kernels()
        .map(|t| t.isa())
        .map_err(|err| CliError::Usage(err.to_string()))?;
    let source = match std::env::var(ISA_ENV) {
        Ok(v) if !v.trim().is_empty() => IsaSource::Env(v),
        _ => IsaSource::Auto,
    };
    Ok((isa, source))
}
