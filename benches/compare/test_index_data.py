"""index_mix.py's numpy data is benches/benches/index.rs's, bit for bit.

The fingerprints (FNV-1a over the float32 bits) are the ones
`benches/src/index_data.rs`'s test pins on the Rust side, so a change to either
generator fails one side or the other. Needs numpy only (scripts/test.sh runs it
with the test venv: `python -m pytest -q benches/compare/test_index_data.py`).
"""

from __future__ import annotations

import numpy as np
import pytest

import index_mix as mix

FNV_OFFSET, FNV_PRIME, MASK = 0xCBF2_9CE4_8422_2325, 0x0100_0000_01B3, (1 << 64) - 1


def fingerprint(values: np.ndarray) -> int:
    h = FNV_OFFSET
    for bits in np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).ravel().tolist():
        h = ((h ^ bits) * FNV_PRIME) & MASK
    return h


def centers() -> np.ndarray:
    return mix.splitmix_f32(mix.CENTERS_SEED, mix.N_CLUSTERS * mix.DIM).reshape(mix.N_CLUSTERS, mix.DIM)


def test_splitmix_matches_the_reference_stream() -> None:
    # rng/src/lib.rs pins the same first outputs (Vigna's splitmix64.c, seed 0).
    assert mix.splitmix_u64(0, 3).tolist() == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
    assert mix.splitmix_f32(0, 1)[0] == np.float32(14_819_496 / 8_388_608 - 1)


@pytest.mark.parametrize(
    ("name", "rows", "seed", "want"),
    [
        ("base", 50_000, mix.BASE_SEED, 0x0AAF_7CD6_B231_9DE9),
        ("queries", 1_000, mix.QUERY_SEED, 0xFAE3_574B_1D87_BCF1),
        ("reserve", 10_000, mix.RESERVE_SEED, 0xA17F_6F0F_9FD7_0C15),
    ],
)
def test_clustered_rows_match_the_rust_bench(name: str, rows: int, seed: int, want: int) -> None:
    assert fingerprint(mix.clustered(centers(), rows, seed)) == want, name


def test_centres_match_the_rust_bench() -> None:
    assert fingerprint(centers()) == 0xD181_D2FE_7111_FDCF
