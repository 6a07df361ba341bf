//! Instruction-set detection and selection.
//!
//! Detection asks the CPU (cpuid) *and* the OS (XCR0, through `xgetbv`): std's
//! `is_x86_feature_detected!` checks both, so a wide path is chosen only when its
//! registers are saved across context switches. Probing runs no kernel. The result
//! is computed once and cached.

use std::fmt;
use std::str::FromStr;

/// The environment variable that forces an ISA (`scalar`, `avx2` or `avx512`).
pub const ISA_ENV: &str = "SAGEVEC_ISA";

/// A kernel table's instruction-set level, from slowest to fastest. Within a
/// level, each element type's family may use an [`Extensions`] feature the CPU has
/// (VNNI for i8/u8, BF16 for bf16 many-to-many, VPOPCNTDQ for bits);
/// [`KernelTable::families`](crate::KernelTable::families) says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Plain loops: the reference, the fallback, and the bench baseline.
    Scalar,
    /// AVX2 + FMA + F16C + POPCNT, 8 × f32 lanes (Haswell, Zen 1 and later).
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

    /// Checks that this CPU and OS can run this ISA.
    pub fn require(self) -> Result<Isa, IsaError> {
        if self.is_supported() {
            Ok(self)
        } else {
            Err(IsaError::Unsupported {
                isa: self,
                available: Isa::available(),
            })
        }
    }

    /// The extensions this level's families may use on this host (none below
    /// AVX-512).
    pub fn extensions(self) -> Extensions {
        match self {
            Isa::Avx512 if self.is_supported() => Extensions::detect(),
            _ => Extensions::NONE,
        }
    }
}

/// Optional AVX-512 features some families use when present: a set of flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Extensions(u8);

impl Extensions {
    /// No extension: every family runs its base path.
    pub const NONE: Extensions = Extensions(0);
    /// AVX-512 VNNI (`vpdpbusd`): the i8/u8 inner product.
    pub const VNNI: Extensions = Extensions(1);
    /// AVX-512 BF16 (`vdpbf16ps`): the bf16 × bf16 many-to-many dots. (The
    /// one-to-many bf16 kernels take f32 queries and widen rows exactly, so they stay
    /// bit for bit the f32 kernels.)
    pub const BF16: Extensions = Extensions(2);
    /// AVX-512 VPOPCNTDQ (`vpopcntq`): the bit-vector popcounts.
    pub const VPOPCNTDQ: Extensions = Extensions(4);
    /// Every extension this build knows.
    pub const ALL: Extensions = Extensions(7);

    /// Whether every flag of `other` is in `self`.
    pub const fn contains(self, other: Extensions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    pub const fn union(self, other: Extensions) -> Extensions {
        Extensions(self.0 | other.0)
    }

    /// The set as bits (VNNI = 1, BF16 = 2, VPOPCNTDQ = 4).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The extensions this CPU and OS support, on top of AVX-512 F/BW/VL
    /// (emulated builds, `--cfg sagevec_avx512_emu`, emulate all of them).
    pub fn detect() -> Extensions {
        #[cfg(all(target_arch = "x86_64", sagevec_avx512_emu))]
        {
            Extensions::ALL
        }
        #[cfg(all(target_arch = "x86_64", not(sagevec_avx512_emu)))]
        {
            let caps = Caps::detect();
            let mut e = Extensions::NONE;
            for (on, flag) in [
                (caps.avx512vnni, Extensions::VNNI),
                (caps.avx512bf16, Extensions::BF16),
                (caps.avx512vpopcntdq, Extensions::VPOPCNTDQ),
            ] {
                if on {
                    e = e.union(flag);
                }
            }
            e
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Extensions::NONE
        }
    }

    /// The flags' names (`vnni`, `bf16`, `vpopcntdq`), in that order.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Extensions::VNNI, "vnni"),
            (Extensions::BF16, "bf16"),
            (Extensions::VPOPCNTDQ, "vpopcntdq"),
        ]
        .into_iter()
        .filter(|&(flag, _)| self.contains(flag))
        .map(|(_, name)| name)
        .collect()
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
#[non_exhaustive]
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
    /// Extensions were asked for that the host (or the ISA level) lacks.
    MissingExtensions {
        /// The ISA level.
        isa: Isa,
        /// What was asked for.
        asked: Extensions,
        /// What the host has at that level.
        available: Extensions,
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
            IsaError::MissingExtensions {
                isa,
                asked,
                available,
            } => write!(
                f,
                "{isa} with extensions [{}] was asked for, but this CPU/OS has only [{}]",
                asked.names().join(", "),
                available.names().join(", ")
            ),
            IsaError::FromEnv { value, cause } => write!(f, "{ISA_ENV}={value}: {cause}"),
        }
    }
}

impl std::error::Error for IsaError {}

/// Resolves the ISA from an optional override string (the value of `SAGEVEC_ISA`):
/// `None` or an empty string picks the best supported ISA.
pub(crate) fn resolve(override_name: Option<&str>) -> Result<Isa, IsaError> {
    match override_name.map(str::trim) {
        None | Some("") => Ok(Isa::best()),
        Some(name) => name.parse::<Isa>()?.require(),
    }
}

/// The ISA the default kernel table uses: `SAGEVEC_ISA` if set (an error if the host
/// lacks it or the name is unknown), else the best supported. Read once (by
/// [`try_kernels`](crate::try_kernels)).
pub(crate) fn isa_from_env() -> Result<Isa, IsaError> {
    match std::env::var_os(ISA_ENV) {
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
    }
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
    /// AVX-512 FP16 (detected and reported; no kernel uses it: f16 rows are
    /// widened to f32 so they stay bit for bit the f32 kernels).
    pub avx512fp16: bool,
    /// AVX-512 VPOPCNTDQ (64-bit lane popcounts).
    pub avx512vpopcntdq: bool,
    /// POPCNT (scalar population count).
    pub popcnt: bool,
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
                avx512vpopcntdq: std::arch::is_x86_feature_detected!("avx512vpopcntdq"),
                popcnt: std::arch::is_x86_feature_detected!("popcnt"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Caps::default()
        }
    }

    /// `(name, present)` pairs in a fixed order, for printing.
    pub fn list(&self) -> [(&'static str, bool); 13] {
        [
            ("sse4.2", self.sse42),
            ("popcnt", self.popcnt),
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
            ("avx512vpopcntdq", self.avx512vpopcntdq),
        ]
    }
}

/// AVX2, FMA, F16C and POPCNT: the `avx2` table's f16-row kernels widen with
/// `vcvtph2ps` and its bit kernels count tails with `popcnt`. Every AVX2 CPU shipped
/// has F16C and POPCNT (Intel since Ivy Bridge and Nehalem, AMD since Piledriver
/// and Barcelona), but the features are separate bits, so all four are checked.
fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
            && std::arch::is_x86_feature_detected!("popcnt")
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
        assert_eq!(Isa::Scalar.extensions(), Extensions::NONE);
        assert_eq!(Isa::Avx2.extensions(), Extensions::NONE);
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
        assert_eq!(
            Isa::Avx2.is_supported(),
            caps.avx2 && caps.fma && caps.f16c && caps.popcnt
        );
        #[cfg(not(sagevec_avx512_emu))]
        assert_eq!(
            Isa::Avx512.is_supported(),
            caps.avx2
                && caps.fma
                && caps.f16c
                && caps.popcnt
                && caps.avx512f
                && caps.avx512bw
                && caps.avx512vl
        );
        #[cfg(not(sagevec_avx512_emu))]
        if Isa::Avx512.is_supported() {
            let e = Isa::Avx512.extensions();
            assert_eq!(e.contains(Extensions::VNNI), caps.avx512vnni);
            assert_eq!(e.contains(Extensions::BF16), caps.avx512bf16);
            assert_eq!(e.contains(Extensions::VPOPCNTDQ), caps.avx512vpopcntdq);
        }
    }
}
