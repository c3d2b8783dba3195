"""Branch-free float32 ``exp`` for the kernels, and the bit cast it scales with (both vectorise)."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["bitcast", "exp_f32"]

# exp: Cody-Waite reduction t = k ln2 + r (ln2 split so that k * _LN2_HI is exact), Taylor polynomial of degree
# 12 on |r| <= ln2 / 2 (truncation < 2e-16 relative), scaled by 2^k through the exponent bits
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN = -120.0  # exp(-120) rounds to 0 in float32; 2^k stays a normal float64
_E = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(13))
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12 = _E[2:]


#: Each type and the type of the same width whose IEEE-754 bits `bitcast` reads it as.
_BITCAST_TYPE = {
    types.int32: types.float32,
    types.float32: types.int32,
    types.int64: types.float64,
    types.float64: types.int64,
}


@intrinsic
def bitcast(typingctx, x):
    """The same bits read as the other type of its width: int32 <-> float32, int64 <-> float64 (vectorises)."""
    target = _BITCAST_TYPE.get(x)
    if target is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(target))

    return target(x), codegen


# ``contract`` (FMA) only changes the rounding of float64 intermediates, ~1e-16: the float32 result is the same
@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def exp_f32(x):
    """Exp of a float32 `x` <= 0 (or NaN), rounded once to float32 from a float64 result accurate to ~3e-16.

    Branch-free and without a library call, so loops over it vectorise. Arguments below -120 (and NaN, which
    only occurs in lanes the callers discard) give 0, which is also float32's rounding of exp(-120).
    """
    t = np.float64(x)
    t = t if t > _EXP_MIN else _EXP_MIN  # also maps NaN, so the integer conversion below is always defined
    k = np.floor(t * _LOG2E + 0.5)
    r = (t - k * _LN2_HI) - k * _LN2_LO
    p = _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    scale = bitcast((np.int64(np.int32(k)) + 1023) << 52)  # via int32: AVX2 converts 4 at once
    return np.float32(p * scale)
