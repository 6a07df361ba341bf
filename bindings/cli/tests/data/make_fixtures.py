"""Regenerates the tiny .npy fixtures that bindings/cli/tests/formats.rs reads.

Run from this directory with a Python that has numpy (the files here came from
numpy 2.4.6): `python make_fixtures.py`. Every array is 2 x 3 (ids: also 1-D)
with values chosen to be exact in every dtype, so the Rust test can state them.
"""

import numpy as np

VEC = [[0.0, 1.0, -2.0], [0.5, 255.0, -0.0]]  # exact in f16, f32, f64
U8 = [[0, 1, 2], [128, 254, 255]]
I8 = [[0, 1, -1], [127, -128, 5]]
IDS = [[0, 1, 2], [2147483647, 7, 19999]]

np.save("f4_2x3.npy", np.array(VEC, dtype="<f4"))
np.save("f2_2x3.npy", np.array(VEC, dtype="<f2"))
np.save("f8_2x3.npy", np.array(VEC, dtype="<f8"))
np.save("u1_2x3.npy", np.array(U8, dtype="u1"))
np.save("i1_2x3.npy", np.array(I8, dtype="i1"))
np.save("i4_2x3.npy", np.array(IDS, dtype="<i4"))
np.save("i8_2x3.npy", np.array(IDS, dtype="<i8"))
np.save("u4_2x3.npy", np.array(IDS, dtype="<u4"))
np.save("u8_2x3.npy", np.array(IDS, dtype="<u8"))
np.save("i4_1d.npy", np.array([3, 1, 4, 1, 5], dtype="<i4"))
np.save("f4_0x3.npy", np.zeros((0, 3), dtype="<f4"))
# Versions 2.0 and 3.0 of the format, same data as f4_2x3.npy.
with open("f4_2x3_v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.array(VEC, dtype="<f4"), version=(2, 0))
with open("f4_2x3_v3.npy", "wb") as f:
    np.lib.format.write_array(f, np.array(VEC, dtype="<f4"), version=(3, 0))
# Files the reader must refuse with a clear error.
np.save("f4_be_2x3.npy", np.array(VEC, dtype=">f4"))
np.save("f4_fortran_2x3.npy", np.asfortranarray(np.array(VEC, dtype="<f4")))
