//! Instruction-set detection and selection.
//!
//! Detection asks the CPU (cpuid) *and* the OS (XCR0, through `xgetbv`): std's
//! `is_x86_feature_detected!` checks both, so a wide path is chosen only when its
//! registers are saved across context switches. Probing runs no kernel. The result
//! is computed once and cached.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The environment variable that forces an ISA (`scalar`, `avx2` or `avx512`).
pub const ISA_ENV: &str = "SAGEVEC_ISA";

/// A kernel family's instruction-set level, from slowest to fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain loops: the reference, the fallback, and the bench baseline.
    Scalar,
    /// AVX2 + FMA + F16C, 8 × f32 lanes (Haswell, Zen 1 and later).
    Avx2,
    /// AVX-512 F + BW + VL (+ AVX2/FMA/F16C), 16 × f32 lanes (Skylake-SP, Zen 4 and later).
    Avx512,
}

impl Isa {
    /// Every ISA this build knows, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// Lower-case name as used in `SAGEVEC_ISA` and kernel names.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU and OS can run this ISA's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => cpu_has_avx2(),
            Isa::Avx512 => cpu_has_avx512(),
        }
    }

    /// Every ISA the host supports, slowest first (`Scalar` is always there).
    pub fn available() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// The best ISA the host supports.
    pub fn best() -> Isa {
        *Isa::available().last().unwrap_or(&Isa::Scalar)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = IsaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Isa::Scalar),
            "avx2" => Ok(Isa::Avx2),
            "avx512" => Ok(Isa::Avx512),
            _ => Err(IsaError::Unknown(s.to_owned())),
        }
    }
}

/// Why an ISA cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsaError {
    /// The name is not one of `scalar`, `avx2`, `avx512`.
    Unknown(String),
    /// The CPU (or the OS) does not support the ISA asked for.
    Unsupported {
        /// The ISA asked for.
        isa: Isa,
        /// What the host does support.
        available: Vec<Isa>,
    },
    /// `SAGEVEC_ISA` holds a value that cannot be honoured.
    FromEnv {
        /// The variable's value (lossily decoded if not UTF-8).
        value: String,
        /// Why it cannot be honoured.
        cause: Box<IsaError>,
    },
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsaError::Unknown(name) => {
                write!(f, "unknown ISA {name:?}: expected scalar, avx2 or avx512")
            }
            IsaError::Unsupported { isa, available } => {
                let names: Vec<&str> = available.iter().map(|i| i.name()).collect();
                write!(
                    f,
                    "ISA {isa} was asked for, but this CPU/OS supports only: {}",
                    names.join(", ")
                )
            }
            IsaError::FromEnv { value, cause } => write!(f, "{ISA_ENV}={value}: {cause}"),
        }
    }
}

impl std::error::Error for IsaError {}

/// Checks that `isa` can run here.
pub fn require(isa: Isa) -> Result<Isa, IsaError> {
    if isa.is_supported() {
        Ok(isa)
    } else {
        Err(IsaError::Unsupported {
            isa,
            available: Isa::available(),
        })
    }
}

/// Resolves the ISA from an optional override string (the value of `SAGEVEC_ISA`):
/// `None` or an empty string picks the best supported ISA.
pub fn resolve(override_name: Option<&str>) -> Result<Isa, IsaError> {
    match override_name.map(str::trim) {
        None | Some("") => Ok(Isa::best()),
        Some(name) => require(name.parse()?),
    }
}

/// The ISA the default kernel table uses: `SAGEVEC_ISA` if set (an error if the host
/// lacks it or the name is unknown), else the best supported. Read once, then cached.
pub fn try_active_isa() -> Result<Isa, IsaError> {
    static ACTIVE: OnceLock<Result<Isa, IsaError>> = OnceLock::new();
    ACTIVE
        .get_or_init(|| match std::env::var_os(ISA_ENV) {
            None => resolve(None),
            Some(value) => match value.into_string() {
                Ok(name) => resolve(Some(&name)).map_err(|e| IsaError::FromEnv {
                    value: name,
                    cause: Box::new(e),
                }),
                Err(raw) => {
                    let value = raw.to_string_lossy().into_owned();
                    let cause = Box::new(IsaError::Unknown(format!("{value} (not valid UTF-8)")));
                    Err(IsaError::FromEnv { value, cause })
                }
            },
        })
        .clone()
}

/// The ISA the default kernel table uses.
///
/// # Panics
/// If `SAGEVEC_ISA` names an unknown ISA or one the CPU lacks. Call
/// [`try_active_isa`] to get that as an error instead (bindings do, at import).
pub fn active_isa() -> Isa {
    match try_active_isa() {
        Ok(isa) => isa,
        Err(err) => panic!("{err}"),
    }
}

/// Every ISA the host supports, slowest first.
pub fn available_isas() -> Vec<Isa> {
    Isa::available()
}

/// Optional CPU features beyond the ISA levels, for reports (`sagevec info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    /// SSE4.2 (the highest level below AVX2 that many "older CPU" baselines have).
    pub sse42: bool,
    /// AVX (256-bit float, no integer, no FMA).
    pub avx: bool,
    /// FMA3.
    pub fma: bool,
    /// F16C: half-precision conversions.
    pub f16c: bool,
    /// AVX2.
    pub avx2: bool,
    /// AVX-512 Foundation.
    pub avx512f: bool,
    /// AVX-512 Byte/Word.
    pub avx512bw: bool,
    /// AVX-512 Vector Length extensions.
    pub avx512vl: bool,
    /// AVX-512 VNNI (int8 dot products).
    pub avx512vnni: bool,
    /// AVX-512 BF16.
    pub avx512bf16: bool,
    /// AVX-512 FP16.
    pub avx512fp16: bool,
}

impl Caps {
    /// Reads the host's features (cpuid and XCR0; nothing is executed).
    pub fn detect() -> Caps {
        #[cfg(target_arch = "x86_64")]
        {
            Caps {
                sse42: std::arch::is_x86_feature_detected!("sse4.2"),
                avx: std::arch::is_x86_feature_detected!("avx"),
                fma: std::arch::is_x86_feature_detected!("fma"),
                f16c: std::arch::is_x86_feature_detected!("f16c"),
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                avx512f: std::arch::is_x86_feature_detected!("avx512f"),
                avx512bw: std::arch::is_x86_feature_detected!("avx512bw"),
                avx512vl: std::arch::is_x86_feature_detected!("avx512vl"),
                avx512vnni: std::arch::is_x86_feature_detected!("avx512vnni"),
                avx512bf16: std::arch::is_x86_feature_detected!("avx512bf16"),
                avx512fp16: std::arch::is_x86_feature_detected!("avx512fp16"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Caps::default()
        }
    }

    /// `(name, present)` pairs in a fixed order, for printing.
    pub fn list(&self) -> [(&'static str, bool); 11] {
        [
            ("sse4.2", self.sse42),
            ("avx", self.avx),
            ("fma", self.fma),
            ("f16c", self.f16c),
            ("avx2", self.avx2),
            ("avx512f", self.avx512f),
            ("avx512bw", self.avx512bw),
            ("avx512vl", self.avx512vl),
            ("avx512vnni", self.avx512vnni),
            ("avx512bf16", self.avx512bf16),
            ("avx512fp16", self.avx512fp16),
        ]
    }
}

/// AVX2, FMA and F16C: the `avx2` table's f16-row kernels widen with `vcvtph2ps`.
/// Every AVX2 CPU shipped has F16C (Intel since Ivy Bridge, AMD since Piledriver),
/// but the features are separate bits, so all three are checked.
fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn cpu_has_avx512() -> bool {
    // Test builds with emulated AVX-512 (`--cfg sagevec_avx512_emu`) run the AVX-512
    // kernels on scalar stand-ins for the intrinsics: AVX2 is all they need.
    #[cfg(all(target_arch = "x86_64", sagevec_avx512_emu))]
    {
        cpu_has_avx2()
    }
    #[cfg(all(target_arch = "x86_64", not(sagevec_avx512_emu)))]
    {
        cpu_has_avx2()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_always_available_and_ordered() {
        let avail = Isa::available();
        assert_eq!(avail[0], Isa::Scalar);
        assert!(avail.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Isa::best(), *avail.last().unwrap());
    }

    #[test]
    fn resolve_rules() {
        assert_eq!(resolve(None).unwrap(), Isa::best());
        assert_eq!(resolve(Some("")).unwrap(), Isa::best());
        assert_eq!(resolve(Some("SCALAR")).unwrap(), Isa::Scalar);
        assert!(matches!(resolve(Some("sse9")), Err(IsaError::Unknown(_))));
        for isa in Isa::ALL {
            let got = resolve(Some(isa.name()));
            if isa.is_supported() {
                assert_eq!(got.unwrap(), isa);
            } else {
                let err = got.unwrap_err();
                assert!(matches!(err, IsaError::Unsupported { .. }));
                assert!(err.to_string().contains(isa.name()));
            }
        }
    }

    #[test]
    fn caps_agree_with_levels() {
        let caps = Caps::detect();
        assert_eq!(Isa::Avx2.is_supported(), caps.avx2 && caps.fma && caps.f16c);
        #[cfg(not(sagevec_avx512_emu))]
        assert_eq!(
            Isa::Avx512.is_supported(),
            caps.avx2 && caps.fma && caps.f16c && caps.avx512f && caps.avx512bw && caps.avx512vl
        );
    }
}
