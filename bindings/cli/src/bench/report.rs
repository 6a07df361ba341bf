//! Rendering of `bench kernels`: the aligned text table (streamed row by row, so a
//! long run shows progress) and the JSON report (every row plus the machine limits).

use std::io::{self, Write};

use serde_json::{Value, json};

use super::cases::{LimitKind, Row};
use super::limits::Limits;

/// `1.5 GiB`, `256 KiB`, `4 MiB`.
pub(crate) fn fmt_bytes(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    const GIB: usize = 1024 * MIB;
    if bytes >= GIB && bytes.is_multiple_of(GIB / 4) {
        format!("{} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB {
        format!("{:.0} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.0} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

/// `12.3 ns`, `4.56 µs`, `1.23 ms`, `1.234 s`.
pub(crate) fn fmt_time(secs: f64) -> String {
    if secs < 1e-6 {
        format!("{:.1} ns", secs * 1e9)
    } else if secs < 1e-3 {
        format!("{:.2} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{secs:.3} s")
    }
}

/// The row's limit figure and its percentage.
pub(crate) fn limit_of(row: &Row, limits: &Limits) -> (f64, f64) {
    let (achieved, limit) = match row.limit {
        LimitKind::Fma => (row.gflops(), limits.peak(row.isa)),
        LimitKind::Mem => (row.gbs().unwrap_or(0.0), limits.mem_gbs),
    };
    let pct = if limit > 0.0 {
        100.0 * achieved / limit
    } else {
        0.0
    };
    (limit, pct)
}

const HEADER: [&str; 10] = [
    "kernel", "shape", "isa", "dim", "time/op", "GB/s", "GFLOP/s", "QPS", "% limit", "spread",
];

fn line(out: &mut dyn Write, cols: [&str; 10]) -> io::Result<()> {
    writeln!(
        out,
        "{:<14} {:<12} {:<7} {:>5} {:>10} {:>8} {:>8} {:>10} {:>11} {:>7}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9]
    )
}

/// The column header and its rule.
pub(crate) fn write_header(out: &mut dyn Write) -> io::Result<()> {
    line(out, HEADER)?;
    writeln!(
        out,
        "{}",
        "-".repeat(14 + 12 + 7 + 5 + 10 + 8 + 8 + 10 + 11 + 7 + 9)
    )
}

/// One table line.
pub(crate) fn write_row(out: &mut dyn Write, row: &Row, limits: &Limits) -> io::Result<()> {
    let (_, pct) = limit_of(row, limits);
    let kind = match row.limit {
        LimitKind::Fma => "fma",
        LimitKind::Mem => "mem",
    };
    let dim = row.dim.to_string();
    let time = fmt_time(row.sample.median);
    let gbs = row
        .gbs()
        .map_or_else(|| "-".to_owned(), |g| format!("{g:.1}"));
    let gflops = format!("{:.1}", row.gflops());
    let qps = if row.k.is_some() {
        format!("{:.0}", row.qps())
    } else {
        "-".to_owned()
    };
    let pct = format!("{pct:.0}% {kind}");
    let spread = format!("{:.0}%", 100.0 * row.sample.spread());
    line(
        out,
        [
            &row.kernel,
            &row.shape,
            row.isa.name(),
            &dim,
            &time,
            &gbs,
            &gflops,
            &qps,
            &pct,
            &spread,
        ],
    )?;
    out.flush()
}

/// The JSON form of the machine limits.
pub(crate) fn limits_json(limits: &Limits) -> Value {
    let peak: serde_json::Map<String, Value> = limits
        .peak_fma
        .iter()
        .map(|&(isa, g)| (isa.name().to_owned(), json!(g)))
        .collect();
    json!({
        "peak_fma_gflops": peak,
        "mem_read_gbs": limits.mem_gbs,
        "mem_read_bytes": limits.mem_bytes,
        "mem_read_reps": limits.mem_reps,
        "l2_read_gbs": limits.l2_gbs,
        "l2_read_bytes": limits.l2_bytes,
        "l2_read_isa": limits.l2_isa.name(),
    })
}

/// The JSON form of one row.
pub(crate) fn row_json(row: &Row, limits: &Limits) -> Value {
    let (limit, pct) = limit_of(row, limits);
    let pct_l2 = row
        .gbs()
        .filter(|_| limits.l2_gbs > 0.0)
        .map(|g| 100.0 * g / limits.l2_gbs);
    json!({
        "id": row.id,
        "kernel": row.kernel,
        "shape": row.shape,
        "isa": row.isa.name(),
        "dim": row.dim,
        "n_rows": row.n_rows,
        "n_queries": row.n_queries,
        "k": row.k,
        "seconds_median": row.sample.median,
        "seconds_min": row.sample.min,
        "seconds_max": row.sample.max,
        "reps": row.sample.reps,
        "ops_per_rep": row.sample.iters,
        "bytes_per_op": row.bytes_per_op,
        "flops_per_op": row.flops_per_op,
        "gbs": row.gbs(),
        "gflops": row.gflops(),
        "qps": row.k.map(|_| row.qps()),
        "limit_kind": match row.limit { LimitKind::Fma => "peak_fma", LimitKind::Mem => "mem_read" },
        "limit_value": limit,
        "pct_of_limit": pct,
        "pct_of_l2_read": pct_l2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_bytes(256 * 1024), "256 KiB");
        assert_eq!(fmt_bytes(1 << 30), "1 GiB");
        assert_eq!(fmt_bytes(256 << 20), "256 MiB");
        assert_eq!(fmt_time(12.34e-9), "12.3 ns");
        assert_eq!(fmt_time(4.561e-6), "4.56 µs");
        assert_eq!(fmt_time(2.5), "2.500 s");
    }
}
