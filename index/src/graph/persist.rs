//! The frozen graph in version-1 segment files (read when such a directory is
//! converted; nothing writes them any more): its links and entry point next to the
//! segment's vectors, so reopening a durable index does not rebuild graphs.
//!
//! Layout (little-endian, inside a segment file whose CRC covers it):
//! `m:u64 ef_construction:u64 has_mult:u8 mult:f64 seed:u64 has_entry:u8
//! entry_node:u64 entry_level:u64 n_level0:u64 level0:u32[n]
//! n_upper:u64 upper:u32[n] n_starts:u64 upper_start:u64[n]`. Decoding checks
//! every length and every link against the graph's shape, so a damaged file
//! is an error, never an out-of-bounds read later.

use sagevec_kernels::{AlignedMatrix, Metric, try_kernels};

use super::layout::Graph;
use super::params::{GraphParams, Traversal};
use crate::durable::codec::{Dec, DecodeError};

impl Graph {
    /// Rebuilds a frozen graph from its vectors (`rows` x `dim`, row-major) and
    /// the bytes a version-1 segment file holds after them.
    pub(crate) fn decode_links(
        metric: Metric,
        vectors: &[f32],
        dim: usize,
        d: &mut Dec<'_>,
    ) -> Result<Graph, DecodeError> {
        let bad = |d: &Dec<'_>, what: &str| DecodeError {
            offset: d.pos(),
            what: what.to_owned(),
        };
        let m = d.u64("graph m")? as usize;
        let ef_construction = d.u64("graph ef_construction")? as usize;
        let has_mult = d.u8("graph level multiplier flag")? != 0;
        let mult = f64::from_bits(d.u64("graph level multiplier")?);
        let seed = d.u64("graph seed")?;
        let params = GraphParams {
            m,
            ef_construction,
            level_multiplier: has_mult.then_some(mult),
            seed,
            // Not stored: the loader applies its configuration's with
            // `set_traversal`; until then the graph walks its f32 rows.
            traversal: Traversal::F32,
        };
        params
            .validate()
            .map_err(|e| bad(d, &format!("graph parameters: {e}")))?;
        let has_entry = d.u8("graph entry flag")? != 0;
        let entry_node = d.u64("graph entry node")?;
        let entry_level = d.u64("graph entry level")? as usize;
        let n = vectors.len().checked_div(dim).unwrap_or(0);
        let level0_len = d.count(4, "graph level-0 links")?;
        let level0 = read_u32s(d, level0_len, "graph level-0 links")?;
        let upper_len = d.count(4, "graph upper links")?;
        let upper = read_u32s(d, upper_len, "graph upper links")?;
        let starts_len = d.count(8, "graph upper starts")?;
        let upper_start: Vec<usize> = d
            .u64s(starts_len, "graph upper starts")?
            .into_iter()
            .map(|x| x as usize)
            .collect();
        // Shape checks: every list fits its stride, every link names a row.
        let stride0 = 1 + 2 * m;
        let stride_up = 1 + m;
        if level0.len() != n * stride0 || upper_start.len() != n {
            return Err(bad(d, "graph link arrays do not match the row count"));
        }
        let links_ok = |list: &[u32], stride: usize| {
            list.chunks(stride).all(|c| {
                (c[0] as usize) < stride && c[1..=c[0] as usize].iter().all(|&t| (t as usize) < n)
            })
        };
        if !links_ok(&level0, stride0)
            || !upper.len().is_multiple_of(stride_up)
            || !links_ok(&upper, stride_up)
        {
            return Err(bad(d, "graph link list out of range"));
        }
        // Nodes without upper levels have `usize::MAX` (never read).
        if upper_start
            .iter()
            .any(|&s| s != usize::MAX && s.checked_add(stride_up).is_none_or(|e| e > upper.len()))
        {
            return Err(bad(d, "graph upper start out of range"));
        }
        let entry = if has_entry {
            if entry_node as usize >= n {
                return Err(bad(d, "graph entry point out of range"));
            }
            // The entry's upper lists must all be inside `upper`.
            let start = upper_start[entry_node as usize];
            if entry_level > 0
                && (start == usize::MAX
                    || entry_level
                        .checked_mul(stride_up)
                        .and_then(|x| x.checked_add(start))
                        .is_none_or(|e| e > upper.len()))
            {
                return Err(bad(d, "graph entry level beyond its links"));
            }
            Some((entry_node as u32, entry_level))
        } else {
            if n > 0 {
                return Err(bad(d, "graph of rows without an entry point"));
            }
            None
        };
        let dim = dim.max(1);
        if !vectors.len().is_multiple_of(dim) {
            return Err(bad(d, "graph vectors: length is not a multiple of dim"));
        }
        let mut matrix = AlignedMatrix::zeroed(vectors.len() / dim, dim, true);
        super::huge::advise_huge_pages(&matrix);
        for (i, row) in vectors.chunks_exact(dim).enumerate() {
            matrix.row_mut(i).copy_from_slice(row);
        }
        let table = try_kernels().map_err(|e| bad(d, &format!("kernels: {e}")))?;
        Ok(Graph {
            metric,
            params,
            table,
            vectors: matrix,
            level0,
            upper,
            upper_start,
            entry,
            f16: None,
        })
    }
}

fn read_u32s(d: &mut Dec<'_>, n: usize, what: &str) -> Result<Vec<u32>, DecodeError> {
    let b = d.take(n * 4, what)?;
    Ok(b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect())
}
