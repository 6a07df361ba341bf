//! The PNG plots of `sagevec bench all`: recall against QPS, QPS against threads,
//! and kernel read bandwidth against the machine's measured limits.
//!
//! Each plot is drawn with plotters into an RGB buffer of [`WIDTH`] × [`HEIGHT`]
//! pixels and encoded with the png crate. Text uses a subset of DejaVu Sans
//! compiled into the binary (`assets/`, see its README), so drawing needs no
//! system fonts; a character outside the subset is drawn as `?`.

use std::error::Error;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::combinators::IntoLinspace;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::error::CliError;

use super::cases::Row;
use super::limits::Limits;
use super::report::fmt_bytes;
use super::search::{SearchOutcome, TARGET_RECALL};

/// Width of every plot, pixels.
pub(crate) const WIDTH: u32 = 1280;
/// Height of every plot, pixels.
pub(crate) const HEIGHT: u32 = 720;

/// File names of the plots.
pub(crate) const RECALL_QPS: &str = "recall_qps.png";
pub(crate) const QPS_THREADS: &str = "qps_threads.png";
pub(crate) const KERNELS_BANDWIDTH: &str = "kernels_bandwidth.png";

/// DejaVu Sans cut down to ASCII and [`EXTRA_CHARS`] (10.6 KiB).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");
/// The characters beyond printable ASCII that [`FONT`] holds.
const EXTRA_CHARS: &str = "°²µ·×–—…−≤≥∞";
const FAMILY: &str = "sans-serif";

type DrawResult = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const INK: RGBColor = RGBColor(40, 40, 40);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const GRID: RGBColor = RGBColor(232, 232, 232);
/// Line colours (the tab10 palette), in order of use.
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// `s` with every character the embedded font lacks replaced by `?`.
pub(crate) fn fit(s: &str) -> String {
    s.chars()
        .map(|c| {
            if (' '..='~').contains(&c) || EXTRA_CHARS.contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// `950`, `12.3k`, `4.56M`: compact axis numbers.
fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// Up to three significant digits, without trailing zeros.
fn trim(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Registers the embedded font once per process.
fn register_font() -> Result<(), CliError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(CliError::Runtime(
            "the embedded plot font does not parse".into(),
        ))
    }
}

/// Draws one plot with `draw` and writes it to `path` as an RGB PNG.
fn render(path: &Path, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<(), CliError> {
    register_font()?;
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root)
            .and_then(|()| root.present().map_err(Into::into))
            .map_err(|e| CliError::Runtime(format!("drawing {}: {e}", path.display())))?;
    }
    write_png(path, &rgb)
}

fn write_png(path: &Path, rgb: &[u8]) -> Result<(), CliError> {
    let fail =
        |e: &dyn std::fmt::Display| CliError::Runtime(format!("writing {}: {e}", path.display()));
    let file = File::create(path).map_err(|e| fail(&e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
    writer.write_image_data(rgb).map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))
}

/// Fills the background, writes a title and a grey subtitle, and returns the
/// area left for the chart.
fn titled<'a>(root: &Area<'a>, title: &str, subtitle: &str) -> Result<Area<'a>, Box<dyn Error>> {
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(76);
    top.draw(&Text::new(
        fit(title),
        (24, 14),
        (FAMILY, 26).into_font().color(&INK),
    ))?;
    top.draw(&Text::new(
        fit(subtitle),
        (24, 48),
        (FAMILY, 16).into_font().color(&MUTED),
    ))?;
    Ok(body.margin(0, 16, 16, 28))
}

/// Finite, positive points only (a log axis cannot show the rest).
fn drawable(points: impl IntoIterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    points
        .into_iter()
        .filter(|&(x, y)| x.is_finite() && y.is_finite() && y > 0.0)
        .collect()
}

/// `[lo / pad, hi * pad]` around the values, for a log axis (a decade around 1
/// when there is nothing to show).
fn log_range(values: impl IntoIterator<Item = f64>, pad: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if hi > 0.0 {
        lo / pad..hi * pad
    } else {
        0.1..10.0
    }
}

/// Tick values for a log axis over `range`: 1, 2, 5 × 10^e (only 1 × 10^e
/// over a wide range, every digit over a narrow one).
fn log_ticks(range: &std::ops::Range<f64>) -> Vec<f64> {
    let (lo, hi) = (range.start, range.end);
    let ticks = |mantissas: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let mut e = lo.log10().floor() as i32;
        while 10f64.powi(e) <= hi {
            for m in mantissas {
                let v = m * 10f64.powi(e);
                if (lo..=hi).contains(&v) {
                    out.push(v);
                }
            }
            e += 1;
        }
        out
    };
    let mut out = ticks(&[1.0, 2.0, 5.0]);
    if out.len() > 12 {
        out = ticks(&[1.0]);
    } else if out.len() < 3 {
        out = ticks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    }
    out
}

/// Whether a point label at pixel `at` stays clear of those already `placed`
/// (about 40 × 16 pixels each); if so, records it.
fn claim(placed: &mut Vec<(i32, i32)>, at: (i32, i32)) -> bool {
    let clear = placed
        .iter()
        .all(|&(x, y)| (at.0 - x).abs() >= 40 || (at.1 - y).abs() >= 16);
    if clear {
        placed.push(at);
    }
    clear
}

/// `recall_qps.png`: recall@k on x, QPS on a log y axis, one line per thread
/// setting (batch search on every worker; `search` on one thread), points
/// labelled with their ef.
pub(crate) fn recall_qps(path: &Path, s: &SearchOutcome, machine: &str) -> Result<(), CliError> {
    let k = s.k;
    let lines = [
        (
            format!("{} workers: one batch_search over all queries", s.workers),
            COLORS[0],
            drawable(s.sweep.iter().map(|p| (p.recall, p.qps))),
        ),
        (
            "1 thread: search() per query".to_owned(),
            COLORS[1],
            drawable(s.sweep.iter().map(|p| (p.recall_1t, p.qps_1t))),
        ),
    ];
    let labels: Vec<((f64, f64), usize)> = s
        .sweep
        .iter()
        .map(|p| ((p.recall, p.qps), p.ef))
        .filter(|&((x, y), _)| x.is_finite() && y.is_finite() && y > 0.0)
        .collect();
    render(path, |root| {
        let body = titled(
            root,
            &format!("recall@{k} vs queries per second"),
            &format!("{} | {machine} | labels: ef", s.data_label),
        )?;
        let min_recall = lines
            .iter()
            .flat_map(|l| l.2.iter().map(|p| p.0))
            .fold(1.0f64, f64::min);
        let x0 = ((min_recall - 0.03) * 20.0).floor() / 20.0;
        let x_range = x0.clamp(0.0, 0.9)..1.01;
        let y_range = log_range(lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)), 1.6);
        let (y0, y1) = (y_range.start, y_range.end);
        let mut chart = ChartBuilder::on(&body)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(
                x_range.clone(),
                y_range
                    .clone()
                    .log_scale()
                    .with_key_points(log_ticks(&y_range)),
            )?;
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.5))
            .bold_line_style(GRID)
            .x_desc(format!("recall@{k}"))
            .y_desc("queries per second (log scale)")
            .axis_desc_style((FAMILY, 18).into_font().color(&INK))
            .label_style((FAMILY, 15).into_font().color(&INK))
            .x_label_formatter(&|x| format!("{x:.2}"))
            .y_label_formatter(&|y| si(*y))
            .draw()?;
        if x_range.contains(&TARGET_RECALL) {
            chart.draw_series(DashedLineSeries::new(
                [(TARGET_RECALL, y0), (TARGET_RECALL, y1)],
                6,
                5,
                MUTED.stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((TARGET_RECALL, y1))
                    + Text::new(
                        format!("recall {TARGET_RECALL}"),
                        (6, 6),
                        (FAMILY, 14).into_font().color(&MUTED),
                    ),
            ))?;
        }
        for (label, color, points) in &lines {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(fit(label))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 26, y)], color.stroke_width(3))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        // ef labels, leaving out any that would overprint one already placed
        // (points crowd near recall 1).
        let mut placed = Vec::new();
        for &(p, ef) in &labels {
            if !claim(&mut placed, chart.backend_coord(&p)) {
                continue;
            }
            chart.draw_series(std::iter::once(
                EmptyElement::at(p)
                    + Text::new(
                        format!("{ef}"),
                        (6, -20),
                        (FAMILY, 13).into_font().color(&COLORS[0]),
                    ),
            ))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .margin(12)
            .label_font((FAMILY, 15).into_font().color(&INK))
            .background_style(WHITE.mix(0.9))
            .border_style(MUTED)
            .draw()?;
        Ok(())
    })
}

/// `qps_threads.png`: QPS against OS threads calling `search`, with the ideal
/// linear line (1-thread QPS × threads).
pub(crate) fn qps_threads(path: &Path, s: &SearchOutcome, machine: &str) -> Result<(), CliError> {
    let measured = drawable(s.threads.iter().map(|p| (p.threads as f64, p.qps)));
    // The ideal line starts from the fewest threads measured (1 unless --threads
    // left it out): per-thread QPS there, times T.
    let base = s
        .threads
        .iter()
        .filter(|p| p.qps.is_finite() && p.qps > 0.0)
        .min_by_key(|p| p.threads);
    let max_t = s
        .threads
        .iter()
        .map(|p| p.threads)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let ideal: Vec<(f64, f64)> = base
        .map(|b| {
            let per_thread = b.qps / b.threads as f64;
            vec![(0.0, 0.0), (max_t, per_thread * max_t)]
        })
        .unwrap_or_default();
    let ideal_label = match base {
        Some(b) if b.threads == 1 => "ideal: QPS(1 thread) × T".to_owned(),
        Some(b) => format!("ideal: linear from T = {}", b.threads),
        None => String::new(),
    };
    // A tick per thread up to 16 threads, then every 2nd, 4th, ... thread.
    let mut tick = 1.0;
    while max_t / tick > 16.0 {
        tick *= 2.0;
    }
    render(path, |root| {
        let body = titled(
            root,
            &format!(
                "queries per second vs threads (ef {}, recall@{} {:.3})",
                s.threads_ef, s.k, s.threads_recall
            ),
            &format!(
                "{} | {machine}, {} logical CPUs | T threads each calling search()",
                s.data_label, s.logical_cpus
            ),
        )?;
        let y_max = measured
            .iter()
            .chain(&ideal)
            .map(|p| p.1)
            .fold(0.0f64, f64::max);
        let y_max = if y_max > 0.0 { y_max * 1.12 } else { 1.0 };
        let mut chart = ChartBuilder::on(&body)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d((0.0..max_t * 1.06).step(tick), 0.0..y_max)?;
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.5))
            .bold_line_style(GRID)
            .max_light_lines(4)
            .x_desc("threads (T)")
            .y_desc("queries per second")
            .axis_desc_style((FAMILY, 18).into_font().color(&INK))
            .label_style((FAMILY, 15).into_font().color(&INK))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| si(*y))
            .draw()?;
        if (s.logical_cpus as f64) < max_t {
            let x = s.logical_cpus as f64;
            chart.draw_series(DashedLineSeries::new(
                [(x, 0.0), (x, y_max)],
                6,
                5,
                MUTED.stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((x, y_max))
                    + Text::new(
                        format!("{} logical CPUs", s.logical_cpus),
                        (6, 6),
                        (FAMILY, 14).into_font().color(&MUTED),
                    ),
            ))?;
        }
        if !ideal.is_empty() {
            let style = MUTED.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(ideal.clone(), 10, 6, style))?
                .label(fit(&ideal_label))
                .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 26, y)], 6, 4, style));
        }
        let color = COLORS[0];
        chart
            .draw_series(LineSeries::new(measured.clone(), color.stroke_width(2)))?
            .label("measured")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 26, y)], color.stroke_width(3)));
        chart.draw_series(measured.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
        let mut placed = Vec::new();
        for &p in &measured {
            if claim(&mut placed, chart.backend_coord(&p)) {
                chart.draw_series(std::iter::once(
                    EmptyElement::at(p)
                        + Text::new(si(p.1), (8, 8), (FAMILY, 13).into_font().color(&color)),
                ))?;
            }
        }
        // Top middle: below the ideal line's far end, above its middle.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .margin(12)
            .label_font((FAMILY, 15).into_font().color(&INK))
            .background_style(WHITE.mix(0.9))
            .border_style(MUTED)
            .draw()?;
        Ok(())
    })
}

/// One line of the bandwidth plot: an ISA (colour), a shape (marker), and its
/// (dimension, GB/s) points.
struct KernelSeries {
    isa: usize,
    shape: usize,
    points: Vec<(f64, f64)>,
}

/// Legend text and marker of a kernel shape (`Row::kernel`).
fn shape_label(kernel: &str) -> &str {
    if kernel.contains("1:1 hot") {
        "1:1, one pair in L1"
    } else if kernel.contains("1:N L2") {
        "1:N, rows in L2"
    } else if kernel.contains("1:N mem") {
        "1:N, rows from memory"
    } else {
        kernel
    }
}

/// Draws marker `shape` (0 circle, 1 triangle, 2 square, else a cross) at `at`.
fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: usize,
    at: (i32, i32),
    color: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    match shape {
        0 => area.draw(&Circle::new(at, 5, color.filled())),
        1 => area.draw(&TriangleMarker::new(at, 7, color.filled())),
        2 => area.draw(&Rectangle::new(
            [(at.0 - 5, at.1 - 5), (at.0 + 5, at.1 + 5)],
            color.filled(),
        )),
        _ => area.draw(&Cross::new(at, 5, color.stroke_width(2))),
    }
}

/// `kernels_bandwidth.png`: GB/s of every l2sq row that reads rows (per ISA and
/// shape) against the dimension, with the measured single-thread memory and L2
/// read bandwidths as dashed lines.
pub(crate) fn kernels_bandwidth(
    path: &Path,
    rows: &[Row],
    limits: &Limits,
    machine: &str,
) -> Result<(), CliError> {
    // Series in order of first appearance: ISAs give colours, shapes markers.
    let mut isas: Vec<&str> = Vec::new();
    let mut shapes: Vec<&str> = Vec::new();
    for row in rows.iter().filter(|r| r.gbs().is_some()) {
        if !isas.contains(&row.isa.name()) {
            isas.push(row.isa.name());
        }
        if !shapes.contains(&row.kernel.as_str()) {
            shapes.push(&row.kernel);
        }
    }
    let mut series: Vec<KernelSeries> = Vec::new();
    for (i, isa) in isas.iter().enumerate() {
        for (j, shape) in shapes.iter().enumerate() {
            let mut points = drawable(
                rows.iter()
                    .filter(|r| r.isa.name() == *isa && r.kernel == *shape)
                    .filter_map(|r| Some((r.dim as f64, r.gbs()?))),
            );
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !points.is_empty() {
                series.push(KernelSeries {
                    isa: i,
                    shape: j,
                    points,
                });
            }
        }
    }
    let mut dims: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    dims.sort_by(f64::total_cmp);
    dims.dedup();
    // (name, GB/s, what was read, colour)
    let limit_lines = [
        (
            "memory read, 1 thread",
            limits.mem_gbs,
            format!(
                "{:.1} GB/s over {}",
                limits.mem_gbs,
                fmt_bytes(limits.mem_bytes)
            ),
            INK,
        ),
        (
            "L2 read, 1 thread",
            limits.l2_gbs,
            format!(
                "{:.1} GB/s over {}",
                limits.l2_gbs,
                fmt_bytes(limits.l2_bytes)
            ),
            COLORS[4],
        ),
    ];
    render(path, |root| {
        let body = titled(
            root,
            "l2sq f32 kernels: read bandwidth vs dimension (single thread)",
            &format!(
                "{machine} | GB/s = bytes of rows read / time (10^9 B/s) | dashed: measured limits"
            ),
        )?;
        let (plot, side) = body.split_horizontally(WIDTH as i32 - 330);
        let x_range = match (dims.first(), dims.last()) {
            (Some(&lo), Some(&hi)) => lo / 1.3..hi * 1.3,
            _ => 10.0..1000.0,
        };
        let y_range = log_range(
            series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .chain(limit_lines.iter().map(|l| l.1)),
            1.8,
        );
        let (x0, x1) = (x_range.start, x_range.end);
        let mut chart = ChartBuilder::on(&plot)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(
                x_range.log_scale().with_key_points(dims.clone()),
                y_range
                    .clone()
                    .log_scale()
                    .with_key_points(log_ticks(&y_range)),
            )?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .x_desc("dimension (log scale)")
            .y_desc("GB/s (log scale)")
            .axis_desc_style((FAMILY, 18).into_font().color(&INK))
            .label_style((FAMILY, 15).into_font().color(&INK))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| si(*y))
            .draw()?;
        // The limits are labelled in the legend: a label on the line would
        // overprint the points that sit on it.
        for (_, gbs, _, color) in &limit_lines {
            if gbs.is_finite() && *gbs > 0.0 {
                chart.draw_series(DashedLineSeries::new(
                    [(x0, *gbs), (x1, *gbs)],
                    10,
                    6,
                    color.stroke_width(2),
                ))?;
            }
        }
        for KernelSeries { isa, shape, points } in &series {
            let color = COLORS[isa % COLORS.len()];
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            for &p in points {
                let at = chart.backend_coord(&p);
                marker(root, *shape, at, color)?;
            }
        }

        // The legend, beside the chart: colours are ISAs, markers are shapes.
        let heading = (FAMILY, 17).into_font().color(&INK);
        let text = (FAMILY, 15).into_font().color(&INK);
        let (ox, oy) = side.get_base_pixel();
        let mut y = 24;
        side.draw(&Text::new("ISA", (16, y), heading.clone()))?;
        y += 30;
        for (i, isa) in isas.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            side.draw(&PathElement::new(
                [(16, y + 8), (44, y + 8)],
                color.stroke_width(3),
            ))?;
            side.draw(&Text::new(fit(isa), (54, y), text.clone()))?;
            y += 26;
        }
        y += 14;
        side.draw(&Text::new("shape", (16, y), heading.clone()))?;
        y += 30;
        for (j, shape) in shapes.iter().enumerate() {
            marker(root, j, (ox + 30, oy + y + 8), INK)?;
            side.draw(&Text::new(fit(shape_label(shape)), (54, y), text.clone()))?;
            y += 26;
        }
        y += 14;
        side.draw(&Text::new("measured limits", (16, y), heading))?;
        y += 30;
        let muted = (FAMILY, 14).into_font().color(&MUTED);
        for (name, _, value, color) in &limit_lines {
            side.draw(&DashedPathElement::new(
                [(16, y + 8), (44, y + 8)],
                6,
                4,
                color.stroke_width(2),
            ))?;
            side.draw(&Text::new(*name, (54, y), text.clone()))?;
            side.draw(&Text::new(fit(value), (54, y + 20), muted.clone()))?;
            y += 48;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers() {
        assert_eq!(si(950.0), "950");
        assert_eq!(si(12_345.0), "12.3k");
        assert_eq!(si(4_560_000.0), "4.56M");
        assert_eq!(si(2_000.0), "2k");
        assert_eq!(si(0.5), "0.5");
        assert_eq!(si(0.0), "0");
    }

    #[test]
    fn log_axis_ticks() {
        assert_eq!(
            log_ticks(&(3.0..300.0)),
            [5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
        );
        assert_eq!(log_ticks(&(0.5..2e5)), [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]);
        assert_eq!(log_ticks(&(40.0..70.0)), [40.0, 50.0, 60.0, 70.0]);
    }

    #[test]
    fn text_outside_the_font_becomes_a_question_mark() {
        assert_eq!(
            fit("AMD EPYC™ 9654 × 2 ≥ 1 µs"),
            "AMD EPYC? 9654 × 2 ≥ 1 µs"
        );
    }

    #[test]
    fn the_embedded_font_registers() {
        register_font().unwrap();
        assert!(FONT.len() < 16 * 1024, "keep the embedded font small");
    }
}
