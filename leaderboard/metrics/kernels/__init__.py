"""Fused numba kernels: every per-pixel sum of one frame, row by row, in loops that LLVM vectorises.

`frame_sums` computes, per frame, what the NumPy path (`leaderboard.metrics.frame_numpy`) builds from a dozen
array passes: pixel validity, the missing-prediction policy, the depth caps, the Perona-Malik conduction weights
(float32, as in `mipi.conduction_weights`), the edge flags (as in `regions.edge_mask`), the depth-bin labels and
every error, threshold, region and RDS sum. One long branchy loop per pixel cannot be vectorised (it took
~45 ns per pixel); each row goes through three short loops instead (~17 ns per pixel together):

1. `row_weights`: conduction weights and edge flags of the row's pixel pairs, branch-free (selects, not
   branches, and an ``exp`` without a library call), vectorised (AVX2: 8 float32 / 4 float64 lanes).
2. `row_errors`: every error, threshold, EWMAE and RDS term, the edge region, and their sums, branch-free:
   pixels that do not count add 0 through selects. Only this loop is compiled with ``fastmath={"reassoc"}``,
   which lets LLVM keep each running sum as vector-lane partials; the terms themselves come from
   `pixel_terms` and `rds_term`, compiled without fastmath (inlining keeps each instruction's own flags),
   so the NaN/inf checks and every rounding are exact. It stores the terms the regions need in row buffers.
3. `row_regions`: a scalar pass over those buffers for the depth bins (a scatter by label does not
   vectorise: a running sum per run of equal labels) and the spot pixels.

Exactness: every per-pixel term is the NumPy path's, in the same dtype and order, so every count (valid,
missing, scored, threshold hits, region pixels and hits, RDS spots) is exact and the float sums differ only in
summation order (vector-lane partials per row here, NumPy's pairwise sums there: ~1e-15 relative; the tests
allow 1e-12). One exception: ``exp`` of the float32 conduction argument is computed in float64 and rounded once
(`exp_f32`, correctly rounded but within ~1e-16 of a rounding tie), while NumPy's SIMD float32 ``exp`` is off by
an ulp in about 45 % of the cases. Where the GT is nearly flat, ``1 - exp(t)`` cancels and those ulps are
relative errors of the weight, so EWMAE's sums differ from the NumPy path's by ~1e-8 on typical frames and up
to ~1e-4 on smooth GT (a capped slanted wall); the tests compare them with a correctly rounded reference.

The kernels hold no Python object, so they release the GIL (``nogil``): worker threads score frames in parallel.
Compiled code is cached on disk (``cache=True``, in ``__pycache__`` or numba's user cache), so only the very
first call of an installation pays the compilation.

Files, one loop (or helper) each: `fastexp` (``exp_f32`` and the bit cast), `validity` (GT validity of a row,
`valid_max`), `weights` (loop 1), `error_sums` (loop 2 and its per-pixel terms), `region_sums` (loop 3) and
`frame` (`frame_sums`, which runs them row by row, and the layout of its ``stats`` vector).
"""

from leaderboard.metrics.kernels.fastexp import exp_f32
from leaderboard.metrics.kernels.frame import POLICY_CODES, STAT, STAT_KEYS, frame_sums
from leaderboard.metrics.kernels.validity import valid_max

__all__ = ["STAT_KEYS", "STAT", "frame_sums", "valid_max", "exp_f32", "POLICY_CODES"]
